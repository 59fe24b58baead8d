package risk_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
	"github.com/patchpilot/patchpilot/internal/risk"
)

func TestReadHistoryErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"missing time", `{"package":"openssl","outcome":"failed"}`, `h.jsonl:1: field "time" is missing`},
		{"missing package", `{"time":"2024-01-01T00:00:00Z","outcome":"failed"}`, `h.jsonl:1: field "package" is missing`},
		{"missing outcome", `{"time":"2024-01-01T00:00:00Z","package":"x"}`, `h.jsonl:1: field "outcome" is missing`},
		{"bad outcome", `{"time":"2024-01-01T00:00:00Z","package":"x","outcome":"broke"}`, `field "outcome": expected succeeded, failed or rolled_back, got "broke"`},
		{"bad time", `{"time":"yesterday","package":"x","outcome":"failed"}`, `field "time": expected an RFC 3339 time`},
		{"wrong type", `{"time":"2024-01-01T00:00:00Z","package":"x","outcome":"failed","cves":"CVE-1"}`, `field "cves": expected []string`},
		{"unknown field", "\n" + `{"time":"2024-01-01T00:00:00Z","package":"x","outcome":"failed","pakage_version":"1"}`,
			`h.jsonl:2: unknown field "pakage_version" (known fields: time, host, os,`},
		{"line over the limit", `{"time":"2024-01-01T00:00:00Z","package":"x","outcome":"failed"}` + "\n" +
			`{"reason":"` + strings.Repeat("x", risk.MaxHistoryLineBytes) + `"}`,
			"h.jsonl:2: line is longer than the limit of 1 MiB (1048576 bytes)"},
		{"unrelated on a success", "\n" + `{"time":"2024-01-01T00:00:00Z","package":"x","outcome":"succeeded","unrelated":"fault injected"}`,
			`h.jsonl:2: field "unrelated": only a failed or rolled_back record can be labelled unrelated`},
		{"blank unrelated", `{"time":"2024-01-01T00:00:00Z","package":"x","outcome":"rolled_back","unrelated":"   "}`,
			`h.jsonl:1: field "unrelated": expected why the failure is not the patch's`},
		{"second line", "{\"time\":\"2024-01-01T00:00:00Z\",\"package\":\"x\",\"outcome\":\"failed\"}\n\n{", `h.jsonl:3: invalid JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := risk.ReadHistory(strings.NewReader(tt.input), "h.jsonl")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if got := patchpilot.ErrorCode(err); got != patchpilot.EINVALID {
				t.Errorf("code = %s, want invalid", got)
			}
		})
	}
}

// newlines is an endless reader of blank lines.
type newlines struct{}

func (newlines) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '\n'
	}
	return len(p), nil
}

// TestReadHistoryCap reads an endless history of blank lines: every line is
// short and valid, only the cap on the whole file can stop it.
func TestReadHistoryCap(t *testing.T) {
	_, err := risk.ReadHistory(newlines{}, "endless.jsonl")
	if !errors.Is(err, capped.ErrTooLarge) || patchpilot.ErrorCode(err) != patchpilot.EINVALID ||
		!strings.Contains(err.Error(), "endless.jsonl: history file is larger than the cap of 256 MiB") {
		t.Errorf("ReadHistory of an endless file: %v; want the cap error", err)
	}
}

func TestHistoryRoundTrip(t *testing.T) {
	in := `{"time":"2024-03-01T10:00:00Z","host":"web-1","os":"debian:12","labels":{"role":"web"},"package":"libssl3","source_package":"openssl","from_version":"3.0.11-1~deb12u2","to_version":"3.0.13-1~deb12u1","category":"crypto","cves":["CVE-2024-0727"],"severity":"high","reboot_required":false,"outcome":"rolled_back","reason":"health gate failed"}
{"time":"2024-03-02T10:00:00Z","package":"curl","outcome":"succeeded"}
`
	recs, err := risk.ReadHistory(strings.NewReader(in), "h")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Role() != "web" || recs[0].Source() != "openssl" || !recs[0].Failed() || recs[1].Failed() {
		t.Fatalf("records = %+v", recs)
	}
	var b strings.Builder
	if err := risk.WriteHistory(&b, recs); err != nil {
		t.Fatal(err)
	}
	back, err := risk.ReadHistory(strings.NewReader(b.String()), "h")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(back)
	want, _ := json.Marshal(recs)
	if string(got) != string(want) {
		t.Errorf("round trip:\n got %s\nwant %s", got, want)
	}
}

func TestFromOutcome(t *testing.T) {
	features, _ := json.Marshal(risk.OutcomeFeatures{
		Advisories:     []patchpilot.AdvisoryRef{{ID: "DSA-1", CVEs: []string{"CVE-1", "CVE-2"}, Severity: "Critical"}, {ID: "DSA-2", CVEs: []string{"CVE-2"}, Severity: "low"}},
		RebootRequired: true, Removals: []string{"pp-libdemo-tools"}, Role: "lb",
	})
	o := patchpilot.Outcome{
		Time: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Rollout: "r1", Host: "h1", OS: "debian:12",
		Labels: map[string]string{"role": "web", "env": "prod"},
		Packages: []patchpilot.PackageChange{
			{Name: "pp-libdemo", From: "1.0-1", To: "2.0-1", SourcePackage: "pp-libdemo"},
			{Name: "pp-libdemo-tools", From: "1.0-1", To: ""},
		},
		Outcome: patchpilot.OutcomeRollbackFailed, Reason: "rollback failed", Features: features,
	}
	recs := risk.FromOutcome(o)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1 (the removed package has no line)", len(recs))
	}
	r := recs[0]
	if r.Outcome != patchpilot.OutcomeFailed || r.Role() != "lb" || o.Labels["role"] != "web" ||
		len(r.CVEs) != 2 || r.Severity != "critical" || !r.RebootRequired || len(r.Removals) != 1 || r.ToVersion != "2.0-1" {
		t.Errorf("record = %+v", r)
	}
	o.Outcome = patchpilot.OutcomeUnreachable
	if got := risk.FromOutcome(o); len(got) != 0 {
		t.Errorf("unreachable host gave %d records, want none", len(got))
	}
	o.Outcome, o.Features = patchpilot.OutcomeSucceeded, json.RawMessage(`not json`)
	if got := risk.FromOutcome(o); len(got) != 1 || got[0].Outcome != patchpilot.OutcomeSucceeded {
		t.Errorf("bad features: %+v", got)
	}
}

func TestCompareChange(t *testing.T) {
	tests := []struct {
		os, from, to string
		newUp        bool
		jump         int
	}{
		{"debian:12", "3.0.11-1~deb12u2", "3.0.11-1~deb12u3", false, risk.JumpRevision},
		{"debian:12", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", true, risk.JumpPatch},
		{"debian:12", "1:2.4.57-2", "1:2.5.0-1", true, risk.JumpMinor},
		{"debian:12", "1:9.2-1", "2:1.0-1", true, risk.JumpMajor},
		{"rocky:9", "3.0.7-24.el9", "3.0.7-27.el9", false, risk.JumpRevision},
		{"rocky:9", "1:3.0.7-27.el9", "1:3.2.1-1.el9", true, risk.JumpMinor},
		{"debian:12", "", "1.0-1", false, risk.JumpUnknown},
	}
	for _, tt := range tests {
		got := risk.CompareChange(tt.os, tt.from, tt.to)
		if got.NewUpstream != tt.newUp || got.Jump != tt.jump {
			t.Errorf("CompareChange(%s, %s, %s) = %+v, want new upstream %v jump %d", tt.os, tt.from, tt.to, got, tt.newUp, tt.jump)
		}
	}
	if got, want := risk.SplitVersion("1:2.4.57-2+deb12u1"), (risk.VersionParts{Epoch: "1", Upstream: "2.4.57", Revision: "2+deb12u1"}); got != want {
		t.Errorf("SplitVersion = %+v, want %+v", got, want)
	}
}

func TestCategorize(t *testing.T) {
	tests := []struct{ src, pkg, want string }{
		{"openssl", "libssl3", risk.CategoryCrypto},
		{"", "libssl3", risk.CategoryCrypto},
		{"linux", "linux-image-amd64", risk.CategoryKernel},
		{"linux-ti-omap4", "", risk.CategoryKernel},
		{"linux-firmware", "", risk.CategoryOther},
		{"glibc", "libc6", risk.CategoryLibc},
		{"postgresql-15", "postgresql-15", risk.CategoryDatabase},
		{"nginx", "nginx-core", risk.CategoryWebServer},
		{"firefox-esr", "", risk.CategoryBrowser},
		{"pp-kernel-demo", "", risk.CategoryKernel},
		{"tzdata", "tzdata", risk.CategoryOther},
	}
	for _, tt := range tests {
		if got := risk.Categorize(tt.src, tt.pkg); got != tt.want {
			t.Errorf("Categorize(%q, %q) = %s, want %s", tt.src, tt.pkg, got, tt.want)
		}
	}
}

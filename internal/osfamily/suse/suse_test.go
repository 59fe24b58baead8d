package suse

import (
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

func TestParseSLES(t *testing.T) {
	f, tr := osfamilytest.ParseDir(t, "sles15sp5-crafted", Parse)
	if f.OSFamily != patchpilot.FamilySUSE || f.OSName != "sles" || f.OSVersion != "15.5" || f.Ecosystem() != "SUSE:SUSE Linux Enterprise Server 15 SP5" {
		t.Errorf("identity: %s %s %s %q", f.OSFamily, f.OSName, f.OSVersion, f.Ecosystem())
	}
	if len(f.Packages) != 7 || !f.PackagesKnown || !f.UpdatesKnown {
		t.Errorf("packages %d (known %v), updates known %v", len(f.Packages), f.PackagesKnown, f.UpdatesKnown)
	}
	repo := "SLE-Module-Basesystem15-SP5-Updates"
	kernelRef := patchpilot.AdvisoryRef{ID: "SUSE-SLE-Module-Basesystem-15-SP5-2024-2203", CVEs: []string{"CVE-2024-26923", "CVE-2024-35950"}, Severity: "important"}
	sslRef := patchpilot.AdvisoryRef{ID: "SUSE-SLE-Module-Basesystem-15-SP5-2024-2563", CVEs: []string{"CVE-2024-5535"}, Severity: "moderate"}
	want := []patchpilot.Update{
		{Package: "kernel-default", Arch: "x86_64", SourcePackage: "kernel-default", InstalledVersion: "5.14.21-150500.55.52.1", CandidateVersion: "5.14.21-150500.55.65.1", Origin: repo, Security: true, Advisories: []patchpilot.AdvisoryRef{kernelRef}},
		{Package: "libopenssl3", Arch: "x86_64", SourcePackage: "openssl-3", InstalledVersion: "3.0.8-150500.5.27.1", CandidateVersion: "3.0.8-150500.5.34.1", Origin: repo, Security: true, Advisories: []patchpilot.AdvisoryRef{sslRef}},
		{Package: "openssl-3", Arch: "x86_64", SourcePackage: "openssl-3", InstalledVersion: "3.0.8-150500.5.27.1", CandidateVersion: "3.0.8-150500.5.34.1", Origin: repo, Security: true, Advisories: []patchpilot.AdvisoryRef{sslRef}},
		{Package: "timezone", Arch: "x86_64", SourcePackage: "timezone", InstalledVersion: "2024a-150000.75.28.1", CandidateVersion: "2024b-150000.75.31.1", Origin: repo},
	}
	if !reflect.DeepEqual(f.Updates, want) {
		t.Errorf("updates:\ngot  %+v\nwant %+v", f.Updates, want)
	}
	if !f.RebootRequired {
		t.Error("RebootRequired = false, want true (exit 102)")
	}
	if len(f.Services) != 3 {
		t.Errorf("services %q", f.Services)
	}

	// A zypper that fails prints its errors as messages and no list.
	tr[StepUpdates] = patchpilot.Result{ExitCode: 7, Stdout: []byte(`<?xml version='1.0'?><stream><message type="error">System management is locked by the application with pid 1234 (zypper).</message></stream>`)}
	p, err := osfamily.ParseProbe(tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(p, tr); err == nil || !strings.Contains(err.Error(), "exited with status 7") || patchpilot.ErrorHint(err) == "" {
		t.Errorf("locked zypper: error %v, want exit status 7 with a hint", err)
	}
	_, err = ParseUpdates(tr[StepUpdates].Stdout)
	if err == nil || !strings.Contains(err.Error(), "System management is locked") {
		t.Errorf("ParseUpdates of an error stream: %v, want zypper's message", err)
	}
}

func TestParseNeedsRebooting(t *testing.T) {
	tests := []struct {
		code            int
		required, known bool
	}{{0, false, true}, {102, true, true}, {1, false, false}, {127, false, false}}
	for _, tt := range tests {
		req, known := ParseNeedsRebooting(patchpilot.Result{ExitCode: tt.code})
		if req != tt.required || known != tt.known {
			t.Errorf("exit %d: got (%v, %v), want (%v, %v)", tt.code, req, known, tt.required, tt.known)
		}
	}
}

func TestPatchSources(t *testing.T) {
	tests := []struct {
		summary string
		want    []string
	}{
		{"Security update for openssl-1_1, openssl-3", []string{"openssl-1_1", "openssl-3"}},
		{"Security update for curl and libcurl", []string{"curl", "libcurl"}},
		{"Security update for the Linux Kernel (Live Patch 3 for SLE 15 SP5)", []string{"kernel"}},
		{"Recommended update for timezone", []string{"timezone"}},
		{"Optional fixes", nil},
	}
	for _, tt := range tests {
		if got := PatchSources(tt.summary); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.summary, got, tt.want)
		}
	}
}

func TestParseUpdatesInvalid(t *testing.T) {
	for _, in := range []string{"", "not xml", "<stream><update-status><update-list><update kind=\"package\"/></update-list></update-status></stream>"} {
		if _, err := ParseUpdates([]byte(in)); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: error %v, want %s", in, err, patchpilot.EINVALID)
		}
	}
}

package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

const example = `
groups:
  - name: prod
    hosts: env=prod
    level: supervised
    auto_approve:
      - {classification: security, min_severity: high, after: 3d}
      - {classification: other, after: 14d}
    hold: ["postgresql-*"]
    two_approvers: true
  - name: staging
    hosts: env=staging
    level: autopilot
default:
  level: advisor
promotions:
  - {from: env=staging, to: env=prod, after: 72h}
`

func decode(t *testing.T, src string) (Policy, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return Decode("pp.yaml", doc.Content[0])
}

func TestDecode(t *testing.T) {
	p, err := decode(t, example)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 2 || p.Groups[0].AutoApprove[0].After != 72*time.Hour || p.Groups[0].AutoApprove[0].MinSeverity != "high" ||
		!p.Groups[0].TwoApprovers || p.Default.Level != Advisor || p.Promotions[0].After != 72*time.Hour {
		t.Errorf("decoded %+v", p)
	}
	for _, tt := range []struct{ src, want string }{
		{"groups:\n  - name: a\n    hosts: env=x\n    levle: advisor\n", `pp.yaml:4: policy: groups[0]: unknown key "levle" (did you mean level?); known keys: name, hosts, level`},
		{"groups:\n  - {name: a, hosts: env=x, auto_approve: [{classification: security, after: 3d, sev: high}]}\n", `pp.yaml:2: policy: groups[0] (a): auto_approve[0]: unknown key "sev"`},
		{"default: {level: yolo}\n", `pp.yaml:1: policy: default: level: "yolo": expected advisor, supervised or autopilot`},
		{"promotions:\n  - {from: env=staging, to: env=prod, after: soon}\n", `pp.yaml:2: policy: promotions[0]: after: "soon": expected a duration`},
		{"promotions:\n  - {from: env=staging, after: 1d}\n", `promotions[0]: to is missing`},
		{"groups:\n  - {name: a, level: advisor}\n", `groups[0] (a): hosts is missing`},
		{"stuff: 1\n", `pp.yaml:1: policy: unknown key "stuff"; known keys: groups, default, promotions`},
		// Errors in values point at the line of the value, not the section's.
		{"groups:\n  - name: a\n    level: advisor\n    hosts: \"env=\"\n", `pp.yaml:4: policy: groups[0] (a): hosts: `},
		{"groups:\n  - {name: a, hosts: env=x}\n  - {name: a, hosts: env=y}\n", `pp.yaml:3: policy: groups[1]: group name "a" is already used at line 2`},
		{"groups:\n  - {name: default, hosts: env=x}\n", `pp.yaml:2: policy: groups[0]: group name "default" is the default group's`},
		{"default: {level: advisor}\npromotions:\n  - from: env=staging\n    to: \"env=\"\n", `pp.yaml:4: policy: promotions[0]: to: `},
	} {
		_, err := decode(t, tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.want)
		}
	}
}

func host(name string, labels ...string) planner.HostView {
	h := patchpilot.Host{Name: name, Labels: map[string]string{}}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		h.Labels[k] = v
	}
	return planner.NewHostView(h, nil)
}

func TestEvaluate(t *testing.T) {
	p, err := decode(t, example)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	hosts := []planner.HostView{host("s1", "env=staging"), host("p1", "env=prod"), host("p2", "env=prod", "criticality=critical")}
	stages := []Stage{{Name: "staging", Hosts: []string{"s1"}}, {Name: "prod", Hosts: []string{"p1", "p2"}}}
	up := func(h string, avail time.Time) Update {
		return Update{Host: h, Package: "openssl", Version: "3.0.2", Security: true, Severity: "high", Available: avail, AvailableFrom: "first seen"}
	}
	low := map[string]patchpilot.RiskLevel{"s1": patchpilot.RiskLow, "p1": patchpilot.RiskLow, "p2": patchpilot.RiskLow}
	success := patchpilot.Outcome{Time: now.Add(-100 * time.Hour), Rollout: "r1", Host: "s1", Labels: map[string]string{"env": "staging"},
		Packages: []patchpilot.PackageChange{{Name: "openssl", From: "3.0.1", To: "3.0.2"}}, Outcome: patchpilot.OutcomeSucceeded}

	t.Run("prod refused before staging succeeded", func(t *testing.T) {
		avail := now.Add(-10 * 24 * time.Hour)
		rep := Evaluate(p, Input{Stages: stages, Hosts: hosts, Updates: []Update{up("s1", avail), up("p1", avail), up("p2", avail)}, Risk: low, Now: now})
		if rep.Decision != Refuse || rep.Unattended {
			t.Fatalf("decision %s unattended %v, want refuse", rep.Decision, rep.Unattended)
		}
		if r := strings.Join(rep.Refusals(), "\n"); !strings.Contains(r, "p1: an update may reach env=prod only after it succeeded on env=staging for 3d: openssl 3.0.2 has not succeeded on env=staging yet") {
			t.Errorf("refusals:\n%s", r)
		}
		// Succeeded 100h ago: allowed.
		rep = Evaluate(p, Input{Stages: stages, Hosts: hosts, Updates: []Update{up("s1", avail), up("p1", avail), up("p2", avail)},
			Outcomes: []patchpilot.Outcome{success}, Risk: low, Now: now})
		if rep.Decision != Allow {
			t.Fatalf("after 100h on staging: %s %v", rep.Decision, rep.Refusals())
		}
		// A later failure on staging restarts the clock.
		fail := success
		fail.Host, fail.Rollout, fail.Time, fail.Outcome = "s2", "r2", now.Add(-time.Hour), patchpilot.OutcomeRolledBack
		rep = Evaluate(p, Input{Stages: stages, Hosts: hosts, Updates: []Update{up("p1", avail)},
			Outcomes: []patchpilot.Outcome{success, fail}, Risk: low, Now: now})
		if rep.Decision != Refuse || !strings.Contains(strings.Join(rep.Refusals(), ""), "failed on env=staging") {
			t.Errorf("a failure after the success still promoted: %v", rep.Refusals())
		}
	})
	t.Run("delay holds the stage until when", func(t *testing.T) {
		avail := now.Add(-24 * time.Hour)
		rep := Evaluate(p, Input{Stages: stages, Hosts: hosts, Updates: []Update{up("p1", avail)}, Outcomes: []patchpilot.Outcome{success}, Risk: low, Now: now})
		prod := rep.Stages[1]
		want := avail.Add(72 * time.Hour)
		if prod.Decision != Approve || prod.Until == nil || !prod.Until.Equal(want) {
			t.Fatalf("prod stage %+v, want approve until %s", prod, want)
		}
		// p2 is critical: the policy never approves that stage by itself.
		if prod.AutoApproveAt != nil {
			t.Errorf("a stage with a critical host auto-approves at %v", prod.AutoApproveAt)
		}
		only := Evaluate(p, Input{Stages: []Stage{{Name: "web", Hosts: []string{"p1"}}}, Hosts: hosts, Updates: []Update{up("p1", avail)},
			Outcomes: []patchpilot.Outcome{success}, Risk: low, Now: now})
		if at := only.Stages[0].AutoApproveAt; at == nil || !at.Equal(want) {
			t.Errorf("a stage held only by a delay auto-approves at %v, want %s", at, want)
		}
		if rep.Unattended {
			t.Error("a held stage in a supervised group may start unattended")
		}
		// Staging has no rules: not held, and autopilot.
		if rep.Stages[0].Decision != Allow {
			t.Errorf("staging %+v", rep.Stages[0])
		}
	})
	t.Run("held package refused", func(t *testing.T) {
		u := Update{Host: "p1", Package: "postgresql-15", Version: "15.9", Available: now.Add(-30 * 24 * time.Hour)}
		rep := Evaluate(p, Input{Stages: stages, Hosts: hosts, Updates: []Update{u}, Risk: low, Now: now})
		if rep.Decision != Refuse || !strings.Contains(strings.Join(rep.Refusals(), ""), `p1: package postgresql-15 is held in group prod (hold "postgresql-*")`) {
			t.Errorf("refusals %v", rep.Refusals())
		}
		// The same package to staging, which holds nothing, is allowed.
		u.Host = "s1"
		if rep := Evaluate(p, Input{Stages: stages[:1], Hosts: hosts, Updates: []Update{u}, Risk: low, Now: now}); rep.Decision != Allow {
			t.Errorf("staging refused: %v", rep.Refusals())
		}
	})
	t.Run("critical and two approvers", func(t *testing.T) {
		rep := Evaluate(p, Input{Stages: stages, Hosts: hosts, Risk: low, Now: now})
		if s := rep.Stages[1]; s.Decision != Approve || s.Approvers != 2 {
			t.Errorf("prod stage with a critical host: %+v", s)
		}
	})
	t.Run("advisor never unattended; supervised low risk", func(t *testing.T) {
		hv := []planner.HostView{host("x1", "env=dev")}
		rep := Evaluate(p, Input{Stages: []Stage{{Name: "all", Hosts: []string{"x1"}}}, Hosts: hv, Risk: map[string]patchpilot.RiskLevel{"x1": patchpilot.RiskLow}, Now: now})
		if rep.Unattended || !strings.Contains(rep.UnattendedReason, "group default is advisor") {
			t.Errorf("advisor: %v %s", rep.Unattended, rep.UnattendedReason)
		}
		st := []Stage{{Name: "all", Hosts: []string{"p1"}}}
		old := up("p1", now.Add(-30*24*time.Hour))
		rep = Evaluate(p, Input{Stages: st, Hosts: hosts, Updates: []Update{old}, Outcomes: []patchpilot.Outcome{success}, Risk: low, Now: now})
		if !rep.Unattended {
			t.Errorf("supervised, low risk, approved: %s", rep.UnattendedReason)
		}
		rep = Evaluate(p, Input{Stages: st, Hosts: hosts, Updates: []Update{old}, Outcomes: []patchpilot.Outcome{success},
			Risk: map[string]patchpilot.RiskLevel{"p1": patchpilot.RiskHigh}, Now: now})
		if rep.Unattended || rep.Stages[0].Decision != Approve {
			t.Errorf("supervised, high risk: unattended %v, stage %s", rep.Unattended, rep.Stages[0].Decision)
		}
	})
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "0": 0, "90m": 90 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1d", "x", "1w", "-3h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	for d, want := range map[time.Duration]string{72 * time.Hour: "3d", 36 * time.Hour: "36h", 90 * time.Second: "1m30s", time.Hour: "1h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestDocsExample decodes the full example of docs/policy.md, so that the
// documentation cannot drift from the decoder.
func TestDocsExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/policy.md has no yaml block")
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatal(err)
	}
	n, ok := doc["policy"]
	if !ok {
		t.Fatal("the example has no policy: section")
	}
	p, err := Decode("docs/policy.md", &n)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 2 || len(p.Groups[0].AutoApprove) != 3 || len(p.Groups[0].Hold) != 2 || p.Default.Level != Advisor || len(p.Promotions) != 1 {
		t.Errorf("the example decodes to %+v", p)
	}
}

func TestPolicyJSON(t *testing.T) {
	p, err := decode(t, example)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`{"classification":"security","min_severity":"high","after":"3d"}`, `{"from":"env=staging","to":"env=prod","after":"3d"}`, `"hosts":"env=prod","level":"supervised"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("JSON %s lacks %s", b, w)
		}
	}
}

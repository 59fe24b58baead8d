package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// seedPolicyFleet stores s1 (staging), p1 and p2 (prod, p2 critical), each
// with openssl 3.0.2 pending since a week ago.
func seedPolicyFleet(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hosts := []patchpilot.Host{
		{Name: "s1", Address: "192.0.2.1", Labels: map[string]string{"env": "staging", "role": "web"}},
		{Name: "p1", Address: "192.0.2.2", Labels: map[string]string{"env": "prod", "role": "web"}},
		{Name: "p2", Address: "192.0.2.3", Labels: map[string]string{"env": "prod", "role": "db", "criticality": "critical"}},
	}
	if err := st.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if err := st.SaveFacts(ctx, patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC().Add(-7 * 24 * time.Hour), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "openssl", Version: "3.0.1"}},
			Updates:  []patchpilot.Update{{Package: "openssl", InstalledVersion: "3.0.1", CandidateVersion: "3.0.2", Security: true}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedPolicyFleet(t, db)
	cfg := filepath.Join(e.home, "patchpilot.yaml")
	if err := os.WriteFile(cfg, []byte(`db: `+db+`
policy:
  groups:
    - name: prod
      hosts: env=prod
      level: supervised
      auto_approve: [{classification: security, after: 30d}]
      two_approvers: true
    - {name: staging, hosts: env=staging, level: autopilot, hold: [kernel-*]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(e.home, "plan.yaml")
	if err := os.WriteFile(plan, []byte("rollout:\n  name: openssl\n  patch: {packages: [\"openssl=3.0.2\"]}\n  targets: {selector: env=prod}\n"+
		"  stages:\n    - {name: web, targets: 1}\n    - {name: rest, targets: rest}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Gated, not refused: exit 0, and the table says why, stage by stage.
	out := e.mustRun("--config", cfg, "policy", "check", plan)
	for _, w := range []string{"VERDICT     may run", "UNATTENDED  no: group prod is supervised", "auto_approve",
		"[approve] p1: openssl 3.0.2 is auto-approved only from", "two_approvers", "approve (2)", "critical",
		"p2    rest   prod (supervised)"} {
		if !strings.Contains(out, w) {
			t.Errorf("table does not contain %q:\n%s", w, out)
		}
	}
	rep := decodeJSON[struct {
		Decision   string `json:"decision"`
		Unattended bool   `json:"unattended"`
		Stages     []struct {
			Name      string     `json:"name"`
			Decision  string     `json:"decision"`
			Approvers int        `json:"approvers"`
			Until     *time.Time `json:"until"`
		} `json:"stages"`
	}](t, e.mustRun("--config", cfg, "policy", "check", plan, "-o", "json"))
	if rep.Decision != "allow" || rep.Unattended || len(rep.Stages) != 2 || rep.Stages[0].Until == nil ||
		rep.Stages[1].Approvers != 2 || rep.Stages[1].Until != nil {
		t.Errorf("json report %+v", rep)
	}

	// A held package: refused, exit 6, naming host, package and rule.
	held := filepath.Join(e.home, "held.yaml")
	if err := os.WriteFile(held, []byte("rollout:\n  patch: {packages: [\"kernel-rt=1.0\"]}\n  targets: {selector: env=staging}\n  stages: [{name: all, targets: rest}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("--config", cfg, "policy", "check", held)
	if r.code != patchpilot.ExitCode(patchpilot.Errorf(patchpilot.EFORBIDDEN, "x")) || r.code != 6 ||
		!strings.Contains(r.stderr, `s1: package kernel-rt is held in group staging (hold "kernel-*")`) ||
		!strings.Contains(r.stdout, "VERDICT     refused") {
		t.Errorf("held package: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// The same refusal at 'rollout start': nothing is created.
	r = e.run("--config", cfg, "rollout", "start", held)
	if r.code != 6 || !strings.Contains(r.stderr, "the server's policy refuses plan") {
		t.Errorf("rollout start of a refused plan: exit %d\n%s", r.code, r.stderr)
	}

	// The critical prod stage waits for two distinct approvers.
	crit := filepath.Join(e.home, "crit.yaml")
	if err := os.WriteFile(crit, []byte("rollout:\n  patch: {packages: [\"openssl=3.0.2\"]}\n  targets: {selector: \"env=prod,role=db\"}\n  stages: [{name: all, targets: rest}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("--config", cfg, "rollout", "start", crit)
	id, _, _ := strings.Cut(strings.TrimPrefix(r.stdout, "rollout "), "\n")
	if r.code != 12 || !strings.Contains(r.stderr, "needs 2 distinct approvers") {
		t.Fatalf("start of the critical stage: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("--config", cfg, "rollout", "approve", id)
	if r.code != 12 || !strings.Contains(r.stdout, "approval of stage all of rollout "+id+" recorded; it needs another, distinct approver") {
		t.Errorf("first approval: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("--config", cfg, "rollout", "approve", id)
	if r.code != 1 || !strings.Contains(r.stderr, e.localActor()+" has already approved stage all") {
		t.Errorf("the same person again: exit %d\n%s", r.code, r.stderr)
	}

	// A misspelt key inside the policy names the file and line.
	if err := os.WriteFile(cfg, []byte("policy:\n  default:\n    levl: advisor\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("--config", cfg, "policy", "check", plan)
	if r.code != 2 || !strings.Contains(r.stderr, cfg+`:3: policy: default: unknown key "levl" (did you mean level?)`) {
		t.Errorf("bad policy: exit %d\n%s", r.code, r.stderr)
	}
}

// A stage no rule gates counts its hosts in words that agree with the
// number: "1 host", "2 hosts".
func TestPolicyReportCountsHosts(t *testing.T) {
	var b strings.Builder
	writePolicyReport(&b, app.PolicyReport{Plan: "p", Decision: "allow", Stages: []app.PolicyStageDecision{
		{Name: "validation", Hosts: []string{"web1"}, Decision: "allow"},
		{Name: "final", Hosts: []string{"web2", "web3"}, Decision: "allow"},
	}})
	out := b.String()
	for _, want := range []string{"no rule gates it (1 host)", "no rule gates it (2 hosts)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// seedController stores a host "controller" whose facts have a kernel and
// an openssl update pending, as a collection would.
func seedController(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.home, "data", "patchpilot", "patchpilot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "controller"}}); err != nil {
		t.Fatal(err)
	}
	f := patchpilot.Facts{Host: "controller", CollectedAt: time.Now().UTC(), Source: "ssh",
		OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
		Packages: []patchpilot.Package{{Name: "linux-image-amd64", Version: "6.1.1-1"}, {Name: "openssl", Version: "3.0.11"}},
		Updates: []patchpilot.Update{
			{Package: "linux-image-amd64", InstalledVersion: "6.1.1-1", CandidateVersion: "6.1.999-1", Security: true},
			{Package: "openssl", InstalledVersion: "3.0.11", CandidateVersion: "3.0.99", Security: true}}}
	if err := db.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
}

// TestPlanWritesAParsablePlan writes a plan for a stored host: the file
// parses, targets the selector and names its risk; a pin that inventory
// never saw is refused.
func TestPlanWritesAParsablePlan(t *testing.T) {
	e := newEnv(t)
	seedController(t, e)
	for _, tt := range []struct{ patch, want string }{
		{"openssl=3.0.100", "candidate 3.0.99 on controller"},
		{"no-such-package=1.0", "no package no-such-package is installed or pending"},
	} {
		r := e.run("plan", "--patch", tt.patch, "--targets", "name=controller")
		if r.code != 2 || !strings.Contains(r.stderr, tt.patch) || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("plan --patch %s: exit %d, stderr %q; want 2 naming the pin and %q", tt.patch, r.code, r.stderr, tt.want)
		}
	}
	path := filepath.Join(t.TempDir(), "plan.yaml")
	e.mustRun("plan", "--patch", "linux-image-amd64=6.1.999-1,openssl=3.0.99", "--targets", "name=controller", "--out", path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.Parse(data, path)
	if err != nil {
		t.Fatalf("the written plan does not parse: %v\n%s", err, data)
	}
	if len(p.Patch.Packages) != 2 || p.Targets.Selector != "name=controller" || len(p.Stages) != 1 {
		t.Errorf("plan %+v, want 2 pins, selector name=controller and one stage for one host", p)
	}
	for _, want := range []string{"# risk model ", "probability of failure per host", "strategy ", "# reason: ", "kernel", "# plan shape: "} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the plan's header does not say %q:\n%s", want, data)
		}
	}
	// Without -o the plan goes to stdout.
	if out := e.mustRun("plan", "--patch", "security"); !strings.Contains(out, "rollout:") {
		t.Errorf("plan to stdout:\n%s", out)
	}
	// A dry run needs SSH to the host; here the rollout list and status
	// only read the store.
	if out := e.mustRun("rollout", "list"); !strings.Contains(out, "No rollouts yet") {
		t.Errorf("rollout list:\n%s", out)
	}
	if out := e.mustRun("history", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("history of a fresh store: %s", out)
	}
}

func TestRolloutUsageErrors(t *testing.T) {
	e := newEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rollout:\n  patch: {packages: [\"a=1\"]}\n  targets: {selector: \"env=x\"}\n  stages:\n    - {name: s, targets: rest, bake: soon}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"plan"}, 2, "patch"},
		{[]string{"plan", "--patch", "openssl"}, 2, `--patch "openssl"`},
		{[]string{"plan", "--patch", "a=1", "--targets", "=x"}, 2, ""},
		{[]string{"rollout", "start"}, 2, "one PLAN file"},
		{[]string{"rollout", "start", "/nonexistent/plan.yaml"}, 4, "/nonexistent/plan.yaml"},
		{[]string{"rollout", "start", bad}, 2, "bad.yaml:5"},
		{[]string{"rollout", "status", "r-none"}, 4, "r-none"},
		{[]string{"rollout", "events", "r-none"}, 4, "r-none"},
		{[]string{"rollout", "pause", "r-none"}, 4, "r-none"},
		{[]string{"rollout", "abort", "r-none"}, 4, "r-none"},
		{[]string{"rollout", "approve", "r-none"}, 4, "r-none"},
		{[]string{"rollout", "resume", "r-none"}, 4, "r-none"},
		{[]string{"rollout", "rollback", "r-none"}, 4, "r-none"},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, r.code, r.stderr, tt.wantCode, tt.wantErr)
		}
	}
}

// TestPlanLeavesOutHostsThatNeverAnswered checks that a plan made without
// selector targets only hosts whose facts were collected, and says how
// many it left out and why.
func TestPlanLeavesOutHostsThatNeverAnswered(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedFleet(t, db)
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	err = st.UpsertHosts(context.Background(), []patchpilot.Host{{Name: "never-1"}, {Name: "never-2"}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := e.runIn("plan", "--db", db, "--patch", "pp-libdemo=1.0.1", "-o", "json")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	res := decodeJSON[planResult](t, r.stdout)
	if strings.Join(res.Targets, ",") != "db-1,web-1" || strings.Join(res.LeftOut, ",") != "never-1,never-2" {
		t.Errorf("plan: targets %v, left out %v; want [db-1 web-1] and [never-1 never-2]", res.Targets, res.LeftOut)
	}
	if !strings.Contains(r.stderr, "left out 2 hosts that never answered") || !strings.Contains(res.Plan, "# left out 2 hosts") {
		t.Errorf("plan does not say what it left out:\nstderr %s\nplan %s", r.stderr, res.Plan)
	}
	// A selector that names a host reaches it.
	r = e.runIn("plan", "--db", db, "--patch", "pp-libdemo=1.0.1", "--targets", "name=never-1", "-o", "json")
	if res := decodeJSON[planResult](t, r.stdout); strings.Join(res.Targets, ",") != "never-1" || len(res.LeftOut) != 0 {
		t.Errorf("plan --targets name=never-1: targets %v, left out %v", res.Targets, res.LeftOut)
	}

	only := newEnv(t)
	db2 := filepath.Join(only.home, "fleet.db")
	st, err = sqlite.Open(context.Background(), db2)
	if err != nil {
		t.Fatal(err)
	}
	err = st.UpsertHosts(context.Background(), []patchpilot.Host{{Name: "never-1"}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := only.runIn("plan", "--db", db2, "--patch", "security"); r.code != 2 || !strings.Contains(r.stderr, "has ever answered") {
		t.Errorf("plan over hosts that never answered: exit %d, stderr %q; want 2 saying why", r.code, r.stderr)
	}
}

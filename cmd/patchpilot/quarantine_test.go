package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// recordOutcomes stores outcomes in the database file, as rollouts would.
func recordOutcomes(t *testing.T, path string, outs ...patchpilot.Outcome) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, o := range outs {
		if err := db.RecordOutcome(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// rolledBack is a rollback of pkg from→to on a host of os and role.
func rolledBack(rollout, host, os, role, pkg, from, to string) patchpilot.Outcome {
	return patchpilot.Outcome{Time: time.Now().UTC().Add(-time.Hour), Rollout: rollout, Host: host, OS: os,
		Labels: map[string]string{"role": role}, Outcome: patchpilot.OutcomeRolledBack, Reason: "canary failed",
		Packages: []patchpilot.PackageChange{{Name: pkg, From: from, To: to}}}
}

// TestHistoryShowsUnrelated: 'history' shows the unrelated label in its
// table and JSON, and 'history import' checks it on its line.
func TestHistoryShowsUnrelated(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(e.home, "h.jsonl")
	lines := `{"time":"2024-07-01T00:00:00Z","host":"web-1","package":"pp-agent","outcome":"rolled_back","unrelated":"fault injected"}` + "\n" +
		`{"time":"2024-07-02T00:00:00Z","host":"web-2","package":"pp-agent","outcome":"rolled_back"}` + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustRun("history", "import", file)
	// Importing it again stores nothing new, and says so.
	if rep := decodeJSON[map[string]any](t, e.mustRun("history", "import", file, "-o", "json")); rep["records"] != 2.0 || rep["written"] != 0.0 {
		t.Errorf("history import of a file imported already: %v; want 2 records, 0 written", rep)
	}
	recs := decodeJSON[[]map[string]any](t, e.mustRun("history", "-o", "json"))
	if len(recs) != 2 || recs[0]["unrelated"] != "fault injected" || recs[1]["unrelated"] != "" {
		t.Errorf("history -o json = %v; want unrelated \"fault injected\" then \"\"", recs)
	}
	if out := e.mustRun("history"); !strings.Contains(out, "rolled_back (unrelated: fault injected)") {
		t.Errorf("history table lacks the unrelated label:\n%s", out)
	}

	for name, line := range map[string]string{
		"success.jsonl": `{"time":"2024-07-01T00:00:00Z","package":"x","outcome":"succeeded","unrelated":"fault injected"}`,
		"blank.jsonl":   `{"time":"2024-07-01T00:00:00Z","package":"x","outcome":"rolled_back","unrelated":"   "}`,
	} {
		bad := filepath.Join(e.home, name)
		if err := os.WriteFile(bad, []byte("\n"+line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := e.run("history", "import", bad); r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, name+`:2: field "unrelated"`) {
			t.Errorf("history import %s: exit %d, stderr %q; want 2 naming %s:2 and the field unrelated", name, r.code, r.stderr, name)
		}
	}
}

// TestQuarantineCommandsLocal: a class with a "/" in its role is taken
// back by --class as 'quarantine list' prints it, a clearance needs
// --reason, a mistyped --db is refused rather than created, and 'plan -o
// json' lists the hosts left out for a quarantine with why.
func TestQuarantineCommandsLocal(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "pp.db")
	seedFleet(t, db)
	recordOutcomes(t, db,
		rolledBack("r-1", "web-1", "debian:12", "web", "pp-agent", "1.0.0", "2.0.0"),
		rolledBack("r-2", "front-1", "debian:12", "web/front", "pp-libdemo", "1.0.0", "1.0.1"))

	// plan: web-1 (debian:12/web) is left out, with the quarantine.
	type planJSON struct {
		Targets        []string `json:"targets"`
		LeftOut        []string `json:"left_out"`
		LeftOutReasons []struct {
			Host   string `json:"host"`
			Reason string `json:"reason"`
		} `json:"left_out_reasons"`
	}
	p := decodeJSON[planJSON](t, e.mustRun("plan", "--patch", "pp-agent=2.0.0", "-o", "json", "--db", db))
	if len(p.Targets) != 1 || p.Targets[0] != "db-1" || len(p.LeftOut) != 1 || p.LeftOut[0] != "web-1" ||
		len(p.LeftOutReasons) != 1 || !strings.HasPrefix(p.LeftOutReasons[0].Reason, "quarantined: pp-agent 2.0.0 rolled back on debian:12/web") {
		t.Errorf("plan -o json: %+v; want db-1 kept, web-1 left out for its quarantine", p)
	}

	list := e.mustRun("quarantine", "list", "--db", db)
	const clearCmd = "patchpilot quarantine clear pp-libdemo=1.0.1 --class debian:12/web/front"
	if !strings.Contains(list, clearCmd) {
		t.Fatalf("quarantine list lacks %q:\n%s", clearCmd, list)
	}
	if r := e.run("quarantine", "clear", "pp-libdemo=1.0.1", "--class", "debian:12/web/front", "--db", db); r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, "--reason") {
		t.Errorf("clear without --reason: exit %d, stderr %q; want 2 asking for --reason", r.code, r.stderr)
	}
	out := e.mustRun("quarantine", "clear", "pp-libdemo=1.0.1", "--class", "debian:12/web/front", "--reason", "fixed", "--db", db)
	if !strings.Contains(out, "cleared pp-libdemo=1.0.1 on debian:12/web/front") {
		t.Errorf("clear output:\n%s", out)
	}
	if !strings.Contains(out, "(1 failed host patch, last in rollout") {
		t.Errorf("clear output does not count its one failed host patch in agreeing words:\n%s", out)
	}

	// A database that does not exist is not created.
	missing := filepath.Join(e.home, "typo", "pp.db")
	for _, args := range [][]string{
		{"quarantine", "clear", "pp-agent=2.0.0", "--reason", "fixed", "--db", missing},
		{"model", "use", "rm-0123456789ab", "--db", missing},
	} {
		r := e.run(args...)
		if r.code != patchpilot.ExitNotFound || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "--db") {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want 4 naming the path and --db", strings.Join(args, " "), r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Dir(missing)); err == nil {
			t.Fatalf("patchpilot %s created %s", strings.Join(args, " "), filepath.Dir(missing))
		}
	}
}

// TestQuarantineRemote: 'quarantine list' and 'clear', and 'plan
// --allow-quarantined', work against a server as locally.
func TestQuarantineRemote(t *testing.T) {
	f := newRemoteFixture(t)
	// The fixture's hosts run debian 12 without a role: class debian:12/-.
	recordOutcomes(t, f.db, patchpilot.Outcome{Time: time.Now().UTC().Add(-time.Hour), Rollout: "r-1", Host: "web-1", OS: "debian:12",
		Outcome: patchpilot.OutcomeRolledBack, Reason: "canary failed", Packages: []patchpilot.PackageChange{{Name: "web", From: "1.0", To: "1.1"}}})
	f.same(t, "quarantine", "list")
	if r := f.same(t, "quarantine", "list", "-o", "json"); !strings.Contains(r.stdout, `"class": "debian:12/-"`) {
		t.Errorf("quarantine list -o json against a server:\n%s", r.stdout)
	}
	if r := f.remote(patchpilot.RoleOperator, "plan", "--patch", "web=1.1"); r.code != patchpilot.ExitDenied || !strings.Contains(r.stderr, "--allow-quarantined") {
		t.Errorf("remote plan of a quarantined patch: exit %d, stderr %q; want 6 offering --allow-quarantined", r.code, r.stderr)
	}
	if r := f.remote(patchpilot.RoleOperator, "plan", "--patch", "web=1.1", "--allow-quarantined"); r.code != 0 || !strings.Contains(r.stdout, "kept web-1 (--allow-quarantined)") {
		t.Errorf("remote plan --allow-quarantined: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := f.remote(patchpilot.RoleOperator, "quarantine", "clear", "web=1.1", "--reason", "fixed"); r.code != patchpilot.ExitDenied {
		t.Errorf("clear as an operator: exit %d, stderr %q; want 6", r.code, r.stderr)
	}
	if r := f.remote(patchpilot.RoleApprover, "quarantine", "clear", "web=1.1", "--class", "debian:12/web", "--reason", "fixed"); r.code != patchpilot.ExitNotFound || !strings.Contains(r.stderr, "debian:12/-") {
		t.Errorf("clear on another class: exit %d, stderr %q; want 4 naming debian:12/-", r.code, r.stderr)
	}
	r := f.remote(patchpilot.RoleApprover, "quarantine", "clear", "web=1.1", "--reason", "fixed", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"cleared_by": "token:approver"`) {
		t.Errorf("remote clear: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if out := f.local("quarantine", "list"); !strings.Contains(out.stdout, "No version is quarantined.") {
		t.Errorf("after the remote clearance, locally:\n%s", out.stdout)
	}
}

// TestPlanWarnsOfHeldTargets: 'plan' over a target that an unfinished
// rollout holds keeps it and warns, in the header and on stderr, naming
// the host and the rollout.
func TestPlanWarnsOfHeldTargets(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "pp.db")
	seedFleet(t, db)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = st.CreateRollout(ctx, patchpilot.Rollout{ID: "r-other", State: patchpilot.RolloutPaused, CreatedAt: now, UpdatedAt: now,
		Stages: []patchpilot.StageRun{{Index: 0, Name: "all", State: patchpilot.StagePending, Hosts: []string{"web-1"}}}})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := e.run("plan", "--patch", "pp-agent=2.0.0", "--db", db)
	want := "warning: host web-1 is in rollout r-other (paused), which has not finished: one rollout at a time changes a host, so starting this plan is refused until then"
	if r.code != 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stdout, "# "+want) || !strings.Contains(r.stdout, "web-1") {
		t.Errorf("plan over a held target: exit %d\nstdout:\n%s\nstderr:\n%s\nwant the warning %q on both", r.code, r.stdout, r.stderr, want)
	}
}

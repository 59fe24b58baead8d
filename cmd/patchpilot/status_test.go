package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// rollout status is where hints send people to see why a host failed: a
// reason too long for the table's column is cut there and given whole
// after the table; a short one is not repeated.
func TestRolloutStatusGivesLongReasonsWhole(t *testing.T) {
	long := "health gates fail before any change, so the rollout would roll this host back: services_running: " +
		"the baseline could not be taken: systemctl exited with status 1: System has not been booted with systemd"
	st := app.RolloutStatus{ID: "r-1", State: patchpilot.RolloutHalted, Stages: []app.StageStatus{{
		Hosts: []patchpilot.HostRun{
			{Host: "web-1", State: patchpilot.HostFailed, Reason: long},
			{Host: "web-2", State: patchpilot.HostSkipped, Reason: "dry run: would install web 1.0→1.1"},
		},
	}}}
	st.Stages[0].Name = "all"
	var b bytes.Buffer
	writeRolloutStatus(&b, st)
	out := b.String()
	if !strings.Contains(out, "web-1: "+long+"\n") {
		t.Errorf("status lacks web-1's whole reason:\n%s", out)
	}
	if strings.Count(out, "dry run: would install web 1.0→1.1") != 1 {
		t.Errorf("status repeats or drops web-2's short reason:\n%s", out)
	}
}

// TestRolloutStatusSaysWhyEachGateBreached: the status table gives, under
// a host, each gate that did not pass with its own reason, on one line
// each: those that decided the host, then those of the check after its
// rollback, marked so. Passing gates are not listed.
func TestRolloutStatusSaysWhyEachGateBreached(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedHosts(t, db, "lab02", "lab01")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	const id = "r-20261207-1"
	if err := st.CreateRollout(ctx, patchpilot.Rollout{ID: id, State: patchpilot.RolloutHalted,
		Plan:   patchpilot.Plan{Name: "web", Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "1.1.1"}}}},
		Stages: []patchpilot.StageRun{{Name: "first", Hosts: []string{"lab02"}}}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 0, 10, 0, 0, time.UTC)
	err = st.SaveHostRun(ctx, patchpilot.HostRun{Rollout: id, Host: "lab02", State: patchpilot.HostRolledBack, Order: 1,
		FromVersions: map[string]string{"pp-demo-web": "1.1.0"}, ToVersions: map[string]string{"pp-demo-web": "1.1.1"},
		StartedAt: &at, FinishedAt: &at,
		Reason: "rolled back: unhealthy: critical: dependents_reachable; breached: services_running",
		Gates: []patchpilot.GateResult{
			{Gate: "dependents_reachable", Outcome: patchpilot.GateCritical, Time: at,
				Reason: "lab01 cannot reach 127.0.88.2:8080: connection refused"},
			{Gate: "services_running", Outcome: patchpilot.GateBreach, Time: at,
				Reason: "pp-demo-web.service failed:\nexit status 1"},
			{Gate: "journal_errors<5", Outcome: patchpilot.GatePass, Time: at, Reason: "0 errors"},
			{Gate: "dependents_reachable", Outcome: patchpilot.GatePass, Time: at, Phase: patchpilot.GateAfterRollback,
				Reason: "lab02 answers from all 1 dependents checked"},
			{Gate: "services_running", Outcome: patchpilot.GateInconclusive, Time: at, Phase: patchpilot.GateAfterRollback,
				Reason: "pp-demo-web.service is activating"},
		}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := e.runIn("rollout", "status", id, "--db", db)
	if r.code != 0 {
		t.Fatalf("rollout status: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	find := func(text string) int {
		t.Helper()
		for i, l := range lines {
			if strings.HasSuffix(strings.TrimSpace(l), text) {
				return i
			}
		}
		t.Errorf("no line of the status ends with %q:\n%s", text, r.stdout)
		return -1
	}
	host := -1
	for i, l := range lines {
		if strings.Contains(l, "lab02") && strings.Contains(l, "rolled_back") {
			host = i
		}
	}
	crit := find("dependents_reachable breached (critical): lab01 cannot reach 127.0.88.2:8080: connection refused")
	breach := find("services_running breached: pp-demo-web.service failed: exit status 1")
	after := find("after the rollback: services_running inconclusive: pp-demo-web.service is activating")
	if host < 0 || crit != host+1 || breach != host+2 || after != host+3 {
		t.Errorf("the gates' lines are not the three lines under the host's (host %d, lines %d %d %d):\n%s", host, crit, breach, after, r.stdout)
	}
	for _, passed := range []string{"0 errors", "answers from all"} {
		if strings.Contains(r.stdout, passed) {
			t.Errorf("the status lists a gate that passed (%q):\n%s", passed, r.stdout)
		}
	}
	if crit >= 0 {
		reasonCol := strings.Index(lines[host], "rolled back: ")
		if got := len(lines[crit]) - len(strings.TrimLeft(lines[crit], " ")); reasonCol < 0 || got < reasonCol {
			t.Errorf("the gate line starts at column %d, before the REASON column (%d):\n%s", got, reasonCol, r.stdout)
		}
	}
}

// TestRolloutStatusSaysNothingDrivesIt: a rollout left running by a
// controller that was interrupted (it gave its lease back) or killed (its
// lease names a process of this machine that is gone) says that nothing
// drives it and how to carry it on; one whose controller may be alive
// (another machine holds its lease) does not.
func TestRolloutStatusSaysNothingDrivesIt(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedHosts(t, db, "web-1")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateRollout(ctx, patchpilot.Rollout{ID: "r-left", State: patchpilot.RolloutRunning,
		Plan:   patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true}},
		Stages: []patchpilot.StageRun{{Name: "all", Hosts: []string{"web-1"}}}}); err != nil {
		t.Fatal(err)
	}
	const note = "Nothing drives this rollout"
	out := e.mustRun("rollout", "status", "r-left", "--db", db)
	if !strings.Contains(out, note) || !strings.Contains(out, "was interrupted") || !strings.Contains(out, "patchpilot rollout resume r-left") {
		t.Errorf("status of a rollout no controller holds:\n%s\nwant %q with the resume command", out, note)
	}

	m, err := orchestrator.LocalMachine()
	if err != nil {
		t.Skipf("this machine's identity: %v", err)
	}
	dead := orchestrator.LeaseOwner{Host: m.Host, PID: 1 << 22, BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: "dead"}.String()
	if ok, _, err := st.AcquireLease(ctx, "r-left", dead, time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	if out := e.mustRun("rollout", "status", "r-left", "--db", db); !strings.Contains(out, note) || !strings.Contains(out, "no longer runs on this machine") {
		t.Errorf("status of a rollout whose controller was killed:\n%s", out)
	}
	if out := e.mustRun("rollout", "status", "r-left", "--db", db, "-o", "json"); strings.Contains(out, note) {
		t.Errorf("-o json carries the note:\n%s", out)
	}

	other := orchestrator.LeaseOwner{Host: "elsewhere", PID: 42, BootID: "b", PIDNamespace: "1", Nonce: "live"}.String()
	if ok, _, err := st.TakeOverLease(ctx, "r-left", dead, other, time.Hour); err != nil || !ok {
		t.Fatalf("TakeOverLease: %v, %v", ok, err)
	}
	if out := e.mustRun("rollout", "status", "r-left", "--db", db); strings.Contains(out, note) {
		t.Errorf("status of a rollout another machine drives says nothing drives it:\n%s", out)
	}
}

package orchestrator

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

const threeStages = `
name: demo
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: validation, targets: 1, criteria: [http_ok], bake: 10s, on_failure: rollback_and_alert}
  - {name: canary, targets: 2, parallel: 2, criteria: [http_ok], bake: 30s, on_failure: rollback_and_alert}
  - {name: wave_1, targets: rest, parallel: 3, criteria: [http_ok], bake: 5s, max_failures: 1, on_failure: rollback_wave_and_hold}
`

func TestAllSucceed(t *testing.T) {
	e := newEnv(t, hostsNamed(6))
	id := e.start(threeStages)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	for h, s := range e.states(id) {
		if s != patchpilot.HostSucceeded || e.f.applies[h] != 1 || e.f.installed[h]["web"] != "1.1" {
			t.Errorf("%s: state %s, applied %d times, web %s; want succeeded, once, 1.1", h, s, e.f.applies[h], e.f.installed[h]["web"])
		}
	}
	// The validation host goes first, alone.
	if got, want := e.f.entries("apply ")[0], e.stageHosts(id, "validation")[0]; got != want {
		t.Errorf("first applied %s, want the validation host %s", got, want)
	}
	outs, err := e.db.Outcomes(context.Background(), patchpilot.OutcomeFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 6 {
		t.Fatalf("%d outcomes, want 6", len(outs))
	}
	recs := risk.FromOutcome(outs[0])
	if len(recs) != 1 {
		t.Fatalf("outcome gives %d history records, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Package != "web" || r.SourcePackage != "web-src" || r.FromVersion != "1.0" || r.ToVersion != "1.1" ||
		r.Role() != "web" || r.OS != "debian:12" || r.Category != risk.Categorize("web-src", "web") || len(outs[0].GateResults) == 0 {
		t.Errorf("history record = %+v, gates %v; want web-src's web 1.0 → 1.1 on a debian:12 web host, gate results", r, outs[0].GateResults)
	}
}

func TestCanaryFailsRollsBackInReverseOrder(t *testing.T) {
	e := newEnv(t, hostsNamed(6))
	id := e.start(threeStages)
	canaries := e.stageHosts(id, "canary")
	// Canaries break at their third check; the validation host is fine.
	e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
		if n >= 3 && (h == canaries[0] || h == canaries[1]) {
			return patchpilot.Unhealthy
		}
		return patchpilot.Healthy
	}
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("rollout state = %s, want halted", got)
	}
	runs, _ := e.db.HostRuns(context.Background(), id)
	order := map[string]int{}
	for _, h := range runs {
		order[h.Host] = h.Order
	}
	back := e.f.entries("rollback ")
	if len(back) != 2 || order[back[0]] < order[back[1]] {
		t.Errorf("rollbacks %v with deployment orders %v, want both canaries, last deployed first", back, order)
	}
	for _, h := range e.stageHosts(id, "wave_1") {
		if e.f.applies[h] != 0 || e.states(id)[h] != patchpilot.HostSkipped {
			t.Errorf("wave host %s: applied %d times, state %s; want untouched and skipped", h, e.f.applies[h], e.states(id)[h])
		}
	}
	for _, h := range canaries {
		if s := e.states(id)[h]; s != patchpilot.HostRolledBack || e.f.installed[h]["web"] != "1.0" {
			t.Errorf("canary %s: %s at web %s, want rolled_back at 1.0", h, s, e.f.installed[h]["web"])
		}
	}
	incs, _ := e.db.Incidents(context.Background(), id)
	if len(incs) != 1 || incs[0].Stage != "canary" || len(incs[0].Hosts) != 2 || !strings.Contains(string(incs[0].Evidence), "gate_results") {
		t.Errorf("incidents = %+v, want one for canary naming both hosts with gate evidence", incs)
	}
}

func TestRollbackFailureDoesNotStopOthers(t *testing.T) {
	e := newEnv(t, hostsNamed(4))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 4, criteria: [http_ok], bake: 3s, on_failure: rollback_and_alert}
`)
	hosts := e.stageHosts(id, "all")
	e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
		if h == hosts[3] {
			return patchpilot.Unhealthy
		}
		return patchpilot.Healthy
	}
	e.f.rbFails[hosts[1]] = true
	if got := e.run(id); got != patchpilot.RolloutFailed {
		t.Fatalf("rollout state = %s, want failed (a rollback failed)", got)
	}
	if n := len(e.f.entries("rollback ")); n != 4 {
		t.Errorf("%d rollbacks attempted, want all 4 (one failure must not stop the others)", n)
	}
	for i, h := range hosts {
		want := patchpilot.HostRolledBack
		if i == 1 {
			want = patchpilot.HostRollbackFailed
		}
		if got := e.states(id)[h]; got != want {
			t.Errorf("%s: %s, want %s", h, got, want)
		}
	}
}

func TestApplyFailureRollsBackThatHost(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, max_failures: 1, on_failure: rollback_wave_and_hold}
`)
	bad := e.stageHosts(id, "all")[1]
	e.f.applyFails[bad] = true
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded (one failure is within max_failures 1)", got)
	}
	if got := e.f.entries("rollback "); !reflect.DeepEqual(got, []string{bad}) {
		t.Errorf("rollbacks = %v, want only %s", got, bad)
	}
	outs, _ := e.db.Outcomes(context.Background(), patchpilot.OutcomeFilter{Host: bad})
	if len(outs) != 1 || outs[0].Outcome != patchpilot.OutcomeRolledBack || !strings.Contains(outs[0].Reason, "status 1") {
		t.Errorf("outcome of %s = %+v, want rolled_back naming the exit status", bad, outs)
	}
}

func TestApprovalWaits(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 1}
  - {name: final, targets: rest, parallel: 2, approval: required}
`)
	if got := e.run(id); got != patchpilot.RolloutWaitingApproval {
		t.Fatalf("rollout state = %s, want waiting_approval", got)
	}
	for _, h := range e.stageHosts(id, "final") {
		if e.f.applies[h] != 0 {
			t.Errorf("%s applied before approval", h)
		}
	}
	if _, err := e.e.Approve(context.Background(), id, "nosuch", "user:ann"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("approve unknown stage: %v, want not_found", err)
	}
	if name, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil || name != "final" {
		t.Fatalf("approve = %q, %v", name, err)
	}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state after approval = %s, want succeeded", got)
	}
	r, _ := e.db.Rollout(context.Background(), id)
	if r.Stages[1].ApprovedBy != "user:ann" {
		t.Errorf("final approved by %q", r.Stages[1].ApprovedBy)
	}
}

func TestDisruptionBudget(t *testing.T) {
	e := newEnv(t, hostsNamed(8, "web", "db"))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
budgets: [{group: role, max_unavailable: 1}]
stages:
  - {name: all, targets: rest, parallel: 8}
`)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s", got)
	}
	for role, n := range e.f.maxInflight {
		if n > 1 {
			t.Errorf("role %s had %d hosts applying at once, budget allows 1", role, n)
		}
	}
}

// A host that failed after its change is down until its rollback: its
// group's budget holds the group's other hosts until then, and the stage
// rolls it back at once instead of at its end so that they may go on.
func TestDisruptionBudgetCountsAFailedHostUntilItsRollback(t *testing.T) {
	for _, rollbackFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("rollback fails %v", rollbackFails), func(t *testing.T) {
			e := newEnv(t, hostsNamed(6, "web", "db"))
			id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
budgets: [{group: role, max_unavailable: 1}]
stages:
  - {name: all, targets: rest, parallel: 6, criteria: [http_ok], bake: 3s, max_failures: 2, on_failure: rollback_and_alert}
`)
			var db []string
			for _, h := range e.stageHosts(id, "all") {
				if e.f.roles[h] == "db" {
					db = append(db, h)
				}
			}
			bad := db[0]
			e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
				if h == bad {
					return patchpilot.Unhealthy
				}
				return patchpilot.Healthy
			}
			e.f.rbFails[bad] = rollbackFails
			want := patchpilot.RolloutSucceeded // one failure is within max_failures 2
			if rollbackFails {
				want = patchpilot.RolloutFailed
			}
			if got := e.run(id); got != want {
				t.Fatalf("rollout state = %s, want %s", got, want)
			}

			// No other db host was changed while bad was down.
			down := false
			for _, l := range e.f.entries("") {
				switch {
				case l == "apply "+bad:
					down = true
				case l == "rollback "+bad && !rollbackFails:
					down = false
				case down && strings.HasPrefix(l, "apply ") && e.f.roles[strings.TrimPrefix(l, "apply ")] == "db":
					t.Errorf("%s while %s was down; log %v", l, bad, e.f.entries(""))
				}
			}
			states := e.states(id)
			for _, h := range db[1:] {
				want := patchpilot.HostSucceeded
				if rollbackFails {
					want = patchpilot.HostSkipped // a person must look first
				}
				if states[h] != want {
					t.Errorf("%s: %s, want %s", h, states[h], want)
				}
			}
			wantBad := patchpilot.HostRolledBack
			if rollbackFails {
				wantBad = patchpilot.HostRollbackFailed
			}
			if states[bad] != wantBad {
				t.Errorf("%s: %s, want %s", bad, states[bad], wantBad)
			}
			if n := len(e.f.entries("rollback ")); n != 1 {
				t.Errorf("%d rollbacks, want 1 (%v)", n, e.f.entries("rollback "))
			}
		})
	}
}

func TestUnreachableCountsAgainstMaxFailures(t *testing.T) {
	e := newEnv(t, hostsNamed(4))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, max_failures: 0, on_failure: halt_and_alert}
`)
	hosts := e.stageHosts(id, "all")
	e.f.unreachable[hosts[1]] = true
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("rollout state = %s, want halted", got)
	}
	want := map[string]patchpilot.HostState{hosts[0]: patchpilot.HostSucceeded, hosts[1]: patchpilot.HostUnreachable,
		hosts[2]: patchpilot.HostSkipped, hosts[3]: patchpilot.HostSkipped}
	if got := e.states(id); !reflect.DeepEqual(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

func TestMaintenanceWindowWaits(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
windows: [{days: [mon], start: "14:00", end: "15:00"}]
stages:
  - {name: all, targets: rest}
`)
	// Poll the store every ten virtual minutes while the window is shut.
	e.e.PollInterval = 10 * time.Minute
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s", got)
	}
	runs, _ := e.db.HostRuns(context.Background(), id)
	if start := runs[0].StartedAt; start == nil || start.Hour() != 14 {
		t.Errorf("host started at %v, want inside the 14:00 window", start)
	}
	// The time of the change is stored, so that a controller resuming the
	// rollout, or judging the stage from another process, compares from it.
	if applied := runs[0].AppliedAt; applied == nil || runs[0].StartedAt == nil || applied.Before(*runs[0].StartedAt) {
		t.Errorf("host applied at %v, want a stored time not before its start %v", applied, runs[0].StartedAt)
	}
}

func TestRebootWaitsForNewBootID(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	id := e.start(`
patch: {packages: ["kernel-demo=1.1"]}
targets: {selector: "env=test"}
policy: {allow_reboot: true}
stages:
  - {name: all, targets: rest, timeout: 5m}
`)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s", got)
	}
	runs, _ := e.db.HostRuns(context.Background(), id)
	if h := runs[0]; h.BootIDBefore == "" || h.BootIDAfter == "" || h.BootIDBefore == h.BootIDAfter || len(e.f.entries("reboot ")) != 1 {
		t.Errorf("boot ids %q → %q, reboots %v; want one reboot and a new boot id", h.BootIDBefore, h.BootIDAfter, e.f.entries("reboot "))
	}
}

func TestRebootRefusedByPolicy(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	id := e.start(`
patch: {packages: ["kernel-demo=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest}
`)
	e.run(id)
	runs, _ := e.db.HostRuns(context.Background(), id)
	if h := runs[0]; h.State != patchpilot.HostFailed || !strings.Contains(h.Reason, "allow_reboot") || e.f.applies[h.Host] != 0 {
		t.Errorf("host %s: %s (%s), applied %d; want failed before apply naming allow_reboot", h.Host, h.State, h.Reason, e.f.applies[h.Host])
	}
}

// TestResumeReadsRealState plays a controller that died: one host was
// recorded in apply and its transaction finished, another recorded in
// apply but never changed. The next controller must not apply the first
// again and must apply the second.
func TestResumeReadsRealState(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 3}
`)
	ctx := context.Background()
	if err := e.db.SetRolloutState(ctx, id, patchpilot.RolloutRunning, "started"); err != nil {
		t.Fatal(err)
	}
	runs, _ := e.db.HostRuns(ctx, id)
	now := e.clock.Now()
	done, notYet := runs[0], runs[1]
	for i, h := range []*patchpilot.HostRun{&done, &notYet} {
		h.State, h.Order, h.StartedAt, h.UpdatedAt = patchpilot.HostApply, i+1, &now, now
		h.FromVersions, h.ToVersions = map[string]string{"web": "1.0"}, map[string]string{"web": "1.1"}
		h.Baseline = patchpilot.HealthBaseline{"cpu": []byte(`{"cpu":0.1}`)}
		if err := e.db.SaveHostRun(ctx, *h); err != nil {
			t.Fatal(err)
		}
	}
	e.f.installed[done.Host]["web"] = "1.1"
	// The dead controller's lease has expired; another holder is refused
	// while it is live.
	if ok, _, _ := e.db.AcquireLease(ctx, id, "dead-controller", time.Hour); !ok {
		t.Fatal("could not take the lease for the dead controller")
	}
	if _, err := e.e.Run(ctx, id); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Fatalf("Run while another controller holds the lease: %v, want conflict", err)
	}
	if err := e.db.ReleaseLease(ctx, id, "dead-controller"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.e.Resume(ctx, id, "user:test"); err != nil || got != patchpilot.RolloutSucceeded {
		t.Fatalf("Resume = %s, %v; want succeeded", got, err)
	}
	want := map[string]int{done.Host: 0, notYet.Host: 1, runs[2].Host: 1}
	for h, n := range want {
		if e.f.applies[h] != n {
			t.Errorf("%s applied %d times after resume, want %d", h, e.f.applies[h], n)
		}
		if e.states(id)[h] != patchpilot.HostSucceeded {
			t.Errorf("%s: %s, want succeeded", h, e.states(id)[h])
		}
	}
}

func TestPauseAbortAndRequestedRollback(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 1}
  - {name: rest, targets: rest}
`)
	ctx := context.Background()
	if err := e.e.Pause(ctx, id, "user:bob"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutPaused {
		t.Fatalf("paused rollout ran to %s", got)
	}
	if len(e.f.entries("apply ")) != 0 {
		t.Fatal("a paused rollout applied something")
	}
	if got, err := e.e.Resume(ctx, id, "user:bob"); err != nil || got != patchpilot.RolloutSucceeded {
		t.Fatalf("Resume = %s, %v", got, err)
	}
	first := e.stageHosts(id, "first")[0]
	if _, err := e.e.RequestRollback(ctx, id, []string{"nosuch"}, "user:bob"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("rollback of an unknown host: %v", err)
	}
	if _, err := e.e.RequestRollback(ctx, id, []string{first}, "user:bob"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutRolledBack {
		t.Fatalf("after rollback request: %s, want rolled_back", got)
	}
	if got := e.f.entries("rollback "); !reflect.DeepEqual(got, []string{first}) {
		t.Errorf("rolled back %v, want %s only", got, first)
	}
	if err := e.e.Abort(ctx, id, "user:bob"); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Errorf("abort of a finished rollout: %v, want conflict", err)
	}

	id2 := e.start(`
patch: {packages: ["web=1.2"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest}
`)
	if err := e.e.Abort(ctx, id2, "user:bob"); err != nil {
		t.Fatal(err)
	}
	for h, s := range e.states(id2) {
		if s != patchpilot.HostSkipped {
			t.Errorf("aborted rollout: %s is %s, want skipped", h, s)
		}
	}
}

// A host that already runs a pinned version (a plan started again, or a
// host patched by hand since the plan was written) has nothing to change
// for that package: its record keeps the installed version as the version
// before, so that rolling the host back leaves the package installed
// instead of removing it as a package that the rollout installed.
func TestPinAlreadyInstalledIsKeptOnRollback(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	e.f.installed["h01"]["web"] = "1.1"
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 2}
`)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	runs, err := e.db.HostRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, hr := range runs {
		want := map[string]string{"h01": "1.1", "h02": "1.0"}[hr.Host]
		if got, ok := hr.FromVersions["web"]; !ok || got != want {
			t.Errorf("%s: web before the change recorded as %q; want %q", hr.Host, got, want)
		}
		if hr.Host == "h01" && strings.Contains(hr.Reason, "none") {
			t.Errorf("h01: reason %q says web was not installed", hr.Reason)
		}
	}
	ctx := context.Background()
	if _, err := e.e.RequestRollback(ctx, id, nil, "user:bob"); err != nil {
		t.Fatal(err)
	}
	e.run(id)
	if got := e.f.installed["h01"]["web"]; got != "1.1" {
		t.Errorf("after the rollback web on h01 is %q; want 1.1, as it was before the rollout", got)
	}
	if got := e.f.installed["h02"]["web"]; got != "1.0" {
		t.Errorf("after the rollback web on h02 is %q; want 1.0", got)
	}
}

// TestInterruptedControllerLeavesHostsToResume stops the controller (as a
// signal does) during a bake: the host is not failed, and the next
// controller bakes it again without applying twice.
func TestInterruptedControllerLeavesHostsToResume(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, criteria: [http_ok], bake: 30s}
`)
	ctx, cancel := context.WithCancel(context.Background())
	e.f.verdict = func(string, int) patchpilot.HealthVerdict {
		cancel()
		return patchpilot.Healthy
	}
	if _, err := e.e.Run(ctx, id); patchpilot.ErrorCode(err) != patchpilot.ECANCELED {
		t.Fatalf("interrupted Run: %v, want canceled", err)
	}
	first := e.stageHosts(id, "all")[0]
	if got := e.states(id)[first]; got != patchpilot.HostVerify {
		t.Fatalf("%s after the interruption: %s, want verify (interruption is no failure)", first, got)
	}
	e.f.verdict = nil
	if got, err := e.e.Resume(context.Background(), id, "user:test"); err != nil || got != patchpilot.RolloutSucceeded {
		t.Fatalf("Resume = %s, %v", got, err)
	}
	for h, n := range e.f.applies {
		if n != 1 {
			t.Errorf("%s applied %d times", h, n)
		}
	}
}

// MarkResumed puts the resume on record without driving the rollout: a
// paused rollout goes back to running with a request event; one the
// controller already carries on (not paused) keeps its state, and the
// request is recorded all the same, so that a client following the
// rollout after asking sees it arrive; one that is over is refused.
func TestMarkResumedRecordsTheRequest(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest}
`)
	ctx := context.Background()
	requests := func() []string {
		t.Helper()
		evs, err := e.e.Store.Events(ctx, patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventRequest})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			out = append(out, ev.Message)
		}
		return out
	}
	if err := e.e.Pause(ctx, id, "user:bob"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.e.MarkResumed(ctx, id, "user:ann"); err != nil || got != patchpilot.RolloutRunning {
		t.Fatalf("MarkResumed of a paused rollout = %s, %v; want running", got, err)
	}
	if r, err := e.e.Store.Rollout(ctx, id); err != nil || r.State != patchpilot.RolloutRunning {
		t.Fatalf("stored state %s, %v; want running", r.State, err)
	}
	if got := requests(); len(got) != 2 || got[1] != "resume requested by user:ann" {
		t.Errorf("requests %q, want the pause then the resume by user:ann", got)
	}
	if len(e.f.entries("apply ")) != 0 {
		t.Error("MarkResumed drove the rollout")
	}
	// Running already: the state stays, the request is recorded.
	if got, err := e.e.MarkResumed(ctx, id, "user:ann"); err != nil || got != patchpilot.RolloutRunning {
		t.Fatalf("MarkResumed of a running rollout = %s, %v", got, err)
	}
	if got := requests(); len(got) != 3 || !strings.Contains(got[2], "already running") {
		t.Errorf("requests %q, want a third saying the rollout was already running", got)
	}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("run after the resume: %s", got)
	}
	if _, err := e.e.MarkResumed(ctx, id, "user:ann"); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Errorf("MarkResumed of a succeeded rollout: %v, want ECONFLICT", err)
	}
}

package orchestrator

import (
	"context"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// Rolling back one host of a held rollout leaves it held: the rest can
// still be resumed (and then rolled back); rolling back one host of a
// paused rollout leaves it paused: the rest can still be aborted and
// rolled back. A rollback of every changed host still ends the rollout
// rolled back.
func TestPartialRollbackLeavesTheRolloutToItsPerson(t *testing.T) {
	ctx := context.Background()
	t.Run("held", func(t *testing.T) {
		e := newEnv(t, hostsNamed(5))
		id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 2, parallel: 2}
  - {name: wave, targets: 1, criteria: [http_ok], bake: 3s, on_failure: rollback_wave_and_hold}
  - {name: rest, targets: rest, parallel: 2}
`)
		first, wave, rest := e.stageHosts(id, "first"), e.stageHosts(id, "wave"), e.stageHosts(id, "rest")
		e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
			if h == wave[0] && n < 10 {
				return patchpilot.Unhealthy
			}
			return patchpilot.Healthy
		}
		if got := e.run(id); got != patchpilot.RolloutHalted {
			t.Fatalf("rollout = %s; want halted (held)", got)
		}
		if _, err := e.e.RequestRollback(ctx, id, []string{first[0]}, "user:bob"); err != nil {
			t.Fatal(err)
		}
		if got := e.run(id); got != patchpilot.RolloutHalted {
			t.Fatalf("after rolling back %s the rollout is %s; want halted (held) again", first[0], got)
		}
		r, err := e.db.Rollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !Held(r.State, r.Reason) || !strings.Contains(r.Reason, "then rolled back "+first[0]+" on request") {
			t.Errorf("rollout %s (%s); want held, saying what was rolled back", r.State, r.Reason)
		}
		st := e.states(id)
		if st[first[0]] != patchpilot.HostRolledBack || e.f.installed[first[0]]["web"] != "1.0" ||
			st[first[1]] != patchpilot.HostSucceeded || e.f.installed[first[1]]["web"] != "1.1" {
			t.Errorf("first stage hosts: %s %s at %s, %s %s at %s; want the one rolled back, the other kept",
				first[0], st[first[0]], e.f.installed[first[0]]["web"], first[1], st[first[1]], e.f.installed[first[1]]["web"])
		}
		for _, h := range rest {
			if st[h] != patchpilot.HostPending {
				t.Errorf("rest host %s is %s; want still pending", h, st[h])
			}
		}
		// The rest can be resumed, and goes on to the end.
		if got, err := e.e.Resume(ctx, id, "user:bob"); err != nil || got != patchpilot.RolloutSucceeded {
			t.Fatalf("Resume = %s, %v; want succeeded", got, err)
		}
		for _, h := range rest {
			if e.states(id)[h] != patchpilot.HostSucceeded || e.f.installed[h]["web"] != "1.1" {
				t.Errorf("rest host %s after the resume: %s at %s", h, e.states(id)[h], e.f.installed[h]["web"])
			}
		}
		// Every changed host rolled back: the rollout is rolled back.
		if _, err := e.e.RequestRollback(ctx, id, nil, "user:bob"); err != nil {
			t.Fatal(err)
		}
		if got := e.run(id); got != patchpilot.RolloutRolledBack {
			t.Errorf("after rolling every changed host back the rollout is %s; want rolled_back", got)
		}
	})
	t.Run("paused", func(t *testing.T) {
		e := newEnv(t, hostsNamed(4))
		id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 2, parallel: 2}
  - {name: rest, targets: rest, approval: required}
`)
		first, rest := e.stageHosts(id, "first"), e.stageHosts(id, "rest")
		if got := e.run(id); got != patchpilot.RolloutWaitingApproval {
			t.Fatalf("rollout = %s; want waiting_approval", got)
		}
		if err := e.e.Pause(ctx, id, "user:bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.e.RequestRollback(ctx, id, []string{first[1]}, "user:bob"); err != nil {
			t.Fatal(err)
		}
		if got := e.run(id); got != patchpilot.RolloutPaused {
			t.Fatalf("after rolling back %s the rollout is %s; want paused again", first[1], got)
		}
		if st := e.states(id); st[first[1]] != patchpilot.HostRolledBack || st[first[0]] != patchpilot.HostSucceeded || st[rest[0]] != patchpilot.HostPending {
			t.Errorf("host states %v; want %s rolled back, %s succeeded, the rest pending", st, first[1], first[0])
		}
		// The rest can be aborted, and then rolled back.
		if err := e.e.Abort(ctx, id, "user:bob"); err != nil {
			t.Fatalf("Abort after a partial rollback: %v", err)
		}
		for _, h := range rest {
			if s := e.states(id)[h]; s != patchpilot.HostSkipped {
				t.Errorf("rest host %s after the abort: %s; want skipped", h, s)
			}
		}
		hosts, err := e.e.RequestRollback(ctx, id, nil, "user:bob")
		if err != nil || len(hosts) != 1 || hosts[0] != first[0] {
			t.Fatalf("rollback of the rest = %v, %v; want %s", hosts, err, first[0])
		}
		if got := e.run(id); got != patchpilot.RolloutRolledBack || e.f.installed[first[0]]["web"] != "1.0" {
			t.Errorf("after the last rollback the rollout is %s and %s has web %s; want rolled_back and 1.0", got, first[0], e.f.installed[first[0]]["web"])
		}
	})
}

package orchestrator

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestControlWritesStateEvents: every change of a rollout's state made by
// a person's request (pause, resume, rollback, abort) writes its
// rollout.state event with the payload the integrations read.
func TestControlWritesStateEvents(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	plan := `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 1}
  - {name: rest, targets: rest}
`
	ctx := context.Background()
	states := func(id string) []patchpilot.RolloutStateData {
		t.Helper()
		evs, err := e.e.Store.Events(ctx, patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventRolloutState})
		if err != nil {
			t.Fatal(err)
		}
		var out []patchpilot.RolloutStateData
		for _, ev := range evs {
			var d patchpilot.RolloutStateData
			if err := json.Unmarshal(ev.Data, &d); err != nil || d.State == "" {
				t.Fatalf("rollout.state event %q has no payload: %s", ev.Message, ev.Data)
			}
			out = append(out, d)
		}
		return out
	}
	has := func(id string, want patchpilot.RolloutStateData) {
		t.Helper()
		for _, d := range states(id) {
			if d == want {
				return
			}
		}
		t.Errorf("rollout %s: no rollout.state event %+v among %+v", id, want, states(id))
	}

	id := e.start(plan)
	if err := e.e.Pause(ctx, id, "user:bob"); err != nil {
		t.Fatal(err)
	}
	has(id, patchpilot.RolloutStateData{State: patchpilot.RolloutPaused, Reason: "paused by user:bob", Previous: patchpilot.RolloutPending})
	if got, err := e.e.Resume(ctx, id, "user:bob"); err != nil || got != patchpilot.RolloutSucceeded {
		t.Fatalf("Resume = %s, %v", got, err)
	}
	has(id, patchpilot.RolloutStateData{State: patchpilot.RolloutRunning, Reason: "resumed by user:bob", Previous: patchpilot.RolloutPaused})
	first := e.stageHosts(id, "first")[0]
	if _, err := e.e.RequestRollback(ctx, id, []string{first}, "user:bob"); err != nil {
		t.Fatal(err)
	}
	has(id, patchpilot.RolloutStateData{State: patchpilot.RolloutRollingBack, Reason: "rollback of " + first + " requested by user:bob", Previous: patchpilot.RolloutSucceeded})

	id2 := e.start(plan)
	if err := e.e.Abort(ctx, id2, "user:bob"); err != nil {
		t.Fatal(err)
	}
	has(id2, patchpilot.RolloutStateData{State: patchpilot.RolloutAborted, Reason: "aborted by user:bob", Previous: patchpilot.RolloutPending})
	aborted := 0
	for _, d := range states(id2) {
		if d.State == patchpilot.RolloutAborted {
			aborted++
		}
	}
	if aborted != 1 {
		t.Errorf("abort wrote %d rollout.state aborted events, want 1", aborted)
	}
}

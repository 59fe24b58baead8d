package orchestrator

import (
	"context"
	"encoding/json"
	"strings"
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
	// The rollback is carried out before another rollout takes the
	// hosts.
	if got, err := e.e.Run(ctx, id); err != nil || !got.Final() {
		t.Fatalf("the rollback's run = %s, %v", got, err)
	}

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

// TestHostStateEventsOnceEach: a host's pipeline announces each step
// once. The snapshot step stores what it found without a second snapshot
// event, and the two rolling_back events of a failed host (it waits for
// its rollback; the rollback starts) say which is which.
func TestHostStateEventsOnceEach(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, criteria: [http_ok], bake: 2s, max_failures: 1, on_failure: rollback_and_alert}
`)
	hosts := e.stageHosts(id, "all")
	bad := hosts[1]
	e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
		if h == bad {
			return patchpilot.Unhealthy
		}
		return patchpilot.Healthy
	}
	e.run(id)
	if got := e.states(id)[bad]; got != patchpilot.HostRolledBack {
		t.Fatalf("%s = %s, want rolled_back", bad, got)
	}
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventHostState})
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string][]string{}
	for _, ev := range evs {
		byHost[ev.Host] = append(byHost[ev.Host], ev.Message)
	}
	for _, h := range hosts {
		msgs := byHost[h]
		if len(msgs) == 0 {
			t.Errorf("%s wrote no host state events", h)
		}
		seen := map[string]int{}
		for _, m := range msgs {
			seen[m]++
			if seen[m] == 2 {
				t.Errorf("%s: event %q written twice; all: %q", h, m, msgs)
			}
		}
		if n := seen[h+" snapshot"]; n != 1 {
			t.Errorf("%s: %d snapshot events, want 1; all: %q", h, n, msgs)
		}
	}
	var waits, starts int
	for _, m := range byHost[bad] {
		switch {
		case strings.HasPrefix(m, bad+" rolling_back: waits for its rollback: unhealthy: "):
			waits++
		case strings.HasPrefix(m, bad+" rolling_back: rollback started: unhealthy: "):
			starts++
		case strings.HasPrefix(m, bad+" rolling_back"):
			t.Errorf("%s: rolling_back event %q says neither that it waits nor that the rollback started", bad, m)
		}
	}
	if waits != 1 || starts != 1 {
		t.Errorf("%s: %d waiting and %d started rolling_back events, want 1 and 1; all: %q", bad, waits, starts, byHost[bad])
	}
	gates, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id, Host: bad, Kind: patchpilot.EventGateVerdict})
	if err != nil {
		t.Fatal(err)
	}
	var after int
	var gateMsgs []string
	for _, ev := range gates {
		gateMsgs = append(gateMsgs, ev.Message)
		if strings.HasPrefix(ev.Message, bad+" gates after the rollback ") {
			after++
		}
	}
	if after == 0 {
		t.Errorf("no gate verdict of %s names the check after the rollback: %q", bad, gateMsgs)
	}
}

package orchestrator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestBakeWithoutCriteriaStillBakes: a stage that names a bake but no
// criteria has nothing to check, yet it waits its bake after each host (a
// soak time in which people may pause or abort), and says that nothing is
// checked meanwhile.
func TestBakeWithoutCriteriaStillBakes(t *testing.T) {
	const plan = `
name: soak
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 1, bake: 10m}
  - {name: rest, targets: rest, parallel: 2}
`
	e := newEnv(t, hostsNamed(3))
	e.e.Health = func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error) { return nil, nil }
	start := e.clock.Now()
	id := e.start(plan)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	if took := e.clock.Now().Sub(start); took < 10*time.Minute {
		t.Errorf("the rollout took %s of the clock, want at least the first stage's 10m bake", took)
	}
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	var soaks []string
	started := false
	for _, ev := range evs {
		// The running state names who started the rollout and which
		// controller drives it.
		started = started || ev.Kind == patchpilot.EventRolloutState && strings.Contains(ev.Message, "started by user:test, driven by controller test-controller")
		if strings.Contains(ev.Message, "with no health criteria") {
			soaks = append(soaks, ev.Host)
		}
	}
	if !started {
		t.Error("no running state event names the rollout's creator and its controller")
	}
	first := e.stageHosts(id, "first")
	if len(soaks) != 1 || len(first) != 1 || soaks[0] != first[0] {
		t.Errorf("soak events for %v, want one for the first stage's host %v (the rest has no bake)", soaks, first)
	}
}

package orchestrator

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// adaptivePlan has a validation host, a canary stage, a wave and a final
// stage whose own failure limits are generous: whatever halts the rollout
// in these tests is the adaptive planner's budget.
const adaptivePlan = `
name: adaptive
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
policy: {adaptive: true, max_broken_hosts: 2}
stages:
  - {name: validation, targets: 1, criteria: [http_ok], bake: 5s, max_failures: 1}
  - {name: canary, targets: 2, parallel: 2, criteria: [http_ok], bake: 5s, max_failures: 50%}
  - {name: wave_1, targets: 5, parallel: 5, criteria: [http_ok], bake: 5s, max_failures: 50%}
  - {name: final, targets: rest, parallel: 10, criteria: [http_ok], bake: 5s, max_failures: 50%}
`

func TestAdaptiveRollouts(t *testing.T) {
	cases := []struct {
		name  string
		prior float64
		hosts int
		// fail lists the hosts whose apply fails, by position in the
		// rollout's dispatch order (0 is the validation host).
		fail       []int
		wantState  patchpilot.RolloutState
		wantSizes  map[string]int // stage → hosts after resizing
		wantStages map[string]patchpilot.StageState
		wantApply  [2]int // hosts changed, at least and at most
		wantReason string
	}{
		{
			// Good evidence escalates: the canary stage grows eightfold
			// over the one patched host (taking the wave's hosts, whose
			// emptied stage is skipped), and the final stage takes the
			// eleven left at once.
			name: "good patch escalates", prior: 0.01, hosts: 20,
			wantState: patchpilot.RolloutSucceeded,
			wantSizes: map[string]int{"validation": 1, "canary": 8, "wave_1": 0, "final": 11},
			wantStages: map[string]patchpilot.StageState{"validation": patchpilot.StageSucceeded, "canary": patchpilot.StageSucceeded,
				"wave_1": patchpilot.StageSkipped, "final": patchpilot.StageSucceeded},
			wantApply: [2]int{20, 20},
		},
		{
			// A failure on the first host with a risky prior: the budget
			// of two cannot afford the rest, although the validation
			// stage's own limit (one failure) holds.
			name: "bad patch halts after the first host", prior: 0.05, hosts: 20, fail: []int{0},
			wantState: patchpilot.RolloutHalted,
			wantSizes: map[string]int{"validation": 1, "canary": 2, "wave_1": 5, "final": 12},
			wantStages: map[string]patchpilot.StageState{"validation": patchpilot.StageFailed, "canary": patchpilot.StageSkipped,
				"wave_1": patchpilot.StageSkipped, "final": patchpilot.StageSkipped},
			wantApply: [2]int{1, 1}, wantReason: "adaptive halt: 1 of 1 patched hosts failed",
		},
		{
			// Failures inside a stage stop its dispatch: batches never
			// outnumber the hosts already patched, so the halt comes after
			// a small batch (the two failing hosts go together, and a
			// third may start when one of them has failed), not after the
			// whole stage of eight.
			name: "failures inside a stage halt it", prior: 0.01, hosts: 10, fail: []int{2, 3},
			wantState:  patchpilot.RolloutHalted,
			wantApply:  [2]int{4, 5},
			wantReason: "adaptive halt: 2 of",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(c.hosts))
			var priorHosts []string
			e.e.Prior = func(_ context.Context, p patchpilot.Plan, hosts []string) (AdaptivePrior, error) {
				priorHosts = hosts
				return AdaptivePrior{Probability: c.prior, ModelVersion: "m-test", Reasons: []string{"test prior"}}, nil
			}
			id := e.start(adaptivePlan)
			order := dispatchOrder(t, e, id)
			for _, k := range c.fail {
				e.f.applyFails[order[k]] = true
			}
			if got := e.run(id); got != c.wantState {
				t.Fatalf("rollout state = %s, want %s", got, c.wantState)
			}
			if len(priorHosts) != c.hosts {
				t.Errorf("the prior was asked about %d hosts, want %d", len(priorHosts), c.hosts)
			}
			r, err := e.db.Rollout(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			sizes, states := map[string]int{}, map[string]patchpilot.StageState{}
			for _, s := range r.Stages {
				sizes[s.Name], states[s.Name] = len(s.Hosts), s.State
			}
			if c.wantSizes != nil && !reflect.DeepEqual(sizes, c.wantSizes) {
				t.Errorf("stage sizes = %v, want %v", sizes, c.wantSizes)
			}
			if c.wantStages != nil && !reflect.DeepEqual(states, c.wantStages) {
				t.Errorf("stage states = %v, want %v", states, c.wantStages)
			}
			// Moving hosts keeps the overall dispatch order.
			if got := dispatchOrder(t, e, id); !reflect.DeepEqual(got, order) {
				t.Errorf("dispatch order changed: %v, want %v", got, order)
			}
			if got := len(e.f.entries("apply ")); got < c.wantApply[0] || got > c.wantApply[1] {
				t.Errorf("%d hosts changed, want %d to %d: %v", got, c.wantApply[0], c.wantApply[1], e.f.entries("apply "))
			}
			incs, err := e.db.Incidents(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantReason == "" {
				if len(incs) != 0 || r.State != patchpilot.RolloutSucceeded {
					t.Errorf("incidents %+v, rollout %s: want none", incs, r.Reason)
				}
				return
			}
			if !strings.Contains(r.Reason, c.wantReason) || len(incs) != 1 || !strings.Contains(incs[0].Reason, c.wantReason) {
				t.Errorf("rollout reason %q, incidents %+v: want one incident saying %q", r.Reason, incs, c.wantReason)
			}
			for h, s := range e.states(id) {
				if e.f.applies[h] == 0 && s != patchpilot.HostSkipped {
					t.Errorf("%s was never changed but is %s, want skipped", h, s)
				}
			}
		})
	}
}

// Without a risk model wired in, the adaptive planner starts from the
// public base rate and says so.
func TestAdaptiveWithoutModelUsesPublicRate(t *testing.T) {
	e := newEnv(t, hostsNamed(10))
	id := e.start(adaptivePlan)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventAdaptive})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || !strings.Contains(evs[0].Message, "model none") || !strings.Contains(string(evs[0].Data), "public base rate") {
		t.Errorf("adaptive events %+v: want the first to name the public base rate", evs)
	}
}

// A plan that is not adaptive never moves hosts, whatever happens.
func TestFixedPlanKeepsItsStages(t *testing.T) {
	e := newEnv(t, hostsNamed(20))
	id := e.start(strings.Replace(adaptivePlan, "adaptive: true, ", "", 1))
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	want := map[string]int{"validation": 1, "canary": 2, "wave_1": 5, "final": 12}
	for name, n := range want {
		if got := len(e.stageHosts(id, name)); got != n {
			t.Errorf("stage %s has %d hosts, want %d", name, got, n)
		}
	}
}

// dispatchOrder lists the rollout's hosts stage by stage.
func dispatchOrder(t *testing.T, e *env, id string) []string {
	t.Helper()
	r, err := e.db.Rollout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range r.Stages {
		out = append(out, s.Hosts...)
	}
	return out
}

package orchestrator

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/planner"
)

const dependentsPlan = `rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1, criteria: [dependents_reachable], bake: 2s, on_failure: rollback_and_alert}
    - {name: final, targets: rest, criteria: [dependents_reachable], bake: 2s, on_failure: rollback_and_alert}
`

func probeKey(dependent, provider string) string {
	return dependent + `: timeout 5 bash -c exec 3<>/dev/tcp/"$1"/"$2" patchpilot-dependents-probe ` + provider + " 5432"
}

// startWithDependents starts the plan with each host depending on the
// other's port 5432, as the app resolves it at start, with the real
// dependents_reachable gate.
func startWithDependents(t *testing.T, e *env, afterBaseline func(host string)) string {
	t.Helper()
	e.e.Health = func(p patchpilot.Plan, s patchpilot.Stage) (patchpilot.HealthChecker, error) {
		hc, err := health.New(s.Criteria, p.Health, health.Options{Now: e.clock.Now})
		if err != nil {
			return nil, err
		}
		return afterBaselineChecker{hc, afterBaseline}, nil
	}
	p, err := planner.Parse([]byte(dependentsPlan), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Health.Dependents = map[string][]patchpilot.HealthDependent{
		"h01": {{Host: "h02", Ports: []int{5432}}},
		"h02": {{Host: "h01", Ports: []int{5432}}},
	}
	ctx := context.Background()
	var views []planner.HostView
	hosts, _ := e.db.Hosts(ctx)
	for _, h := range hosts {
		f, _ := e.db.LatestFacts(ctx, h.Name)
		views = append(views, planner.NewHostView(h, &f))
	}
	id, err := e.e.Start(ctx, p, dependentsPlan, views, StartOptions{CreatedBy: "user:test"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.db.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Plan.Health.Dependents, p.Health.Dependents) {
		t.Fatalf("stored dependents = %+v, want %+v", r.Plan.Health.Dependents, p.Health.Dependents)
	}
	return id
}

// afterBaselineChecker calls then with the host once its baseline is
// taken: what changes then is the change's doing.
type afterBaselineChecker struct {
	patchpilot.HealthChecker
	then func(host string)
}

func (c afterBaselineChecker) Baseline(ctx context.Context, t patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	b, err := c.HealthChecker.Baseline(ctx, t)
	if c.then != nil {
		c.then(t.Host.Name)
	}
	return b, err
}

// TestDependentsGateProbesFromDependents: each provider's gate runs the
// probe on its dependent's own connection, and the rollout succeeds when
// the port answers.
func TestDependentsGateProbesFromDependents(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := startWithDependents(t, e, nil)
	e.f.commands[probeKey("h02", "h01")] = 0
	e.f.commands[probeKey("h01", "h02")] = 0
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("state = %s, want succeeded", got)
	}
	for _, k := range []string{probeKey("h02", "h01"), probeKey("h01", "h02")} {
		if !slices.Contains(e.f.entries("run "), k) {
			t.Errorf("probe %q did not run; ran %q", k, e.f.entries("run "))
		}
	}
}

// TestDependentsGateFailsProvider: a dependent that reached the
// provider's port before its change and cannot after it fails the
// provider, and the verdict says which dependent and which port.
func TestDependentsGateFailsProvider(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	var first, other string
	id := startWithDependents(t, e, func(host string) {
		if host == first {
			e.f.mu.Lock()
			e.f.commands[probeKey(other, first)] = 1
			e.f.mu.Unlock()
		}
	})
	first = e.stageHosts(id, "first")[0]
	other = map[string]string{"h01": "h02", "h02": "h01"}[first]
	e.f.commands[probeKey(other, first)] = 0
	e.f.commands[probeKey(first, other)] = 0
	if got := e.run(id); got == patchpilot.RolloutSucceeded {
		t.Fatalf("state = %s, want the rollout stopped", got)
	}
	st := e.states(id)
	if st[first] != patchpilot.HostRolledBack {
		t.Errorf("%s = %s, want rolled_back", first, st[first])
	}
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	want := other + " cannot reach " + first + ":5432"
	found := false
	for _, ev := range evs {
		if ev.Host == first && strings.Contains(string(ev.Data), want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no event of %s says %q", first, want)
	}
}

func TestDependentSkip(t *testing.T) {
	for st, want := range map[patchpilot.HostState]string{
		patchpilot.HostPending: "", patchpilot.HostSucceeded: "", patchpilot.HostRolledBack: "", patchpilot.HostFailed: "",
		patchpilot.HostApply:       "being patched in this rollout (apply)",
		patchpilot.HostReboot:      "being patched in this rollout (reboot)",
		patchpilot.HostUnreachable: "down in this rollout (unreachable)",
	} {
		if got := dependentSkip(st); got != want {
			t.Errorf("dependentSkip(%s) = %q, want %q", st, got, want)
		}
	}
}

// TestDependentConnectionRedialled: a pipeline keeps one connection per
// dependent; one that breaks is forgotten, and the next check dials again.
func TestDependentConnectionRedialled(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	j := &job{rn: &run{e: e.e, hosts: map[string]patchpilot.Host{}}}
	ctx := context.Background()
	r1, err := j.dialDependent(ctx, "h02") // from the store: not one of the run's hosts
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := j.dialDependent(ctx, "h02"); again != r1 {
		t.Fatal("a second dial of the same dependent opened another connection")
	}
	e.f.mu.Lock()
	e.f.unreachable["h02"] = true
	e.f.mu.Unlock()
	if _, err := r1.Run(ctx, patchpilot.Command{Args: []string{"true"}}); err == nil {
		t.Fatal("the broken connection ran a command")
	}
	if _, err := j.dialDependent(ctx, "h02"); err == nil {
		t.Fatal("dialled an unreachable dependent")
	}
	e.f.mu.Lock()
	e.f.unreachable["h02"] = false
	e.f.mu.Unlock()
	r2, err := j.dialDependent(ctx, "h02")
	if err != nil || r2 == r1 {
		t.Fatalf("redial: %v (same connection: %v)", err, r2 == r1)
	}
	if _, err := r2.Run(ctx, patchpilot.Command{Args: []string{"true"}}); err != nil {
		t.Errorf("the new connection: %v", err)
	}
	if _, err := j.dialDependent(ctx, "nosuch"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("unknown dependent: %v, want ENOTFOUND", err)
	}
	j.closeDependents()
	if len(j.deps.runners) != 0 {
		t.Errorf("connections left after close: %v", j.deps.runners)
	}
}

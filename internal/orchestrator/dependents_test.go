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

// rollbackHookPM calls then with the host once its rollback is done.
type rollbackHookPM struct {
	fakePM
	then func(host string)
}

func (p rollbackHookPM) Rollback(ctx context.Context, r patchpilot.Runner, snap patchpilot.PackageSnapshot, o patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	rep, err := p.fakePM.Rollback(ctx, r, snap, o)
	if err == nil && p.then != nil {
		p.then(hostOf(r))
	}
	return rep, err
}

// TestDependentsBreachKeptAfterRollback: the record of a host rolled back
// by the dependents gate keeps the breach that decided it, with the
// dependent's reason, and the check after the rollback (which passes once
// the dependent reaches the host again) next to it, marked as such; the
// host's outcome carries both.
func TestDependentsBreachKeptAfterRollback(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	var first, other string
	e.e.PackageManagers = func(patchpilot.OSFamily) (patchpilot.PackageManager, error) {
		return rollbackHookPM{fakePM{e.f}, func(host string) {
			if host == first {
				e.f.mu.Lock()
				e.f.commands[probeKey(other, first)] = 0
				e.f.mu.Unlock()
			}
		}}, nil
	}
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
	e.run(id)
	ctx := context.Background()
	runs, err := e.db.HostRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var hr patchpilot.HostRun
	for _, h := range runs {
		if h.Host == first {
			hr = h
		}
	}
	if hr.State != patchpilot.HostRolledBack {
		t.Fatalf("%s = %s (%s), want rolled_back", first, hr.State, hr.Reason)
	}
	check := func(what string, gates []patchpilot.GateResult) {
		t.Helper()
		var decided, after []patchpilot.GateResult
		for _, g := range gates {
			switch g.Phase {
			case "":
				decided = append(decided, g)
			case patchpilot.GateAfterRollback:
				after = append(after, g)
			default:
				t.Errorf("%s: gate %s has phase %q", what, g.Gate, g.Phase)
			}
		}
		want := other + " cannot reach " + first + ":5432"
		if len(decided) != 1 || decided[0].Gate != "dependents_reachable" || decided[0].Outcome != patchpilot.GateBreach ||
			!strings.Contains(decided[0].Reason, want) {
			t.Errorf("%s: the results that decided = %+v, want the dependents_reachable breach saying %q", what, decided, want)
		}
		if len(after) != 1 || after[0].Gate != "dependents_reachable" || after[0].Outcome != patchpilot.GatePass {
			t.Errorf("%s: the results after the rollback = %+v, want dependents_reachable passing", what, after)
		}
	}
	check("host record", hr.Gates)
	outs, err := e.db.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range outs {
		if o.Rollout == id && o.Host == first {
			found = true
			check("outcome", o.GateResults)
		}
	}
	if !found {
		t.Errorf("no outcome of %s", first)
	}
}

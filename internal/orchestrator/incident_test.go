package orchestrator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

// Every automatic rollback opens exactly one incident, whose reason names
// the rule that fired with its numbers (docs/rollback-rules.md).

// fleetMetrics answers the metric gates' queries ("cpu h01") from the
// fleet: a host at its old version (web 1.0) shows the metric's old value,
// a patched host its new one; bad limits the new values to some hosts.
type fleetMetrics struct {
	f      *fleet
	values map[string][2]float64 // metric -> old, new
	bad    map[string]bool
	// noData leaves the series of these metrics empty once patched.
	noData map[string]bool
}

func (m *fleetMetrics) URL() string { return "fake://metrics" }

func (m *fleetMetrics) QueryRange(_ context.Context, query string, start, end time.Time, step time.Duration) (prometheus.Matrix, error) {
	metric, host, _ := strings.Cut(query, " ")
	m.f.mu.Lock()
	patched := m.f.installed[host]["web"] != "1.0"
	m.f.mu.Unlock()
	v, ok := m.values[metric]
	if !ok || (patched && m.bad[host] && m.noData[metric]) {
		return prometheus.Matrix{}, nil
	}
	x := v[0]
	if patched && m.bad[host] {
		x = v[1]
	}
	var pts []prometheus.Point
	for ts := start; !ts.After(end); ts = ts.Add(step) {
		pts = append(pts, prometheus.Point{Time: ts, Value: x})
	}
	return prometheus.Matrix{{Metric: map[string]string{"host": host}, Points: pts}}, nil
}

// withMetricGates makes the env's health checker the real one (the gates
// and their rule), reading m.
func (e *env) withMetricGates(m *fleetMetrics) {
	e.e.Health = func(p patchpilot.Plan, s patchpilot.Stage) (patchpilot.HealthChecker, error) {
		cfg := p.Health
		cfg.Prometheus = patchpilot.PrometheusConfig{URL: "http://127.0.0.1:9/", Window: 2 * time.Second, Step: time.Second, Queries: map[string]string{
			patchpilot.MetricCPU: "cpu {{.Host}}", patchpilot.MetricMemory: "memory {{.Host}}",
			patchpilot.MetricErrorRate: "error_rate {{.Host}}", patchpilot.MetricLatencyP99: "latency_p99 {{.Host}}"}}
		return health.New(s.Criteria, cfg, health.Options{Metrics: m, Now: e.clock.Now})
	}
}

// oneIncident returns the rollout's only incident, failing the test when
// it has none or several.
func (e *env) oneIncident(id string) patchpilot.Incident {
	e.t.Helper()
	incs, err := e.db.Incidents(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(incs) != 1 {
		var rs []string
		for _, inc := range incs {
			rs = append(rs, inc.Reason)
		}
		e.t.Fatalf("%d incidents, want exactly 1: %q", len(incs), rs)
	}
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == patchpilot.EventIncident {
			n++
		}
	}
	if n != 1 {
		e.t.Errorf("%d incident events, want 1", n)
	}
	return incs[0]
}

// wantRule checks an incident names the host and, in its reason and in
// the host's evidence, each of the rule's texts.
func wantRule(t *testing.T, inc patchpilot.Incident, host string, texts ...string) {
	t.Helper()
	if !contains(inc.Hosts, host) {
		t.Errorf("incident hosts %v, want %s", inc.Hosts, host)
	}
	var d patchpilot.IncidentData
	if err := json.Unmarshal(inc.Evidence, &d); err != nil {
		t.Fatalf("evidence %s: %v", inc.Evidence, err)
	}
	var rule string
	for _, h := range d.Hosts {
		if h.Host == host {
			rule = h.Rule
		}
	}
	for _, want := range texts {
		if !strings.Contains(inc.Reason, host+": ") || !strings.Contains(inc.Reason, want) {
			t.Errorf("incident reason %q, want %s's rule naming %q", inc.Reason, host, want)
		}
		if !strings.Contains(rule, want) {
			t.Errorf("evidence rule of %s %q, want %q", host, rule, want)
		}
	}
}

// metricPlan has two hosts in one stage that tolerates one failure: the
// bad host's rollback is automatic, and the rollout goes on.
const metricPlan = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, criteria: [CRITERIA], bake: 10s, max_failures: 1, on_failure: rollback_and_alert}
`

func TestIncidentNamesTheMetricRule(t *testing.T) {
	cases := []struct {
		name     string
		criteria string
		values   map[string][2]float64
		noData   []string
		want     []string
	}{
		{
			name:     "cpu relative and memory: two breaches",
			criteria: "cpu_increase<25%, memory<90%",
			values:   map[string][2]float64{"cpu": {10, 30}, "memory": {50, 95}},
			want: []string{"2 gates breached", "cpu_increase<25% breach: current 30% vs baseline 10% = +200% relative, limit 25%",
				"memory<90% breach: current = 95% of memory in use, must stay below 90%"},
		},
		{
			name:     "error rate 0.11 alone is critical",
			criteria: "error_rate_increase<0.05, cpu_increase<25%",
			values:   map[string][2]float64{"error_rate": {0.01, 0.11}, "cpu": {10, 10}},
			want:     []string{"critical: error_rate_increase<0.05", "error rate 0.11 > 0.10: critical"},
		},
		{
			name:     "one breach under review until the extensions run out",
			criteria: "memory<90%, cpu_increase<25%",
			values:   map[string][2]float64{"memory": {50, 91}, "cpu": {10, 10}},
			want:     []string{"still under review after 1 bake extension:", "current = 91% of memory in use, must stay below 90%"},
		},
		{
			name:     "latency 2.1x breach with cpu: two breaches",
			criteria: "latency_p99<2x, cpu_increase<25%",
			values:   map[string][2]float64{"latency_p99": {0.1, 0.21}, "cpu": {40, 51}},
			want:     []string{"current / baseline = 2.1x, must stay below 2x", "current 51% vs baseline 40% = +27.5% relative, limit 25%"},
		},
		{
			name:     "no data once settled: cannot be evaluated",
			criteria: "error_rate_increase<0.05",
			values:   map[string][2]float64{"error_rate": {0.01, 0.01}},
			noData:   []string{"error_rate"},
			want:     []string{"cannot be evaluated: error_rate_increase<0.05", "returned 0 series"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(2))
			m := &fleetMetrics{f: e.f, values: c.values, bad: map[string]bool{"h01": true}, noData: map[string]bool{}}
			for _, n := range c.noData {
				m.noData[n] = true
			}
			e.withMetricGates(m)
			id := e.start(strings.Replace(metricPlan, "CRITERIA", c.criteria, 1))
			if got := e.run(id); got != patchpilot.RolloutSucceeded {
				r, _ := e.db.Rollout(context.Background(), id)
				runs, _ := e.db.HostRuns(context.Background(), id)
				t.Fatalf("rollout %s (%s; hosts %+v), want succeeded (one failure is within max_failures 1)", got, r.Reason, runs)
			}
			if s := e.states(id); s["h01"] != patchpilot.HostRolledBack || s["h02"] != patchpilot.HostSucceeded {
				t.Fatalf("states %v, want h01 rolled back and h02 succeeded", s)
			}
			inc := e.oneIncident(id)
			if inc.Stage != "all" || len(inc.Hosts) != 1 || !strings.HasPrefix(inc.Reason, "1 of 2 hosts failed, within max_failures 1") {
				t.Errorf("incident %+v, want stage all's decision naming h01 alone", inc)
			}
			wantRule(t, inc, "h01", c.want...)
		})
	}
}

// scriptedHealth reports the given gate results for a patched host (web
// not at 1.0) with the verdict the rule gives them; stuck hosts stay so
// after their rollback.
type scriptedHealth struct {
	f       *fleet
	results []patchpilot.GateResult
	verdict patchpilot.HealthVerdict // "" means health.Decide's
	bad     map[string]bool
	stuck   map[string]bool
}

func (s scriptedHealth) Baseline(context.Context, patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	return patchpilot.HealthBaseline{}, nil
}

func (s scriptedHealth) Check(_ context.Context, t patchpilot.HealthTarget, _ patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	s.f.mu.Lock()
	patched := s.f.installed[t.Host.Name]["web"] != "1.0"
	s.f.mu.Unlock()
	if !s.bad[t.Host.Name] || (!patched && !s.stuck[t.Host.Name]) {
		return patchpilot.HealthReport{Verdict: patchpilot.Healthy, Reason: "all gates passed",
			Results: []patchpilot.GateResult{{Gate: "http_ok", Outcome: patchpilot.GatePass, Reason: "200"}}}, nil
	}
	v, reason := health.Decide(s.results)
	if s.verdict != "" {
		v = s.verdict
	}
	return patchpilot.HealthReport{Verdict: v, Reason: reason, Results: append([]patchpilot.GateResult(nil), s.results...)}, nil
}

// TestIncidentForEveryGatePath runs each kind of gate that rolls a host
// back through a rollout: each opens one incident quoting the gate.
func TestIncidentForEveryGatePath(t *testing.T) {
	cases := []struct {
		name    string
		results []patchpilot.GateResult
		verdict patchpilot.HealthVerdict
		want    []string
	}{
		{"canary judge fails", []patchpilot.GateResult{{Gate: "canary:latency_p99", Outcome: patchpilot.GateCritical,
			Reason: "latency_p99 +95.3% in [+60.1%, +130%], margin +10%"}}, patchpilot.Unhealthy,
			[]string{"canary:latency_p99 critical: latency_p99 +95.3% in [+60.1%, +130%], margin +10%"}},
		{"canary judge has no data", []patchpilot.GateResult{{Gate: "canary:analysis", Outcome: patchpilot.GateError,
			Reason: "no control host has data for latency_p99"}}, patchpilot.Unhealthy,
			[]string{"canary:analysis error: no control host has data for latency_p99"}},
		{"dependents unreachable and a failed unit", []patchpilot.GateResult{
			{Gate: "dependents_reachable", Outcome: patchpilot.GateBreach, Reason: "web1 cannot reach 10.0.0.7:5432: connection refused"},
			{Gate: "no_failed_units", Outcome: patchpilot.GateBreach, Reason: "new failed unit: pp-demo-web.service"}}, "",
			[]string{"2 gates breached", "dependents_reachable breach: web1 cannot reach 10.0.0.7:5432: connection refused"}},
		{"an alert fires", []patchpilot.GateResult{{Gate: "no_firing_alerts", Outcome: patchpilot.GateCritical,
			Reason: "firing since the change: PatchpilotLabDemoDown"}}, "",
			[]string{"critical: no_firing_alerts", "no_firing_alerts critical: firing since the change: PatchpilotLabDemoDown"}},
		{"same_as_previous unresolved", []patchpilot.GateResult{{Gate: "same_as_previous", Outcome: patchpilot.GateError,
			Reason: "same_as_previous was not resolved to the previous stage's criteria"}}, "",
			[]string{"cannot be evaluated: same_as_previous", "previous stage's criteria"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(2))
			sh := scriptedHealth{f: e.f, results: c.results, verdict: c.verdict, bad: map[string]bool{"h01": true}}
			e.e.Health = func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error) { return sh, nil }
			id := e.start(strings.Replace(metricPlan, "CRITERIA", "http_ok", 1))
			if got := e.run(id); got != patchpilot.RolloutSucceeded {
				t.Fatalf("rollout %s, want succeeded", got)
			}
			if s := e.states(id); s["h01"] != patchpilot.HostRolledBack {
				t.Fatalf("states %v, want h01 rolled back", s)
			}
			wantRule(t, e.oneIncident(id), "h01", c.want...)
		})
	}
}

// TestIncidentForFailedSteps: a host that fails after its change outside
// the gates (the apply, a post hook) is rolled back with an incident.
func TestIncidentForFailedSteps(t *testing.T) {
	t.Run("apply fails", func(t *testing.T) {
		e := newEnv(t, hostsNamed(2))
		e.f.applyFails["h01"] = true
		id := e.start(strings.Replace(metricPlan, "CRITERIA", "http_ok", 1))
		if got := e.run(id); got != patchpilot.RolloutSucceeded {
			t.Fatalf("rollout %s", got)
		}
		wantRule(t, e.oneIncident(id), "h01", "the package manager exited with status 1")
	})
	t.Run("post hook fails", func(t *testing.T) {
		e := newEnv(t, hostsNamed(2))
		e.f.commands["h01: /usr/local/bin/lb on"] = 1
		e.f.commands["h02: /usr/local/bin/lb on"] = 0
		id := e.start(strings.Replace(metricPlan, "CRITERIA", "http_ok", 1) + "hooks:\n  post:\n    - {name: lb-on, command: [/usr/local/bin/lb, \"on\"]}\n")
		if got := e.run(id); got != patchpilot.RolloutSucceeded {
			t.Fatalf("rollout %s", got)
		}
		if s := e.states(id)["h01"]; s != patchpilot.HostRolledBack {
			t.Fatalf("h01 %s, want rolled back", s)
		}
		wantRule(t, e.oneIncident(id), "h01", "lb-on")
	})
}

// TestIncidentWhenRollbackDoesNotCure: a host still unhealthy after its
// rollback fails the rollout, and the one incident says both why it was
// rolled back and what the check after the rollback saw.
func TestIncidentWhenRollbackDoesNotCure(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	sh := scriptedHealth{f: e.f, bad: map[string]bool{"h01": true}, stuck: map[string]bool{"h01": true},
		results: []patchpilot.GateResult{{Gate: "dependents_reachable", Outcome: patchpilot.GateError, Reason: "cannot check from dependents: web2: ssh: connection refused"}}}
	e.e.Health = func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error) { return sh, nil }
	id := e.start(strings.Replace(metricPlan, "CRITERIA", "http_ok", 1))
	if got := e.run(id); got != patchpilot.RolloutFailed {
		t.Fatalf("rollout %s, want failed (a rollback failed)", got)
	}
	if s := e.states(id)["h01"]; s != patchpilot.HostRollbackFailed {
		t.Fatalf("h01 %s, want rollback_failed", s)
	}
	inc := e.oneIncident(id)
	wantRule(t, inc, "h01", "still unhealthy after the rollback", "after the rollback: dependents_reachable error: cannot check from dependents")
	if !strings.Contains(inc.Reason, "rollback failed on h01") {
		t.Errorf("incident reason %q, want the failed rollback", inc.Reason)
	}
}

// TestIncidentForEarlyRollback: a failed host that holds the disruption
// budget is rolled back while the stage runs, before the stage's other
// host may go; the stage's decision opens its one incident.
func TestIncidentForEarlyRollback(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	e.f.applyFails["h01"] = true
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
budgets: [{group: role, max_unavailable: 1}]
stages:
  - {name: all, targets: rest, parallel: 2, criteria: [http_ok], bake: 2s, max_failures: 1, on_failure: rollback_and_alert}
`)
	first := e.stageHosts(id, "all")[0]
	e.f.applyFails = map[string]bool{first: true}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout %s", got)
	}
	var order []string
	for _, l := range e.f.entries("") {
		if strings.HasPrefix(l, "apply ") || strings.HasPrefix(l, "rollback ") {
			order = append(order, l)
		}
	}
	if len(order) != 3 || order[1] != "rollback "+first {
		t.Fatalf("apply and rollback order %v, want %s rolled back before the other host's apply", order, first)
	}
	wantRule(t, e.oneIncident(id), first, "the package manager exited with status 1")
}

// TestIncidentForStageFailureAction: failures over the stage's limit roll
// back every changed host (rollback_all): one incident names the failed
// host's rule and the others rolled back with it.
func TestIncidentForStageFailureAction(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 2, parallel: 1, criteria: [http_ok], bake: 2s}
  - {name: second, targets: rest, criteria: [http_ok], bake: 2s, on_failure: rollback_all}
`)
	bad := e.stageHosts(id, "second")[0]
	e.f.applyFails[bad] = true
	if got := e.run(id); got != patchpilot.RolloutRolledBack {
		t.Fatalf("rollout %s, want rolled_back", got)
	}
	inc := e.oneIncident(id)
	wantRule(t, inc, bad, "status 1")
	if len(inc.Hosts) != 3 || !strings.Contains(inc.Reason, "rollback_all") || !strings.Contains(inc.Reason, "also rolled back: ") {
		t.Errorf("incident %q on %v, want all 3 hosts, the failed one's rule and the others rolled back with it", inc.Reason, inc.Hosts)
	}
}

// TestIncidentOnceForAdaptiveHalt: a rollback on whose evidence the
// adaptive planner halts the rollout is one incident, the halt's, naming
// the host's rule.
func TestIncidentOnceForAdaptiveHalt(t *testing.T) {
	e := newEnv(t, hostsNamed(20))
	e.e.Prior = func(context.Context, patchpilot.Plan, []string) (AdaptivePrior, error) {
		return AdaptivePrior{Probability: 0.05, ModelVersion: "m-test"}, nil
	}
	id := e.start(adaptivePlan)
	v := e.stageHosts(id, "validation")[0]
	e.f.applyFails[v] = true
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("rollout %s, want halted", got)
	}
	inc := e.oneIncident(id)
	if !strings.HasPrefix(inc.Reason, "adaptive halt: 1 of 1 patched hosts failed") {
		t.Errorf("incident reason %q, want the adaptive halt", inc.Reason)
	}
	wantRule(t, inc, v, "status 1")
}

// TestStageIncidentOpensOnce: the decision carried out again (a resumed
// controller concluding the same stage) does not open a second incident.
func TestStageIncidentOpensOnce(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	e.f.applyFails["h01"] = true
	id := e.start(strings.Replace(metricPlan, "CRITERIA", "http_ok", 1))
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout %s", got)
	}
	r, err := e.e.load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := e.e.newRun(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := rn.hostRuns(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	rn.stageIncident(context.Background(), 0, "1 of 2 hosts failed, within max_failures 1", all, nil, false)
	wantRule(t, e.oneIncident(id), "h01", "status 1")
}

// TestIncidentWhenStageStopsAfterEarlyRollback: a stage that rolled a
// failed host back early (for its disruption budget) and then stops
// without its decision, a person aborting the rollout, still opens the
// incident of that rollback.
func TestIncidentWhenStageStopsAfterEarlyRollback(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
budgets: [{group: role, max_unavailable: 1}]
stages:
  - {name: all, targets: rest, parallel: 2, criteria: [http_ok], bake: 2s, max_failures: 1, on_failure: rollback_and_alert}
`)
	hosts := e.stageHosts(id, "all")
	e.f.applyFails[hosts[0]] = true
	aborted := false
	e.f.verdict = func(h string, _ int) patchpilot.HealthVerdict {
		if h == hosts[1] && !aborted {
			aborted = true
			if err := e.e.Abort(context.Background(), id, "user:bob"); err != nil {
				t.Errorf("abort: %v", err)
			}
		}
		return patchpilot.Healthy
	}
	if got := e.run(id); got != patchpilot.RolloutAborted {
		t.Fatalf("rollout %s, want aborted", got)
	}
	if s := e.states(id)[hosts[0]]; s != patchpilot.HostRolledBack {
		t.Fatalf("%s %s, want rolled back early", hosts[0], s)
	}
	inc := e.oneIncident(id)
	if !strings.HasPrefix(inc.Reason, "stage all stopped (rollout aborted") {
		t.Errorf("incident reason %q, want the stage's stop", inc.Reason)
	}
	wantRule(t, inc, hosts[0], "the package manager exited with status 1")
}

package health

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

// fakeSource answers range queries by the first metric name the query
// names, from levels a test sets: one series per label value (device).
type fakeSource struct {
	mu     sync.Mutex
	levels map[string]map[string]float64 // metric -> device -> value
	asked  []string
}

func (f *fakeSource) URL() string { return "fake" }

func (f *fakeSource) set(metric, device string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.levels[metric] == nil {
		f.levels[metric] = map[string]float64{}
	}
	f.levels[metric][device] = v
}

func (f *fakeSource) QueryRange(_ context.Context, q string, start, end time.Time, step time.Duration) (prometheus.Matrix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, q)
	var out prometheus.Matrix
	for metric, devs := range f.levels {
		if !strings.Contains(q, metric+"{") {
			continue
		}
		for dev, v := range devs {
			s := prometheus.Series{Metric: map[string]string{"device": dev}}
			for ts := start; !ts.After(end); ts = ts.Add(step) {
				s.Points = append(s.Points, prometheus.Point{Time: ts, Value: v})
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, nil
}

func TestDefaultQueries(t *testing.T) {
	for _, m := range []string{patchpilot.MetricCPU, patchpilot.MetricMemory, patchpilot.MetricDiskIO, patchpilot.MetricNetErrors, patchpilot.MetricNetUp, patchpilot.MetricLoad} {
		q, ok := DefaultQuery("prometheus", m)
		if !ok {
			t.Errorf("no prometheus default for %s", m)
			continue
		}
		r, err := RenderTemplate(m, q, SampleTemplateData())
		if err != nil || !strings.Contains(r, `instance="192.0.2.1:9100"`) {
			t.Errorf("%s renders %q, %v", m, r, err)
		}
	}
	for _, m := range []string{patchpilot.MetricErrorRate, patchpilot.MetricLatencyP99} {
		if _, ok := DefaultQuery("prometheus", m); ok {
			t.Errorf("%s must have no default: no standard exporter on every host provides it", m)
		}
	}
	if _, ok := DefaultQuery("datadog", patchpilot.MetricNetUp); ok {
		t.Error("net_up has no datadog default")
	}
	for _, m := range []string{patchpilot.MetricDiskIO, patchpilot.MetricNetErrors, patchpilot.MetricLoad} {
		if _, ok := DefaultQuery("datadog", m); !ok {
			t.Errorf("no datadog default for %s", m)
		}
	}
}

func TestJudgeBuiltin(t *testing.T) {
	s := func(v float64) metricSample { return metricSample{Value: v, Points: 5} }
	tests := []struct {
		crit      patchpilot.Criterion
		base, cur float64
		want      patchpilot.GateOutcome
		limit     float64
	}{
		// mean_cpu_usage<baseline+15%: percentage points over the baseline.
		{patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 15, Unit: "%", OverBaseline: true}, 10, 24, patchpilot.GatePass, 25},
		{patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 15, Unit: "%", OverBaseline: true}, 10, 25, patchpilot.GateBreach, 25},
		{patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<=", Value: 15, Unit: "%", OverBaseline: true}, 10, 25, patchpilot.GatePass, 25},
		{patchpilot.Criterion{Name: "mean_cpu_usage"}, 40, 60, patchpilot.GateBreach, 55},
		{patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 80, Unit: "%"}, 40, 79, patchpilot.GatePass, 80},
		// A one-core burn on a 2-core machine: +50 points.
		{patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 15, Unit: "%", OverBaseline: true}, 8, 58, patchpilot.GateBreach, 23},
		// disk_io_within_normal: max(2 x baseline, baseline + 20).
		{patchpilot.Criterion{Name: "disk_io_within_normal"}, 2, 21, patchpilot.GatePass, 22},
		{patchpilot.Criterion{Name: "disk_io_within_normal"}, 2, 23, patchpilot.GateBreach, 22},
		{patchpilot.Criterion{Name: "disk_io_within_normal"}, 30, 59, patchpilot.GatePass, 60},
		{patchpilot.Criterion{Name: "disk_io_within_normal"}, 30, 61, patchpilot.GateBreach, 60},
		{patchpilot.Criterion{Name: "disk_io_within_normal", Op: "<", Value: 3, Unit: "x"}, 30, 89, patchpilot.GatePass, 90},
		{patchpilot.Criterion{Name: "load"}, 0.2, 2.5, patchpilot.GateBreach, 2},
		{patchpilot.Criterion{Name: "load", Op: "<", Value: 4}, 0.2, 2.5, patchpilot.GatePass, 4},
	}
	for _, tt := range tests {
		r := judge(tt.crit, s(tt.base), s(tt.cur))
		if r.outcome != tt.want || r.threshold == nil || *r.threshold != tt.limit {
			t.Errorf("%s base %g cur %g: %s (%s), want %s with limit %g", tt.crit, tt.base, tt.cur, r.outcome, r.reason, tt.want, tt.limit)
		}
	}
}

// TestNetworkConnectivity runs the gate over a fake metrics source and a
// runner answering the TCP probes: an interface going down, errors and
// drops over the allowance and a provider no longer reachable each
// breach; a port already unreachable before the change does not.
func TestNetworkConnectivity(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	src := &fakeSource{levels: map[string]map[string]float64{}}
	src.set("node_network_up", "eth0", 1)
	src.set("node_network_up", "eth1", 0)
	src.set("node_network_receive_errs_total", "", 0.2)
	cfg := patchpilot.HealthConfig{
		Prometheus: patchpilot.PrometheusConfig{URL: "http://prom:9090", Window: time.Minute, Step: 15 * time.Second},
		Providers: map[string][]patchpilot.HealthProvider{"web01": {
			{Host: "db01", Address: "10.0.0.9", Ports: []int{5432}},
			{Host: "cache01", Address: "10.0.0.10", Ports: []int{6379}},
		}},
		Dependents: map[string][]patchpilot.HealthDependent{"web01": {{Host: "lb01", Ports: []int{8080}}}},
	}
	c, err := New([]patchpilot.Criterion{{Name: patchpilot.CriterionNetworkConnectivity}}, cfg,
		Options{Metrics: src, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{"10.0.0.10:6379": true} // unreachable before the change too
	run := &probeRunner{refused: refused}
	target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web01", Address: "10.0.0.5"}, Runner: run}
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	var st networkState
	if err := json.Unmarshal(base["network_connectivity"], &st); err != nil || len(st.Up) != 1 || st.Up[0] != "eth0" {
		t.Fatalf("baseline %s (%v)", base["network_connectivity"], err)
	}
	if !strings.Contains(strings.Join(run.asked, " "), "10.0.0.5:8080") {
		t.Errorf("the host's own port for its dependents was not probed: %v", run.asked)
	}
	target.Since = now
	now = now.Add(2 * time.Minute)
	check := func() patchpilot.GateResult {
		t.Helper()
		rep, err := c.Check(context.Background(), target, base)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Results[0]
	}
	if r := check(); r.Outcome != patchpilot.GatePass {
		t.Fatalf("nothing changed: %s %q", r.Outcome, r.Reason)
	}
	src.set("node_network_receive_errs_total", "", 1.1) // limit max(0.4, 1.2)
	if r := check(); r.Outcome != patchpilot.GatePass {
		t.Errorf("errors within the allowance: %s %q", r.Outcome, r.Reason)
	}
	src.set("node_network_receive_errs_total", "", 1.3)
	if r := check(); r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, "errors and drops 1.3/s") {
		t.Errorf("errors over the allowance: %s %q", r.Outcome, r.Reason)
	}
	src.set("node_network_receive_errs_total", "", 0.2)
	src.set("node_network_up", "eth0", 0)
	if r := check(); r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, "interface eth0 went down") {
		t.Errorf("eth0 down: %s %q", r.Outcome, r.Reason)
	}
	src.set("node_network_up", "eth0", 1)
	refused["10.0.0.9:5432"] = true
	if r := check(); r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, "web01 cannot reach its provider db01: 10.0.0.9:5432: connection refused") ||
		strings.Contains(r.Reason, "6379") {
		t.Errorf("provider refused: %s %q", r.Outcome, r.Reason)
	}
	delete(refused, "10.0.0.9:5432")
	refused["10.0.0.5:8080"] = true
	if r := check(); r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, "no longer answers on a port its dependents use: 10.0.0.5:8080") {
		t.Errorf("own port refused: %s %q", r.Outcome, r.Reason)
	}

	// Right after the change the rates are still settling, but a port the
	// dependents use that no longer answers breaches at once.
	target.Since = now.Add(-5 * time.Second)
	if r := check(); r.Outcome != patchpilot.GateBreach {
		t.Errorf("young, own port refused: %s %q", r.Outcome, r.Reason)
	}
	delete(refused, "10.0.0.5:8080")
	if r := check(); r.Outcome != patchpilot.GateInconclusive {
		t.Errorf("young, nothing wrong: %s %q, want inconclusive", r.Outcome, r.Reason)
	}

	// Without a metrics source the gate fails closed.
	c2, err := New([]patchpilot.Criterion{{Name: patchpilot.CriterionNetworkConnectivity}}, patchpilot.HealthConfig{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := c2.Baseline(context.Background(), target)
	rep, _ := c2.Check(context.Background(), target, b2)
	if r := rep.Results[0]; r.Outcome != patchpilot.GateError || !strings.Contains(r.Reason, "no metrics source") {
		t.Errorf("no metrics: %s %q", r.Outcome, r.Reason)
	}
}

// probeRunner answers the TCP probe script: refused for the addresses
// listed, connected otherwise.
type probeRunner struct {
	refused map[string]bool
	asked   []string
}

func (r *probeRunner) Run(_ context.Context, c patchpilot.Command) (patchpilot.Result, error) {
	n := len(c.Args)
	addr := c.Args[n-2] + ":" + c.Args[n-1]
	r.asked = append(r.asked, addr)
	if r.refused[addr] {
		return patchpilot.Result{ExitCode: 1, Stderr: []byte("bash: connect: Connection refused\nbash: line 1: /dev/tcp/x: Connection refused")}, nil
	}
	return patchpilot.Result{}, nil
}

func (r *probeRunner) Close() error { return nil }

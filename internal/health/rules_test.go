package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// ruleProm answers /api/v1/query_range with one series per query: the
// query's before value at steps before the change and its after value
// from the change on.
type ruleProm struct {
	change time.Time
	values map[string][2]float64 // query -> before, after
}

func (f *ruleProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	v, ok := f.values[r.Form.Get("query")]
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(strings.TrimSuffix(r.Form.Get("step"), "s"), 64)
	result := "[]"
	if ok && step > 0 {
		var pts []string
		for ts := start; ts <= end; ts += step {
			x := v[0]
			if ts >= float64(f.change.Unix()) {
				x = v[1]
			}
			pts = append(pts, fmt.Sprintf("[%.3f,%q]", ts, strconv.FormatFloat(x, 'g', -1, 64)))
		}
		result = `[{"metric":{"instance":"web1:9100"},"values":[` + strings.Join(pts, ",") + `]}]`
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":%s}}`, result)
}

// Queries of the rule tests' metrics.
const (
	ruleCPU     = "cpu"
	ruleMemory  = "memory"
	ruleErrors  = "errors"
	ruleLatency = "latency"
)

// checkRule runs the criteria through a Checker against a Prometheus whose
// metrics move from their before to their after values at the change, and
// returns the report of a check well after the change.
func checkRule(t *testing.T, values map[string][2]float64, criteria ...string) patchpilot.HealthReport {
	t.Helper()
	const step, window = 15 * time.Second, 2 * time.Minute
	change := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(&ruleProm{change: change, values: values})
	t.Cleanup(srv.Close)
	var crits []patchpilot.Criterion
	for _, text := range criteria {
		crits = append(crits, ruleCriterion(t, text))
	}
	now := change.Add(-time.Second)
	cfg := patchpilot.HealthConfig{Prometheus: patchpilot.PrometheusConfig{URL: srv.URL, Step: step, Window: window,
		Queries: map[string]string{patchpilot.MetricCPU: ruleCPU, patchpilot.MetricMemory: ruleMemory,
			patchpilot.MetricErrorRate: ruleErrors, patchpilot.MetricLatencyP99: ruleLatency}}}
	c, err := New(crits, cfg, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web1", Address: "10.0.0.1"}}
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	target.Since = change
	now = change.Add(window + step)
	rep, err := c.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// ruleCriterion reads "name<NUMBERunit" as the planner does (the planner
// imports this package, so its parser cannot be used here).
func ruleCriterion(t *testing.T, text string) patchpilot.Criterion {
	t.Helper()
	name, rest, ok := strings.Cut(text, "<")
	if !ok {
		t.Fatalf("criterion %q: want name<threshold", text)
	}
	num := strings.TrimRight(rest, "%xms")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("criterion %q: %v", text, err)
	}
	return patchpilot.Criterion{Name: name, Op: "<", Value: v, Unit: rest[len(num):]}
}

func gateOf(t *testing.T, rep patchpilot.HealthReport, name string) patchpilot.GateResult {
	t.Helper()
	for _, r := range rep.Results {
		if strings.HasPrefix(r.Gate, name) {
			return r
		}
	}
	t.Fatalf("no %s result in %+v", name, rep.Results)
	return patchpilot.GateResult{}
}

// TestRuleCPUIncreaseIsRelative: a CPU increase is relative to the
// baseline, (current - baseline) / baseline > 25%. A baseline of 10%
// rising to 30% (+200%) breaches; 40% rising to 49% (+22.5%) passes; a
// plan's cpu_increase<15% is 15% of the baseline too.
func TestRuleCPUIncreaseIsRelative(t *testing.T) {
	tests := []struct {
		crit      string
		base, cur float64
		want      patchpilot.GateOutcome
		rule      string
	}{
		{"cpu_increase<25%", 10, 30, patchpilot.GateBreach, "current 30% vs baseline 10% = +200% relative, limit 25%"},
		{"cpu_increase<25%", 40, 49, patchpilot.GatePass, "current 49% vs baseline 40% = +22.5% relative, limit 25%"},
		{"cpu_increase<15%", 40, 47, patchpilot.GateBreach, "current 47% vs baseline 40% = +17.5% relative, limit 15%"},
		{"cpu_increase<15%", 40, 45, patchpilot.GatePass, "current 45% vs baseline 40% = +12.5% relative, limit 15%"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %g to %g", tt.crit, tt.base, tt.cur), func(t *testing.T) {
			rep := checkRule(t, map[string][2]float64{ruleCPU: {tt.base, tt.cur}}, tt.crit)
			g := gateOf(t, rep, "cpu_increase")
			if g.Outcome != tt.want || !strings.Contains(g.Reason, tt.rule) {
				t.Fatalf("got %s %q, want %s naming %q", g.Outcome, g.Reason, tt.want, tt.rule)
			}
			want := map[patchpilot.GateOutcome]patchpilot.HealthVerdict{patchpilot.GatePass: patchpilot.Healthy,
				patchpilot.GateBreach: patchpilot.UnderReview}[tt.want]
			if rep.Verdict != want {
				t.Errorf("verdict %s (%s), want %s", rep.Verdict, rep.Reason, want)
			}
		})
	}
}

// TestRuleCPUIdleBaselineFloor: a baseline under 5% counts as 5%, so an
// idle host's blip from 0.1% to 0.5% is +8% of the floor (not +400%) and
// passes, while 0.1% to 1.5% (+28%) breaches.
func TestRuleCPUIdleBaselineFloor(t *testing.T) {
	rep := checkRule(t, map[string][2]float64{ruleCPU: {0.1, 0.5}}, "cpu_increase<25%")
	g := gateOf(t, rep, "cpu_increase")
	if g.Outcome != patchpilot.GatePass || !strings.Contains(g.Reason, "under the 5% floor, counted as 5%) = +8% relative, limit 25%") {
		t.Errorf("0.1%% to 0.5%%: %s %q", g.Outcome, g.Reason)
	}
	rep = checkRule(t, map[string][2]float64{ruleCPU: {0.1, 1.5}}, "cpu_increase<25%")
	if g := gateOf(t, rep, "cpu_increase"); g.Outcome != patchpilot.GateBreach || !strings.Contains(g.Reason, "= +28% relative") {
		t.Errorf("0.1%% to 1.5%%: %s %q", g.Outcome, g.Reason)
	}
}

// TestRuleErrorRateAboveTenPercentRollsBackAlone: an error rate above
// 0.10 makes the error_rate_increase breach critical, and it alone rolls
// the host back, the other gates passing.
func TestRuleErrorRateAboveTenPercentRollsBackAlone(t *testing.T) {
	rep := checkRule(t, map[string][2]float64{ruleErrors: {0.01, 0.11}, ruleCPU: {10, 10}, ruleMemory: {50, 50}},
		"error_rate_increase<0.05", "cpu_increase<25%", "memory<90%")
	g := gateOf(t, rep, "error_rate_increase")
	if g.Outcome != patchpilot.GateCritical || !strings.Contains(g.Reason, "error rate 0.11 > 0.10: critical") {
		t.Fatalf("error rate 0.11: %s %q", g.Outcome, g.Reason)
	}
	if rep.Verdict != patchpilot.Unhealthy || !strings.Contains(rep.Reason, "critical: error_rate_increase<0.05") {
		t.Errorf("verdict %s (%s), want rollback on the critical error rate", rep.Verdict, rep.Reason)
	}
	for _, other := range []string{"cpu_increase", "memory"} {
		if o := gateOf(t, rep, other); o.Outcome != patchpilot.GatePass {
			t.Errorf("%s: %s %q, want pass (the error rate alone rolls back)", other, o.Outcome, o.Reason)
		}
	}
	// At 0.10 the same increase is a plain breach: under review.
	rep = checkRule(t, map[string][2]float64{ruleErrors: {0.04, 0.10}}, "error_rate_increase<0.05")
	if g := gateOf(t, rep, "error_rate_increase"); g.Outcome != patchpilot.GateBreach || rep.Verdict != patchpilot.UnderReview {
		t.Errorf("error rate 0.10: %s %q, verdict %s", g.Outcome, g.Reason, rep.Verdict)
	}
}

// TestRuleOneNonCriticalIssueIsUnderReview: one non-critical breach
// (memory at 91%, the rest passing) puts the host under review; a second
// (CPU from 10% to 30%) rolls it back.
func TestRuleOneNonCriticalIssueIsUnderReview(t *testing.T) {
	rep := checkRule(t, map[string][2]float64{ruleMemory: {50, 91}, ruleCPU: {10, 11}, ruleErrors: {0.01, 0.01}},
		"memory<90%", "cpu_increase<25%", "error_rate_increase<0.05")
	if rep.Verdict != patchpilot.UnderReview || rep.Reason != "one gate breached: memory<90%" {
		t.Errorf("one breach: verdict %s (%s), want under_review", rep.Verdict, rep.Reason)
	}
	rep = checkRule(t, map[string][2]float64{ruleMemory: {50, 91}, ruleCPU: {10, 30}, ruleErrors: {0.01, 0.01}},
		"memory<90%", "cpu_increase<25%", "error_rate_increase<0.05")
	if rep.Verdict != patchpilot.Unhealthy || !strings.Contains(rep.Reason, "2 gates breached") {
		t.Errorf("two breaches: verdict %s (%s), want rollback", rep.Verdict, rep.Reason)
	}
}

// TestRuleMemoryOver90Breaches: memory in use over 90% is a breach, not
// critical (91% breaches, 89% passes).
func TestRuleMemoryOver90Breaches(t *testing.T) {
	rep := checkRule(t, map[string][2]float64{ruleMemory: {40, 91}}, "memory<90%")
	g := gateOf(t, rep, "memory")
	if g.Outcome != patchpilot.GateBreach || !strings.Contains(g.Reason, "current = 91% of memory in use, must stay below 90%") {
		t.Errorf("memory 91%%: %s %q", g.Outcome, g.Reason)
	}
	rep = checkRule(t, map[string][2]float64{ruleMemory: {40, 89}}, "memory<90%")
	if g := gateOf(t, rep, "memory"); g.Outcome != patchpilot.GatePass {
		t.Errorf("memory 89%%: %s %q", g.Outcome, g.Reason)
	}
}

// TestRuleLatencyOver2xBreaches: a p99 latency over twice the baseline is
// a breach, not critical (2.1x breaches, 1.9x passes).
func TestRuleLatencyOver2xBreaches(t *testing.T) {
	rep := checkRule(t, map[string][2]float64{ruleLatency: {0.1, 0.21}}, "latency_p99<2x")
	g := gateOf(t, rep, "latency_p99")
	if g.Outcome != patchpilot.GateBreach || !strings.Contains(g.Reason, "current / baseline = 2.1x, must stay below 2x") {
		t.Errorf("latency 2.1x: %s %q", g.Outcome, g.Reason)
	}
	rep = checkRule(t, map[string][2]float64{ruleLatency: {0.1, 0.19}}, "latency_p99<2x")
	if g := gateOf(t, rep, "latency_p99"); g.Outcome != patchpilot.GatePass {
		t.Errorf("latency 1.9x: %s %q", g.Outcome, g.Reason)
	}
}

// TestRuleEvidenceCarriesTheNumbers: the gate's evidence states the rule
// with its numbers, for the incident that quotes it.
func TestRuleEvidenceCarriesTheNumbers(t *testing.T) {
	rep := checkRule(t, map[string][2]float64{ruleCPU: {10, 30}}, "cpu_increase<25%")
	var ev metricEvidence
	g := gateOf(t, rep, "cpu_increase")
	if err := json.Unmarshal(g.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Rule != "current 30% vs baseline 10% = +200% relative, limit 25%" || ev.Threshold != 25 || ev.Baseline.Value != 10 || ev.Current.Value != 30 {
		t.Errorf("evidence %+v", ev)
	}
}

// TestRuleSlowBootIsCritical: a boot slower than boot_time's limit is
// critical, finished or not; within the limit it passes, and an
// unfinished boot within it is inconclusive.
func TestRuleSlowBootIsCritical(t *testing.T) {
	cr := ruleCriterion(t, "boot_time<120s")
	cr.Unit = "s"
	tests := []struct {
		took       time.Duration
		unfinished bool
		want       patchpilot.GateOutcome
	}{
		{121 * time.Second, false, patchpilot.GateCritical},
		{119 * time.Second, false, patchpilot.GatePass},
		{125 * time.Second, true, patchpilot.GateCritical},
		{60 * time.Second, true, patchpilot.GateInconclusive},
	}
	for _, tt := range tests {
		r := judgeBoot(tt.took, 120*time.Second, cr, bootEvidence{}, tt.unfinished)
		if r.outcome != tt.want {
			t.Errorf("boot took %s (unfinished %v): %s %q, want %s", tt.took, tt.unfinished, r.outcome, r.reason, tt.want)
		}
	}
	v, _ := Decide([]patchpilot.GateResult{{Gate: "boot_time<120s", Outcome: patchpilot.GateCritical}, {Gate: "http_ok", Outcome: patchpilot.GatePass}})
	if v != patchpilot.Unhealthy {
		t.Errorf("a slow boot alone: verdict %s, want rollback", v)
	}
}

package canary_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// fixedGates stands for a stage's fixed-threshold gates with a set report.
type fixedGates struct{ rep patchpilot.HealthReport }

func (f fixedGates) Baseline(context.Context, patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	return patchpilot.HealthBaseline{"http_ok": json.RawMessage(`{}`)}, nil
}

func (f fixedGates) Check(context.Context, patchpilot.HealthTarget, patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	return f.rep, nil
}

func report(v patchpilot.HealthVerdict, gate string, o patchpilot.GateOutcome) patchpilot.HealthReport {
	return patchpilot.HealthReport{Verdict: v, Reason: gate + " " + string(o), Results: []patchpilot.GateResult{{Gate: gate, Outcome: o}}}
}

func TestMerge(t *testing.T) {
	H, R, U := patchpilot.Healthy, patchpilot.UnderReview, patchpilot.Unhealthy
	tests := []struct {
		fixed, canary, want patchpilot.HealthVerdict
	}{
		{H, H, H}, {H, R, R}, {R, H, R}, {H, U, U}, {U, H, U}, {R, U, U}, {U, R, U}, {R, R, R}, {H, "", H},
	}
	for _, tt := range tests {
		got := canary.Merge(report(tt.fixed, "http_ok", patchpilot.GatePass), report(tt.canary, "canary:latency", patchpilot.GatePass))
		if got.Verdict != tt.want || len(got.Results) != 2 || got.Results[0].Gate != "http_ok" || got.Results[1].Gate != "canary:latency" {
			t.Errorf("fixed %s, canary %s: got %s with %+v, want %s with both results", tt.fixed, tt.canary, got.Verdict, got.Results, tt.want)
		}
	}
}

// TestMergeReasonLeadsWithWhatDecided: when the judge makes the verdict
// worse than the fixed gates', its reason comes first and the fixed
// gates' is named as theirs, so that an unhealthy host's reason does not
// open with "all 4 gates passed"; otherwise the fixed gates' comes first.
func TestMergeReasonLeadsWithWhatDecided(t *testing.T) {
	fixed := patchpilot.HealthReport{Verdict: patchpilot.Healthy, Reason: "all 4 gates passed"}
	judge := patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "canary (sequential): critical metric beyond its margin: latency_mean"}
	got := canary.Merge(fixed, judge)
	want := "canary (sequential): critical metric beyond its margin: latency_mean; other gates: all 4 gates passed"
	if got.Verdict != patchpilot.Unhealthy || got.Reason != want {
		t.Errorf("judge decides: %s %q, want unhealthy %q", got.Verdict, got.Reason, want)
	}
	fixed = patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "critical: http_ok"}
	got = canary.Merge(fixed, judge)
	if want := "critical: http_ok; canary (sequential): critical metric beyond its margin: latency_mean"; got.Reason != want {
		t.Errorf("both unhealthy: %q, want %q", got.Reason, want)
	}
	judge.Verdict = patchpilot.Healthy
	judge.Reason = "canary (sequential): pass"
	fixed.Verdict, fixed.Reason = patchpilot.Healthy, "all 4 gates passed"
	if got, want := canary.Merge(fixed, judge).Reason, "all 4 gates passed; canary (sequential): pass"; got != want {
		t.Errorf("both healthy: %q, want %q", got, want)
	}
}

// TestMergePromotes: only a judge's Pass with healthy fixed gates lets the
// bake end early.
func TestMergePromotes(t *testing.T) {
	H, R := patchpilot.Healthy, patchpilot.UnderReview
	tests := []struct {
		fixed         patchpilot.HealthVerdict
		canaryPromote bool
		want          bool
	}{
		{H, true, true}, {H, false, false}, {R, true, false},
	}
	for _, tt := range tests {
		c := report(H, "canary:latency", patchpilot.GatePass)
		c.Promote = tt.canaryPromote
		if got := canary.Merge(report(tt.fixed, "http_ok", patchpilot.GatePass), c); got.Promote != tt.want {
			t.Errorf("fixed %s, canary promote %v: promote %v, want %v", tt.fixed, tt.canaryPromote, got.Promote, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	ev := func(v judge.Verdict) json.RawMessage { data, _ := json.Marshal(v); return data }
	tests := []struct {
		gr   patchpilot.GateResult
		want string
		ok   bool
	}{
		{patchpilot.GateResult{Gate: "http_ok", Outcome: patchpilot.GatePass}, "", false},
		{patchpilot.GateResult{Gate: "canary:latency_mean", Outcome: patchpilot.GateCritical, Evidence: ev(judge.Verdict{
			Metric: "latency_mean", Outcome: judge.Fail, Critical: true, Estimate: 1.82, Lower: 1.51, Upper: 2.14, Margin: 0.1,
			Unit: judge.Relative, Looks: 24})},
			"canary:latency_mean fail (critical): +182% in [+151%, +214%], margin +10%, 24 samples since the change", true},
		{patchpilot.GateResult{Gate: "canary:errors", Outcome: patchpilot.GatePass, Evidence: ev(judge.Verdict{
			Metric: "errors", Outcome: judge.Pass, Estimate: 0.001, Lower: -0.002, Upper: 0.003, Margin: 0.005, Unit: judge.Absolute})},
			"canary:errors pass: +0.001 in [-0.002, +0.003], margin +0.005", true},
		{patchpilot.GateResult{Gate: "canary:latency_mean", Outcome: patchpilot.GateCritical, Evidence: ev(judge.Verdict{
			Metric: "latency_mean", Outcome: judge.Fail, Critical: true, Estimate: 0.08, Lower: 0.02, Upper: 0.14, Margin: 0.1,
			Unit: judge.Relative, Looks: 30, Evidence: judge.Evidence{SetAside: []string{"web-7"},
				Trend: &judge.Trend{Slope: judge.Number(math.Log(1.02)), Lower: judge.Number(math.Log(1.01)), Upper: judge.Number(math.Log(1.03)), Limit: math.Log(1.1) / 30, Fail: true}}})},
			"canary:latency_mean fail (critical): +8% in [+2%, +14%], margin +10%, 30 samples since the change, trend +2% a minute in [+1%, +3%] (limit +0.318%), control web-7 set aside", true},
		{patchpilot.GateResult{Gate: "canary:analysis", Outcome: patchpilot.GateError, Reason: "prometheus down"},
			"canary:analysis error: prometheus down", true},
	}
	for _, tt := range tests {
		got, ok := canary.Describe(tt.gr)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %q, %v; want %q, %v", tt.gr.Gate, got, ok, tt.want, tt.ok)
		}
	}
}

// TestCheckerLocalPrometheus checks the canary gate beside the fixed gates
// against a real Prometheus: it is skipped without unchanged hosts and for
// a host that does not count as changed, waits (under review) right after
// the change, and fails a host whose latency tripled, with the canary
// verdict in the results and the reason.
func TestCheckerLocalPrometheus(t *testing.T) {
	t.Parallel()
	exps, hosts, prom := localFleet(t, "c1", "c2", "c3")
	const step = time.Second
	cfg := patchpilot.CanaryConfig{Baseline: 22 * time.Second, Metrics: []patchpilot.CanaryMetric{{
		Name: "latency", Query: `pp_test_latency{host="{{.Host}}"}`, Direction: patchpilot.CanaryHigherIsWorse,
		Margin: 0.1, Relative: true, Critical: true}}}
	ev, err := canary.NewEvaluator(cfg, step)
	if err != nil {
		t.Fatal(err)
	}
	var changed, unchanged []canary.Target
	fleet := func(context.Context, patchpilot.HealthTarget) ([]canary.Target, []canary.Target, error) {
		return append([]canary.Target(nil), changed...), unchanged, nil
	}
	fixed := fixedGates{report(patchpilot.Healthy, "http_ok", patchpilot.GatePass)}
	c := &canary.Checker{Fixed: fixed, Analyzer: &canary.Analyzer{Prom: prom, Judge: ev, Step: step}, Config: cfg, Bake: 40 * time.Second, Fleet: fleet}
	ctx := context.Background()
	target := patchpilot.HealthTarget{Host: hosts[0], Rollout: "r1", Since: time.Now()}

	base, err := c.Baseline(ctx, target)
	if err != nil || base["http_ok"] == nil {
		t.Fatalf("baseline %v, %v; want the fixed gates' baseline", base, err)
	}
	changed = targets(hosts, "c1")
	rep, err := c.Check(ctx, target, base)
	if err != nil || rep.Verdict != patchpilot.Healthy || len(rep.Results) != 1 || !strings.Contains(rep.Reason, "canary skipped: no unchanged host") {
		t.Errorf("last stage: %+v, %v; want the fixed report and the canary skipped", rep, err)
	}
	changed, unchanged = targets(hosts, "c2"), targets(hosts, "c3")
	rep, err = c.Check(ctx, target, base)
	if err != nil || rep.Verdict != patchpilot.Healthy || !strings.Contains(rep.Reason, "does not count as changed") {
		t.Errorf("rolled back host: %+v, %v; want the canary skipped", rep, err)
	}

	// The baseline window full: wait for the samples rather than their
	// time, which a busy machine's Prometheus may need longer for.
	labtest.WaitForSamples(t, prom.URL(), labtest.Samples{Name: "latency", Query: cfg.Metrics[0].Query,
		Hosts: []string{"c1", "c2", "c3"}, Window: cfg.Baseline, Step: step, Min: int(cfg.Baseline / step)}, 2*time.Minute)
	changed, unchanged = targets(hosts, "c1"), targets(hosts, "c2", "c3")
	target.Since = time.Now()
	exps["c1"].factor.Store(300)
	rep, err = c.Check(ctx, target, base)
	if err != nil || rep.Verdict != patchpilot.UnderReview {
		t.Errorf("right after the change: %s (%s), %v; want under review", rep.Verdict, rep.Reason, err)
	}
	for i := 0; i < 15 && rep.Verdict != patchpilot.Unhealthy; i++ {
		time.Sleep(step)
		if rep, err = c.Check(ctx, target, base); err != nil {
			t.Fatal(err)
		}
	}
	if rep.Verdict != patchpilot.Unhealthy || len(rep.Results) != 2 || rep.Results[1].Gate != "canary:latency" ||
		rep.Results[1].Outcome != patchpilot.GateCritical || !strings.Contains(rep.Reason, "canary:latency fail (critical): +") {
		t.Fatalf("after the change: %s (%s) %+v; want unhealthy on canary:latency", rep.Verdict, rep.Reason, rep.Results)
	}
	t.Logf("reason: %s", rep.Reason)
}

// TestReportPromotesOnEvidenceOnly: a Pass that every metric earned
// promotes; a Pass that the on_inconclusive policy gave at the bake limit
// does not.
func TestReportPromotesOnEvidenceOnly(t *testing.T) {
	earned := judge.Result{Outcome: judge.Pass, Verdicts: []judge.Verdict{
		{Metric: "latency", Outcome: judge.Pass}, {Metric: "errors", Outcome: judge.Pass}}}
	policy := judge.Result{Outcome: judge.Pass, Verdicts: []judge.Verdict{
		{Metric: "latency", Outcome: judge.Inconclusive}, {Metric: "errors", Outcome: judge.Pass}}}
	if !canary.Report(earned).Promote {
		t.Error("every metric passed: want promote")
	}
	if canary.Report(policy).Promote {
		t.Error("a metric still inconclusive, passed by policy: want no promote")
	}
}

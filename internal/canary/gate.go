package canary

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/judge"
)

// GatePrefix starts the Gate of every GateResult a canary look produces:
// "canary:latency_p99".
const GatePrefix = "canary:"

// staleSteps is how many Prometheus steps a host's newest sample may lag
// before the sequential judge treats it as stale, when that is longer than
// the judge's own default.
const staleSteps = 3

// NewEvaluator returns the judge the section selects, configured from it:
// the sequential judge tightest at the bake limit (MaxBake, when set) and
// tolerant of a step longer than its default staleness bound, or the
// Kayenta-compatible judge. Both keep the series in the evidence. step is
// the plan's health.prometheus.step (0 means the default).
func NewEvaluator(cfg patchpilot.CanaryConfig, step time.Duration) (judge.Evaluator, error) {
	return NewEvaluatorWithDelay(cfg, step, 0)
}

// NewEvaluatorWithDelay is NewEvaluator for a metrics source whose newest
// point lags by up to delay (Datadog's ingestion, health.DatadogIngestDelay):
// the sequential judge's staleness bound grows by it.
func NewEvaluatorWithDelay(cfg patchpilot.CanaryConfig, step, delay time.Duration) (judge.Evaluator, error) {
	if step <= 0 {
		step = patchpilot.DefaultPrometheusStep
	}
	cfg = cfg.WithDefaults(step)
	switch cfg.Judge {
	case patchpilot.CanaryJudgeMannWhitney:
		return judge.NewMannWhitney(judge.MannWhitneyOptions{KeepSeries: true})
	case patchpilot.CanaryJudgeSequential:
		return judge.New(judge.Options{TuneAfter: cfg.MaxBake, MaxStaleness: max(judge.DefaultMaxStaleness, staleSteps*step) + max(delay, 0),
			MinBaseline: patchpilot.CanaryMinBaselineSamples, KeepSeries: true})
	}
	return nil, patchpilot.Errorf(patchpilot.EINVALID, "canary: judge: expected %s or %s, got %q",
		patchpilot.CanaryJudgeSequential, patchpilot.CanaryJudgeMannWhitney, cfg.Judge)
}

// Final reports whether a look at now is the final look of a stage whose
// first change was applied at appliedAt.
func Final(cfg patchpilot.CanaryConfig, stageBake time.Duration, appliedAt, now time.Time) bool {
	return !now.Before(appliedAt.Add(cfg.BakeLimit(stageBake)))
}

// Stage is one look at a stage's canary gate.
type Stage struct {
	// Changed are the stage's hosts changed so far, each with AppliedAt.
	Changed []Target
	// Unchanged are the candidates for control hosts: the targets of
	// later stages, not changed yet. Controls picks among them.
	Unchanged []Target
	// Final marks the look at the bake limit (see Final).
	Final bool
}

// Look judges a stage at this moment: it picks the control hosts (see
// Controls), runs Analyze from the stage's first change, and maps the
// judge's result onto a health report (see Report). An analysis that
// fails (Prometheus unreachable, a bad query) gives an Unhealthy report
// with one GateError result as well as the error: the gate fails closed.
func (a *Analyzer) Look(ctx context.Context, cfg patchpilot.CanaryConfig, s Stage) (patchpilot.HealthReport, judge.Result, error) {
	controls := Controls(s.Changed, s.Unchanged, 0)
	if len(controls) == 0 {
		err := patchpilot.Errorf(patchpilot.EINVALID, "canary: no unchanged host to compare the stage with").
			WithHint("the canary gate needs hosts of a later stage; drop the canary section for the last stage's hosts or add a stage")
		return errorReport(a.now(), err), judge.Result{}, err
	}
	res, err := a.Analyze(ctx, cfg, s.Changed, controls, time.Time{}, s.Final)
	if err != nil {
		return errorReport(a.now(), err), judge.Result{}, err
	}
	return Report(res), res, nil
}

// VerdictFor maps a judge outcome onto the orchestrator's health verdict:
// Pass is Healthy, Inconclusive is UnderReview (bake longer), Fail and
// NoData are Unhealthy (roll back).
func VerdictFor(o judge.Outcome) patchpilot.HealthVerdict {
	switch o {
	case judge.Pass:
		return patchpilot.Healthy
	case judge.Inconclusive:
		return patchpilot.UnderReview
	}
	return patchpilot.Unhealthy
}

// outcomeFor maps a metric verdict onto a gate outcome.
func outcomeFor(v judge.Verdict) patchpilot.GateOutcome {
	switch v.Outcome {
	case judge.Pass:
		return patchpilot.GatePass
	case judge.Inconclusive:
		return patchpilot.GateInconclusive
	case judge.Fail:
		if v.Critical {
			return patchpilot.GateCritical
		}
		return patchpilot.GateBreach
	}
	return patchpilot.GateError
}

// Report maps a judge result onto a health report: the verdict by
// VerdictFor, one GateResult per metric (Gate "canary:<metric>", Value the
// estimated change, Threshold the signed margin, Evidence the verdict as
// JSON: interval, statistic, host summaries and series).
func Report(res judge.Result) patchpilot.HealthReport {
	rep := patchpilot.HealthReport{Verdict: VerdictFor(res.Outcome), Reason: "canary (" + res.Judge + "): " + res.Reason,
		Promote: res.Outcome == judge.Pass && len(res.Verdicts) > 0}
	for _, v := range res.Verdicts {
		// A Pass that the plan's on_inconclusive policy gave at the bake
		// limit is no evidence: only every metric passing promotes.
		if v.Outcome != judge.Pass {
			rep.Promote = false
		}
		gr := patchpilot.GateResult{Gate: GatePrefix + v.Metric, Outcome: outcomeFor(v), Reason: v.Reason, Time: res.Time}
		if est := float64(v.Estimate); !math.IsNaN(est) && !math.IsInf(est, 0) {
			gr.Value = &est
		}
		margin := v.Margin
		gr.Threshold = &margin
		if data, err := json.Marshal(v); err == nil {
			gr.Evidence = data
		}
		rep.Results = append(rep.Results, gr)
	}
	return rep
}

func errorReport(now time.Time, err error) patchpilot.HealthReport {
	return patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "canary analysis failed: " + err.Error(),
		Results: []patchpilot.GateResult{{Gate: GatePrefix + "analysis", Outcome: patchpilot.GateError, Reason: err.Error(), Time: now}}}
}

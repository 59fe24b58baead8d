// Package canary runs a plan's canary analysis: during a stage's bake it
// compares the stage's patched hosts with matched unpatched hosts, metric
// by metric, from Prometheus (or Datadog, when the plan's health section
// names it: health.DatadogSource), and lets a statistical judge
// (internal/judge) decide whether to promote, bake longer or roll back.
//
// # What a look does
//
// Analyzer.Analyze renders each metric's query for each host
// (patchpilot.HealthTemplateData: {{.Host}}, {{.Address}}, {{.Instance}}),
// runs it as a range query over [first change - baseline, now] at the
// Prometheus step (aligned to the step, so every look samples the same
// instants), and splits each host's samples at its change: baseline before
// it, current after it. Control hosts split at the stage's first change.
// Hosts are matched by Stratum (role and OS). The judge gets one series per
// host and metric and returns Pass, Fail or Inconclusive with per-metric
// verdicts and their evidence. A host whose query returns nothing, whose
// newest sample is stale, or which has a NaN is NoData to the judge, which
// fails the gate: the analysis fails closed.
//
// # Wiring it into the orchestrator
//
// When a plan has a canary section (Plan.Canary.Enabled()), build once per
// rollout:
//
//	prom, _ := prometheus.New(plan.Health.Prometheus.URL, prometheus.Options{})
//	_, step := plan.Health.MetricsWindow()
//	ev, err := canary.NewEvaluator(plan.Canary, step) // NewEvaluatorWithDelay for Datadog
//	an := &canary.Analyzer{Prom: prom, Judge: ev, Now: engineClock, Step: step}
//
// Then, for each stage, once its first host is changed, look every
// plan.Canary.WithDefaults(step).Interval until the verdict is decisive or
// the bake limit is reached:
//
//	final := canary.Final(plan.Canary, stage.Bake, firstAppliedAt, now)
//	rep, res, err := an.Look(ctx, plan.Canary, canary.Stage{
//		Changed:   changedSoFar,      // the stage's changed hosts, AppliedAt = when each was applied
//		Unchanged: laterStageTargets, // hosts of later stages, not yet changed
//		Final:     final,
//	})
//
// and act on rep.Verdict for every changed host of the stage:
//
//   - patchpilot.Unhealthy (judge Fail, or NoData, or err != nil): roll
//     back per the stage's on_failure; rep carries the reason.
//   - patchpilot.UnderReview (judge Inconclusive): keep baking, up to
//     plan.Canary.BakeLimit(stage.Bake) after the first change; the final
//     look applies the plan's on_inconclusive, so it is never UnderReview.
//   - patchpilot.Healthy (judge Pass): the stage may be promoted; the
//     report's Promote is set, and the orchestrator ends the host's bake
//     early when the fixed gates are healthy too (Merge).
//
// rep.Results holds one GateResult per metric, Gate "canary:<metric>",
// whose Evidence is the judge's Verdict as JSON (interval, statistic,
// margin, host summaries and series); store rep as the gate-verdict event,
// as for the fixed-threshold gates. res is the whole judge.Result for
// callers that want more. Look is stateless: a restarted controller that
// looks again gets the verdict the data supports at that moment.
//
// The canary gate is per stage, not per host: it needs unchanged hosts to
// compare with, so the last stage of a rollout (no later hosts) has no
// controls and Look reports an error there; orchestrators skip the canary
// gate when Unchanged is empty and rely on the stage's criteria.
package canary

package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// stageChecker returns the health checker of a stage: the criteria's
// fixed-threshold gates and, when the plan's canary analysis gates the
// stage (Plan.CanaryOn), the canary gate beside them. A look compares each
// of the stage's changed hosts from the time its change was applied, which
// the store keeps (HostRun.AppliedAt).
func (a *App) stageChecker(p patchpilot.Plan, s patchpilot.Stage, now func() time.Time, logger *slog.Logger) (patchpilot.HealthChecker, error) {
	var fixed patchpilot.HealthChecker
	var source health.MetricsSource
	if len(s.Criteria) > 0 || p.CanaryOn(s) {
		var err error
		if source, err = a.metricsSource(p.Health); err != nil {
			return nil, err
		}
	}
	if len(s.Criteria) > 0 {
		c, err := health.New(s.Criteria, p.Health, health.Options{Logger: logger, Metrics: source})
		if err != nil {
			return nil, err
		}
		fixed = c
	}
	if !p.CanaryOn(s) {
		return fixed, nil
	}
	_, step := p.Health.MetricsWindow()
	if err := canary.ValidateConfig(p.Canary, planner.MetricsSourceOf(p.Health), step); err != nil {
		return nil, err
	}
	var delay time.Duration
	if p.Health.Datadog.Integration != "" {
		delay = health.DatadogIngestDelay
	}
	ev, err := canary.NewEvaluatorWithDelay(p.Canary, step, delay)
	if err != nil {
		return nil, err
	}
	return &canary.Checker{
		Fixed:    fixed,
		Analyzer: &canary.Analyzer{Prom: source, Judge: ev, Now: now, Step: step},
		Config:   p.Canary,
		Bake:     s.Bake,
		Fleet:    a.canaryFleet(p, s),
	}, nil
}

// canaryFleet reads a look's hosts from the store and lets the canary
// package pick them (canary.StageFleet): the stage's changed hosts, each
// from the time its change was applied, and the rollout's hosts not yet
// started in later stages, the candidates for controls.
func (a *App) canaryFleet(p patchpilot.Plan, s patchpilot.Stage) canary.Fleet {
	return func(ctx context.Context, t patchpilot.HealthTarget) ([]canary.Target, []canary.Target, error) {
		if t.Rollout == "" {
			return nil, nil, patchpilot.Errorf(patchpilot.EINVALID, "canary: the host %s is checked outside a rollout", t.Host.Name)
		}
		runs, err := a.Store.HostRuns(ctx, t.Rollout)
		if err != nil {
			return nil, nil, err
		}
		hosts, err := a.Store.Hosts(ctx)
		if err != nil {
			return nil, nil, err
		}
		byName := map[string]patchpilot.Host{}
		for _, h := range hosts {
			byName[h.Name] = h
		}
		changed, unchanged := canary.StageFleet(p, s.Name, t, runs, byName,
			func(host string) string { return a.hostOS(ctx, host) })
		return changed, unchanged, nil
	}
}

// hostOS names a host's OS for matching ("debian:12"), or "" when its
// facts are not known, in which case its "os" label is used.
func (a *App) hostOS(ctx context.Context, host string) string {
	f, err := a.Store.LatestFacts(ctx, host)
	if err != nil || f.OSName == "" {
		return ""
	}
	return f.OSName + ":" + f.OSVersion
}

package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

// stageChecker returns the health checker of a stage: the criteria's
// fixed-threshold gates and, when the plan's canary analysis gates the
// stage (Plan.CanaryOn), the canary gate beside them. applied is shared by
// every checker of one engine: it remembers when each host's change was
// applied, which the store does not keep, so that a look compares all of a
// stage's changed hosts from their own changes.
func (a *App) stageChecker(p patchpilot.Plan, s patchpilot.Stage, applied *appliedBook, now func() time.Time, logger *slog.Logger) (patchpilot.HealthChecker, error) {
	var fixed patchpilot.HealthChecker
	if len(s.Criteria) > 0 {
		c, err := health.New(s.Criteria, p.Health, health.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		fixed = c
	}
	if !p.CanaryOn(s) {
		return fixed, nil
	}
	step := p.Health.Prometheus.WithDefaults().Step
	if err := canary.ValidateConfig(p.Canary, p.Health.Prometheus.URL, step); err != nil {
		return nil, err
	}
	prom, err := prometheus.New(p.Health.Prometheus.URL, prometheus.Options{})
	if err != nil {
		return nil, err
	}
	ev, err := canary.NewEvaluator(p.Canary, step)
	if err != nil {
		return nil, err
	}
	return &canary.Checker{
		Fixed:    fixed,
		Analyzer: &canary.Analyzer{Prom: prom, Judge: ev, Now: now, Step: step},
		Config:   p.Canary,
		Bake:     s.Bake,
		Fleet:    a.canaryFleet(p, s, applied),
	}, nil
}

// appliedBook remembers when each host of a rollout was changed, as the
// checks of its pipeline report it (HealthTarget.Since).
type appliedBook struct {
	mu sync.Mutex
	at map[string]time.Time // rollout + "/" + host
}

func newAppliedBook() *appliedBook { return &appliedBook{at: map[string]time.Time{}} }

func (b *appliedBook) set(rollout, host string, at time.Time) {
	if at.IsZero() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.at[rollout+"/"+host] = at
}

func (b *appliedBook) get(rollout, host string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.at[rollout+"/"+host]
}

// changedState reports whether a host in state s has its change on it,
// or being made: it counts among its stage's patched hosts. A host
// rolling back or rolled back does not.
func changedState(s patchpilot.HostState) bool {
	switch s {
	case patchpilot.HostApply, patchpilot.HostReboot, patchpilot.HostVerify, patchpilot.HostSucceeded:
		return true
	}
	return false
}

// canaryFleet reads a look's hosts from the store: the stage's hosts in
// a changed state (with the time of their change when this engine saw it;
// the checked host's own comes from its target) and the rollout's hosts
// that have not started, in the stages after this one, as the candidates
// for controls.
func (a *App) canaryFleet(p patchpilot.Plan, s patchpilot.Stage, applied *appliedBook) canary.Fleet {
	return func(ctx context.Context, t patchpilot.HealthTarget) ([]canary.Target, []canary.Target, error) {
		applied.set(t.Rollout, t.Host.Name, t.Since)
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
		later := map[string]bool{}
		seen := false
		for _, st := range p.Stages {
			if seen {
				later[st.Name] = true
			}
			seen = seen || st.Name == s.Name
		}
		var changed, unchanged []canary.Target
		for _, hr := range runs {
			h, ok := byName[hr.Host]
			if !ok {
				continue
			}
			target := canary.Target{Host: h, OS: a.hostOS(ctx, h.Name)}
			switch {
			case hr.Stage == s.Name && changedState(hr.State):
				target.AppliedAt = applied.get(t.Rollout, hr.Host)
				if hr.Host == t.Host.Name {
					target.Host = t.Host
				}
				changed = append(changed, target)
			case later[hr.Stage] && hr.State == patchpilot.HostPending && hr.Order == 0:
				unchanged = append(unchanged, target)
			}
		}
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

package canary

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Fleet tells a Checker whom a look at host t compares: the changed hosts
// of t's stage (t's own host among them only while it counts as changed,
// not while it is rolled back) and the unchanged hosts of t's rollout, the
// candidates for controls. A changed host's AppliedAt may be zero when it
// is not known; the Checker sets t's own from t.Since.
type Fleet func(ctx context.Context, t patchpilot.HealthTarget) (changed, unchanged []Target, err error)

// Checker is a stage's health checker with a canary gate: it runs the
// stage's fixed-threshold gates (Fixed) and, while the checked host is
// changed and the rollout has unchanged hosts to compare with, a canary
// look of the whole stage, and merges both into one report. It is built
// per host pipeline; its only state is the last canary look, reused until
// the section's interval has passed so that a short check interval does
// not query Prometheus at every check.
type Checker struct {
	// Fixed are the stage's criteria; nil means none.
	Fixed    patchpilot.HealthChecker
	Analyzer *Analyzer
	// Config is the plan's canary section, Bake the stage's bake: the
	// look at Config.BakeLimit(Bake) after the stage's first change is
	// final and applies the section's on_inconclusive.
	Config patchpilot.CanaryConfig
	Bake   time.Duration
	Fleet  Fleet

	mu       sync.Mutex
	lastLook time.Time
	last     patchpilot.HealthReport
}

var _ patchpilot.HealthChecker = (*Checker)(nil)

// Baseline takes the fixed gates' baseline; the canary gate's baseline is
// the hosts' Prometheus history before the change, read at each look.
func (c *Checker) Baseline(ctx context.Context, t patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	if c.Fixed == nil {
		return patchpilot.HealthBaseline{}, nil
	}
	return c.Fixed.Baseline(ctx, t)
}

// Check runs the fixed gates and the canary gate and merges them (see
// Merge). Only a cancelled context is an error: a canary analysis that
// fails is a GateError result, which fails the host closed.
func (c *Checker) Check(ctx context.Context, t patchpilot.HealthTarget, base patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	rep := patchpilot.HealthReport{Verdict: patchpilot.Healthy, Results: []patchpilot.GateResult{}}
	if c.Fixed != nil {
		var err error
		if rep, err = c.Fixed.Check(ctx, t, base); err != nil {
			return rep, err
		}
	}
	crep, skipped := c.look(ctx, t)
	if err := ctx.Err(); err != nil {
		return patchpilot.HealthReport{}, patchpilot.Errorf(patchpilot.ECANCELED, "canary check of %s: %w", t.Host.Name, err)
	}
	if skipped != "" {
		if rep.Reason != "" {
			rep.Reason += "; "
		}
		rep.Reason += "canary skipped: " + skipped
		return rep, nil
	}
	return Merge(rep, crep), nil
}

// look runs the stage's canary look for t, or says why there is none.
func (c *Checker) look(ctx context.Context, t patchpilot.HealthTarget) (patchpilot.HealthReport, string) {
	now := c.Analyzer.now()
	if c.Fleet == nil {
		err := patchpilot.Errorf(patchpilot.EINVALID, "canary: no fleet to find the stage's hosts and controls")
		return errorReport(now, err), ""
	}
	changed, unchanged, err := c.Fleet(ctx, t)
	if err != nil {
		return errorReport(now, err), ""
	}
	self := -1
	for i := range changed {
		if changed[i].Host.Name == t.Host.Name {
			self = i
		}
	}
	switch {
	case self < 0:
		return patchpilot.HealthReport{}, "the host does not count as changed (rolled back or not applied)"
	case len(unchanged) == 0:
		return patchpilot.HealthReport{}, "no unchanged host in the rollout to compare with (last stage); the criteria decide"
	}
	if !t.Since.IsZero() {
		changed[self].AppliedAt = t.Since
	}
	known := changed[:0:0]
	for _, h := range changed {
		if !h.AppliedAt.IsZero() {
			known = append(known, h)
		}
	}
	if len(known) == 0 {
		err := patchpilot.Errorf(patchpilot.EINVALID, "canary: the time of the change of %s is not known", t.Host.Name)
		return errorReport(now, err), ""
	}
	final := Final(c.Config, c.Bake, earliest(known), now)
	interval := c.Config.WithDefaults(c.Analyzer.step()).Interval
	c.mu.Lock()
	defer c.mu.Unlock()
	if !final && !c.lastLook.IsZero() && now.Sub(c.lastLook) < interval && c.last.Verdict != "" {
		return c.last, ""
	}
	rep, _, _ := c.Analyzer.Look(ctx, c.Config, Stage{Changed: known, Unchanged: unchanged, Final: final})
	c.lastLook, c.last = now, rep
	return rep, ""
}

// Merge combines the fixed gates' report with the canary gate's: the
// results of both, the worse verdict (rollback over under review over
// healthy), and a reason that names each side and every failed canary
// verdict with its estimate, interval and margin (see Describe), so that
// a host's reason and its incident tell why it was rolled back.
func Merge(fixed, canary patchpilot.HealthReport) patchpilot.HealthReport {
	out := patchpilot.HealthReport{Verdict: worse(fixed.Verdict, canary.Verdict)}
	// Only the judge's evidence can end a bake early, and only when the
	// fixed gates are healthy too.
	out.Promote = canary.Promote && fixed.Verdict == patchpilot.Healthy && out.Verdict == patchpilot.Healthy
	out.Results = append(append([]patchpilot.GateResult{}, fixed.Results...), canary.Results...)
	var parts []string
	if out.Verdict != fixed.Verdict {
		// The judge decides: its reason comes first, and the fixed
		// gates' follows as theirs alone, so that "unhealthy" is never
		// read as "all 4 gates passed".
		if canary.Reason != "" {
			parts = append(parts, canary.Reason)
		}
		if fixed.Reason != "" {
			parts = append(parts, "other gates: "+fixed.Reason)
		}
	} else {
		if fixed.Reason != "" {
			parts = append(parts, fixed.Reason)
		}
		if canary.Reason != "" {
			parts = append(parts, canary.Reason)
		}
	}
	var lines []string
	for _, gr := range canary.Results {
		if gr.Outcome == patchpilot.GatePass || gr.Outcome == patchpilot.GateInconclusive {
			continue
		}
		if d, ok := Describe(gr); ok {
			lines = append(lines, d)
		}
	}
	if len(lines) > 0 {
		parts = append(parts, strings.Join(lines, "; "))
	}
	out.Reason = strings.Join(parts, "; ")
	return out
}

func rank(v patchpilot.HealthVerdict) int {
	switch v {
	case patchpilot.Healthy:
		return 0
	case patchpilot.UnderReview:
		return 1
	}
	// Unhealthy, and a verdict this code does not know, fail closed.
	return 2
}

func worse(a, b patchpilot.HealthVerdict) patchpilot.HealthVerdict {
	if a == "" {
		return b
	}
	if b == "" || rank(a) >= rank(b) {
		return a
	}
	return b
}

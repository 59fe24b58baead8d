package health

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Default queries for the metrics node_exporter provides on every host.
// Error rate and latency depend on the service and have no default.
const (
	DefaultCPUQuery    = `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",instance="{{.Instance}}"}[1m])))`
	DefaultMemoryQuery = `100 * (1 - node_memory_MemAvailable_bytes{instance="{{.Instance}}"} / node_memory_MemTotal_bytes{instance="{{.Instance}}"})`
)

// Default queries of a Datadog health section, for the metrics the
// Datadog agent reports on every host.
const (
	DefaultDatadogCPUQuery    = `avg:system.cpu.user{host:{{.Host}}} + avg:system.cpu.system{host:{{.Host}}}`
	DefaultDatadogMemoryQuery = `avg:system.mem.used{host:{{.Host}}} / avg:system.mem.total{host:{{.Host}}} * 100`
)

// metricFor maps a criterion to the metric its query produces.
func metricFor(criterion string) string {
	if m, ok := builtinMetric(criterion); ok {
		return m
	}
	switch criterion {
	case patchpilot.CriterionCPUIncrease:
		return patchpilot.MetricCPU
	case patchpilot.CriterionMemory:
		return patchpilot.MetricMemory
	case patchpilot.CriterionErrorRateIncrease:
		return patchpilot.MetricErrorRate
	}
	return patchpilot.MetricLatencyP99
}

// query returns the rendered query of a criterion for a host.
func (c *Checker) query(cr patchpilot.Criterion, h patchpilot.Host) (string, error) {
	if c.prom == nil {
		if c.provider == "datadog" {
			return "", fmt.Errorf("the datadog integration %q of health.datadog is not available for %s: check patchpilot.yaml's integrations", c.cfg.Datadog.Integration, cr.Name)
		}
		return "", fmt.Errorf("no prometheus configured for %s: add health.prometheus to the plan", cr.Name)
	}
	m := metricFor(cr.Name)
	text, ok := c.queries[m]
	if !ok {
		if text, ok = DefaultQuery(c.provider, m); !ok {
			return "", fmt.Errorf("no %s query configured for %s (no built-in %s query for %s): add health.%s.queries.%s to the plan", m, cr.Name, c.provider, m, c.provider, m)
		}
	}
	return RenderTemplate(m, text, TemplateData(h))
}

// metricSample is a metric averaged over a window.
type metricSample struct {
	Query  string    `json:"query"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Value  float64   `json:"value"`
	Points int       `json:"points"`
	NaN    int       `json:"nan_points,omitempty"`
	Last   time.Time `json:"last_point"`
}

// sample averages the query over [start, end]. No series, several series,
// no finite point, or a last point older than two steps are errors: the
// gate cannot be evaluated and fails closed.
func (c *Checker) sample(ctx context.Context, query string, start, end time.Time) (metricSample, error) {
	s := metricSample{Query: query, Start: start.UTC(), End: end.UTC()}
	step := c.step
	m, err := c.prom.QueryRange(ctx, query, start, end, step)
	if err != nil {
		return s, err
	}
	if len(m) != 1 {
		return s, fmt.Errorf("query returned %d series, want exactly 1 (no data for this host, or aggregate the query)", len(m))
	}
	var sum float64
	for _, p := range m[0].Points {
		if !p.Valid() {
			s.NaN++
			continue
		}
		sum += p.Value
		s.Points++
		s.Last = p.Time
	}
	if s.Points == 0 {
		return s, fmt.Errorf("query returned no finite value in the window (%d NaN or infinite)", s.NaN)
	}
	if stale := c.staleAfter(); end.Sub(s.Last) > stale {
		return s, fmt.Errorf("stale: the last value is from %s, more than %s before %s", s.Last.Format(time.RFC3339), stale, end.UTC().Format(time.RFC3339))
	}
	s.Value = sum / float64(s.Points)
	return s, nil
}

// baseMetric averages the metric over the window before now.
func (c *Checker) baseMetric(ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion) (any, error) {
	q, err := c.query(cr, t.Host)
	if err != nil {
		return nil, err
	}
	end := c.now()
	return c.sample(ctx, q, end.Add(-c.window), end)
}

type metricEvidence struct {
	Metric    string       `json:"metric"`
	Rule      string       `json:"rule"`
	Baseline  metricSample `json:"baseline"`
	Current   metricSample `json:"current"`
	Threshold float64      `json:"threshold"`
}

// checkMetric compares the metric over the window before now (but not
// before the change) with the baseline.
func (c *Checker) checkMetric(ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion, raw json.RawMessage) result {
	var base metricSample
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	q, err := c.query(cr, t.Host)
	if err != nil {
		return errorResult(err.Error())
	}
	end := c.now()
	start := end.Add(-c.window)
	if t.Since.After(start) {
		start = t.Since
	}
	if end.Sub(start) < c.step {
		start = end.Add(-c.step)
	}
	young, age := c.settling(t.Since, end)
	cur, err := c.sample(ctx, q, start, end)
	switch {
	case err != nil && young:
		return settlingResult(cr, age, c.settleLimit(), err.Error(), cur)
	case err != nil:
		return errorResult(err.Error())
	case young && (age < minPostChangePoints*c.step || cur.Points < minPostChangePoints):
		return settlingResult(cr, age, c.settleLimit(),
			fmt.Sprintf("%d of %d samples since the change", cur.Points, minPostChangePoints), cur)
	}
	return judge(cr, base, cur)
}

// staleAfter is how old the newest point may be: two steps, and for
// Datadog its ingestion delay on top.
func (c *Checker) staleAfter() time.Duration {
	if c.provider == "datadog" {
		return 2*c.step + DatadogIngestDelay
	}
	return 2 * c.step
}

// minPostChangePoints is how many samples after the change a metric gate
// needs before it judges: a single sample right after a restart says more
// about the restart than about the new version.
const minPostChangePoints = 2

// settleLimit is how long after the change a metric gate without enough
// data is inconclusive rather than an error: the gate's window, since
// a rate over it needs that long to fill, and at least the time the
// minimum samples take to arrive.
func (c *Checker) settleLimit() time.Duration {
	return max(c.window, minPostChangePoints*c.step)
}

// settling reports whether the post-change window at end is still younger
// than settleLimit, and its age. A zero since (no known change) never
// settles: the data must be there.
func (c *Checker) settling(since, end time.Time) (bool, time.Duration) {
	if since.IsZero() {
		return false, 0
	}
	age := end.Sub(since)
	return age < c.settleLimit(), age
}

// settlingResult is the inconclusive verdict of a metric gate whose
// post-change window has too little data yet: the bake goes on, and the
// gate fails closed once the window is older than the limit.
func settlingResult(cr patchpilot.Criterion, age, limit time.Duration, why string, cur metricSample) result {
	reason := fmt.Sprintf("%s: not enough data since the change %s ago (%s); an error after %s", cr.Name, age.Round(time.Second), why, limit)
	return result{outcome: patchpilot.GateInconclusive, reason: reason,
		evidence: map[string]any{"note": reason, "current": cur}}
}

// judgeMetric applies a metric criterion's threshold: cpu_increase as an
// increase relative to the baseline (cpuRelative), memory as a level in
// percent, error_rate_increase as an absolute increase (a "%" unit is
// divided by 100) that is critical when the error rate itself is above
// ErrorRateCritical, latency_p99 as a multiple of the baseline ("x") or
// an absolute duration. docs/rollback-rules.md lists the rules.
func judgeMetric(cr patchpilot.Criterion, base, cur metricSample) result {
	ev := metricEvidence{Metric: metricFor(cr.Name), Baseline: base, Current: cur}
	r := result{value: ptr(cur.Value), baseline: ptr(base.Value)}
	var measured, limit float64
	critical := false
	switch cr.Name {
	case patchpilot.CriterionCPUIncrease:
		limit = thresholdOr(cr, DefaultCPUIncrease)
		var text string
		measured, text = cpuRelative(base.Value, cur.Value)
		ev.Rule = fmt.Sprintf("%s, limit %g%%", text, limit)
	case patchpilot.CriterionMemory:
		limit = thresholdOr(cr, DefaultMemory)
		measured = cur.Value
		ev.Rule = fmt.Sprintf("current = %.3g%% of memory in use, must stay below %g%%", measured, limit)
	case patchpilot.CriterionErrorRateIncrease:
		limit = thresholdOr(cr, DefaultErrorRateIncrease)
		if cr.Unit == "%" {
			limit /= 100
		}
		measured = cur.Value - base.Value
		ev.Rule = fmt.Sprintf("error rate %.3g vs baseline %.3g = %+.3g errors per request, limit +%g", cur.Value, base.Value, measured, limit)
		if measured > limit || (cr.Op != "<=" && measured == limit) {
			if cur.Value > ErrorRateCritical {
				critical = true
				ev.Rule += fmt.Sprintf("; error rate %.3g > %.2f: critical", cur.Value, ErrorRateCritical)
			} else {
				ev.Rule += fmt.Sprintf("; error rate %.3g <= %.2f: not critical", cur.Value, ErrorRateCritical)
			}
		}
	default:
		if d, ok := cr.Duration(); ok && cr.Op != "" {
			limit, measured = d.Seconds(), cur.Value
			ev.Rule = fmt.Sprintf("current p99 = %.3gs, must stay below %gs", measured, limit)
			break
		}
		limit = thresholdOr(cr, DefaultLatencyRatio)
		if base.Value <= 0 || math.IsNaN(base.Value) {
			return errorResult(fmt.Sprintf("baseline p99 latency is %g: a ratio cannot be formed", base.Value))
		}
		measured = cur.Value / base.Value
		ev.Rule = fmt.Sprintf("current / baseline = %.3gx, must stay below %gx", measured, limit)
	}
	ev.Threshold = limit
	r.threshold = ptr(limit)
	r.evidence = ev
	r.reason = fmt.Sprintf("%s: %s", cr.Name, ev.Rule)
	switch {
	case critical:
		r.outcome = patchpilot.GateCritical
	case measured > limit || (cr.Op != "<=" && measured == limit):
		r.outcome = patchpilot.GateBreach
	default:
		r.outcome = patchpilot.GatePass
	}
	return r
}

// cpuRelative is the CPU increase in percent of the baseline, and the
// rule's text with its numbers. A baseline under CPUBaselineFloor counts
// as the floor, so that an idle host's blip (0.1% to 0.5%) is an increase
// of 8% of the floor, not 400% of its baseline.
func cpuRelative(base, cur float64) (float64, string) {
	den, floor := base, ""
	if !(den >= CPUBaselineFloor) {
		den = CPUBaselineFloor
		floor = fmt.Sprintf(" (under the %g%% floor, counted as %g%%)", CPUBaselineFloor, CPUBaselineFloor)
	}
	rel := 100 * (cur - base) / den
	return rel, fmt.Sprintf("current %.3g%% vs baseline %.3g%%%s = %+.3g%% relative", cur, base, floor, rel)
}

func thresholdOr(cr patchpilot.Criterion, def float64) float64 {
	if cr.Op == "" {
		return def
	}
	return cr.Value
}

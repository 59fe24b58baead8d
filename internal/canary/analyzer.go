package canary

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

// maxConcurrentQueries bounds the range queries of one look in flight at
// once, so that a look over many hosts does not flood Prometheus.
const maxConcurrentQueries = 8

// Target is a host of the comparison. AppliedAt is when its change was
// applied, and zero for a control host, which has not been changed.
type Target struct {
	Host      patchpilot.Host
	AppliedAt time.Time
	// OS optionally names the host's operating system ("debian:12", from
	// its facts) for matching; the "os" label is used when it is empty.
	OS string
}

// Analyzer runs canary analyses: it reads each host's series of each
// metric from Prometheus (or Datadog, health.DatadogSource) and hands them
// to a judge.
type Analyzer struct {
	Prom  health.MetricsSource
	Judge judge.Evaluator
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Step is the resolution of the range queries, the plan's
	// health.prometheus.step; 0 means patchpilot.DefaultPrometheusStep.
	Step time.Duration
}

func (a *Analyzer) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *Analyzer) step() time.Duration {
	if a.Step <= 0 {
		return patchpilot.DefaultPrometheusStep
	}
	return a.Step
}

// Analyze judges the patched hosts against the control hosts at this
// moment. For each metric and host it runs the metric's query over
// [appliedAt - cfg.Baseline, now] at the step, splits the samples at the
// host's change (a control host, and a patched host without AppliedAt, at
// appliedAt) into baseline and current, and evaluates them all with
// appliedAt as the start of the bake; appliedAt zero means the earliest
// AppliedAt of the patched hosts. final marks the look at the bake limit.
//
// Missing, stale or NaN data is not an error: the judge reports it as
// NoData, which fails the gate. Errors are a configuration the judge cannot
// use (EINVALID), a query that returns more than one series for a host
// (EINVALID) and a Prometheus that does not answer (EUNAVAILABLE,
// ETIMEOUT); a caller fails the gate closed on them too.
func (a *Analyzer) Analyze(ctx context.Context, cfg patchpilot.CanaryConfig, patched, control []Target, appliedAt time.Time, final bool) (judge.Result, error) {
	if a.Prom == nil || a.Judge == nil {
		return judge.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "canary analysis needs a Prometheus client and a judge")
	}
	step := a.step()
	if err := ValidateConfig(cfg, a.Prom.URL(), step); err != nil {
		return judge.Result{}, err
	}
	if !cfg.Enabled() {
		return judge.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "canary: no metrics configured")
	}
	cfg = cfg.WithDefaults(step)
	if len(patched) == 0 {
		return judge.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "canary analysis needs at least one patched host")
	}
	if appliedAt.IsZero() {
		appliedAt = earliest(patched)
	}
	if appliedAt.IsZero() {
		return judge.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "canary analysis needs the time of the change")
	}
	if err := distinct(patched, control); err != nil {
		return judge.Result{}, err
	}
	now := a.now()
	if now.Before(appliedAt) {
		return judge.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "canary: look at %s is before the change at %s",
			now.Format(time.RFC3339), appliedAt.Format(time.RFC3339))
	}
	metrics := judgeMetrics(cfg.Metrics)
	series, err := a.collect(ctx, cfg, patched, control, appliedAt, now)
	if err != nil {
		return judge.Result{}, err
	}
	in := judge.Input{Metrics: metrics, Series: series, Start: appliedAt, Now: now, Final: final,
		OnInconclusive: judge.Outcome(cfg.OnInconclusive)}
	return a.Judge.Evaluate(in)
}

// collect queries every metric of every host and builds the judge's
// series, in a fixed order (metrics as declared, patched hosts then
// controls as given) so that the verdict's evidence reads the same at
// every look.
func (a *Analyzer) collect(ctx context.Context, cfg patchpilot.CanaryConfig, patched, control []Target, appliedAt, now time.Time) ([]judge.Series, error) {
	step := a.step()
	start := alignDown(appliedAt.Add(-cfg.Baseline), step)
	type job struct {
		metric patchpilot.CanaryMetric
		target Target
		group  judge.Role
	}
	var jobs []job
	for _, m := range cfg.Metrics {
		for _, t := range patched {
			jobs = append(jobs, job{m, t, judge.Patched})
		}
		for _, t := range control {
			jobs = append(jobs, job{m, t, judge.Control})
		}
	}
	out := make([]judge.Series, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxConcurrentQueries)
	for i, j := range jobs {
		g.Go(func() error {
			q, err := health.RenderTemplate(j.metric.Name, j.metric.Query, health.TemplateData(j.target.Host))
			if err != nil {
				return err
			}
			m, err := a.Prom.QueryRange(gctx, q, start, now, step)
			if err != nil {
				return err
			}
			points, err := oneSeries(m, j.metric.Name, j.target.Host.Name, q)
			if err != nil {
				return err
			}
			split := appliedAt
			if j.group == judge.Patched && !j.target.AppliedAt.IsZero() {
				split = j.target.AppliedAt
			}
			s := judge.Series{Metric: j.metric.Name, Host: j.target.Host.Name, Group: j.group, Stratum: Stratum(j.target)}
			s.Baseline, s.Current = Split(points, split)
			out[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// oneSeries returns the points of a host's query, which must name one
// series: none is no data (the judge fails the gate on it), several mean
// the query does not single out the host.
func oneSeries(m prometheus.Matrix, metric, host, query string) ([]prometheus.Point, error) {
	switch len(m) {
	case 0:
		return nil, nil
	case 1:
		return m[0].Points, nil
	}
	return nil, patchpilot.Errorf(patchpilot.EINVALID, "canary: metric %s: the query for host %s returns %d series, want one: %s", metric, host, len(m), query).
		WithHint("select the host in the query ({{.Host}}, {{.Address}} or {{.Instance}}) and aggregate the rest, such as sum(rate(...))")
}

// Split divides a host's points at the time of its change: baseline before
// it, current after it. A point exactly at the change belongs to neither,
// since it cannot be told which side it measured. Points keep their order
// and their values, NaN included (the judge fails the gate on those).
func Split(points []prometheus.Point, at time.Time) (baseline, current []judge.Sample) {
	for _, p := range points {
		s := judge.Sample{Time: p.Time, Value: p.Value}
		switch {
		case p.Time.Before(at):
			baseline = append(baseline, s)
		case p.Time.After(at):
			current = append(current, s)
		}
	}
	return baseline, current
}

// alignDown rounds t down to a multiple of step since the epoch, so that
// every look of a bake samples the same instants and the baseline does not
// shift from one look to the next.
func alignDown(t time.Time, step time.Duration) time.Time {
	return time.Unix(0, t.UnixNano()-t.UnixNano()%int64(step)).UTC()
}

func earliest(ts []Target) time.Time {
	var first time.Time
	for _, t := range ts {
		if !t.AppliedAt.IsZero() && (first.IsZero() || t.AppliedAt.Before(first)) {
			first = t.AppliedAt
		}
	}
	return first
}

func distinct(patched, control []Target) error {
	seen := map[string]string{}
	for _, g := range []struct {
		name string
		ts   []Target
	}{{"patched", patched}, {"control", control}} {
		for _, t := range g.ts {
			if t.Host.Name == "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "canary: a %s host has no name", g.name)
			}
			if prev, dup := seen[t.Host.Name]; dup {
				return patchpilot.Errorf(patchpilot.EINVALID, "canary: host %s is given twice (%s and %s)", t.Host.Name, prev, g.name)
			}
			seen[t.Host.Name] = g.name
		}
	}
	return nil
}

// judgeMetrics maps the plan's metrics onto the judge's declarations.
func judgeMetrics(ms []patchpilot.CanaryMetric) []judge.Metric {
	out := make([]judge.Metric, 0, len(ms))
	for _, m := range ms {
		jm := judge.Metric{Name: m.Name, Direction: judge.Direction(m.Direction), Margin: m.Margin,
			Unit: judge.Absolute, Critical: m.Critical, Kind: judge.Kind(m.Kind), Window: QueryWindow(m.Query)}
		if m.Relative {
			jm.Unit = judge.Relative
		}
		out = append(out, jm)
	}
	return out
}

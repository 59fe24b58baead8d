package canary

import (
	"math"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
)

// ValidateConfig reports the first field of a canary section that cannot
// work, naming it as in plans ("canary: metrics[0]: margin: ..."). step is the Prometheus step the
// queries run at (0 means patchpilot.DefaultPrometheusStep); prometheusURL is the
// plan's health.prometheus.url, which canary metrics need.
func ValidateConfig(c patchpilot.CanaryConfig, prometheusURL string, step time.Duration) error {
	if c.Judge == "" && c.Metrics == nil && c.Baseline == 0 && c.Interval == 0 && c.MaxBake == 0 && c.OnInconclusive == "" {
		return nil
	}
	if step <= 0 {
		step = patchpilot.DefaultPrometheusStep
	}
	bad := func(field, format string, args ...any) *patchpilot.Error {
		return patchpilot.Errorf(patchpilot.EINVALID, "canary: "+field+": "+format, args...)
	}
	switch c.Judge {
	case "", patchpilot.CanaryJudgeSequential, patchpilot.CanaryJudgeMannWhitney:
	default:
		return bad("judge", "expected %s or %s, got %q", patchpilot.CanaryJudgeSequential, patchpilot.CanaryJudgeMannWhitney, c.Judge)
	}
	switch c.OnInconclusive {
	case "", patchpilot.CanaryFail, patchpilot.CanaryPass:
	default:
		return bad("on_inconclusive", "expected %s or %s, got %q", patchpilot.CanaryFail, patchpilot.CanaryPass, c.OnInconclusive)
	}
	if c.Baseline < 0 || c.Interval < 0 || c.MaxBake < 0 {
		return bad("baseline, interval and max_bake", "durations must not be negative")
	}
	base := c.Baseline
	if base == 0 {
		base = patchpilot.DefaultCanaryBaseline
	}
	if n := int(base / step); n < patchpilot.CanaryMinBaselineSamples {
		return bad("baseline", "%s holds %d samples at the Prometheus step of %s; the judge needs %d", base, n, step, patchpilot.CanaryMinBaselineSamples).
			WithHint("lengthen the baseline or shorten health.prometheus.step")
	}
	if len(c.Metrics) == 0 {
		return bad("metrics", "at least one metric is required")
	}
	if prometheusURL == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "canary: metrics need health.prometheus.url").WithHint("add the Prometheus server's url to the health section")
	}
	names := map[string]bool{}
	for i, m := range c.Metrics {
		if err := ValidateMetric(m); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "canary: metrics[%d]: %w", i, err).WithHint(patchpilot.ErrorHint(err))
		}
		if names[m.Name] {
			return patchpilot.Errorf(patchpilot.EINVALID, "canary: metrics[%d]: name %q is used twice", i, m.Name)
		}
		names[m.Name] = true
	}
	return nil
}

// ValidateMetric reports the first field of a canary metric that cannot
// work.
func ValidateMetric(m patchpilot.CanaryMetric) error {
	if m.Name == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "name: expected a name for the metric")
	}
	q, err := health.RenderTemplate(m.Name, m.Query, health.SampleTemplateData())
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "query: %w", err).WithHint(patchpilot.ErrorHint(err))
	}
	if strings.TrimSpace(q) == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "query: the query is empty")
	}
	if m.Direction != patchpilot.CanaryHigherIsWorse && m.Direction != patchpilot.CanaryLowerIsWorse {
		return patchpilot.Errorf(patchpilot.EINVALID, "direction: expected %s or %s, got %q", patchpilot.CanaryHigherIsWorse, patchpilot.CanaryLowerIsWorse, m.Direction)
	}
	if m.Kind != "" && m.Kind != patchpilot.CanaryContinuous && m.Kind != patchpilot.CanaryCount {
		return patchpilot.Errorf(patchpilot.EINVALID, "kind: expected %s or %s, got %q", patchpilot.CanaryContinuous, patchpilot.CanaryCount, m.Kind)
	}
	switch {
	case math.IsNaN(m.Margin) || math.IsInf(m.Margin, 0) || m.Margin < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "margin: expected a finite margin of at least 0")
	case m.Kind == patchpilot.CanaryCount && !m.Relative:
		return patchpilot.Errorf(patchpilot.EINVALID, "margin: a count metric takes a percentage of the event rate, such as 50%%")
	case m.Relative && m.Direction == patchpilot.CanaryLowerIsWorse && m.Margin >= 1:
		return patchpilot.Errorf(patchpilot.EINVALID, "margin: a lower_is_worse metric cannot fall by 100%% or more")
	}
	return nil
}

package patchpilot

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// CanaryConfig is the "canary:" section of a plan: the metrics a
// statistical judge compares between a stage's patched hosts and matched
// unpatched hosts, read from the plan's Prometheus (health.prometheus).
// The zero value configures no canary analysis.
type CanaryConfig struct {
	// Judge selects the test: CanaryJudgeSequential (the default when
	// empty) or CanaryJudgeMannWhitney (Kayenta's).
	Judge string `json:"judge"`
	// Metrics are the compared metrics, each a PromQL template per host.
	Metrics []CanaryMetric `json:"metrics"`
	// Baseline is how far before the change the baseline window reaches;
	// 0 means DefaultCanaryBaseline.
	Baseline time.Duration `json:"baseline"`
	// Interval is how often the gate looks during the bake; 0 means the
	// Prometheus step (health.prometheus.step).
	Interval time.Duration `json:"interval"`
	// MaxBake is how long an inconclusive gate may extend the bake, from
	// the stage's first change; 0 means the stage's own bake. At the limit
	// the look is final and OnInconclusive decides.
	MaxBake time.Duration `json:"max_bake"`
	// OnInconclusive is what a gate still inconclusive at MaxBake does:
	// CanaryFail (the default when empty) or CanaryPass.
	OnInconclusive string `json:"on_inconclusive"`
}

// CanaryMetric is one compared metric.
type CanaryMetric struct {
	Name string `json:"name"`
	// Query is a PromQL text/template rendered per host with
	// HealthTemplateData ({{.Host}}, {{.Address}}, {{.Instance}}); it must
	// return one series per host.
	Query string `json:"query"`
	// Direction is CanaryHigherIsWorse or CanaryLowerIsWorse.
	Direction string `json:"direction"`
	// Margin is the largest tolerated worsening: a fraction of the
	// baseline when Relative ("5%" in plans is 0.05), else in the
	// metric's own unit ("0.5").
	Margin   float64 `json:"margin"`
	Relative bool    `json:"relative"`
	// Critical metrics fail the gate on their own.
	Critical bool `json:"critical"`
	// Kind is CanaryContinuous (the default when empty) or CanaryCount
	// (events per sample, compared as Poisson rates).
	Kind string `json:"kind"`
}

// Values of the canary section.
const (
	CanaryJudgeSequential  = "sequential"
	CanaryJudgeMannWhitney = "mannwhitney"
	CanaryHigherIsWorse    = "higher_is_worse"
	CanaryLowerIsWorse     = "lower_is_worse"
	CanaryContinuous       = "continuous"
	CanaryCount            = "count"
	CanaryFail             = "fail"
	CanaryPass             = "pass"
)

// Defaults of the canary section.
const (
	DefaultCanaryBaseline = 10 * time.Minute
	// CanaryMinBaselineSamples is how many baseline samples per host the
	// sequential judge needs; the baseline window must hold them at the
	// Prometheus step.
	CanaryMinBaselineSamples = 20
)

// Enabled reports whether the plan asks for canary analysis.
func (c CanaryConfig) Enabled() bool { return len(c.Metrics) > 0 }

// BakeLimit is how long after a stage's first change its canary gate may
// keep looking: the longer of the stage's bake and MaxBake. The look at or
// after the limit is the final one.
func (c CanaryConfig) BakeLimit(stageBake time.Duration) time.Duration {
	return max(c.MaxBake, stageBake)
}

// WithDefaults returns the section with its zero fields filled in; step is
// the Prometheus step of the plan (0 means DefaultPrometheusStep).
// MaxBake stays 0 (the stage's bake), which only the caller knows.
func (c CanaryConfig) WithDefaults(step time.Duration) CanaryConfig {
	if step <= 0 {
		step = DefaultPrometheusStep
	}
	if c.Judge == "" {
		c.Judge = CanaryJudgeSequential
	}
	if c.Baseline == 0 {
		c.Baseline = DefaultCanaryBaseline
	}
	if c.Interval == 0 {
		c.Interval = step
	}
	if c.OnInconclusive == "" {
		c.OnInconclusive = CanaryFail
	}
	if c.Metrics != nil {
		c.Metrics = append([]CanaryMetric(nil), c.Metrics...)
		for i := range c.Metrics {
			if c.Metrics[i].Kind == "" {
				c.Metrics[i].Kind = CanaryContinuous
			}
		}
	}
	return c
}

// MarginString renders the margin as written in plans: "5%" or "0.5".
func (m CanaryMetric) MarginString() string {
	if m.Relative {
		// Twelve digits undo the rounding of the division by 100 that
		// parsing did, so that "0.7%" is written back as "0.7%".
		return strconv.FormatFloat(m.Margin*100, 'g', 12, 64) + "%"
	}
	return strconv.FormatFloat(m.Margin, 'f', -1, 64)
}

// ParseCanaryMargin reads a margin: "5%" is relative (0.05), "0.5" is
// absolute. Margins are finite and not negative.
func ParseCanaryMargin(s string) (margin float64, relative bool, err error) {
	num, relative := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, perr := strconv.ParseFloat(num, 64)
	if perr != nil || num == "" || strings.ContainsAny(num, "xXpP_") || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, false, Errorf(EINVALID, "invalid margin %q: expected a percentage such as 5%% or an absolute number such as 0.5", s)
	}
	if relative {
		v /= 100
	}
	return v, relative, nil
}

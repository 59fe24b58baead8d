package planner

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	healthpkg "github.com/patchpilot/patchpilot/internal/health"
)

// Field names of the canary section, in the order Marshal writes them.
var (
	canaryFields       = []string{"judge", "baseline", "interval", "max_bake", "on_inconclusive", "metrics"}
	canaryMetricFields = []string{"name", "query", "direction", "margin", "critical", "kind"}
)

// canary decodes the canary section. It runs after the health section,
// since the metrics read the plan's Prometheus and its step sets how many
// samples a baseline holds. As with health, each value is checked where it
// is read so that an error names its line, and the section's Validate runs
// last.
func (d *decoder) canary(n *yaml.Node, health patchpilot.HealthConfig) (patchpilot.CanaryConfig, error) {
	var c patchpilot.CanaryConfig
	what := "canary"
	f, err := d.mapping(n, what, canaryFields...)
	if err != nil {
		return c, err
	}
	choice := func(key string, allowed ...string) (string, error) {
		v, ok := f[key]
		if !ok {
			return "", nil
		}
		s, err := d.scalar(v.value, what+": "+key)
		if err != nil {
			return "", err
		}
		if !contains(allowed, s) {
			return "", d.errorf(v.value, what+": "+key, "expected %s, got %q", strings.Join(allowed, " or "), s)
		}
		return s, nil
	}
	if c.Judge, err = choice("judge", patchpilot.CanaryJudgeSequential, patchpilot.CanaryJudgeMannWhitney); err != nil {
		return c, err
	}
	if c.OnInconclusive, err = choice("on_inconclusive", patchpilot.CanaryFail, patchpilot.CanaryPass); err != nil {
		return c, err
	}
	for _, dur := range []struct {
		key string
		to  *time.Duration
	}{{"baseline", &c.Baseline}, {"interval", &c.Interval}, {"max_bake", &c.MaxBake}} {
		v, err := d.optionalDuration(f, dur.key, what)
		if err != nil {
			return c, err
		}
		if _, ok := f[dur.key]; ok && v == 0 {
			return c, d.errorf(f[dur.key].value, what+": "+dur.key, "expected a positive duration such as 10m")
		}
		*dur.to = v
	}
	_, step := health.MetricsWindow()
	base := c.Baseline
	if base == 0 {
		base = patchpilot.DefaultCanaryBaseline
	}
	if got := int(base / step); got < patchpilot.CanaryMinBaselineSamples {
		node := n
		if v, ok := f["baseline"]; ok {
			node = v.value
		}
		return c, d.errorf(node, what+": baseline", "%s holds %d samples at the Prometheus step of %s; the judge needs %d: lengthen the baseline or shorten health.prometheus.step",
			FormatDuration(base), got, FormatDuration(step), patchpilot.CanaryMinBaselineSamples)
	}
	v, ok := f["metrics"]
	if !ok {
		return c, d.errorf(n, what, "missing field \"metrics\"")
	}
	items, err := d.sequence(v.value, what+": metrics")
	if err != nil {
		return c, err
	}
	if len(items) == 0 {
		return c, d.errorf(v.value, what+": metrics", "at least one metric is required")
	}
	source := MetricsSourceOf(health)
	if source == "" {
		return c, d.errorf(v.key, what+": metrics", "canary metrics need health.prometheus.url or health.datadog: add the metrics provider to the health section")
	}
	names := map[string]int{}
	for i, item := range items {
		m, err := d.canaryMetric(item, i)
		if err != nil {
			return c, err
		}
		if line, dup := names[m.Name]; dup {
			return c, d.errorf(item, fmt.Sprintf("%s: metrics[%d]", what, i), "metric name %q is used twice (first at line %d)", m.Name, line)
		}
		names[m.Name] = item.Line
		if health.Datadog.Integration != "" {
			if err := healthpkg.ValidateDatadogTemplate(m.Query); err != nil {
				return c, d.errorf(queryNode(item), fmt.Sprintf("%s: metrics[%d]: query", what, i), "%s (health.datadog: the canary queries are Datadog queries)", message(err))
			}
		}
		c.Metrics = append(c.Metrics, m)
	}
	if err := canary.ValidateConfig(c, source, step); err != nil {
		return c, d.errorf(n, "", "%s", message(err))
	}
	return c, nil
}

func (d *decoder) canaryMetric(n *yaml.Node, i int) (patchpilot.CanaryMetric, error) {
	var m patchpilot.CanaryMetric
	what := fmt.Sprintf("canary: metrics[%d]", i)
	f, err := d.mapping(n, what, canaryMetricFields...)
	if err != nil {
		return m, err
	}
	for _, req := range []string{"name", "query", "direction", "margin"} {
		if _, ok := f[req]; !ok {
			return m, d.errorf(n, what, "missing field %q", req)
		}
	}
	if m.Name, err = d.scalar(f["name"].value, what+": name"); err != nil {
		return m, err
	}
	if !validName(m.Name) {
		return m, d.errorf(f["name"].value, what+": name", "invalid metric name %q: use letters, digits, '_', '-' and '.'", m.Name)
	}
	if m.Query, err = d.scalar(f["query"].value, what+": query"); err != nil {
		return m, err
	}
	if err := canary.ValidateMetric(patchpilot.CanaryMetric{Name: m.Name, Query: m.Query, Direction: patchpilot.CanaryHigherIsWorse}); err != nil {
		return m, d.errorf(f["query"].value, what+": query", "%s", strings.TrimPrefix(message(err), "query: "))
	}
	if m.Direction, err = d.scalar(f["direction"].value, what+": direction"); err != nil {
		return m, err
	}
	if m.Direction != patchpilot.CanaryHigherIsWorse && m.Direction != patchpilot.CanaryLowerIsWorse {
		return m, d.errorf(f["direction"].value, what+": direction", "expected %s or %s, got %q",
			patchpilot.CanaryHigherIsWorse, patchpilot.CanaryLowerIsWorse, m.Direction)
	}
	if v, ok := f["kind"]; ok {
		if m.Kind, err = d.scalar(v.value, what+": kind"); err != nil {
			return m, err
		}
		if m.Kind != patchpilot.CanaryContinuous && m.Kind != patchpilot.CanaryCount {
			return m, d.errorf(v.value, what+": kind", "expected %s or %s, got %q", patchpilot.CanaryContinuous, patchpilot.CanaryCount, m.Kind)
		}
	}
	ms, err := d.scalar(f["margin"].value, what+": margin")
	if err != nil {
		return m, err
	}
	if m.Margin, m.Relative, err = patchpilot.ParseCanaryMargin(ms); err != nil {
		return m, d.errorf(f["margin"].value, what+": margin", "%s", message(err))
	}
	if err := canary.ValidateMetric(m); err != nil {
		return m, d.errorf(f["margin"].value, what, "%s", message(err))
	}
	if v, ok := f["critical"]; ok {
		if m.Critical, err = d.boolean(v.value, what+": critical"); err != nil {
			return m, err
		}
	}
	return m, nil
}

// marshalCanary renders the canary section for Marshal; "" when the plan
// configures none. Fields at their zero value are left out, as Parse
// leaves them zero. A section with settings but no metrics is written as
// it is, so that Marshal's read-back refuses it as Parse would.
func marshalCanary(c patchpilot.CanaryConfig) string {
	if reflect.DeepEqual(c, patchpilot.CanaryConfig{}) {
		return ""
	}
	var b strings.Builder
	b.WriteString("  canary:\n")
	if c.Judge != "" {
		b.WriteString("    judge: " + c.Judge + "\n")
	}
	for _, dur := range []struct {
		key string
		d   time.Duration
	}{{"baseline", c.Baseline}, {"interval", c.Interval}, {"max_bake", c.MaxBake}} {
		if dur.d != 0 {
			b.WriteString("    " + dur.key + ": " + FormatDuration(dur.d) + "\n")
		}
	}
	if c.OnInconclusive != "" {
		b.WriteString("    on_inconclusive: " + c.OnInconclusive + "\n")
	}
	if len(c.Metrics) == 0 {
		b.WriteString("    metrics: []\n")
	} else {
		b.WriteString("    metrics:\n")
	}
	for _, m := range c.Metrics {
		b.WriteString("      - name: " + scalar(m.Name) + "\n")
		b.WriteString("        query: " + strconv.Quote(m.Query) + "\n")
		b.WriteString("        direction: " + m.Direction + "\n")
		b.WriteString("        margin: " + strconv.Quote(m.MarginString()) + "\n")
		if m.Critical {
			b.WriteString("        critical: true\n")
		}
		if m.Kind != "" {
			b.WriteString("        kind: " + m.Kind + "\n")
		}
	}
	return b.String()
}

// MetricsSourceOf names where a plan's metrics come from, for
// canary.ValidateConfig: the Prometheus URL, "datadog:NAME", or "" when
// the health section names neither.
func MetricsSourceOf(h patchpilot.HealthConfig) string {
	if h.Datadog.Integration != "" {
		return "datadog:" + h.Datadog.Integration
	}
	return h.Prometheus.URL
}

// queryNode returns the value node of a canary metric's query, or the
// metric's node.
func queryNode(item *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "query" {
			return item.Content[i+1]
		}
	}
	return item
}

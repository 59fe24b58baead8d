package health

import (
	"fmt"
	"math"

	"github.com/patchpilot/patchpilot"
)

// Built-in node_exporter queries. Each is a text/template rendered per host
// (HealthTemplateData) and is replaced by the plan's
// health.prometheus.queries.<metric> when it names one. docs/gates.md
// lists them.
const (
	// DefaultDiskIOQuery is the busiest disk's utilisation in percent:
	// the share of time the device had I/O in flight.
	DefaultDiskIOQuery = `100 * max(rate(node_disk_io_time_seconds_total{instance="{{.Instance}}"}[1m]))`
	// DefaultNetErrorsQuery is the receive and transmit errors and drops
	// of every interface but loopback and veth pairs, per second.
	DefaultNetErrorsQuery = `sum(rate(node_network_receive_errs_total{instance="{{.Instance}}",device!~"lo|veth.*"}[1m]))` +
		` + sum(rate(node_network_transmit_errs_total{instance="{{.Instance}}",device!~"lo|veth.*"}[1m]))` +
		` + sum(rate(node_network_receive_drop_total{instance="{{.Instance}}",device!~"lo|veth.*"}[1m]))` +
		` + sum(rate(node_network_transmit_drop_total{instance="{{.Instance}}",device!~"lo|veth.*"}[1m]))`
	// DefaultNetUpQuery is one series per interface (label device): 1
	// while its operational state is up.
	DefaultNetUpQuery = `node_network_up{instance="{{.Instance}}",device!~"lo|veth.*"}`
	// DefaultLoadQuery is the 1-minute load average per CPU.
	DefaultLoadQuery = `node_load1{instance="{{.Instance}}"} / scalar(count(node_cpu_seconds_total{instance="{{.Instance}}",mode="idle"}))`
)

// Built-in queries of the Datadog agent's standard checks. The agent
// reports no per-interface state: net_up has no Datadog default.
const (
	DefaultDatadogDiskIOQuery    = `max:system.io.util{host:{{.Host}}}`
	DefaultDatadogNetErrorsQuery = `sum:system.net.packets_in.error{host:{{.Host}}} + sum:system.net.packets_out.error{host:{{.Host}}}` +
		` + sum:system.net.packets_in.drop{host:{{.Host}}} + sum:system.net.packets_out.drop{host:{{.Host}}}`
	DefaultDatadogLoadQuery = `avg:system.load.norm.1{host:{{.Host}}}`
)

// DefaultQuery returns the built-in query of a metric for a provider
// ("prometheus" or "datadog"), and false when there is none: error_rate
// and latency_p99 depend on the service (no exporter on every host
// provides them), and Datadog has no per-interface state.
func DefaultQuery(provider, metric string) (string, bool) {
	var qs map[string]string
	if provider == "datadog" {
		qs = map[string]string{
			patchpilot.MetricCPU:       DefaultDatadogCPUQuery,
			patchpilot.MetricMemory:    DefaultDatadogMemoryQuery,
			patchpilot.MetricDiskIO:    DefaultDatadogDiskIOQuery,
			patchpilot.MetricNetErrors: DefaultDatadogNetErrorsQuery,
			patchpilot.MetricLoad:      DefaultDatadogLoadQuery,
		}
	} else {
		qs = map[string]string{
			patchpilot.MetricCPU:       DefaultCPUQuery,
			patchpilot.MetricMemory:    DefaultMemoryQuery,
			patchpilot.MetricDiskIO:    DefaultDiskIOQuery,
			patchpilot.MetricNetErrors: DefaultNetErrorsQuery,
			patchpilot.MetricNetUp:     DefaultNetUpQuery,
			patchpilot.MetricLoad:      DefaultLoadQuery,
		}
	}
	q, ok := qs[metric]
	return q, ok
}

// Defaults of the built-in criteria, used when a criterion names no
// threshold of its own.
const (
	// DefaultMeanCPUMargin: mean_cpu_usage<baseline+15%.
	DefaultMeanCPUMargin = 15.0
	// DefaultDiskIOFactor: disk_io_within_normal is
	// disk_io_within_normal<2x.
	DefaultDiskIOFactor = 2.0
	// DiskIOFloor is the baseline utilisation, in percent, below which
	// the disk I/O margin does not shrink: an idle disk (baseline 1%)
	// may go to 1 + (factor-1) x 20 percent without being a storm.
	DiskIOFloor = 20.0
	// DefaultLoad: load<2 (the 1-minute load average per CPU).
	DefaultLoad = 2.0
)

func init() {
	for _, name := range []string{patchpilot.CriterionMeanCPUUsage, patchpilot.CriterionDiskIO, patchpilot.CriterionLoad} {
		gates[name] = gate{baseline: (*Checker).baseMetric, check: (*Checker).checkMetric}
	}
}

// builtinMetric maps the built-in criteria to their metric.
func builtinMetric(criterion string) (string, bool) {
	switch criterion {
	case patchpilot.CriterionMeanCPUUsage:
		return patchpilot.MetricCPU, true
	case patchpilot.CriterionDiskIO:
		return patchpilot.MetricDiskIO, true
	case patchpilot.CriterionLoad:
		return patchpilot.MetricLoad, true
	}
	return "", false
}

// judge applies a metric criterion: the built-in ones here, the others by
// judgeMetric.
func judge(cr patchpilot.Criterion, base, cur metricSample) result {
	switch cr.Name {
	case patchpilot.CriterionMeanCPUUsage:
		return judgeMeanCPU(cr, base, cur)
	case patchpilot.CriterionDiskIO:
		return judgeDiskIO(cr, base, cur)
	case patchpilot.CriterionLoad:
		return judgeLoad(cr, base, cur)
	}
	return judgeMetric(cr, base, cur)
}

// judgeMeanCPU: the mean CPU use over the window, in percent, below the
// baseline mean plus the margin in percentage points
// (mean_cpu_usage<baseline+15%), or below a level (mean_cpu_usage<80%).
func judgeMeanCPU(cr patchpilot.Criterion, base, cur metricSample) result {
	var limit float64
	var rule string
	switch {
	case cr.Op == "" || cr.OverBaseline:
		margin := DefaultMeanCPUMargin
		if cr.Op != "" {
			margin = cr.Value
		}
		limit = base.Value + margin
		rule = fmt.Sprintf("mean CPU %.3g%%, must stay below the baseline %.3g%% + %g points = %.3g%%", cur.Value, base.Value, margin, limit)
	default:
		limit = cr.Value
		rule = fmt.Sprintf("mean CPU %.3g%%, must stay below %g%%", cur.Value, limit)
	}
	return decideLevel(cr, patchpilot.MetricCPU, rule, base, cur, cur.Value, limit)
}

// DiskIOLimit is disk_io_within_normal's limit for a baseline utilisation
// (percent) and a factor: baseline + (factor-1) x max(baseline, 20), that
// is the larger of factor x baseline and baseline + (factor-1) x 20
// points.
func DiskIOLimit(baseline, factor float64) float64 {
	return baseline + (factor-1)*math.Max(baseline, DiskIOFloor)
}

// judgeDiskIO: the busiest disk's utilisation since the change is no I/O
// storm against the host's own baseline (DiskIOLimit).
func judgeDiskIO(cr patchpilot.Criterion, base, cur metricSample) result {
	factor := DefaultDiskIOFactor
	if cr.Op != "" {
		factor = cr.Value
	}
	limit := DiskIOLimit(base.Value, factor)
	rule := fmt.Sprintf("disk I/O utilisation %.3g%%, must stay below baseline %.3g%% + (%gx - 1) x max(baseline, %g) = %.3g%%",
		cur.Value, base.Value, factor, DiskIOFloor, limit)
	return decideLevel(cr, patchpilot.MetricDiskIO, rule, base, cur, cur.Value, limit)
}

// judgeLoad: the 1-minute load average per CPU below a level.
func judgeLoad(cr patchpilot.Criterion, base, cur metricSample) result {
	limit := DefaultLoad
	if cr.Op != "" {
		limit = cr.Value
	}
	rule := fmt.Sprintf("load per CPU %.3g, must stay below %g", cur.Value, limit)
	return decideLevel(cr, patchpilot.MetricLoad, rule, base, cur, cur.Value, limit)
}

// decideLevel compares measured with limit: reaching the limit is a breach
// with "<" and allowed with "<=".
func decideLevel(cr patchpilot.Criterion, metric, rule string, base, cur metricSample, measured, limit float64) result {
	ev := metricEvidence{Metric: metric, Rule: rule, Baseline: base, Current: cur, Threshold: limit}
	r := result{value: ptr(cur.Value), baseline: ptr(base.Value), threshold: ptr(limit), evidence: ev,
		reason: fmt.Sprintf("%s: %s", cr.Name, rule)}
	if measured > limit || (cr.Op != "<=" && measured == limit) {
		r.outcome = patchpilot.GateBreach
	} else {
		r.outcome = patchpilot.GatePass
	}
	return r
}

package health

import (
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestJudgeMetric(t *testing.T) {
	s := func(v float64) metricSample { return metricSample{Value: v, Points: 5} }
	tests := []struct {
		crit      patchpilot.Criterion
		base, cur float64
		want      patchpilot.GateOutcome
	}{
		// cpu_increase is relative: (current - baseline) / baseline.
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<", Value: 25, Unit: "%"}, 40, 49, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<", Value: 25, Unit: "%"}, 10, 30, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<", Value: 25, Unit: "%"}, 40, 50, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<=", Value: 25, Unit: "%"}, 40, 50, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<", Value: 15, Unit: "%"}, 40, 47, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<", Value: 15, Unit: "%"}, 40, 45, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "cpu_increase", Op: "<", Value: 25, Unit: "%"}, 60, 20, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "cpu_increase"}, 10, 13, patchpilot.GateBreach}, // default 25% of the baseline
		{patchpilot.Criterion{Name: "cpu_increase"}, 10, 12, patchpilot.GatePass},
		// A baseline under the 5% floor counts as 5%.
		{patchpilot.Criterion{Name: "cpu_increase"}, 0.1, 0.5, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "cpu_increase"}, 0, 1.3, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "cpu_increase"}, 0, 1.2, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "memory", Op: "<", Value: 90, Unit: "%"}, 95, 89, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "memory", Op: "<", Value: 90, Unit: "%"}, 10, 91, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 0.05}, 0.01, 0.05, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 0.05}, 0.01, 0.07, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 5, Unit: "%"}, 0.01, 0.07, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 5, Unit: "%"}, 0.01, 0.04, patchpilot.GatePass},
		// A breach whose error rate is above 0.10 is critical; the rate
		// alone, without a breach, is not.
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 0.05}, 0.01, 0.11, patchpilot.GateCritical},
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 0.05}, 0.04, 0.10, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 0.05}, 0.12, 0.13, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 2, Unit: "x"}, 0.1, 0.19, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 2, Unit: "x"}, 0.1, 0.3, patchpilot.GateBreach},
		{patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 2, Unit: "x"}, 0, 0.3, patchpilot.GateError},
		{patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 500, Unit: "ms"}, 0.1, 0.4, patchpilot.GatePass},
		{patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 500, Unit: "ms"}, 0.1, 0.6, patchpilot.GateBreach},
	}
	for _, tt := range tests {
		r := judgeMetric(tt.crit, s(tt.base), s(tt.cur))
		if r.outcome != tt.want {
			t.Errorf("%s base %g cur %g: got %s (%s), want %s", tt.crit, tt.base, tt.cur, r.outcome, r.reason, tt.want)
		}
		if r.outcome != patchpilot.GateError && (r.value == nil || r.baseline == nil || r.threshold == nil) {
			t.Errorf("%s: value, baseline and threshold must be set", tt.crit)
		}
	}
}

package planner

import (
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestLimits checks the arithmetic the orchestrator relies on: when a
// stage's failures exceed max_failures, and how many hosts a budget allows.
func TestLimits(t *testing.T) {
	tests := []struct {
		limit           string
		failures, total int
		exceeded        bool
		allowed, budget int
	}{
		{"0", 0, 10, false, 0, 1},
		{"0", 1, 10, true, 0, 1},
		{"1", 1, 10, false, 1, 1},
		{"1", 2, 10, true, 1, 1},
		{"10%", 2, 20, false, 2, 2}, // reaching the limit is allowed
		{"10%", 3, 20, true, 2, 2},
		{"10%", 1, 5, true, 0, 1}, // 10% of 5 is 0.5 host: one failure exceeds it; a budget still allows one
		{"0%", 1, 100, true, 0, 1},
		{"100%", 10, 10, false, 10, 10},
		{"30%", 3, 10, false, 3, 3}, // 30% of 10 is 3, despite floating point
	}
	for _, tt := range tests {
		l, err := ParseLimit(tt.limit, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Exceeded(tt.failures, tt.total); got != tt.exceeded {
			t.Errorf("%s: Exceeded(%d, %d) = %v, want %v", tt.limit, tt.failures, tt.total, got, tt.exceeded)
		}
		if got := l.Allowed(tt.total); got != tt.allowed {
			t.Errorf("%s: Allowed(%d) = %d, want %d", tt.limit, tt.total, got, tt.allowed)
		}
		b := patchpilot.DisruptionBudget{Group: "role", MaxUnavailable: l}
		if got := b.Allowed(tt.total); got != tt.budget {
			t.Errorf("%s: budget Allowed(%d) = %d, want %d", tt.limit, tt.total, got, tt.budget)
		}
	}
}

func TestTargetCountOf(t *testing.T) {
	tests := []struct {
		size  string
		total int
		want  int
	}{
		{"5", 100, 5}, {"20%", 10, 2}, {"20%", 8, 2}, {"15%", 20, 3}, {"1%", 3, 1}, {"rest", 7, 7}, {"70%", 10, 7},
	}
	for _, tt := range tests {
		tc, err := ParseTargetCount(tt.size)
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.Of(tt.total); got != tt.want {
			t.Errorf("%s of %d = %d, want %d", tt.size, tt.total, got, tt.want)
		}
		if tc.String() != tt.size {
			t.Errorf("String() = %q, want %q", tc.String(), tt.size)
		}
	}
}

func TestParseRiskLevel(t *testing.T) {
	for in, want := range map[string]patchpilot.RiskLevel{"low": patchpilot.RiskLow, " Medium": patchpilot.RiskMedium, "HIGH": patchpilot.RiskHigh} {
		got, err := patchpilot.ParseRiskLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseRiskLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := patchpilot.ParseRiskLevel("severe"); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("ParseRiskLevel(severe) error = %v, want invalid", err)
	}
	if patchpilot.RiskLevel("bogus").Rank() != patchpilot.RiskHigh.Rank() {
		t.Error("an unknown level must rank as high")
	}
}

func TestParseCriterion(t *testing.T) {
	tests := []struct {
		in   string
		want patchpilot.Criterion
	}{
		{"boot_time<120s", patchpilot.Criterion{Name: "boot_time", Op: "<", Value: 120, Unit: "s"}},
		{"cpu_increase<=15%", patchpilot.Criterion{Name: "cpu_increase", Op: "<=", Value: 15, Unit: "%"}},
		{"error_rate_increase<0.05", patchpilot.Criterion{Name: "error_rate_increase", Op: "<", Value: 0.05}},
		{"latency_p99<2x", patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 2, Unit: "x"}},
		{"latency_p99<250ms", patchpilot.Criterion{Name: "latency_p99", Op: "<", Value: 250, Unit: "ms"}},
		{"memory<90%", patchpilot.Criterion{Name: "memory", Op: "<", Value: 90, Unit: "%"}},
		{"http_ok", patchpilot.Criterion{Name: "http_ok"}},
	}
	for _, tt := range tests {
		got, err := ParseCriterion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCriterion(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	for _, bad := range []string{"memory<120%", "cpu_increase>15%", "cpu_increase<-1%", "boot_time<NaNs", "latency_p99<2", "cpu_increase<15", "boot_time<", ""} {
		if _, err := ParseCriterion(bad); err == nil {
			t.Errorf("ParseCriterion(%q) succeeded", bad)
		}
	}
}

package risk_test

import (
	"math"
	"testing"

	"github.com/patchpilot/patchpilot/internal/risk"
)

func TestBetaQuantile(t *testing.T) {
	tests := []struct {
		b    risk.Beta
		q    float64
		want float64
	}{
		{risk.Beta{Alpha: 1, Beta: 1}, 0.9, 0.9},                      // uniform
		{risk.Beta{Alpha: 1, Beta: 9}, 0.5, 1 - math.Pow(0.5, 1.0/9)}, // closed form for alpha 1
		{risk.Beta{Alpha: 2, Beta: 2}, 0.5, 0.5},                      // symmetric
		{risk.Beta{Alpha: 0.12, Beta: 3.88}, 0.9, 0.0},                // checked below by CDF
	}
	for _, tt := range tests {
		got := tt.b.Quantile(tt.q)
		if tt.want == 0 {
			if c := tt.b.CDF(got); math.Abs(c-tt.q) > 1e-6 {
				t.Errorf("CDF(Quantile(%v)) = %v", tt.q, c)
			}
			continue
		}
		if math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("%+v quantile %v = %v, want %v", tt.b, tt.q, got, tt.want)
		}
	}
}

func TestNextWave(t *testing.T) {
	prior := risk.BetaFromProbability(0.03, risk.DefaultPriorStrength)
	tests := []struct {
		name                       string
		failures, hosts, remaining int
		budget                     int
		wantSize                   int // -1: any size > 1
		want                       risk.Decision
	}{
		{"first wave is one host", 0, 0, 100, 5, 1, risk.DecisionContinue},
		{"failure on the first host halts", 1, 1, 99, 5, 0, risk.DecisionHalt},
		{"good evidence escalates", 0, 9, 91, 5, -1, risk.DecisionContinue},
		{"one failure in twenty continues", 1, 20, 80, 5, -1, risk.DecisionContinue},
		{"three failures in ten halt", 3, 10, 90, 5, 0, risk.DecisionHalt},
		{"budget used up halts", 5, 60, 40, 5, 0, risk.DecisionHalt},
		{"nothing left is done", 0, 100, 0, 5, 0, risk.DecisionContinue},
	}
	for _, tt := range tests {
		size, d := risk.NextWave(prior, tt.failures, tt.hosts, tt.remaining, tt.budget)
		if d != tt.want || (tt.wantSize >= 0 && size != tt.wantSize) || (tt.wantSize < 0 && size <= 1) {
			t.Errorf("%s: NextWave = %d, %s; want %d, %s", tt.name, size, d, tt.wantSize, tt.want)
		}
	}
	// Better evidence never shrinks the next wave.
	prev := 0
	for n := 1; n <= 60; n++ {
		size, d := risk.NextWave(prior, 0, n, 1000, 50)
		if d != risk.DecisionContinue || size < prev {
			t.Fatalf("after %d clean hosts: %d, %s (previous %d)", n, size, d, prev)
		}
		prev = size
	}
	// The wave keeps the expected broken hosts within the budget left.
	post := prior.Update(1, 40)
	size, _ := risk.NextWave(prior, 1, 40, 1000, 5)
	if exp := float64(size) * post.Mean(); exp > 4 {
		t.Errorf("wave of %d expects %.2f broken hosts, over the 4 left", size, exp)
	}
}

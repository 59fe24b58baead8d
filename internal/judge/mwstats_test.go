package judge

import (
	"math"
	"testing"
)

func TestMannWhitneyKnownValues(t *testing.T) {
	tests := []struct {
		name       string
		x, y       []float64
		conf       float64
		wantU      float64
		wantP      float64 // R: wilcox.test(x, y, exact = FALSE)$p.value
		wantLo     float64
		wantHi     float64
		wantEst    float64
		checkShift bool
	}{
		{
			// Kayenta's MannWhitneySuite: experiment 10..40 against control
			// 1..4 at 95% gives the interval [6, 39] and estimate 22.5.
			name: "kayenta suite", x: []float64{10, 20, 30, 40}, y: []float64{1, 2, 3, 4}, conf: 0.95,
			wantU: 16, wantP: 0.03038, wantLo: 6, wantHi: 39, wantEst: 22.5, checkShift: true,
		},
		{
			// Complete separation the other way: U = 0, z = (8-0.5)/sqrt(12).
			name: "separated", x: []float64{1, 2, 3, 4}, y: []float64{10, 20, 30, 40}, conf: 0.95,
			wantU: 0, wantP: 0.03038,
		},
		{
			// Ties: U = 0 + 2*0.5 + (1+0.5) = 2.5; sigma with the tie
			// correction (a triple and a pair of ties) sqrt(16/12 * (9 - 30/56)).
			name: "ties", x: []float64{1, 2, 2, 3}, y: []float64{2, 3, 4, 5}, conf: 0.95,
			wantU: 2.5, wantP: 2 * normalSF((8-2.5-0.5)/math.Sqrt(16.0/12*(9-30.0/56))),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MannWhitneyTest(tt.x, tt.y, tt.conf)
			if got.U != tt.wantU {
				t.Errorf("U = %v, want %v", got.U, tt.wantU)
			}
			if math.Abs(got.PValue-tt.wantP) > 5e-5 {
				t.Errorf("p = %.6f, want %.6f", got.PValue, tt.wantP)
			}
			if !tt.checkShift {
				return
			}
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"lower", got.Lower, tt.wantLo}, {"upper", got.Upper, tt.wantHi}, {"estimate", got.Estimate, tt.wantEst}} {
				if math.Abs(c.got-c.want) > 1e-6 {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestMannWhitneyShiftRecovered(t *testing.T) {
	// Two samples differing by a known shift: the Hodges-Lehmann estimate
	// is the shift and the interval contains it.
	var x, y []float64
	for i := range 50 {
		v := math.Sin(float64(i)*1.7) * 10
		y = append(y, v)
		x = append(x, v+3)
	}
	got := MannWhitneyTest(x, y, 0.98)
	if math.Abs(got.Estimate-3) > 0.5 || got.Lower > 3 || got.Upper < 3 {
		t.Errorf("estimate %v [%v, %v], want about 3 inside the interval", got.Estimate, got.Lower, got.Upper)
	}
}

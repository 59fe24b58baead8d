package judge

import (
	"math"
	"slices"
)

// MWTest is a two-sample Mann-Whitney (Wilcoxon rank-sum) test of x against
// y with the Hodges-Lehmann estimate of the location shift x-y and its
// confidence interval, computed as R's wilcox.test(x, y, conf.int = TRUE,
// exact = FALSE) and Kayenta's MannWhitney do: normal approximation with
// tie and continuity corrections, the interval found by solving for the
// shifts at which the standardised statistic equals the normal quantiles.
type MWTest struct {
	U        float64 `json:"u"` // pairs (i, j) with x_i > y_j, ties counted one half
	Z        float64 `json:"z"`
	PValue   float64 `json:"p_value"` // two-sided
	Estimate float64 `json:"estimate"`
	Lower    float64 `json:"lower"`
	Upper    float64 `json:"upper"`
}

// MannWhitneyTest runs the test at the given confidence level. x and y need
// at least one value each and must not all be equal.
func MannWhitneyTest(x, y []float64, confidence float64) MWTest {
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	n, m := float64(len(xs)), float64(len(ys))
	u, sigma := shiftedU(xs, ys, 0)
	dz := u - n*m/2
	z := (dz - 0.5*sign(dz)) / sigma
	t := MWTest{U: u, Z: z, PValue: math.Min(1, 2*normalSF(math.Abs(z)))}
	if sigma == 0 || math.IsNaN(sigma) {
		t.Z, t.PValue = 0, 1
	}
	zq := normalQuantile(1 - (1-confidence)/2)
	lo, hi := xs[0]-ys[len(ys)-1], xs[len(xs)-1]-ys[0]
	t.Lower = shiftRoot(xs, ys, lo, hi, zq)
	t.Upper = shiftRoot(xs, ys, lo, hi, -zq)
	t.Estimate = shiftRoot(xs, ys, lo, hi, 0)
	return t
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// wilcoxonDiff is the standardised statistic for the shift d minus q; it
// does not increase with d.
func wilcoxonDiff(xs, ys []float64, d, q float64) float64 {
	n, m := float64(len(xs)), float64(len(ys))
	u, sigma := shiftedU(xs, ys, d)
	dz := u - n*m/2
	if sigma == 0 {
		return math.Copysign(math.Inf(1), dz) - q
	}
	return (dz-0.5*sign(dz))/sigma - q
}

// shiftRoot finds the shift at which wilcoxonDiff crosses zero by
// bisection on [lo, hi], returning an end when it does not cross there (as
// Kayenta does) and the first point that hits zero exactly.
func shiftRoot(xs, ys []float64, lo, hi, q float64) float64 {
	if wilcoxonDiff(xs, ys, lo, q) <= 0 {
		return lo
	}
	if wilcoxonDiff(xs, ys, hi, q) >= 0 {
		return hi
	}
	tol := 1e-9 * math.Max(1, math.Max(math.Abs(lo), math.Abs(hi)))
	for range 200 {
		mid := lo + (hi-lo)/2
		f := wilcoxonDiff(xs, ys, mid, q)
		if f == 0 {
			return mid
		}
		if f > 0 {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= tol {
			break
		}
	}
	return lo + (hi-lo)/2
}

// shiftedU returns the Mann-Whitney U of x-d against y and the standard
// deviation of U under the null with the tie correction, in one merge of the
// two sorted samples.
func shiftedU(xs, ys []float64, d float64) (u, sigma float64) {
	n, m := len(xs), len(ys)
	var ties float64
	i, j := 0, 0
	for i < n || j < m {
		// The next value of the merged order and how many of each sample
		// share it.
		var v float64
		switch {
		case j >= m || (i < n && xs[i]-d <= ys[j]):
			v = xs[i] - d
		default:
			v = ys[j]
		}
		var cx, cy int
		for i < n && xs[i]-d == v {
			i++
			cx++
		}
		for j < m && ys[j] == v {
			j++
			cy++
		}
		// Each x in this group beats the j-cy smaller ys and ties with cy.
		u += float64(cx) * (float64(j-cy) + 0.5*float64(cy))
		t := float64(cx + cy)
		ties += t*t*t - t
	}
	fn, fm := float64(n), float64(m)
	sigma = math.Sqrt(fn * fm / 12 * ((fn + fm + 1) - ties/((fn+fm)*(fn+fm-1))))
	return u, sigma
}

package judge

import (
	"math"
	"slices"
)

// normalQuantile returns the p-quantile of the standard normal distribution.
func normalQuantile(p float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// normalSF returns P(Z > z) for a standard normal Z.
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// mixtureRadius is the two-sided normal-mixture boundary of Robbins (1970),
// in the form of Howard et al. (2021, eq. 14): for a process S whose
// increments are Gaussian with cumulative variance V (a Brownian motion in
// "information time"), the mixture martingale
//
//	M = sqrt(rho/(V+rho)) * exp(S^2 / (2(V+rho)))
//
// crosses 1/alpha with probability at most alpha over all times (Ville's
// inequality). So |S| stays below the returned radius at every look at once,
// with probability at least 1-alpha. Divided by V it bounds a mean.
func mixtureRadius(v, rho, alpha float64) float64 {
	return math.Sqrt((v + rho) * (math.Log((v+rho)/rho) - 2*math.Log(alpha)))
}

// bestRhoRatio returns the r that minimises the width of the normal-mixture
// boundary at information I when rho = r*I. The boundary is then tightest
// around the look the judge is tuned for, and only slowly wider elsewhere.
func bestRhoRatio(alpha float64) float64 {
	best, bestW := 1.0, math.Inf(1)
	for r := 0.005; r <= 2; r *= 1.02 {
		w := (1 + r) * (math.Log(1+1/r) - 2*math.Log(alpha))
		if w < bestW {
			best, bestW = r, w
		}
	}
	return best
}

// median returns the median of xs without changing it.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mad returns the median absolute deviation scaled by 1.4826, a robust
// estimate of the standard deviation that ignores outliers.
func mad(xs []float64) float64 {
	m := median(xs)
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return 1.4826 * median(d)
}

// hampel replaces each value that lies more than k*scale from the median
// of its centred window (itself and hampelHalf values on each side) by that
// median, and returns how many it replaced. The last hampelHalf values have
// no right half yet and are left alone: at the edge a spike and the start
// of a lasting shift look the same, and replacing the latter would hide a
// real regression (and bias the interval) until the window has filled. A
// one-scrape spike is removed as soon as the next scrapes arrive.
func hampel(xs []float64, k, scale float64) int {
	if scale <= 0 || k <= 0 {
		return 0
	}
	raw := slices.Clone(xs)
	win := make([]float64, 0, 2*hampelHalf+1)
	n := 0
	for i := 0; i+hampelHalf < len(raw); i++ {
		lo := max(0, i-hampelHalf)
		win = append(win[:0], raw[lo:i+hampelHalf+1]...)
		slices.Sort(win)
		var med float64
		if l := len(win); l%2 == 1 {
			med = win[l/2]
		} else {
			med = (win[l/2-1] + win[l/2]) / 2
		}
		if math.Abs(raw[i]-med) > k*scale {
			xs[i] = med
			n++
		}
	}
	return n
}

// meanVar returns the mean and the sample variance of xs.
func meanVar(xs []float64) (mean, variance float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// pooledPhi estimates the lag-1 autocorrelation shared by several series,
// each centred on its own mean, and removes the estimator's O(1/n) downward
// bias (Marriott and Pope 1954: E[phi^] ~ phi - (1+3 phi)/n). Negative
// values are clamped to 0, which only widens intervals, and values near 1
// are capped so that the long-run variance stays finite.
func pooledPhi(series [][]float64) float64 {
	var num, den float64
	var n, k int
	for _, xs := range series {
		if len(xs) < 3 {
			continue
		}
		m, _ := meanVar(xs)
		for i := range xs {
			den += (xs[i] - m) * (xs[i] - m)
			if i > 0 {
				num += (xs[i] - m) * (xs[i-1] - m)
			}
		}
		n += len(xs)
		k++
	}
	if den == 0 || k == 0 {
		return 0
	}
	phi := num / den
	avg := float64(n) / float64(k)
	phi += (1 + 3*phi) / avg
	return min(max(phi, 0), maxPhi)
}

// holdNewest marks the newest values of xs (those after the first nb, the
// baseline, and among the last hampelHalf, which the Hampel filter cannot
// judge yet) that lie more than k*scale from the median of the
// 2*hampelHalf+1 values before them. Such a value is held out of the look:
// if it was a spike, the filter replaces it once the next scrapes arrive;
// if it starts a lasting shift, the next scrapes confirm it and it counts
// from then on, a delay of at most hampelHalf scrapes.
func holdNewest(xs []float64, nb int, k, scale float64) []bool {
	if scale <= 0 || k <= 0 {
		return nil
	}
	first := max(nb, len(xs)-hampelHalf)
	ref := first - (2*hampelHalf + 1)
	if ref < 0 || first >= len(xs) {
		return nil
	}
	med := median(xs[ref:first])
	var held []bool
	for i := first; i < len(xs); i++ {
		if math.Abs(xs[i]-med) > k*scale {
			if held == nil {
				held = make([]bool, len(xs))
			}
			held[i] = true
		}
	}
	return held
}

// linearBoundary is a two-sided boundary |W(K)| <= a + b K for a Brownian
// motion W on the bounded information interval [0, T]: the level's
// statistic K (estimate - change) lives there, since its information K =
// 1/(vCur + vBase) never reaches T = 1/vBase. The chance that a Brownian
// motion crosses the line a + b K on [0, T] is exactly (Siegmund 1986,
// eq. 3.15; a reflection argument)
//
//	1 - Phi((a + bT)/sqrt(T)) + exp(-2ab) Phi((bT - a)/sqrt(T))
//
// and the two sides add. In units of T (a = A sqrt(T), b = B/sqrt(T)) it
// depends on A and B alone; the table holds, for each B of a grid, the A
// that makes each side's chance alpha/2.
type linearBoundary struct {
	bs, as []float64
}

// newLinearBoundary tabulates the boundary for a two-sided level alpha.
func newLinearBoundary(alpha float64) linearBoundary {
	side := alpha / 2
	cross := func(a, b float64) float64 {
		return normalSF(a+b) + math.Exp(-2*a*b)*(1-normalSF(b-a))
	}
	var lb linearBoundary
	for b := 0.0; b <= 6; b += 0.02 {
		lo, hi := 0.0, 20.0
		for range 60 {
			mid := (lo + hi) / 2
			if cross(mid, b) > side {
				lo = mid
			} else {
				hi = mid
			}
		}
		lb.bs = append(lb.bs, b)
		lb.as = append(lb.as, hi)
	}
	return lb
}

// tuned returns the line (a, b), in the scale of K, that is narrowest at
// information kTune on [0, T]: it minimises (a + b kTune)/kTune over the
// table. kTune and T must be fixed before the bake (they come from the
// baseline), so that the same line serves every look.
func (lb linearBoundary) tuned(kTune, T float64) (a, b float64) {
	u := min(max(kTune/T, 1e-9), 1)
	best := math.Inf(1)
	var bestA, bestB float64
	for i, B := range lb.bs {
		w := lb.as[i]/math.Sqrt(u) + B*math.Sqrt(u)
		if w < best {
			best, bestA, bestB = w, lb.as[i], B
		}
	}
	return bestA * math.Sqrt(T), bestB / math.Sqrt(T)
}

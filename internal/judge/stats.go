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

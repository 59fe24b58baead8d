package judge

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMixtureCoverageIID checks the confidence sequence on i.i.d. data: over
// 2000 simulated streams of 400 observations each, checked after every
// observation, the share of streams whose interval ever misses the true mean
// stays below alpha.
func TestMixtureCoverageIID(t *testing.T) {
	const (
		runs  = 2000
		n     = 400
		alpha = 0.05
		mu    = 1.5
		sd    = 2.0
	)
	rng := rand.New(rand.NewPCG(7, 11))
	rho := bestRhoRatio(alpha) * 100 / (sd * sd) // tightest near 100 observations
	misses := 0
	fixedMisses := 0
	for range runs {
		var sum float64
		missed, fixedMissed := false, false
		for i := 1; i <= n; i++ {
			sum += mu + sd*rng.NormFloat64()
			mean := sum / float64(i)
			info := float64(i) / (sd * sd)
			if math.Abs(mean-mu) > mixtureRadius(info, rho, alpha)/info {
				missed = true
			}
			if math.Abs(mean-mu) > 1.959964/math.Sqrt(info) {
				fixedMissed = true
			}
		}
		if missed {
			misses++
		}
		if fixedMissed {
			fixedMisses++
		}
	}
	rate := float64(misses) / runs
	if rate > alpha {
		t.Errorf("confidence sequence missed the mean in %.3f of runs, want <= %.2f", rate, alpha)
	}
	// The same looks with a fixed-sample 95% interval miss far more often:
	// this is the inflation the confidence sequence prevents.
	if fixed := float64(fixedMisses) / runs; fixed < 3*alpha {
		t.Errorf("fixed-sample interval missed in %.3f of runs; expected the repeated looks to inflate it", fixed)
	}
}

func TestPooledPhi(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var series [][]float64
	for range 10 {
		xs := make([]float64, 120)
		x := rng.NormFloat64()
		for i := range xs {
			x = 0.8*x + 0.6*rng.NormFloat64()
			xs[i] = x
		}
		series = append(series, xs)
	}
	if got := pooledPhi(series); math.Abs(got-0.8) > 0.06 {
		t.Errorf("pooledPhi = %.3f, want about 0.8", got)
	}
}

func TestHampel(t *testing.T) {
	xs := []float64{1, 1.01, 0.99, 1, 5, 1.02, 0.98, 1, 3, 3}
	n := hampel(xs, 5, 0.02)
	if n != 1 || xs[4] != 1 {
		t.Errorf("replaced %d, xs[4] = %v; want the single spike replaced by 1", n, xs[4])
	}
	if xs[8] != 3 || xs[9] != 3 {
		t.Errorf("the newest values %v were changed; a shift at the edge must pass", xs[8:])
	}
}

func TestMatchWeights(t *testing.T) {
	ss := []Series{
		{Host: "p1", Group: Patched, Stratum: "web"},
		{Host: "p2", Group: Patched, Stratum: "db"},
		{Host: "c1", Group: Control, Stratum: "web"},
		{Host: "c2", Group: Control, Stratum: "web"},
		{Host: "c3", Group: Control, Stratum: "cache"},
	}
	got := matchWeights(ss)
	// p2 has no db control, so its half spreads over all three controls.
	want := []float64{0.5, 0.5, -0.25 - 0.5/3, -0.25 - 0.5/3, -0.5 / 3}
	var sum float64
	for i := range want {
		sum += got[i]
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("weight of %s = %v, want %v", ss[i].Host, got[i], want[i])
		}
	}
	if math.Abs(sum) > 1e-12 {
		t.Errorf("weights sum to %v, want 0", sum)
	}
}

// TestLinearBoundaryCoverage checks the level's confidence sequence on
// i.i.d. data with a fixed baseline: the estimate current mean - baseline
// mean, checked after every one of 400 current observations, leaves its
// interval in at most alpha of 4000 runs, and in not much less (the line
// is tuned, not loose).
func TestLinearBoundaryCoverage(t *testing.T) {
	const (
		runs  = 4000
		nb    = 40
		n     = 400
		alpha = 0.05
		sd    = 1.0
	)
	lb := newLinearBoundary(alpha)
	vB := sd * sd / nb
	a, b := lb.tuned(1/(sd*sd/120+vB), 1/vB)
	rng := rand.New(rand.NewPCG(11, 13))
	misses := 0
	for range runs {
		var base float64
		for range nb {
			base += sd * rng.NormFloat64()
		}
		base /= nb
		var sum float64
		for i := 1; i <= n; i++ {
			sum += sd * rng.NormFloat64()
			k := 1 / (sd*sd/float64(i) + vB)
			if math.Abs(sum/float64(i)-base) > (a+b*k)/k {
				misses++
				break
			}
		}
	}
	rate := float64(misses) / runs
	if rate > alpha || rate < alpha/2 {
		t.Errorf("interval missed the change in %.4f of runs, want at most %.2f and more than %.3f", rate, alpha, alpha/2)
	}
	t.Logf("missed in %.4f of runs (alpha %.2f)", rate, alpha)
}

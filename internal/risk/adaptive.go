package risk

import "math"

// Beta is a Beta distribution over a failure rate.
type Beta struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
}

// DefaultPriorStrength is the effective number of hosts the model's
// probability is worth as a prior for a rollout: little, so that a few
// hosts of the patch's own evidence outweigh the model, as they should.
const DefaultPriorStrength = 4

// BetaFromProbability is the prior of a rollout: mean p (the model's
// probability for the patch) and strength pseudo-hosts.
func BetaFromProbability(p, strength float64) Beta {
	p = clampProb(p)
	if strength <= 0 {
		strength = DefaultPriorStrength
	}
	return Beta{Alpha: p * strength, Beta: (1 - p) * strength}
}

// Update returns the posterior after failures out of hosts.
func (b Beta) Update(failures, hosts int) Beta {
	return Beta{Alpha: b.Alpha + float64(failures), Beta: b.Beta + float64(hosts-failures)}
}

// Mean is the expected failure rate.
func (b Beta) Mean() float64 { return b.Alpha / (b.Alpha + b.Beta) }

// CDF is P(rate <= x), the regularised incomplete beta function.
func (b Beta) CDF(x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	a, c := b.Alpha, b.Beta
	lbeta, _ := math.Lgamma(a + c)
	la, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(c)
	front := math.Exp(lbeta - la - lc + a*math.Log(x) + c*math.Log1p(-x))
	// The continued fraction converges fast for x below the mean; use the
	// symmetry I_x(a,b) = 1 - I_{1-x}(b,a) above it.
	if x < (a+1)/(a+c+2) {
		return front * betaContinuedFraction(a, c, x) / a
	}
	return 1 - front*betaContinuedFraction(c, a, 1-x)/c
}

// betaContinuedFraction evaluates the continued fraction of the incomplete
// beta function by the modified Lentz method.
func betaContinuedFraction(a, b, x float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 300; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-12 {
			break
		}
	}
	return h
}

// Quantile is the rate below which the distribution puts probability q.
func (b Beta) Quantile(q float64) float64 {
	lo, hi := 0.0, 1.0
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if b.CDF(mid) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// Decision is what the adaptive planner does after a wave.
type Decision string

// Decisions.
const (
	DecisionContinue Decision = "continue"
	DecisionHalt     Decision = "halt"
)

// AdaptivePolicy holds the knobs of NextWaveWith.
type AdaptivePolicy struct {
	// Credible is the level of the upper credible bound of the failure
	// rate that sizes waves.
	Credible float64
	// HaltConfidence is the posterior probability of overrunning the
	// budget from which the rollout halts: the chance that the failure
	// rate is above what the remaining hosts can afford.
	HaltConfidence float64
	// Growth caps a wave at this multiple of the hosts already patched,
	// so that even good evidence escalates in steps.
	Growth float64
}

// Adaptive defaults. With a 5% budget, a model probability of 3% and the
// default prior strength, a failure on the first host halts; one failure
// among the first twenty does not.
const (
	DefaultCredible       = 0.9
	DefaultHaltConfidence = 0.5
	DefaultGrowth         = 8
)

// DefaultAdaptivePolicy returns the defaults.
func DefaultAdaptivePolicy() AdaptivePolicy {
	return AdaptivePolicy{Credible: DefaultCredible, HaltConfidence: DefaultHaltConfidence, Growth: DefaultGrowth}
}

// NextWave sizes the next wave of a rollout with the default policy; see
// NextWaveWith.
func NextWave(prior Beta, observedFailures, observedHosts, remaining, budget int) (int, Decision) {
	return NextWaveWith(prior, observedFailures, observedHosts, remaining, budget, DefaultAdaptivePolicy())
}

// NextWaveWith sizes the next wave from the posterior failure rate of the
// patch in this fleet. budget is the number of broken hosts the whole
// rollout may cost (the plan's failure budget). The rollout halts when the
// failures have used the budget up, or when the posterior probability that
// finishing would overrun it (that the rate exceeds what is left of the
// budget over the remaining hosts) reaches the policy's HaltConfidence.
// Otherwise the wave is the largest for which the
// broken hosts it may add, at the upper credible bound of the rate, fit in
// what is left of the budget (so the expected number fits with room to
// spare); the first wave is a single host, and later waves grow at most
// Growth-fold over the hosts patched so far. With no hosts remaining it
// returns 0 and continue: the rollout is complete.
func NextWaveWith(prior Beta, observedFailures, observedHosts, remaining, budget int, pol AdaptivePolicy) (int, Decision) {
	if remaining <= 0 {
		return 0, DecisionContinue
	}
	post := prior.Update(observedFailures, observedHosts)
	left := float64(budget - observedFailures)
	if left <= 0 || 1-post.CDF(left/float64(remaining)) >= pol.HaltConfidence {
		return 0, DecisionHalt
	}
	size := remaining
	if upper := post.Quantile(pol.Credible); upper > 0 {
		size = min(size, int(math.Floor(left/upper)))
	}
	if observedHosts == 0 {
		size = 1
	} else {
		size = min(size, int(math.Floor(pol.Growth*float64(observedHosts))))
	}
	return max(min(size, remaining), 1), DecisionContinue
}

// WaveParallel is how many hosts of an adaptive wave may be changed at once:
// no more than have already been patched (at least one), and no more than
// the plan's cap, so that a wave's hosts in flight never outnumber the
// evidence behind it and a bad patch is caught after a small batch.
func WaveParallel(observedHosts, limit int) int {
	return max(min(observedHosts, limit), 1)
}

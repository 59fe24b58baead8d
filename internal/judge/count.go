package judge

import (
	"fmt"
	"math"
)

// countGrid is the number of points of the numerical integration over the
// mixing distribution of the count test.
const countGrid = 4000

// count judges an event-count metric by comparing the event rates of the
// patched and control hosts over the same window.
//
// Conditioned on the total number of events n, each event falls on a
// patched host with probability p = E_P*r / (E_P*r + E_C), where r is the
// ratio of the rates and E the exposures (samples, i.e. host-scrapes). The
// null "r <= 1+margin" is p <= p0. The likelihood ratio of a uniform
// mixture over p in [p0, 1] against p0 is a nonnegative supermartingale
// under every p <= p0, event by event, so by Ville's inequality it exceeds
// 2/alpha with probability at most alpha/2 however often it is checked. It
// depends only on the totals, so the order of events within a scrape does
// not matter. The mirror test (mixture over [0, p0]) gives the evidence for
// Pass.
func (j *Judge) count(m Metric, ss []Series, in Input) Verdict {
	var xP, xC, eP, eC float64
	for _, s := range ss {
		var x float64
		for _, p := range s.Current {
			x += p.Value
		}
		if s.Group == Patched {
			xP += x
			eP += float64(len(s.Current))
		} else {
			xC += x
			eC += float64(len(s.Current))
		}
	}
	r0 := 1 + m.Margin
	if m.Direction == LowerIsWorse {
		r0 = 1 - m.Margin
	}
	p0 := eP * r0 / (eP*r0 + eC)
	worse, better := mixtureEValues(xP, xP+xC, p0)
	if m.Direction == LowerIsWorse {
		worse, better = better, worse
	}
	est := (xP / eP) / (xC / eC)
	if xP == 0 && xC == 0 {
		est = 1
	}
	threshold := 2 / j.opts.Alpha
	minN := math.MaxInt
	looks := 0
	for _, s := range ss {
		minN = min(minN, len(s.Current))
		looks = max(looks, len(s.Current))
	}
	v := Verdict{
		Metric: m.Name, Estimate: Number(est - 1),
		Lower: Number(math.NaN()), Upper: Number(math.NaN()),
		Margin: signedMargin(m), Unit: m.Unit,
		Statistic: Number(math.Log(worse)), Looks: looks,
		Evidence: Evidence{
			Method:        fmt.Sprintf("conditional binomial test of Poisson rates, uniform-mixture e-process (alpha %.3g)", j.opts.Alpha),
			PatchedEvents: xP, ControlEvents: xC, PatchedExposure: eP, ControlExposure: eC,
			EValueWorse: Number(worse), EValueBetter: Number(better),
		},
	}
	summary := fmt.Sprintf("%g events on patched hosts in %g samples, %g on control hosts in %g", xP, eP, xC, eC)
	switch {
	case worse >= threshold:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("event rate beyond the margin (e-value %.3g >= %.3g): %s", worse, threshold, summary)
	case better >= threshold && minN >= j.opts.MinLooks:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("event rate within the margin (e-value %.3g >= %.3g): %s", better, threshold, summary)
	case in.Final:
		// A rate test cannot prove that a rare event stays rare; at the
		// bake limit, the absence of evidence of harm is what there is.
		v.Outcome = Pass
		v.Reason = "no evidence of a higher event rate by the bake limit: " + summary
	default:
		v.Outcome = Inconclusive
		v.Reason = "not enough events to decide yet: " + summary
	}
	return v
}

// mixtureEValues returns the e-values against p <= p0 (mixture over
// [p0, 1]) and against p >= p0 (mixture over [0, p0]) after x successes in
// n Bernoulli trials.
func mixtureEValues(x, n, p0 float64) (above, below float64) {
	if n == 0 || p0 <= 0 || p0 >= 1 {
		return 1, 1
	}
	logNull := x*math.Log(p0) + (n-x)*math.Log1p(-p0)
	above = math.Exp(logIntegral(x, n, p0, 1)-logNull) / (1 - p0)
	below = math.Exp(logIntegral(x, n, 0, p0)-logNull) / p0
	return above, below
}

// logIntegral returns log of the integral of q^x (1-q)^(n-x) over [a, b]
// by the midpoint rule, summed in log space so that large n cannot
// underflow.
func logIntegral(x, n, a, b float64) float64 {
	h := (b - a) / countGrid
	logs := make([]float64, countGrid)
	top := math.Inf(-1)
	for i := range logs {
		q := a + (float64(i)+0.5)*h
		l := x*math.Log(q) + (n-x)*math.Log1p(-q)
		logs[i] = l
		top = max(top, l)
	}
	var sum float64
	for _, l := range logs {
		sum += math.Exp(l - top)
	}
	return top + math.Log(sum*h)
}

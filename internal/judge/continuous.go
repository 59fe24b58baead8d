package judge

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// hostData is one host's transformed, filtered samples.
type hostData struct {
	s        Series
	base     []float64
	cur      []float64
	replaced int
}

// continuous judges a continuous metric by a difference-in-differences of
// per-host means with an always-valid interval (see the package comment).
func (j *Judge) continuous(m Metric, ss []Series) Verdict {
	tr := func(x float64) float64 { return x }
	if m.Unit == Relative {
		tr = math.Log
	}
	hosts := make([]hostData, len(ss))
	baselines := make([][]float64, len(ss))
	for i, s := range ss {
		h := hostData{s: s}
		all := make([]float64, 0, len(s.Baseline)+len(s.Current))
		for _, p := range s.Baseline {
			all = append(all, tr(p.Value))
		}
		for _, p := range s.Current {
			all = append(all, tr(p.Value))
		}
		nb := len(s.Baseline)
		if j.opts.HampelK > 0 {
			h.replaced = hampel(all, j.opts.HampelK, mad(all[:nb]))
		}
		h.base, h.cur = all[:nb], all[nb:]
		hosts[i] = h
		baselines[i] = h.base
	}
	phi := pooledPhi(baselines)
	inflation := (1 + phi) / (1 - phi)
	weights := matchWeights(ss)
	step := scrapeInterval(ss)
	nTune := max(1, float64(j.opts.TuneAfter)/float64(step))

	var delta, vCur, vBase, vTune float64
	minN := math.MaxInt
	looks := 0
	sums := make([]HostSummary, len(hosts))
	for i, h := range hosts {
		bm, bv := meanVar(h.base)
		cm, cv := meanVar(h.cur)
		// The patch may change a metric's noise as well as its level, so
		// once the current window is long enough its own variance is used
		// when it is the larger.
		v := bv
		if len(h.cur) >= minOwnVariance {
			v = max(v, cv)
		}
		lrv := max(v, minVariance) * inflation
		w := weights[i]
		delta += w * (cm - bm)
		vCur += w * w * lrv / float64(len(h.cur))
		vBase += w * w * lrv / float64(len(h.base))
		vTune += w * w * lrv / nTune
		minN = min(minN, len(h.cur))
		looks = max(looks, len(h.cur))
		sums[i] = HostSummary{
			Host: h.s.Host, Group: h.s.Group, Stratum: h.s.Stratum,
			BaselineMean: Number(bm), CurrentMean: Number(cm),
			BaselineN: len(h.base), CurrentN: len(h.cur),
			Variance: Number(bv), LongRunVar: Number(lrv), Weight: w, Replaced: h.replaced,
		}
	}
	alphaB := j.opts.Alpha * j.opts.BaselineShare
	alphaC := j.opts.Alpha - alphaB
	info := 1 / vCur
	rho := j.rhoRatio / vTune
	hwCur := mixtureRadius(info, rho, alphaC) / info
	hwBase := normalQuantile(1-alphaB/2) * math.Sqrt(vBase)
	hw := hwCur + hwBase

	est, lo, hi := delta, delta-hw, delta+hw
	if m.Unit == Relative {
		est, lo, hi = math.Expm1(est), math.Expm1(lo), math.Expm1(hi)
	}
	out, why := classify(m, lo, hi, minN >= j.opts.MinLooks)
	return Verdict{
		Metric: m.Name, Outcome: out, Reason: why,
		Estimate: Number(est), Lower: Number(lo), Upper: Number(hi),
		Margin: signedMargin(m), Unit: m.Unit,
		Statistic: Number(delta / math.Sqrt(vCur+vBase)),
		Looks:     looks,
		Evidence: Evidence{
			Method: fmt.Sprintf("difference-in-differences of per-host means, normal-mixture confidence sequence (alpha %.3g), AR(1) long-run variance", j.opts.Alpha),
			Hosts:  sums, Phi: Number(phi), Information: Number(info), Rho: Number(rho),
			AlphaCurrent: alphaC, AlphaBaseline: alphaB,
			HalfWidthCurrent: Number(hwCur), HalfWidthBaseline: Number(hwBase),
		},
	}
}

// matchWeights gives each host its weight in the difference-in-differences:
// 1/P for each of the P patched hosts, and for each patched host, minus its
// share spread over the control hosts of its stratum (all control hosts when
// its stratum has none). The weights sum to zero, so any change common to
// all hosts (load, time of day) cancels, and each host's own baseline
// cancels its fixed offset.
func matchWeights(ss []Series) []float64 {
	w := make([]float64, len(ss))
	var patched int
	controls := map[string][]int{}
	var all []int
	for i, s := range ss {
		if s.Group == Patched {
			patched++
			continue
		}
		controls[s.Stratum] = append(controls[s.Stratum], i)
		all = append(all, i)
	}
	for i, s := range ss {
		if s.Group != Patched {
			continue
		}
		share := 1 / float64(patched)
		w[i] = share
		match := controls[s.Stratum]
		if len(match) == 0 {
			match = all
		}
		for _, c := range match {
			w[c] -= share / float64(len(match))
		}
	}
	return w
}

// scrapeInterval is the median spacing of the baseline samples.
func scrapeInterval(ss []Series) time.Duration {
	var gaps []time.Duration
	for _, s := range ss {
		for i := 1; i < len(s.Baseline); i++ {
			gaps = append(gaps, s.Baseline[i].Time.Sub(s.Baseline[i-1].Time))
		}
	}
	if len(gaps) == 0 {
		return DefaultScrape
	}
	slices.Sort(gaps)
	if g := gaps[len(gaps)/2]; g > 0 {
		return g
	}
	return DefaultScrape
}

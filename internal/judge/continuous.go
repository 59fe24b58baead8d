package judge

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// hostData is one host's transformed, filtered samples.
type hostData struct {
	s    Series
	base []float64
	cur  []float64
	// at is each current sample's time since the patch, in minutes.
	at       []float64
	replaced int
	held     int
}

// hostStats are the per-host numbers the estimates are built from.
type hostStats struct {
	bm, cm   float64 // baseline and current means
	bv       float64 // variance of the baseline samples (gamma0)
	lrvBase  float64 // long-run variance per sample from the baseline alone
	lrvCur   float64 // long-run variance per sample for the current mean
	nb, nc   int
	slope    float64 // OLS slope of the current samples, per minute
	sxx      float64 // sum of squared deviations of the current times
	change   float64 // cm - bm
	changeSE float64 // its standard error
}

// continuous judges a continuous metric by a difference-in-differences of
// per-host means with an always-valid interval, and a difference in the
// slopes since the patch with its own always-valid bound (see the package
// comment).
func (j *Judge) continuous(m Metric, ss []Series, in Input) Verdict {
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
		var held []bool
		if j.opts.HampelK > 0 {
			scale := mad(all[:nb])
			h.replaced = hampel(all, j.opts.HampelK, scale)
			held = holdNewest(all, nb, j.opts.HampelK, scale)
		}
		h.base = all[:nb]
		for k, x := range all[nb:] {
			if held != nil && held[nb+k] {
				h.held++
				continue
			}
			h.cur = append(h.cur, x)
			h.at = append(h.at, s.Current[k].Time.Sub(in.Start).Minutes())
		}
		hosts[i] = h
		baselines[i] = h.base
	}
	for _, h := range hosts {
		if len(h.cur) == 0 {
			// Every current sample of this host is held out for now.
			v := noData(m, "")
			v.Outcome = Inconclusive
			v.Reason = fmt.Sprintf("the newest samples of host %s are held out until the next scrapes show whether they persist", h.s.Host)
			return v
		}
	}
	phi := pooledPhi(baselines)
	inflation := (1 + phi) / (1 - phi)
	step := scrapeInterval(ss)
	nTune := max(1, float64(j.opts.TuneAfter)/float64(step))

	stats := make([]hostStats, len(hosts))
	for i, h := range hosts {
		st := hostStats{nb: len(h.base), nc: len(h.cur)}
		st.bm, _ = meanVar(h.base)
		st.cm, _ = meanVar(h.cur)
		_, st.bv = meanVar(h.base)
		st.bv = max(st.bv, minVariance)
		st.lrvBase = st.bv * inflation
		// The patch may change a metric's noise as well as its level, so
		// once the current window is long enough its own variance, about
		// its fitted line (a trend must not pass for noise), is used when
		// it is the larger.
		cv := st.bv
		st.slope, st.sxx = olsSlope(h.at, h.cur)
		if st.nc >= minOwnVariance {
			cv = max(cv, detrendedVar(h.at, h.cur))
		}
		st.lrvCur = cv * inflation
		st.change = st.cm - st.bm
		if st.nc > 0 {
			// From the baseline's variance alone: a control changing on
			// its own mid-bake inflates its current variance, which must
			// not hide the change.
			st.changeSE = math.Sqrt(st.lrvBase/float64(st.nc) + st.lrvBase/float64(st.nb))
		}
		stats[i] = st
	}

	kept, asideHosts, asideWhy := setAsideControls(ss, stats, j.opts.SetAsideK, m.Unit == Relative)
	weights := make([]float64, len(ss))
	{
		keptSeries := make([]Series, 0, len(kept))
		for _, i := range kept {
			keptSeries = append(keptSeries, ss[i])
		}
		for k, w := range matchWeights(keptSeries) {
			weights[kept[k]] = w
		}
	}

	var delta, vCur, vBase, vTune float64
	var slope, vSlope, vSlopeTune float64
	tuneSxx := sxxUpTo(float64(j.opts.TrendTuneAfter)/float64(time.Minute), step)
	minN := math.MaxInt
	looks := 0
	sums := make([]HostSummary, len(hosts))
	for i, h := range hosts {
		st := stats[i]
		w := weights[i]
		sums[i] = HostSummary{
			Host: h.s.Host, Group: h.s.Group, Stratum: h.s.Stratum,
			BaselineMean: Number(st.bm), CurrentMean: Number(st.cm),
			BaselineN: st.nb, CurrentN: st.nc,
			Variance: Number(st.bv), LongRunVar: Number(st.lrvCur), Weight: w, Replaced: h.replaced, Held: h.held,
			Slope: Number(st.slope),
		}
		if w == 0 {
			continue
		}
		delta += w * st.change
		vCur += w * w * st.lrvCur / float64(st.nc)
		vBase += w * w * st.lrvBase / float64(st.nb)
		vTune += w * w * st.lrvBase / nTune
		slope += w * st.slope
		if st.sxx > 0 {
			vSlope += w * w * st.lrvCur / st.sxx
		} else {
			vSlope = math.Inf(1)
		}
		vSlopeTune += w * w * st.lrvBase / tuneSxx
		minN = min(minN, st.nc)
		looks = max(looks, st.nc)
	}

	// The level: one confidence sequence in the total information K =
	// 1/(vCur + vBase), which grows towards 1/vBase and never reaches it;
	// its line is the narrowest at the information of TuneAfter.
	alphaT := j.opts.Alpha * j.opts.TrendShare
	alphaL := j.opts.Alpha - alphaT
	info := 1 / (vCur + vBase)
	la, lb := j.level.tuned(1/(vTune+vBase), 1/vBase)
	hw := (la + lb*info) / info
	est, lo, hi := delta, delta-hw, delta+hw
	if m.Unit == Relative {
		est, lo, hi = math.Expm1(est), math.Expm1(lo), math.Expm1(hi)
	}
	out, why := classify(m, lo, hi, minN >= j.opts.MinLooks)

	// The trend: the slope of the difference since the patch, with its own
	// confidence sequence in its information 1/vSlope; only its side in
	// the direction of harm is used, against the slope that would carry
	// the level past the margin within the trend horizon.
	limit := transformedMargin(m) / (float64(j.opts.TrendHorizon) / float64(time.Minute))
	var tLo, tHi, tInfo, tHW float64 = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if vSlope > 0 && !math.IsInf(vSlope, 0) && !math.IsNaN(vSlope) {
		tInfo = 1 / vSlope
		tRho := j.trendRhoRatio / vSlopeTune
		tHW = mixtureRadius(tInfo, tRho, alphaT) / tInfo
		tLo, tHi = slope-tHW, slope+tHW
	}
	trendFail := false
	if !math.IsNaN(tLo) {
		if m.Direction == LowerIsWorse {
			trendFail = tHi < -limit
		} else {
			trendFail = tLo > limit
		}
	}
	if trendFail && out != Fail {
		out = Fail
		why = fmt.Sprintf("the difference is %s since the change: slope %s per minute in [%s, %s], beyond the %s per minute that would carry it past the margin within %s (%s)",
			map[bool]string{true: "falling", false: "rising"}[m.Direction == LowerIsWorse],
			fmtChange(slope, m.Unit), fmtChange(tLo, m.Unit), fmtChange(tHi, m.Unit), fmtChange(signedLimit(m, limit), m.Unit),
			j.opts.TrendHorizon, why)
	}
	if out == Pass && j.opts.AgreeK > 0 {
		// A control drifting away from the others, not yet far enough to
		// be set aside, may be hiding a change of the patched hosts: a
		// Pass waits until the controls agree again or it is set aside.
		var keptControls []int
		for _, i := range kept {
			if ss[i].Group == Control {
				keptControls = append(keptControls, i)
			}
		}
		for _, d := range departures(stats, keptControls) {
			if d.z > j.opts.AgreeK {
				out = Inconclusive
				why = fmt.Sprintf("%s, but control %s departs from the other controls by %.1f standard errors: no Pass until the controls agree", why, ss[d.i].Host, d.z)
				break
			}
		}
	}
	if len(asideHosts) > 0 {
		why += "; " + strings.Join(asideWhy, "; ")
	}
	return Verdict{
		Metric: m.Name, Outcome: out, Reason: why,
		Estimate: Number(est), Lower: Number(lo), Upper: Number(hi),
		Margin: signedMargin(m), Unit: m.Unit,
		Statistic: Number(delta / math.Sqrt(vCur+vBase)),
		Looks:     looks,
		Evidence: Evidence{
			Method: fmt.Sprintf("difference-in-differences of per-host means with a linear-boundary confidence sequence in the total information of current and baseline means (alpha %.3g), and of per-host slopes since the change (alpha %.3g); AR(1) long-run variance; controls that depart from the others set aside", alphaL, alphaT),
			Hosts:  sums, Phi: Number(phi), Information: Number(info), Rho: Number(la), Slope: Number(lb),
			AlphaCurrent:      alphaL,
			HalfWidthCurrent:  Number(hw * vCur / (vCur + vBase)),
			HalfWidthBaseline: Number(hw * vBase / (vCur + vBase)),
			SetAside:          asideHosts, SetAsideReasons: asideWhy,
			Trend: &Trend{Slope: Number(slope), Lower: Number(tLo), Upper: Number(tHi), Limit: signedLimit(m, limit),
				Information: Number(tInfo), Alpha: alphaT, Horizon: j.opts.TrendHorizon.String(), Fail: trendFail},
		},
	}
}

// transformedMargin is the margin in the scale the judge works in: the
// logarithm of 1+margin (1-margin for lower_is_worse) for relative
// margins, as a positive number.
func transformedMargin(m Metric) float64 {
	if m.Unit != Relative {
		return m.Margin
	}
	if m.Direction == LowerIsWorse {
		return -math.Log1p(-m.Margin)
	}
	return math.Log1p(m.Margin)
}

// signedLimit gives a positive slope limit the sign of harm.
func signedLimit(m Metric, limit float64) float64 {
	if m.Direction == LowerIsWorse {
		return -limit
	}
	return limit
}

// fmtChange renders a per-minute change in the transformed scale: a
// percentage for relative metrics, the metric's unit otherwise.
func fmtChange(x float64, u Unit) string {
	if u == Relative {
		return fmt.Sprintf("%+.3g%%", 100*math.Expm1(x))
	}
	return fmt.Sprintf("%+.4g", x)
}

// setAsideControls returns the indexes of the hosts kept for the
// comparison and the control hosts set aside, with why. A control is set
// aside when its own change (current mean minus baseline mean) departs from
// the median change of the other controls by more than k standard errors:
// it changed on its own, and would move the comparison for every patched
// host. At most (C-1)/2 of C >= 3 controls are set aside, the most
// departing first, so that a majority always remains. With two controls
// the reference of each is the other; when they depart from each other, the
// one whose change is the farther from none (in standard errors) is set
// aside: a control is expected not to change.
func setAsideControls(ss []Series, st []hostStats, k float64, relative bool) (kept []int, hosts, why []string) {
	var controls []int
	for i, s := range ss {
		if s.Group == Control {
			controls = append(controls, i)
		}
	}
	all := func() []int {
		out := make([]int, len(ss))
		for i := range out {
			out[i] = i
		}
		return out
	}
	if k <= 0 || len(controls) < 2 {
		return all(), nil, nil
	}
	var cands []departure
	for _, d := range departures(st, controls) {
		if d.z > k {
			cands = append(cands, d)
		}
	}
	if len(cands) == 0 {
		return all(), nil, nil
	}
	limit := (len(controls) - 1) / 2
	if len(controls) == 2 {
		// Both depart from each other: keep the one nearer to no change.
		limit = 1
		slices.SortFunc(cands, func(a, b departure) int {
			za := math.Abs(st[a.i].change) / st[a.i].changeSE
			zb := math.Abs(st[b.i].change) / st[b.i].changeSE
			return -cmpFloat(za, zb)
		})
	} else {
		slices.SortFunc(cands, func(a, b departure) int { return -cmpFloat(a.z, b.z) })
	}
	cands = cands[:min(limit, len(cands))]
	aside := map[int]bool{}
	show := func(x float64) string {
		if relative {
			return fmt.Sprintf("%+.3g%%", 100*math.Expm1(x))
		}
		return fmt.Sprintf("%+.4g", x)
	}
	for _, c := range cands {
		aside[c.i] = true
		hosts = append(hosts, ss[c.i].Host)
		other := "the other controls' median"
		if c.refN == 1 {
			other = "the other control's"
		}
		why = append(why, fmt.Sprintf("control %s set aside: its own change %s departs from %s %s by %.1f standard errors",
			ss[c.i].Host, show(st[c.i].change), other, show(c.ref), c.z))
	}
	for i := range ss {
		if !aside[i] {
			kept = append(kept, i)
		}
	}
	return kept, hosts, why
}

// departure is how far a control's own change lies from the other
// controls': z standard errors from ref, the median of refN others.
type departure struct {
	i    int
	z    float64
	ref  float64
	refN int
}

// departures compares each of the controls' own change with the median
// change of the others, in standard errors from the baseline variances.
func departures(st []hostStats, controls []int) []departure {
	var out []departure
	for _, c := range controls {
		var others, ses []float64
		for _, o := range controls {
			if o != c && st[o].nc > 0 {
				others = append(others, st[o].change)
				ses = append(ses, st[o].changeSE*st[o].changeSE)
			}
		}
		if len(others) == 0 || st[c].nc == 0 {
			continue
		}
		ref := median(others)
		// The variance of a median of m means is about pi/2 times that
		// of their mean.
		vRef := mean(ses) / float64(len(ses))
		if len(ses) > 2 {
			vRef *= math.Pi / 2
		}
		z := math.Abs(st[c].change-ref) / math.Sqrt(st[c].changeSE*st[c].changeSE+vRef)
		out = append(out, departure{c, z, ref, len(others)})
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// olsSlope returns the least-squares slope of ys on ts and the sum of
// squared deviations of ts (0 and 0 with fewer than two distinct times).
func olsSlope(ts, ys []float64) (slope, sxx float64) {
	if len(ts) < 2 {
		return 0, 0
	}
	tm, ym := mean(ts), mean(ys)
	var sxy float64
	for i := range ts {
		sxx += (ts[i] - tm) * (ts[i] - tm)
		sxy += (ts[i] - tm) * (ys[i] - ym)
	}
	if sxx == 0 {
		return 0, 0
	}
	return sxy / sxx, sxx
}

// detrendedVar estimates the variance of ys about their least-squares
// line (n - 2 degrees of freedom), so that a trend in the current window
// is not taken for noise.
func detrendedVar(ts, ys []float64) float64 {
	if len(ys) < 3 {
		return 0
	}
	b, _ := olsSlope(ts, ys)
	tm, ym := mean(ts), mean(ys)
	var ss float64
	for i := range ys {
		r := ys[i] - ym - b*(ts[i]-tm)
		ss += r * r
	}
	return ss / float64(len(ys)-2)
}

// sxxUpTo is the sum of squared deviations of the sample times, in
// minutes, of a current window of the given minutes scraped every step.
func sxxUpTo(minutes float64, step time.Duration) float64 {
	d := step.Minutes()
	n := max(2, minutes/d)
	return d * d * n * (n*n - 1) / 12
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

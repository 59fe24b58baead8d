package judge

import (
	"fmt"
	"math"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Defaults of Options. They are part of the documented behaviour of a gate.
const (
	DefaultAlpha        = 0.02             // two-sided: 1% chance of a false Fail, 1% of a false Pass, over the whole bake
	DefaultTrendShare   = 0.10             // share of Alpha spent on the trend test (a false Fail by it)
	DefaultSetAsideK    = 4.0              // standard errors by which a control's own change must depart from the others' to be set aside
	DefaultAgreeK       = 3.0              // standard errors by which a kept control may depart from the others before a Pass waits
	DefaultTuneAfter    = 10 * time.Minute // the look at which the confidence sequence is tightest
	DefaultMaxStaleness = time.Minute      // a host whose newest sample is older fails the gate
	DefaultMinBaseline  = 20               // baseline samples a host needs
	DefaultMinLooks     = 20               // current samples per host before a metric may Pass (5 minutes at 15 s)
	DefaultMaxFails     = 2                // non-critical Fails that fail the gate
	DefaultHampelK      = 5.0              // outlier threshold in robust standard deviations
	DefaultScrape       = 15 * time.Second // assumed scrape interval when the data cannot tell

	hampelHalf     = 2    // half-width of the outlier filter's window, in samples
	maxPhi         = 0.98 // cap on the autocorrelation estimate
	minVariance    = 1e-12
	minOwnVariance = 20 // current samples before a host's own current variance counts
)

// Options configure a Judge. The zero value selects every default.
type Options struct {
	// Alpha is the two-sided error of each metric's confidence sequence:
	// the chance, over the whole bake and however many looks, that the
	// interval ever misses the true change. A patch whose true change is
	// within the margin fails with probability at most Alpha/2.
	Alpha float64
	// TrendShare is the part of Alpha spent on the trend test; the rest
	// goes to the level's confidence sequence.
	TrendShare float64
	// TuneAfter is the bake time at which the interval is tightest.
	TuneAfter time.Duration
	// TrendHorizon is the time over which a trend is projected: a slope
	// that would carry the difference past the margin within it fails
	// the metric. Default TuneAfter.
	TrendHorizon time.Duration
	// TrendTuneAfter is the bake time at which the trend's interval is
	// tightest. Default a third of TuneAfter: a leak must be caught early.
	TrendTuneAfter time.Duration
	// AgreeK is how many standard errors a kept control's own change may
	// depart from the other controls' before a Pass waits for them to
	// agree. Negative never waits.
	AgreeK float64
	// SetAsideK is how many standard errors a control host's own change
	// must depart from the other controls' for it to be set aside.
	// Negative keeps every control.
	SetAsideK float64
	// MaxStaleness is how old a host's newest current sample may be.
	MaxStaleness time.Duration
	// MinBaseline is the number of baseline samples each host needs.
	MinBaseline int
	// MinLooks is the number of current samples each host needs before a
	// continuous metric may Pass (a Fail needs no minimum).
	MinLooks int
	// MaxFails is how many non-critical Fails fail the gate; fewer put it
	// under review (Inconclusive). A critical Fail always fails it.
	MaxFails int
	// HampelK is the outlier filter's threshold in robust standard
	// deviations of the host's baseline. Negative disables the filter.
	HampelK float64
	// KeepSeries stores the raw series in each verdict's evidence.
	KeepSeries bool
}

// Validate reports the first option out of range.
func (o Options) Validate() error {
	bad := func(field, want string) error {
		return patchpilot.Errorf(patchpilot.EINVALID, "judge options: %s: %s", field, want)
	}
	switch {
	case o.Alpha < 0 || o.Alpha >= 1 || math.IsNaN(o.Alpha):
		return bad("alpha", "want 0 (default) or a number in (0, 1)")
	case o.TrendShare < 0 || o.TrendShare >= 1 || math.IsNaN(o.TrendShare):
		return bad("trend share", "want 0 (default) or a number in (0, 1)")
	case math.IsNaN(o.SetAsideK) || math.IsInf(o.SetAsideK, 0) || math.IsNaN(o.AgreeK) || math.IsInf(o.AgreeK, 0):
		return bad("set-aside threshold", "want a finite number")
	case o.TuneAfter < 0, o.MaxStaleness < 0, o.TrendHorizon < 0, o.TrendTuneAfter < 0:
		return bad("durations", "want 0 (default) or a positive duration")
	case o.MinBaseline < 0, o.MinLooks < 0, o.MaxFails < 0:
		return bad("counts", "want 0 (default) or a positive count")
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.TrendShare == 0 {
		o.TrendShare = DefaultTrendShare
	}
	if o.TuneAfter == 0 {
		o.TuneAfter = DefaultTuneAfter
	}
	if o.TrendHorizon == 0 {
		o.TrendHorizon = o.TuneAfter
	}
	if o.TrendTuneAfter == 0 {
		o.TrendTuneAfter = max(o.TuneAfter/3, time.Minute)
	}
	if o.SetAsideK == 0 {
		o.SetAsideK = DefaultSetAsideK
	}
	if o.AgreeK == 0 {
		o.AgreeK = DefaultAgreeK
	}
	if o.MaxStaleness == 0 {
		o.MaxStaleness = DefaultMaxStaleness
	}
	if o.MinBaseline == 0 {
		o.MinBaseline = DefaultMinBaseline
	}
	if o.MinLooks == 0 {
		o.MinLooks = DefaultMinLooks
	}
	if o.MaxFails == 0 {
		o.MaxFails = DefaultMaxFails
	}
	if o.HampelK == 0 {
		o.HampelK = DefaultHampelK
	}
	return o
}

// Judge is patchpilot's sequential canary judge (see the package comment).
// It holds no state between looks and is safe for concurrent use.
type Judge struct {
	opts          Options
	level         linearBoundary
	trendRhoRatio float64
}

var _ Evaluator = (*Judge)(nil)

// New returns a Judge with opts, defaults filled in.
func New(opts Options) (*Judge, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	alphaT := opts.Alpha * opts.TrendShare
	return &Judge{opts: opts, level: newLinearBoundary(opts.Alpha - alphaT), trendRhoRatio: bestRhoRatio(alphaT)}, nil
}

// JudgeName is the Result.Judge of the sequential judge.
const JudgeName = "sequential"

// Evaluate judges every metric of in at time in.Now and aggregates the
// verdicts. It returns an error only for malformed input (undeclared
// metrics or groups); missing, stale or NaN data are NoData verdicts, which
// fail the gate.
func (j *Judge) Evaluate(in Input) (Result, error) {
	bySeries, err := checkInput(in)
	if err != nil {
		return Result{}, err
	}
	res := Result{Judge: JudgeName, Time: in.Now, Final: in.Final}
	for _, m := range in.Metrics {
		var v Verdict
		w := window(m, bySeries[m.Name], in)
		if reason, wait := j.dataProblem(m, w, in); wait {
			v = noData(m, reason)
			v.Outcome, v.Reason = Inconclusive, reason
		} else if reason != "" {
			v = noData(m, reason)
		} else if m.Kind == Count {
			v = j.count(m, w, in)
		} else {
			v = j.continuous(m, w, in)
		}
		v.Critical = m.Critical
		if j.opts.KeepSeries {
			v.Evidence.Series = w
		}
		res.Verdicts = append(res.Verdicts, v)
	}
	aggregate(&res, in, j.opts.MaxFails)
	return res, nil
}

// checkInput validates the declarations and groups the series by metric.
func checkInput(in Input) (map[string][]Series, error) {
	if len(in.Metrics) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: no metrics declared").
			WithHint("declare at least one metric in the gate's criteria")
	}
	if in.Now.Before(in.Start) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: look time %s is before the patch time %s",
			in.Now.Format(time.RFC3339), in.Start.Format(time.RFC3339))
	}
	if p := in.OnInconclusive; p != "" && p != Pass && p != Fail {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: on_inconclusive: want pass or fail, got %q", p)
	}
	declared := make(map[string]bool, len(in.Metrics))
	for _, m := range in.Metrics {
		if err := m.Validate(); err != nil {
			return nil, err
		}
		if declared[m.Name] {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: metric %q declared twice", m.Name)
		}
		declared[m.Name] = true
	}
	by := make(map[string][]Series, len(in.Metrics))
	seen := map[[2]string]bool{}
	for i, s := range in.Series {
		if !declared[s.Metric] {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: series %d (host %q): metric %q is not declared", i, s.Host, s.Metric)
		}
		if s.Group != Patched && s.Group != Control {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: series %d (host %q): group: want patched or control, got %q", i, s.Host, s.Group)
		}
		key := [2]string{s.Metric, s.Host}
		if seen[key] {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "judge: metric %q: host %q has two series", s.Metric, s.Host)
		}
		seen[key] = true
		by[s.Metric] = append(by[s.Metric], s)
	}
	return by, nil
}

// window cuts each series of metric m to the look: baseline samples
// before Start, current samples in (Start+m.Window, Now]. Samples must be
// in time order.
func window(m Metric, ss []Series, in Input) []Series {
	settled := in.Start.Add(m.Window)
	out := make([]Series, len(ss))
	for i, s := range ss {
		c := s
		c.Baseline = nil
		for _, p := range s.Baseline {
			if p.Time.Before(in.Start) {
				c.Baseline = append(c.Baseline, p)
			}
		}
		end := 0
		for end < len(s.Current) && !s.Current[end].Time.After(in.Now) {
			end++
		}
		begin := 0
		for begin < end && !s.Current[begin].Time.After(settled) {
			begin++
		}
		c.Current = s.Current[begin:end]
		out[i] = c
	}
	return out
}

// dataProblem returns why the data of m cannot be judged, or "". The gate
// fails closed on every such problem, unless wait is true: then the data is
// merely not there yet and the metric is Inconclusive.
func (j *Judge) dataProblem(m Metric, ss []Series, in Input) (reason string, wait bool) {
	maxStale := j.opts.MaxStaleness
	var patched, control int
	var waiting string
	for _, s := range ss {
		if s.Group == Patched {
			patched++
		} else {
			control++
		}
		// A host is stale when its newest sample (or, before its first
		// one, the patch itself) is older than the bound: right after the
		// patch, a host that has not been scraped yet is not missing.
		last := in.Start.Add(m.Window)
		if len(s.Current) > 0 {
			last = s.Current[len(s.Current)-1].Time
		}
		if age := in.Now.Sub(last); age > maxStale {
			if len(s.Current) == 0 {
				return fmt.Sprintf("host %s has no samples in the %s since the patch", s.Host, age.Round(time.Second)), false
			}
			return fmt.Sprintf("host %s: newest sample is %s old (limit %s)", s.Host, age.Round(time.Second), maxStale), false
		}
		if len(s.Current) == 0 {
			waiting = fmt.Sprintf("waiting for the first sample of host %s", s.Host)
		}
		if m.Kind == Continuous && len(s.Baseline) < j.opts.MinBaseline {
			return fmt.Sprintf("host %s has %d baseline samples, %d needed", s.Host, len(s.Baseline), j.opts.MinBaseline), false
		}
		for _, part := range [][]Sample{s.Baseline, s.Current} {
			for _, p := range part {
				switch {
				case math.IsNaN(p.Value) || math.IsInf(p.Value, 0):
					return fmt.Sprintf("host %s: value %v at %s", s.Host, p.Value, p.Time.Format(time.RFC3339)), false
				case m.Kind == Continuous && m.Unit == Relative && p.Value <= 0:
					return fmt.Sprintf("host %s: value %v at %s cannot take a relative margin", s.Host, p.Value, p.Time.Format(time.RFC3339)), false
				case m.Kind == Count && p.Value < 0:
					return fmt.Sprintf("host %s: negative event count %v at %s", s.Host, p.Value, p.Time.Format(time.RFC3339)), false
				}
			}
		}
	}
	switch {
	case patched == 0:
		return "no patched host reports this metric", false
	case control == 0:
		return "no control host reports this metric", false
	case waiting != "":
		return waiting, true
	}
	return "", false
}

func noData(m Metric, reason string) Verdict {
	nan := Number(math.NaN())
	return Verdict{
		Metric: m.Name, Outcome: NoData, Reason: "no usable data: " + reason,
		Estimate: nan, Lower: nan, Upper: nan, Statistic: nan,
		Margin: signedMargin(m), Unit: m.Unit,
		Evidence: Evidence{Method: "none"},
	}
}

// signedMargin is the limit in the direction of harm.
func signedMargin(m Metric) float64 {
	if m.Direction == LowerIsWorse {
		return -m.Margin
	}
	return m.Margin
}

// classify compares an interval of the change with the signed margin.
func classify(m Metric, lower, upper float64, mayPass bool) (Outcome, string) {
	lim := signedMargin(m)
	worse := func(x float64) bool { return x > lim }
	better := func(x float64) bool { return x < lim }
	lo, hi := lower, upper
	if m.Direction == LowerIsWorse {
		worse = func(x float64) bool { return x < lim }
		better = func(x float64) bool { return x > lim }
		lo, hi = upper, lower
	}
	switch {
	case worse(lo):
		return Fail, fmt.Sprintf("the whole interval [%.4g, %.4g] is beyond the margin %+.4g", lower, upper, lim)
	case better(hi) && mayPass:
		return Pass, fmt.Sprintf("the whole interval [%.4g, %.4g] is within the margin %+.4g", lower, upper, lim)
	case better(hi):
		return Inconclusive, fmt.Sprintf("the interval [%.4g, %.4g] is within the margin %+.4g but the bake is too short to promote", lower, upper, lim)
	}
	return Inconclusive, fmt.Sprintf("the interval [%.4g, %.4g] straddles the margin %+.4g", lower, upper, lim)
}

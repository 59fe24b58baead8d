package judge

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Defaults of the Kayenta-compatible judge, as NetflixACAJudge sets them.
const (
	DefaultMWConfidence = 0.98 // confidence level of the Mann-Whitney interval
	DefaultMWTolerance  = 0.25 // effect-size tolerance: a fraction of the Hodges-Lehmann estimate
	DefaultMWPass       = 95.0 // score at or above which the canary passes
	DefaultMWMarginal   = 75.0 // score below which the canary fails
	DefaultMWIQRFactor  = 3.0  // outlier fences, in inter-quantile ranges
)

// Kayenta classifications.
const (
	ClassHigh   = "High"
	ClassLow    = "Low"
	ClassPass   = "Pass"
	ClassNodata = "Nodata"
)

// MannWhitneyOptions configure the Kayenta-compatible judge. The zero
// value selects Kayenta's defaults.
type MannWhitneyOptions struct {
	Confidence float64
	Tolerance  float64
	Pass       float64
	Marginal   float64
	// GroupWeights weight the group scores in the summary score, in
	// percent; groups without a weight share what is left of 100 equally.
	GroupWeights map[string]float64
	KeepSeries   bool
}

// MannWhitney is the judge `judge: mannwhitney` selects: Kayenta's
// NetflixACAJudge on the same input. Per metric it pools the raw samples of
// the patched hosts and of the control hosts over the current window,
// removes NaNs and outliers, and classifies the metric High or Low when the
// Mann-Whitney interval of the shift lies beyond a tolerance of the
// Hodges-Lehmann estimate, else Pass; with no data, Nodata. The group
// score is the percentage of Pass among the classified metrics of the
// group, the summary score the weighted sum of group scores, and a
// critical metric that is not Pass sets it to 0.
//
// Two deliberate departures from Kayenta follow patchpilot's rules: any
// Nodata metric fails the gate (fail closed), and the gate passes only at
// the final look, since Kayenta's score has no early-promotion rule. It
// ignores the baselines, as Kayenta compares canary and baseline clusters
// over the same window only.
type MannWhitney struct {
	opts MannWhitneyOptions
}

var _ Evaluator = (*MannWhitney)(nil)

// MannWhitneyName is the Result.Judge of the Kayenta-compatible judge.
const MannWhitneyName = "mannwhitney"

// NewMannWhitney returns the Kayenta-compatible judge.
func NewMannWhitney(opts MannWhitneyOptions) (*MannWhitney, error) {
	if opts.Confidence == 0 {
		opts.Confidence = DefaultMWConfidence
	}
	if opts.Tolerance == 0 {
		opts.Tolerance = DefaultMWTolerance
	}
	if opts.Pass == 0 {
		opts.Pass = DefaultMWPass
	}
	if opts.Marginal == 0 {
		opts.Marginal = DefaultMWMarginal
	}
	switch {
	case opts.Confidence <= 0 || opts.Confidence >= 1:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "mannwhitney: confidence: want a number in (0, 1)")
	case opts.Tolerance < 0:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "mannwhitney: tolerance: want a number >= 0")
	case opts.Marginal > opts.Pass || opts.Pass > 100:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "mannwhitney: thresholds: want marginal <= pass <= 100")
	}
	return &MannWhitney{opts: opts}, nil
}

// Evaluate implements Evaluator.
func (k *MannWhitney) Evaluate(in Input) (Result, error) {
	by, err := checkInput(in)
	if err != nil {
		return Result{}, err
	}
	res := Result{Judge: MannWhitneyName, Time: in.Now, Final: in.Final}
	for _, m := range in.Metrics {
		w := window(m, by[m.Name], in)
		v := k.classify(m, w)
		v.Critical = m.Critical
		if k.opts.KeepSeries {
			v.Evidence.Series = w
		}
		res.Verdicts = append(res.Verdicts, v)
	}
	k.score(&res, in)
	return res, nil
}

func (k *MannWhitney) classify(m Metric, ss []Series) Verdict {
	var exp, ctl []float64
	for _, s := range ss {
		for _, p := range s.Current {
			if math.IsNaN(p.Value) {
				continue
			}
			if s.Group == Patched {
				exp = append(exp, p.Value)
			} else {
				ctl = append(ctl, p.Value)
			}
		}
	}
	exp, ctl = removeOutliers(exp), removeOutliers(ctl)
	nan := Number(math.NaN())
	v := Verdict{
		Metric: m.Name, Unit: Absolute, Margin: nan64(),
		Estimate: nan, Lower: nan, Upper: nan, Statistic: nan,
		Looks: len(exp),
		Evidence: Evidence{
			Method:        fmt.Sprintf("Mann-Whitney U, %.0f%% interval, tolerance %.2g of the estimate (Kayenta NetflixACAJudge)", 100*k.opts.Confidence, k.opts.Tolerance),
			PatchedValues: len(exp), ControlValues: len(ctl),
		},
	}
	if len(exp) == 0 || len(ctl) == 0 {
		v.Outcome, v.Classification, v.Reason = NoData, ClassNodata, "no patched or no control values"
		return v
	}
	se, sc := slices.Sorted(slices.Values(exp)), slices.Sorted(slices.Values(ctl))
	ratio := mean(exp) / mean(ctl)
	v.Evidence.Ratio = Number(ratio)
	if slices.Equal(se, sc) || (se[0] == se[len(se)-1] && sc[0] == sc[len(sc)-1] && se[0] == sc[0]) {
		v.Outcome, v.Classification, v.Reason = Pass, ClassPass, "the patched and control data are identical"
		return v
	}
	t := MannWhitneyTest(exp, ctl, k.opts.Confidence)
	bound := k.opts.Tolerance * math.Abs(t.Estimate)
	v.Estimate, v.Lower, v.Upper, v.Statistic = Number(t.Estimate), Number(t.Lower), Number(t.Upper), Number(t.U)
	v.Evidence.PValue = Number(t.PValue)
	v.Margin = bound
	switch {
	case m.Direction == HigherIsWorse && t.Lower > bound:
		v.Outcome, v.Classification = Fail, ClassHigh
	case m.Direction == LowerIsWorse && t.Upper < -bound:
		v.Outcome, v.Classification = Fail, ClassLow
	default:
		v.Outcome, v.Classification = Pass, ClassPass
	}
	v.Reason = fmt.Sprintf("classified %s: interval [%.4g, %.4g] of the shift, tolerance %.4g, ratio of means %.4g",
		v.Classification, t.Lower, t.Upper, bound, ratio)
	return v
}

func nan64() float64 { return math.NaN() }

func mean(xs []float64) float64 {
	m, _ := meanVar(xs)
	return m
}

// removeOutliers drops values outside fences DefaultMWIQRFactor
// inter-quantile ranges beyond the 1st and 99th percentiles, Kayenta's IQR
// detector in its reduced-sensitivity setting.
func removeOutliers(xs []float64) []float64 {
	if len(xs) < 4 {
		return xs
	}
	s := slices.Sorted(slices.Values(xs))
	q1, q3 := percentile(s, 1), percentile(s, 99)
	iqr := q3 - q1
	lo, hi := q1-DefaultMWIQRFactor*iqr, q3+DefaultMWIQRFactor*iqr
	out := xs[:0:0]
	for _, x := range xs {
		if x >= lo && x <= hi {
			out = append(out, x)
		}
	}
	return out
}

// percentile interpolates the p-th percentile of sorted s.
func percentile(s []float64, p float64) float64 {
	pos := p / 100 * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// score computes Kayenta's group and summary scores and the gate outcome.
func (k *MannWhitney) score(res *Result, in Input) {
	groups := map[string][]string{}
	var nodata, critical []string
	for i, v := range res.Verdicts {
		g := in.Metrics[i].Group
		if g == "" {
			g = in.Metrics[i].Name
		}
		groups[g] = append(groups[g], v.Classification)
		if v.Outcome == NoData {
			nodata = append(nodata, v.Metric)
		}
		if v.Critical && v.Classification != ClassPass {
			critical = append(critical, v.Metric)
		}
	}
	names := make([]string, 0, len(groups))
	var weighted float64
	for g := range groups {
		names = append(names, g)
		if w, ok := k.opts.GroupWeights[g]; ok {
			weighted += w
		}
	}
	sort.Strings(names)
	unweighted := 0
	for _, g := range names {
		if _, ok := k.opts.GroupWeights[g]; !ok {
			unweighted++
		}
	}
	var summary float64
	for _, g := range names {
		var pass, total int
		for _, c := range groups[g] {
			if c == ClassPass {
				pass++
			}
			if c != ClassNodata {
				total++
			}
		}
		if total == 0 {
			continue
		}
		w, ok := k.opts.GroupWeights[g]
		if !ok {
			w = (100 - weighted) / float64(unweighted)
		}
		summary += 100 * float64(pass) / float64(total) * w / 100
	}
	if len(critical) > 0 {
		summary = 0
	}
	res.Score = Number(summary)
	switch {
	case len(nodata) > 0:
		res.Outcome, res.Reason = Fail, "no usable data for "+strings.Join(nodata, ", ")
	case len(critical) > 0:
		res.Outcome, res.Reason = Fail, "critical metric not Pass: "+strings.Join(critical, ", ")
	case summary < k.opts.Marginal:
		res.Outcome, res.Reason = Fail, fmt.Sprintf("score %.1f below the marginal threshold %.0f", summary, k.opts.Marginal)
	case summary < k.opts.Pass:
		res.Outcome, res.Reason = Inconclusive, fmt.Sprintf("score %.1f is marginal (pass %.0f)", summary, k.opts.Pass)
	case in.Final:
		res.Outcome, res.Reason = Pass, fmt.Sprintf("score %.1f at or above the pass threshold %.0f", summary, k.opts.Pass)
	default:
		res.Outcome, res.Reason = Inconclusive, fmt.Sprintf("score %.1f passing so far; the bake continues", summary)
	}
	resolveFinal(res, in)
}

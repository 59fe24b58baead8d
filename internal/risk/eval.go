package risk

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Metrics measure a scorer's probabilities against outcomes.
type Metrics struct {
	Name  string  `json:"name"`
	N     int     `json:"n"`
	Rate  float64 `json:"failure_rate"`
	AUC   float64 `json:"auc"`
	Brier float64 `json:"brier"`
	// LogLoss is the mean negative log-likelihood (natural log).
	LogLoss     float64    `json:"log_loss"`
	ECE         float64    `json:"ece"`
	Calibration []CalibBin `json:"calibration"`
}

// CalibBin is one row of a calibration table: the records whose predicted
// probability fell in [Lo, Hi), their mean prediction and their observed
// failure rate.
type CalibBin struct {
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	N         int     `json:"n"`
	Predicted float64 `json:"predicted"`
	Observed  float64 `json:"observed"`
}

// Report compares the model with the rule-based baseline and the base rate
// on one test set.
type Report struct {
	Model    Metrics `json:"model"`
	Baseline Metrics `json:"baseline"`
	BaseRate Metrics `json:"base_rate"`
	// Periods splits the test records by calendar period (PeriodOf) and
	// compares the model's Brier score with the moving base rate's in each.
	Periods []PeriodReport `json:"periods"`
}

// PeriodReport is one period of a test set: how many records and failures
// it held, and the Brier scores of the model and of the moving base rate on
// them. Worse flags a period where the model's probabilities were worse
// than answering the base rate.
type PeriodReport struct {
	Period        string  `json:"period"`
	N             int     `json:"n"`
	Failures      int     `json:"failures"`
	Rate          float64 `json:"failure_rate"`
	BaseRate      float64 `json:"base_rate"` // the moving base rate's mean prediction
	ModelBrier    float64 `json:"model_brier"`
	BaseRateBrier float64 `json:"base_rate_brier"`
	Worse         bool    `json:"worse"`
}

// PeriodOf names the calendar period of t: a year ("2021") when unit is
// "year", a quarter ("2021-Q3") otherwise.
func PeriodOf(t time.Time, unit string) string {
	t = t.UTC()
	if unit == "year" {
		return fmt.Sprintf("%04d", t.Year())
	}
	return fmt.Sprintf("%04d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
}

// periodUnit is the period a test set is split by: years when it spans two
// years or more, quarters otherwise.
func periodUnit(test []Record) string {
	if len(test) == 0 {
		return "quarter"
	}
	lo, hi := test[0].Time, test[0].Time
	for _, r := range test {
		if r.Time.Before(lo) {
			lo = r.Time
		}
		if r.Time.After(hi) {
			hi = r.Time
		}
	}
	if hi.Sub(lo) >= 2*365*24*time.Hour {
		return "year"
	}
	return "quarter"
}

// CalibrationBins is the number of equal-width bins of calibration tables
// and of the ECE. Failure rates are small, so the bins cover [0, 1] on a
// square-root scale to put more of them where the predictions are.
const CalibrationBins = 10

// Scored is one prediction with its outcome.
type Scored struct {
	P      float64
	Failed bool
}

// Evaluate scores the test records in time order, each with the model's
// history plus the test outcomes strictly before it (as in production,
// where the history grows between trainings while the weights stay), and
// reports the model, the rule-based baseline (its score mapped to the
// failure rate the score had in training; AUC uses the score itself) and
// the base rate of the training data. The model is not changed.
func Evaluate(m *Model, test []Record) Report {
	return EvaluateWith(m, test, EvalOptions{})
}

// EvalOptions change how Evaluate replays the test records.
type EvalOptions struct {
	// FreezeHistory scores every test record against the training
	// history alone. Use it when outcomes become known only long after the
	// update (public advisories are labelled by regression fixes published
	// weeks later), so that replaying them in time order would let a
	// record see labels not yet known at its own time.
	FreezeHistory bool
}

// EvaluateWith is Evaluate with options. Records labelled Unrelated are
// left out (Record.Counts). The base rate is the moving one
// (Model.MovingRate): replayed outcomes move it on, as they move the
// history, unless FreezeHistory is set.
func EvaluateWith(m *Model, test []Record, opts EvalOptions) Report {
	var model, base, rate []Scored
	var baseScores []float64
	var times []time.Time
	moving := m.MovingRate()
	test = Counting(test)
	frozen := m.History
	var group []Record
	flush := func() {
		for _, r := range group {
			moving.Observe(r.Time, r.Failed())
		}
		group = group[:0]
	}
	walk(test, m.History.clone(), func(_ int, r Record, h *History) {
		if opts.FreezeHistory {
			h = frozen
		} else if len(group) > 0 && !group[0].Time.Equal(r.Time) {
			flush()
		}
		f := computeFeatures(r, h, m.Priors, m.Strengths)
		failed := r.Failed()
		model = append(model, Scored{m.probability(f.vector()), failed})
		s := baselineScore(r, f)
		base = append(base, Scored{m.baselineProbability(s), failed})
		baseScores = append(baseScores, float64(s))
		rate = append(rate, Scored{moving.Rate(), failed})
		times = append(times, r.Time)
		if !opts.FreezeHistory {
			group = append(group, r)
		}
	})
	rep := Report{Model: Score("model", model), Baseline: Score("rule-based baseline", base), BaseRate: Score("base rate", rate)}
	rep.Periods = periods(times, model, rate, periodUnit(test))
	// The baseline ranks by its integer score; ties between scores mapped
	// to the same rate would otherwise hide its ordering.
	byScore := make([]Scored, len(base))
	for i := range base {
		byScore[i] = Scored{baseScores[i], base[i].Failed}
	}
	rep.Baseline.AUC = AUC(byScore)
	return rep
}

// periods splits the scored records by calendar period.
func periods(times []time.Time, model, rate []Scored, unit string) []PeriodReport {
	var out []PeriodReport
	idx := map[string]int{}
	for i, t := range times {
		name := PeriodOf(t, unit)
		k, ok := idx[name]
		if !ok {
			k = len(out)
			idx[name] = k
			out = append(out, PeriodReport{Period: name})
		}
		p := &out[k]
		p.N++
		y := 0.0
		if model[i].Failed {
			p.Failures++
			y = 1
		}
		p.BaseRate += rate[i].P
		p.ModelBrier += (clampProb(model[i].P) - y) * (clampProb(model[i].P) - y)
		p.BaseRateBrier += (clampProb(rate[i].P) - y) * (clampProb(rate[i].P) - y)
	}
	for i := range out {
		p := &out[i]
		n := float64(p.N)
		p.Rate, p.BaseRate = float64(p.Failures)/n, p.BaseRate/n
		p.ModelBrier, p.BaseRateBrier = p.ModelBrier/n, p.BaseRateBrier/n
		p.Worse = p.ModelBrier > p.BaseRateBrier
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Period < out[j].Period })
	return out
}

// Score computes the metrics of a list of predictions.
func Score(name string, s []Scored) Metrics {
	m := Metrics{Name: name, N: len(s)}
	if len(s) == 0 {
		return m
	}
	var fails float64
	for _, x := range s {
		p := clampProb(x.P)
		y := 0.0
		if x.Failed {
			y = 1
			fails++
		}
		m.Brier += (p - y) * (p - y)
		m.LogLoss -= y*math.Log(p) + (1-y)*math.Log(1-p)
	}
	n := float64(len(s))
	m.Rate, m.Brier, m.LogLoss = fails/n, m.Brier/n, m.LogLoss/n
	m.AUC = AUC(s)
	m.Calibration, m.ECE = calibration(s)
	return m
}

// binEdge is the upper edge of calibration bin i on the square-root scale.
func binEdge(i int) float64 {
	e := float64(i) / CalibrationBins
	return e * e
}

func calibration(s []Scored) ([]CalibBin, float64) {
	bins := make([]CalibBin, CalibrationBins)
	for i := range bins {
		bins[i].Lo, bins[i].Hi = binEdge(i), binEdge(i+1)
	}
	for _, x := range s {
		i := min(int(math.Sqrt(clampProb(x.P))*CalibrationBins), CalibrationBins-1)
		bins[i].N++
		bins[i].Predicted += x.P
		if x.Failed {
			bins[i].Observed++
		}
	}
	var ece float64
	out := bins[:0]
	for _, b := range bins {
		if b.N == 0 {
			continue
		}
		b.Predicted /= float64(b.N)
		b.Observed /= float64(b.N)
		ece += float64(b.N) / float64(len(s)) * math.Abs(b.Predicted-b.Observed)
		out = append(out, b)
	}
	return out, ece
}

// AUC is the area under the ROC curve: the chance that a random failure
// scores above a random success, ties counting half. 0.5 when one class is
// missing.
func AUC(s []Scored) float64 {
	sorted := append([]Scored(nil), s...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].P < sorted[j].P })
	var pos, neg, rankSum float64
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j].P == sorted[i].P {
			j++
		}
		avgRank := float64(i+j+1) / 2 // ranks are 1-based
		for k := i; k < j; k++ {
			if sorted[k].Failed {
				pos++
				rankSum += avgRank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0.5
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

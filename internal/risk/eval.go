package risk

import (
	"math"
	"sort"
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

// EvaluateWith is Evaluate with options.
func EvaluateWith(m *Model, test []Record, opts EvalOptions) Report {
	var model, base, rate []Scored
	var baseScores []float64
	trainRate := m.Priors.Global.Rate
	if m.History.Global.Total > 0 {
		trainRate = clampProb(m.History.Global.Rate())
	}
	frozen := m.History
	walk(test, m.History.clone(), func(_ int, r Record, h *History) {
		if opts.FreezeHistory {
			h = frozen
		}
		f := computeFeatures(r, h, m.Priors, m.Strengths)
		failed := r.Failed()
		model = append(model, Scored{m.probability(f.vector()), failed})
		s := baselineScore(r, f)
		base = append(base, Scored{m.baselineProbability(s), failed})
		baseScores = append(baseScores, float64(s))
		rate = append(rate, Scored{trainRate, failed})
	})
	rep := Report{Model: Score("model", model), Baseline: Score("rule-based baseline", base), BaseRate: Score("base rate", rate)}
	// The baseline ranks by its integer score; ties between scores mapped
	// to the same rate would otherwise hide its ordering.
	byScore := make([]Scored, len(base))
	for i := range base {
		byScore[i] = Scored{baseScores[i], base[i].Failed}
	}
	rep.Baseline.AUC = AUC(byScore)
	return rep
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

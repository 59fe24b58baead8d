package risk

import (
	"math"
)

// Retraining defaults: the newest fifth of the outcomes, and at least
// DefaultMinNewest of them, judge a candidate model against the current one,
// taken only from outcomes the current model was not trained on.
const (
	DefaultNewestShare = 0.2
	DefaultMinNewest   = 20
)

// RetrainOptions are the inputs of Retrain besides the models and records.
type RetrainOptions struct {
	Train TrainOptions
	// NewestShare is the share of the newest outcomes held out to compare
	// the models on; 0 means DefaultNewestShare.
	NewestShare float64
	// MinNewest is the least number of held-out outcomes (when there are
	// twice as many records); 0 means DefaultMinNewest. A current model
	// trained on records needs at least this many newer than its
	// training to be compared with a candidate.
	MinNewest int
}

// Comparison is how a candidate model and the current one scored on the
// newest outcomes, which neither was trained on: they are newer than the
// current model's training data (Training.To) and the candidate was trained
// on the outcomes before them.
type Comparison struct {
	// Newest is the number of held-out outcomes and NewestFailures the
	// failures among them.
	Newest         int     `json:"newest"`
	NewestFailures int     `json:"newest_failures"`
	Current        Metrics `json:"current"`
	Candidate      Metrics `json:"candidate"`
	// Margin is the standard error of the difference of the two Brier
	// scores on these outcomes (paired, record by record): the candidate
	// is worse only when its Brier score exceeds the current model's by
	// more, since a smaller gap is the luck of which outcomes came last.
	Margin float64 `json:"margin"`
	// Kept is true when the candidate's Brier score is not worse than the
	// current model's by more than Margin.
	Kept bool `json:"kept"`
	// Unseen is the number of outcomes newer than the current model's
	// training, and Waiting, when above 0, the number more of them needed
	// before the models can be compared fairly: nothing was trained or
	// compared, and the retrain neither kept nor refused a model.
	Unseen  int `json:"unseen"`
	Waiting int `json:"waiting,omitempty"`
}

// Retrain decides whether a model trained on records replaces current. The
// held-out outcomes are the newest (NewestShare of them, at least MinNewest
// when there are enough) among those the current model was not trained on:
// newer than its training data (Training.To), any of them when current was
// trained on nothing (the cold-start model). A candidate is trained on every
// record before them; both it and current score the held-out records in time
// order, each with the history of the records before it (as Evaluate does).
// When fewer than MinNewest records are newer than current's training,
// nothing is compared: Comparison.Waiting says how many more are needed and
// no model is returned. When the candidate's Brier score is not worse by
// more than the comparison's noise (Comparison.Margin), the model returned
// is trained on all the records; otherwise it is nil. Records labelled
// Unrelated are left out throughout. With fewer than two records nothing
// can be compared, and the candidate is not kept.
func Retrain(current *Model, records []Record, opts RetrainOptions) (*Model, Comparison, error) {
	var cmp Comparison
	sorted := sortByTime(Counting(records))
	share := opts.NewestShare
	if share <= 0 || share >= 1 {
		share = DefaultNewestShare
	}
	least := opts.MinNewest
	if least <= 0 {
		least = DefaultMinNewest
	}
	// The first record the current model has not seen.
	first := 0
	if current.Training.Records > 0 {
		to := current.Training.To
		first = len(sorted)
		for first > 0 && sorted[first-1].Time.After(to) {
			first--
		}
	}
	cmp.Unseen = len(sorted) - first
	if first > 0 && cmp.Unseen < least {
		cmp.Waiting = least - cmp.Unseen
		return nil, cmp, nil
	}
	if len(sorted) < 2 {
		return nil, cmp, nil
	}
	k := int(math.Ceil(share * float64(len(sorted))))
	k = max(k, min(least, len(sorted)/2), 1)
	k = min(k, cmp.Unseen)
	cut := len(sorted) - k
	// Records sharing the cut's time go to the newest side, so that no
	// outcome of the held-out slice is known to the candidate's history.
	for cut > 0 && sorted[cut-1].Time.Equal(sorted[cut].Time) {
		cut--
	}
	if cut == 0 {
		return nil, cmp, nil
	}
	before, newest := sorted[:cut], sorted[cut:]
	candidate, err := Train(before, opts.Train)
	if err != nil {
		return nil, cmp, err
	}
	hist := NewHistory()
	for _, r := range before {
		hist.Observe(r)
	}
	cmp.Newest = len(newest)
	for _, r := range newest {
		if r.Failed() {
			cmp.NewestFailures++
		}
	}
	cur := predictWithHistory(current, hist, newest)
	cand := predictWithHistory(candidate, hist, newest)
	cmp.Current, cmp.Candidate = Score("current model "+current.Version, cur), Score("candidate model", cand)
	cmp.Current.Calibration, cmp.Candidate.Calibration = nil, nil
	cmp.Margin = pairedStandardError(cur, cand)
	cmp.Kept = cmp.Candidate.Brier <= cmp.Current.Brier+cmp.Margin+1e-12
	if !cmp.Kept {
		return nil, cmp, nil
	}
	final, err := Train(sorted, opts.Train)
	if err != nil {
		return nil, cmp, err
	}
	cmp.Candidate.Name = "candidate model " + final.Version
	return final, cmp, nil
}

// predictWithHistory returns the model's probabilities for test, replayed
// in time order over a copy of the history h instead of the model's own.
func predictWithHistory(m *Model, h *History, test []Record) []Scored {
	out := make([]Scored, 0, len(test))
	walk(test, h.clone(), func(_ int, r Record, h *History) {
		out = append(out, Scored{m.probability(computeFeatures(r, h, m.Priors, m.Strengths).vector()), r.Failed()})
	})
	return out
}

// pairedStandardError is the standard error of the mean difference of two
// scorers' squared errors on the same records: how far apart their Brier
// scores may fall by the luck of which outcomes came last.
func pairedStandardError(a, b []Scored) float64 {
	n := len(a)
	if n < 2 {
		return 0
	}
	d := make([]float64, n)
	var mean float64
	for i := range a {
		y := 0.0
		if a[i].Failed {
			y = 1
		}
		pa, pb := clampProb(a[i].P), clampProb(b[i].P)
		d[i] = (pb-y)*(pb-y) - (pa-y)*(pa-y)
		mean += d[i]
	}
	mean /= float64(n)
	var ss float64
	for _, v := range d {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(n-1) / float64(n))
}

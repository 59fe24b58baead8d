package risk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Model is a trained (or cold-start) risk model. It is plain data: it
// serialises to JSON for the store and scores updates without the training
// records, which are summarised in History.
type Model struct {
	// Version is "rm-" and a hash of the training data, the parameters and
	// the priors: two models with the same version score alike.
	Version   string       `json:"model_version"`
	TrainedAt time.Time    `json:"trained_at"`
	Training  TrainingInfo `json:"training"`
	Params    TrainParams  `json:"params"`
	Priors    Priors       `json:"priors"`
	Strengths Strengths    `json:"strengths"`
	// Features names the entries of Mean, Scale and Weights.
	Features  []string  `json:"features"`
	Mean      []float64 `json:"mean"`
	Scale     []float64 `json:"scale"`
	Weights   []float64 `json:"weights"`
	Intercept float64   `json:"intercept"`
	// PlattA and PlattB map the regression's log-odds z to the calibrated
	// probability sigmoid(PlattA·z + PlattB).
	PlattA  float64  `json:"platt_a"`
	PlattB  float64  `json:"platt_b"`
	History *History `json:"history"`
	// Baseline maps rule-based baseline scores to the failure rates they
	// had in training, for evaluating the baseline as a probability.
	Baseline map[int]Count `json:"baseline"`
	// RecentRate is the moving base rate: the failure rate of the training
	// records weighted by recency (half-life Params.HalfLifeDays), as of
	// RecentAt, the newest record's time. Evaluation scores it beside the
	// model, and moves it on with each outcome it replays.
	RecentRate float64   `json:"recent_rate,omitempty"`
	RecentAt   time.Time `json:"recent_at,omitzero"`
	// RecentWeight is the recency-weighted number of outcomes behind
	// RecentRate.
	RecentWeight float64 `json:"recent_weight,omitempty"`
}

// TrainingInfo says what a model was trained on.
type TrainingInfo = patchpilot.ModelTraining

// TrainParams are the knobs of Train. The zero value means the defaults.
type TrainParams struct {
	// L2 is the penalty pulling the standardised weights toward the
	// cold-start model; 0 means DefaultL2.
	L2 float64 `json:"l2"`
	// Holdout is the latest share of the training records (by time) kept
	// for calibration; 0 means DefaultHoldout.
	Holdout float64 `json:"holdout"`
	// MinRecords and MinFailures are the least training data with which a
	// regression is fitted; 0 means the defaults.
	MinRecords  int `json:"min_records"`
	MinFailures int `json:"min_failures"`
	// HalfLifeDays is the age, in days before the newest record, at which
	// an outcome weighs half as much as the newest in calibration and in
	// the moving base rate; 0 means DefaultHalfLifeDays.
	HalfLifeDays float64 `json:"half_life_days,omitempty"`
}

// Training defaults.
const (
	DefaultL2          = 20.0
	DefaultHoldout     = 0.25
	DefaultMinRecords  = 200
	DefaultMinFailures = 10
	// DefaultHalfLifeDays is a year: an outcome of a year ago counts half
	// as much as today's when the model is calibrated.
	DefaultHalfLifeDays = 365.0
	// recentRateStrength is the number of pseudo-outcomes at the public
	// rate the moving base rate starts from.
	recentRateStrength = 10.0
	// minCalibrationFailures is the least number of failures (and of
	// successes) in the held-out fold for Platt scaling to be fitted.
	minCalibrationFailures = 5
)

func (p TrainParams) withDefaults() TrainParams {
	if p.L2 <= 0 {
		p.L2 = DefaultL2
	}
	if p.Holdout <= 0 || p.Holdout >= 1 {
		p.Holdout = DefaultHoldout
	}
	if p.MinRecords <= 0 {
		p.MinRecords = DefaultMinRecords
	}
	if p.MinFailures <= 0 {
		p.MinFailures = DefaultMinFailures
	}
	if p.HalfLifeDays <= 0 {
		p.HalfLifeDays = DefaultHalfLifeDays
	}
	return p
}

// TrainOptions are the inputs of Train besides the records.
type TrainOptions struct {
	Params TrainParams
	// Priors are the cold-start figures; nil means the embedded ones.
	Priors *Priors
	// Now stamps TrainedAt; inject a clock for reproducible output.
	Now time.Time
	// Source describes where the records came from ("store", a file name).
	Source string
}

// coldStartWeights are the raw-scale weights of the model before any
// training: the shrunk package rate as it is, shifted by the public CVE
// count effect. Everything else has no effect until the fleet shows one.
func coldStartWeights(names []string) []float64 {
	w := make([]float64, len(names))
	for i, n := range names {
		// The exact version's shift is part of the hierarchy too: with
		// weight one the score uses the version's rate shrunk toward its
		// package's, so a version that failed here scores above its
		// siblings even before there is enough data to fit weights.
		if n == FeaturePackage || n == FeatureCVEPrior || n == FeatureVersion {
			w[i] = 1
		}
	}
	return w
}

// NewColdStart returns the model of a fleet without history: public priors
// only.
func NewColdStart(p Priors, now time.Time) *Model {
	names := FeatureNames()
	m := &Model{
		TrainedAt: now, Params: TrainParams{}.withDefaults(), Priors: p, Strengths: DefaultStrengths(),
		Features: names, Scale: ones(len(names)),
		Weights: coldStartWeights(names), PlattA: 1, History: NewHistory(), Baseline: map[int]Count{},
	}
	m.setColdStartReference()
	m.Version = m.hash(nil)
	return m
}

// ColdStartMeaning says in words what ColdStart means; every place that
// shows the flag (model status, model explain, assess, plan) uses it.
const ColdStartMeaning = "cold start: no regression fitted yet, as no model was trained or the history was too thin; public priors and this fleet's counts decide"

// ColdStart reports whether m is the cold-start model: no regression was
// fitted, because no model was trained or the history was too thin, so the
// weights are the fixed ones of the public priors and only the fleet's
// counts move the scores. A stored model can be one.
func (m *Model) ColdStart() bool { return !m.Training.Regression }

// setColdStartReference makes the cold-start model's reference point (Mean,
// against which reasons measure each feature's effect) the average update
// of the public data: the package feature at the public rate, every shift
// at zero. The intercept moves with it, so scores do not change.
func (m *Model) setColdStartReference() {
	m.Mean = make([]float64, len(m.Features))
	m.Intercept = 0
	if j := indexOf(m.Features, FeaturePackage); j >= 0 {
		m.Mean[j] = logit(m.Priors.Global.Rate)
		m.Intercept = m.Weights[j] * m.Mean[j] / m.Scale[j]
	}
}

func ones(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// Train fits a model to outcome records (see the package documentation for
// the method). Records need not be sorted. With too little data it returns
// the cold-start model over the fleet's history, which is still sensible.
func Train(records []Record, opts TrainOptions) (*Model, error) {
	priors := opts.Priors
	if priors == nil {
		p, err := DefaultPriors()
		if err != nil {
			return nil, err
		}
		priors = &p
	}
	m := NewColdStart(*priors, opts.Now)
	m.Params = opts.Params.withDefaults()
	sorted := sortByTime(Counting(records))
	m.Training = TrainingInfo{Source: opts.Source, Records: len(sorted)}
	if len(sorted) == 0 {
		m.Version = m.hash(nil)
		return m, nil
	}
	m.Training.From, m.Training.To = sorted[0].Time, sorted[len(sorted)-1].Time

	// Shrinkage strengths come from the whole training period's counts.
	full := NewHistory()
	for _, r := range sorted {
		full.Observe(r)
	}
	m.Strengths = estimateStrengths(full)
	m.Training.Failures = full.Global.Failures

	// Features of each record from the outcomes strictly before it.
	x := make([][]float64, len(sorted))
	y := make([]float64, len(sorted))
	base := make([]int, len(sorted))
	walk(sorted, NewHistory(), func(i int, r Record, h *History) {
		f := computeFeatures(r, h, m.Priors, m.Strengths)
		x[i] = f.vector()
		base[i] = baselineScore(r, f)
		if r.Failed() {
			y[i] = 1
		}
	})
	m.History = full
	m.RecentAt = sorted[len(sorted)-1].Time
	m.RecentRate, m.RecentWeight = recentRate(sorted, y, m.RecentAt, m.Params.HalfLifeDays, m.Priors.Global.Rate)
	for i := range sorted {
		c := m.Baseline[base[i]]
		c.add(y[i] == 1)
		m.Baseline[base[i]] = c
	}

	p := m.Params
	if len(sorted) < p.MinRecords || m.Training.Failures < p.MinFailures {
		m.Version = m.hash(sorted)
		return m, nil
	}
	cut := int(math.Round(float64(len(sorted)) * (1 - p.Holdout)))
	fitX, fitY := x[:cut], y[:cut]
	m.Mean, m.Scale = standardise(fitX)
	prior := make([]float64, len(m.Features))
	for j, w := range coldStartWeights(m.Features) {
		prior[j] = w * m.Scale[j]
	}
	// The intercept starts where the cold-start model puts the average
	// record: its weights times the means.
	b0 := 0.0
	for j := range prior {
		b0 += coldStartWeights(m.Features)[j] * m.Mean[j]
	}
	m.Weights, m.Intercept = fitLogistic(scaleRows(fitX, m.Mean, m.Scale), fitY, prior, p.L2, b0)
	m.Training.Regression = true
	m.Training.FitRecords = cut

	calY := y[cut:]
	if failures := sum(calY); failures >= minCalibrationFailures && float64(len(calY))-failures >= minCalibrationFailures {
		z := make([]float64, len(calY))
		for i, row := range x[cut:] {
			z[i] = m.logOdds(row)
		}
		m.PlattA, m.PlattB = fitPlatt(z, calY, recencyWeights(sorted[cut:], m.RecentAt, p.HalfLifeDays))
		m.Training.Calibrated = true
		m.Training.CalibRecord = len(calY)
	}
	m.Version = m.hash(sorted)
	return m, nil
}

// recencyWeights weighs each record 0.5^(age/half-life), its age taken
// before now, scaled so that the weights average 1: recent outcomes count
// more without changing how much the whole fold counts against the penalty.
func recencyWeights(records []Record, now time.Time, halfLifeDays float64) []float64 {
	w := make([]float64, len(records))
	var total float64
	for i, r := range records {
		w[i] = decay(now.Sub(r.Time), halfLifeDays)
		total += w[i]
	}
	if total <= 0 {
		return nil
	}
	for i := range w {
		w[i] *= float64(len(w)) / total
	}
	return w
}

// decay is the weight of an outcome age old under the half-life; an age
// below zero (a clock ahead) weighs 1.
func decay(age time.Duration, halfLifeDays float64) float64 {
	days := age.Hours() / 24
	if days <= 0 || halfLifeDays <= 0 {
		return 1
	}
	return math.Exp2(-days / halfLifeDays)
}

// recentRate is the recency-weighted failure rate of the records (labels
// y) as of now, starting from recentRateStrength pseudo-outcomes at prior.
func recentRate(records []Record, y []float64, now time.Time, halfLifeDays, prior float64) (rate, weight float64) {
	f, n := recentRateStrength*prior, recentRateStrength
	for i, r := range records {
		w := decay(now.Sub(r.Time), halfLifeDays)
		f += w * y[i]
		n += w
	}
	return clampProb(f / n), n
}

// MovingRate is a moving base rate: a failure rate whose past outcomes fade
// with a half-life. The zero value is unusable; see Model.MovingRate.
type MovingRate struct {
	failures, total float64
	at              time.Time
	halfLifeDays    float64
}

// MovingRate returns the model's moving base rate, to be moved on with
// outcomes newer than its training.
func (m *Model) MovingRate() *MovingRate {
	rate := m.RecentRate
	if rate <= 0 {
		rate = m.Priors.Global.Rate
		if m.History != nil && m.History.Global.Total > 0 {
			rate = clampProb(m.History.Global.Rate())
		}
	}
	hl := m.Params.HalfLifeDays
	if hl <= 0 {
		hl = DefaultHalfLifeDays
	}
	weight := max(m.RecentWeight, recentRateStrength)
	return &MovingRate{failures: weight * rate, total: weight, at: m.RecentAt, halfLifeDays: hl}
}

// Rate is the current moving rate.
func (r *MovingRate) Rate() float64 { return clampProb(r.failures / r.total) }

// Observe fades the rate to the outcome's time and adds the outcome.
func (r *MovingRate) Observe(at time.Time, failed bool) {
	if !r.at.IsZero() && at.After(r.at) {
		d := decay(at.Sub(r.at), r.halfLifeDays)
		r.failures *= d
		r.total *= d
	}
	if at.After(r.at) {
		r.at = at
	}
	r.total++
	if failed {
		r.failures++
	}
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// standardise returns each column's mean and standard deviation (1 for a
// constant column, so that it does not blow up).
func standardise(x [][]float64) (mean, scale []float64) {
	if len(x) == 0 {
		return nil, nil
	}
	d := len(x[0])
	mean, scale = make([]float64, d), make([]float64, d)
	for _, row := range x {
		for j, v := range row {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(x))
	}
	for _, row := range x {
		for j, v := range row {
			scale[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / float64(len(x)))
		if scale[j] < 1e-9 {
			scale[j] = 1
		}
	}
	return mean, scale
}

func scaleRows(x [][]float64, mean, scale []float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		r := make([]float64, len(row))
		for j, v := range row {
			r[j] = (v - mean[j]) / scale[j]
		}
		out[i] = r
	}
	return out
}

// logOdds is the regression's uncalibrated log-odds for a raw vector.
func (m *Model) logOdds(x []float64) float64 {
	z := m.Intercept
	for j, v := range x {
		z += m.Weights[j] * (v - m.Mean[j]) / m.Scale[j]
	}
	return z
}

// probability maps a raw vector to the calibrated probability.
func (m *Model) probability(x []float64) float64 {
	return clampProb(sigmoid(m.PlattA*m.logOdds(x) + m.PlattB))
}

// Probability scores one update against the model's history.
func (m *Model) Probability(r Record) float64 {
	return m.probability(computeFeatures(r, m.History, m.Priors, m.Strengths).vector())
}

// Observe adds an outcome to the model's history without refitting the
// weights: the history features (package, host, version) follow the fleet
// between trainings. It does not change the model version.
func (m *Model) Observe(r Record) { m.History.Observe(r) }

// hash is the model version: a digest of the training records, the
// parameters and the priors.
func (m *Model) hash(records []Record) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(m.Params)
	_ = enc.Encode(m.Priors)
	_ = enc.Encode(m.Features)
	for _, r := range records {
		_ = enc.Encode(r)
	}
	return "rm-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// MarshalModel serialises a model for the store.
func MarshalModel(m *Model) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "encode model: %w", err)
	}
	return b, nil
}

// UnmarshalModel reads a model written by MarshalModel and checks that its
// vectors fit its feature list.
func UnmarshalModel(data []byte, source string) (*Model, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: invalid model: %w", source, err).
			WithHint("train the model again with 'patchpilot model train'")
	}
	d := len(m.Features)
	if d == 0 || len(m.Mean) != d || len(m.Scale) != d || len(m.Weights) != d {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: model vectors do not match its %d features", source, d).
			WithHint("train the model again with 'patchpilot model train'")
	}
	names := FeatureNames()
	if d != len(names) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: model has %d features, this version of patchpilot uses %d", source, d, len(names)).
			WithHint("train the model again with 'patchpilot model train'")
	}
	for i, n := range names {
		if m.Features[i] != n {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: model feature %d is %q, expected %q", source, i, m.Features[i], n).
				WithHint("train the model again with 'patchpilot model train'")
		}
	}
	if m.History == nil {
		m.History = NewHistory()
	}
	if m.ColdStart() {
		// Stored before the reference point was the average update; the
		// scores are the same either way, the reasons' effects are not.
		m.setColdStartReference()
	}
	if m.Baseline == nil {
		m.Baseline = map[int]Count{}
	}
	return &m, nil
}

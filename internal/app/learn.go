package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// Learning defaults (patchpilot.yaml's model: section).
const (
	// DefaultRetrainAfter is the number of new outcomes since the last
	// training after which a finished rollout retrains the model.
	DefaultRetrainAfter = 50
	// DefaultRetrainEvery is the age of the last training after which a
	// finished rollout with new outcomes retrains the model.
	DefaultRetrainEvery = 24 * time.Hour
)

// LearningConfig is patchpilot.yaml's model: section. A zero field means
// its default; a negative one turns that trigger off ("off" in the file).
type LearningConfig struct {
	// RetrainAfter is the number of new outcomes since the last training
	// (kept or refused) that makes the end of a rollout retrain the model.
	RetrainAfter int
	// RetrainEvery is how old the last training may grow before the end
	// of a rollout with at least one new outcome retrains the model.
	RetrainEvery time.Duration
}

func (c LearningConfig) retrainAfter() int {
	if c.RetrainAfter == 0 {
		return DefaultRetrainAfter
	}
	return c.RetrainAfter
}

func (c LearningConfig) retrainEvery() time.Duration {
	if c.RetrainEvery == 0 {
		return DefaultRetrainEvery
	}
	return c.RetrainEvery
}

// decodeLearning decodes the model: section, refusing unknown keys and bad
// values with the file and line.
func decodeLearning(path string, n *yaml.Node) (LearningConfig, error) {
	var lc LearningConfig
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return lc, nil
	}
	if n.Kind != yaml.MappingNode {
		return lc, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: model: expected a mapping such as {retrain_after: 50, retrain_every: 24h}, got %s",
			path, n.Line, configValueText(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if line, ok := seen[k.Value]; ok {
			return lc, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: model: mapping key %q already defined at line %d", path, k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
		where := fmt.Sprintf("%s:%d: model.%s", path, v.Line, k.Value)
		if v.Kind != yaml.ScalarNode && (k.Value == "retrain_after" || k.Value == "retrain_every") {
			return lc, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a single value, got %s", where, configValueText(v))
		}
		switch k.Value {
		case "retrain_after":
			if v.Value == "off" {
				lc.RetrainAfter = -1
				continue
			}
			// A quoted whole number ("50") is taken as the number; 1.5 or
			// 1e3 are refused rather than truncated.
			count, err := strconv.Atoi(strings.TrimSpace(v.Value))
			if err != nil || count <= 0 {
				return lc, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a positive whole number of outcomes or off, got %s", where, configValueText(v))
			}
			lc.RetrainAfter = count
		case "retrain_every":
			if v.Value == "off" {
				lc.RetrainEvery = -1
				continue
			}
			d, err := ParseMaxAge(where, v.Value)
			if err != nil {
				return lc, patchpilot.Errorf(patchpilot.EINVALID, "%s (or off)", err.Error())
			}
			lc.RetrainEvery = d
		default:
			known := []string{"retrain_after", "retrain_every"}
			return lc, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: model: unknown key %q%s; known keys: %s",
				path, k.Line, k.Value, didYouMean(k.Value, known), strings.Join(known, ", "))
		}
	}
	return lc, nil
}

// fleetRecords returns every stored outcome as history records, oldest
// first, without reading their gate results.
func (a *App) fleetRecords(ctx context.Context) ([]risk.Record, error) {
	outcomes, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{NoGateResults: true})
	if err != nil {
		return nil, err
	}
	return recordsOf(outcomes), nil
}

// withFleetHistory gives the model the counts of every stored outcome: the
// package, category, host and version statistics follow the fleet as soon
// as an outcome is stored, between trainings and before the first one.
// The history of a model trained on the store is a part of it.
func withFleetHistory(m *risk.Model, records []risk.Record) {
	h := risk.NewHistory()
	for _, r := range records {
		h.Observe(r)
	}
	m.History = h
}

// movingBaseRate is the model's moving base rate moved on by the records
// newer than its training.
func movingBaseRate(m *risk.Model, records []risk.Record) float64 {
	mr := m.MovingRate()
	for _, r := range risk.Counting(records) {
		if r.Time.After(m.RecentAt) {
			mr.Observe(r.Time, r.Failed())
		}
	}
	return mr.Rate()
}

// LearnResult says what the end of a rollout taught the risk model.
type LearnResult struct {
	// NewOutcomes is the number of outcomes stored since the last
	// training, kept or refused.
	NewOutcomes int `json:"new_outcomes"`
	// Trigger says why the model was retrained; "" when it was not.
	Trigger string `json:"trigger,omitempty"`
	// Kept is true when the retrained model became the active one.
	Kept         bool   `json:"kept"`
	ModelVersion string `json:"model_version"`
	// Waiting, when above 0, is how many more outcomes newer than the
	// active model's training are needed before a retrained model can be
	// compared with it on outcomes neither was trained on; the retrain
	// waited (nothing was trained, kept or refused).
	Waiting int `json:"waiting,omitempty"`
	// Text says what happened in a sentence.
	Text       string                      `json:"text,omitempty"`
	Comparison *patchpilot.ModelComparison `json:"comparison,omitempty"`
}

// lastTraining is the time and the number of records of the latest
// training, kept (model.trained) or refused (model.refused); zero when the
// model was never trained.
func (a *App) lastTraining(ctx context.Context) (time.Time, int, error) {
	var at time.Time
	records := 0
	for _, kind := range []string{patchpilot.EventModelTrained, patchpilot.EventModelRefused} {
		events, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: kind})
		if err != nil {
			return at, 0, err
		}
		for _, e := range events {
			if e.Time.Before(at) {
				continue
			}
			n := 0
			switch kind {
			case patchpilot.EventModelTrained:
				var d patchpilot.ModelTrainedData
				if json.Unmarshal(e.Data, &d) != nil {
					continue
				}
				n = d.Training.Records
			default:
				var d patchpilot.ModelRefusedData
				if json.Unmarshal(e.Data, &d) != nil {
					continue
				}
				n = d.Records
			}
			at, records = e.Time, n
		}
	}
	return at, records, nil
}

// LearnAfterRollout is what the end of a rollout does for the risk model.
// The statistics need nothing: every read of the model counts the stored
// outcomes (Model). The model is retrained when the outcomes stored since
// the last training reach the model: retrain_after setting, or when the
// last training is older than retrain_every and there is a new outcome;
// the new model is kept only when it scores no worse than the active one
// on the newest outcomes (risk.Retrain), and a refused one is recorded
// (EventModelRefused) while the active model stays.
func (a *App) LearnAfterRollout(ctx context.Context) (LearnResult, error) {
	var res LearnResult
	records, err := a.fleetRecords(ctx)
	if err != nil {
		return res, err
	}
	records = risk.Counting(records)
	at, seen, err := a.lastTraining(ctx)
	if err != nil {
		return res, err
	}
	res.NewOutcomes = max(len(records)-seen, 0)
	if res.NewOutcomes == 0 {
		return res, nil
	}
	cfg := a.Options.Learning
	if at.IsZero() {
		// Never trained: the schedule counts from the first outcome.
		at = records[0].Time
		for _, r := range records {
			if r.Time.Before(at) {
				at = r.Time
			}
		}
	}
	now := a.now()
	switch after, every := cfg.retrainAfter(), cfg.retrainEvery(); {
	case after > 0 && res.NewOutcomes >= after:
		res.Trigger = fmt.Sprintf("%s since the last training (retrain_after %d)", counted(res.NewOutcomes, "new outcome", "new outcomes"), after)
	case every > 0 && now.Sub(at) >= every:
		res.Trigger = fmt.Sprintf("last trained %s ago (retrain_every %s), %s since", now.Sub(at).Round(time.Minute), every,
			counted(res.NewOutcomes, "new outcome", "new outcomes"))
	default:
		return res, nil
	}
	current, _, err := a.Model(ctx)
	if err != nil {
		return res, err
	}
	final, cmp, err := risk.Retrain(current, records, risk.RetrainOptions{Train: risk.TrainOptions{Now: now, Source: "store"}})
	if err != nil {
		return res, err
	}
	if cmp.Waiting > 0 {
		res.ModelVersion, res.Waiting = current.Version, cmp.Waiting
		res.Text = fmt.Sprintf("retrain (%s) waiting for %s newer than the training of the active model %s (%d so far): a fair comparison needs outcomes neither model was trained on",
			res.Trigger, counted(cmp.Waiting, "more outcome", "more outcomes"), current.Version, cmp.Unseen)
		return res, nil
	}
	c := &patchpilot.ModelComparison{Newest: cmp.Newest, NewestFailures: cmp.NewestFailures, CurrentVersion: current.Version,
		CurrentBrier: cmp.Current.Brier, CurrentLogLoss: cmp.Current.LogLoss,
		CandidateBrier: cmp.Candidate.Brier, CandidateLogLoss: cmp.Candidate.LogLoss, Margin: cmp.Margin}
	res.Comparison = c
	if final == nil {
		res.ModelVersion = current.Version
		data, _ := json.Marshal(patchpilot.ModelRefusedData{Trigger: res.Trigger, Records: len(records), Comparison: *c})
		msg := fmt.Sprintf("retrained risk model refused (%s): on the newest %d outcomes its Brier score %.4f is worse than %.4f of the active model %s by more than the margin %.4f; log loss %.4f against %.4f; the active model stays",
			res.Trigger, c.Newest, c.CandidateBrier, c.CurrentBrier, current.Version, c.Margin, c.CandidateLogLoss, c.CurrentLogLoss)
		if cmp.Newest == 0 {
			msg = fmt.Sprintf("retrained risk model refused (%s): too few outcomes to compare it with the active model %s; the active model stays", res.Trigger, current.Version)
		}
		res.Text = msg
		return res, a.recordSystem(ctx, patchpilot.Event{Kind: patchpilot.EventModelRefused, Data: data, Message: msg})
	}
	if err := a.saveModel(ctx, final); err != nil {
		return res, err
	}
	res.Kept, res.ModelVersion = true, final.Version
	data, _ := json.Marshal(patchpilot.ModelTrainedData{ModelVersion: final.Version, Training: final.Training, Trigger: res.Trigger, Comparison: c})
	res.Text = fmt.Sprintf("retrained risk model %s on %d records (%s): kept over %s, Brier score %.4f against %.4f on the newest %d outcomes",
		final.Version, final.Training.Records, res.Trigger, current.Version, c.CandidateBrier, c.CurrentBrier, c.Newest)
	return res, a.recordSystem(ctx, patchpilot.Event{Kind: patchpilot.EventModelTrained, Data: data, Message: res.Text})
}

// recordSystem records an event of patchpilot itself, not of a person.
func (a *App) recordSystem(ctx context.Context, e patchpilot.Event) error {
	e.Actor = "patchpilot"
	return a.record(ctx, e)
}

// saveModel stores a model as the active one.
func (a *App) saveModel(ctx context.Context, m *risk.Model) error {
	blob, err := risk.MarshalModel(m)
	if err != nil {
		return err
	}
	info, err := json.Marshal(m.Training)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "encode training info: %w", err)
	}
	return a.Store.SaveModel(ctx, m.Version, m.TrainedAt, info, blob)
}

// learnAfterRollout is the engine's OnFinish: a failure to learn is logged,
// never the rollout's.
func (a *App) learnAfterRollout(ctx context.Context, rollout string, _ patchpilot.RolloutState) {
	res, err := a.LearnAfterRollout(ctx)
	if err != nil {
		if l := a.Options.Logger; l != nil {
			l.Warn("risk model: learn from rollout", "rollout", rollout, "err", err)
		}
		return
	}
	if l := a.Options.Logger; l != nil && res.Trigger != "" {
		if res.Waiting > 0 {
			l.Info("risk model retrain waiting", "rollout", rollout, "trigger", res.Trigger, "waiting", res.Waiting, "model", res.ModelVersion, "text", res.Text)
			return
		}
		l.Info("risk model retrained", "rollout", rollout, "trigger", res.Trigger, "kept", res.Kept, "model", res.ModelVersion)
	}
}

// UseModel makes a stored model version the active one ('patchpilot model
// use'), records who did it, and returns the new status. A model this
// version of patchpilot cannot read is refused, and the active model stays.
func (a *App) UseModel(ctx context.Context, version, actor string) (ModelStatus, error) {
	if strings.TrimSpace(version) == "" {
		return ModelStatus{}, patchpilot.Errorf(patchpilot.EINVALID, "model use: a version is required").
			WithHint("'patchpilot model status' lists the stored models")
	}
	models, err := a.Store.Models(ctx)
	if err != nil {
		return ModelStatus{}, err
	}
	prev, found := "", false
	for _, m := range models {
		if m.Active {
			prev = m.Version
		}
		found = found || m.Version == version
	}
	if !found {
		return ModelStatus{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "no risk model %s is stored", version).
			WithHint("'patchpilot model status' lists the stored models")
	}
	if _, err := a.Store.UseModel(ctx, version); err != nil {
		return ModelStatus{}, err
	}
	blob, _, err := a.Store.ActiveModel(ctx)
	if err == nil {
		_, err = risk.UnmarshalModel(blob, "stored model "+version)
	}
	if err != nil {
		if prev != "" && prev != version {
			if _, uerr := a.Store.UseModel(ctx, prev); uerr != nil {
				return ModelStatus{}, uerr
			}
		}
		return ModelStatus{}, err
	}
	data, _ := json.Marshal(patchpilot.ModelUsedData{ModelVersion: version, Previous: prev})
	msg := "risk model " + version + " made the active one"
	if prev != "" && prev != version {
		msg += " in place of " + prev
	}
	if err := a.record(ctx, patchpilot.Event{Kind: patchpilot.EventModelUsed, Actor: actor, Data: data, Message: msg}); err != nil {
		return ModelStatus{}, err
	}
	return a.ModelStatus(ctx)
}

// ModelActivation says why the active model is the active one.
type ModelActivation struct {
	// How is "trained" ('patchpilot model train'), "retrained" (kept by
	// an automatic retrain over the model it replaced), "restored" ('model
	// use') or "cold_start" (no model stored).
	How        string                      `json:"how"`
	At         *time.Time                  `json:"at,omitempty"`
	By         string                      `json:"by,omitempty"`
	Trigger    string                      `json:"trigger,omitempty"`
	Previous   string                      `json:"previous,omitempty"`
	Comparison *patchpilot.ModelComparison `json:"comparison,omitempty"`
	Text       string                      `json:"text"`
}

// RefusedRetrain is the latest automatic retrain whose model was refused.
type RefusedRetrain struct {
	At time.Time `json:"at"`
	patchpilot.ModelRefusedData
}

// activation finds why the model of version is active, and the latest
// refused retrain, from the model events.
func (a *App) activation(ctx context.Context, version string, stored bool) (ModelActivation, *RefusedRetrain, error) {
	act := ModelActivation{How: "cold_start", Text: "no model is stored: the cold-start model with this fleet's counts"}
	var refused *RefusedRetrain
	var latest *patchpilot.Event
	for _, kind := range []string{patchpilot.EventModelTrained, patchpilot.EventModelUsed, patchpilot.EventModelRefused} {
		events, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: kind})
		if err != nil {
			return act, nil, err
		}
		for i := range events {
			e := events[i]
			switch kind {
			case patchpilot.EventModelRefused:
				var d patchpilot.ModelRefusedData
				if json.Unmarshal(e.Data, &d) == nil && (refused == nil || !e.Time.Before(refused.At)) {
					refused = &RefusedRetrain{At: e.Time, ModelRefusedData: d}
				}
				continue
			case patchpilot.EventModelTrained:
				var d patchpilot.ModelTrainedData
				if json.Unmarshal(e.Data, &d) != nil || d.ModelVersion != version {
					continue
				}
			default:
				var d patchpilot.ModelUsedData
				if json.Unmarshal(e.Data, &d) != nil || d.ModelVersion != version {
					continue
				}
			}
			if latest == nil || e.Time.After(latest.Time) || (e.Time.Equal(latest.Time) && e.ID > latest.ID) {
				latest = &e
			}
		}
	}
	if !stored {
		return act, refused, nil
	}
	act = ModelActivation{How: "trained", Text: "stored by a training"}
	if latest == nil {
		return act, refused, nil
	}
	at := latest.Time
	act.At, act.By = &at, latest.Actor
	switch latest.Kind {
	case patchpilot.EventModelUsed:
		var d patchpilot.ModelUsedData
		_ = json.Unmarshal(latest.Data, &d)
		act.How, act.Previous = "restored", d.Previous
		act.Text = fmt.Sprintf("restored by %s with 'patchpilot model use'", dash(latest.Actor))
		if d.Previous != "" && d.Previous != version {
			act.Text += " in place of " + d.Previous
		}
	default:
		var d patchpilot.ModelTrainedData
		_ = json.Unmarshal(latest.Data, &d)
		act.Trigger, act.Comparison = d.Trigger, d.Comparison
		switch {
		case d.Comparison != nil:
			c := d.Comparison
			act.How, act.Previous = "retrained", c.CurrentVersion
			act.Text = fmt.Sprintf("retrained automatically (%s), kept over %s: Brier score %.4f against %.4f, log loss %.4f against %.4f on the newest %d outcomes",
				d.Trigger, c.CurrentVersion, c.CandidateBrier, c.CurrentBrier, c.CandidateLogLoss, c.CurrentLogLoss, c.Newest)
		default:
			act.Text = fmt.Sprintf("trained by %s with 'patchpilot model train'", dash(latest.Actor))
		}
	}
	return act, refused, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

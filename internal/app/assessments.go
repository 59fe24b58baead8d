package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// Predict is the engine's hook when a rollout is created: the active
// model's probability that the plan's patch fails on each of the hosts
// (AssessPatchOn), with the model's version. A host the patch changes
// nothing on has none.
func (a *App) Predict(ctx context.Context, p patchpilot.Plan, hosts []string) (map[string]patchpilot.Prediction, error) {
	pr, err := a.AssessPatchOn(ctx, p.Patch, hosts)
	if err != nil {
		return nil, err
	}
	out := make(map[string]patchpilot.Prediction, len(pr.Hosts))
	for _, h := range pr.Hosts {
		if h.Host == "" {
			continue
		}
		version := h.ModelVersion
		if version == "" {
			version = pr.ModelVersion
		}
		out[h.Host] = patchpilot.Prediction{Probability: h.Probability, ModelVersion: version}
	}
	return out, nil
}

// FleetCalibration measures the predictions stored with the fleet's own
// rollouts (each host patch assessed when its rollout started) against
// what happened, by bucket of predicted probability. Outcomes labelled
// unrelated to the patch are left out; a failure is any other outcome
// than succeeded (patchpilot.Outcome.CountsAgainstPatch).
type FleetCalibration struct {
	// Outcomes counts the outcomes with a stored prediction, Unrelated
	// those of them left out.
	Outcomes  int `json:"outcomes"`
	Unrelated int `json:"unrelated"`
	// Models are the model versions that made the predictions.
	Models []string `json:"models"`
	// Metrics: n, failure_rate, brier, ece, auc and the calibration
	// table (lo, hi, n, predicted, observed), empty buckets left out.
	Metrics risk.Metrics `json:"metrics"`
}

// FleetCalibration computes the calibration of the stored predictions.
func (a *App) FleetCalibration(ctx context.Context) (FleetCalibration, error) {
	outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{NoGateResults: true})
	if err != nil {
		return FleetCalibration{}, err
	}
	fc := FleetCalibration{Models: []string{}}
	var scored []risk.Scored
	models := map[string]bool{}
	for _, o := range outs {
		if o.Predicted == nil {
			continue
		}
		fc.Outcomes++
		if o.Unrelated != "" {
			fc.Unrelated++
			continue
		}
		scored = append(scored, risk.Scored{P: *o.Predicted, Failed: o.CountsAgainstPatch()})
		if o.PredictedBy != "" && !models[o.PredictedBy] {
			models[o.PredictedBy] = true
			fc.Models = append(fc.Models, o.PredictedBy)
		}
	}
	fc.Metrics = risk.Score("stored predictions", scored)
	if fc.Metrics.Calibration == nil {
		fc.Metrics.Calibration = []risk.CalibBin{}
	}
	return fc, nil
}

package app

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// OutcomeCount is how many host patches of one kind (a package, a
// category or a host) ended each way.
type OutcomeCount struct {
	Key          string  `json:"key"`
	Total        int     `json:"total"`
	Succeeded    int     `json:"succeeded"`
	Failed       int     `json:"failed"` // failed, rolled back, rollback failed or unreachable
	FailureRate  float64 `json:"failure_rate"`
	RolledBack   int     `json:"rolled_back"`
	RollbackFail int     `json:"rollback_failed"`
	// LastOutcome and LastPatched are the latest patch's.
	LastOutcome string    `json:"last_outcome"`
	LastPatched time.Time `json:"last_patched"`
}

// ModelCalibration is the active model's calibration on the stored
// history: each stored record scored by the model (against the model's
// own history, frozen) beside what happened, binned by predicted
// probability. Records the model was trained on are scored too, so the
// table is in-sample for them; StoredRecords above Status.Records says
// how many it has not seen.
type ModelCalibration struct {
	Status ModelStatus  `json:"status"`
	Model  risk.Metrics `json:"model"`
	// ByPackage, ByCategory and ByHost count the stored outcomes per
	// history record (one per package of a host's patch), most first.
	ByPackage  []OutcomeCount `json:"by_package"`
	ByCategory []OutcomeCount `json:"by_category"`
	ByHost     []OutcomeCount `json:"by_host"`
}

// failedOutcome reports whether an outcome counts as a failure.
func failedOutcome(o patchpilot.OutcomeKind) bool { return o != patchpilot.OutcomeSucceeded }

// Calibration evaluates the active model on the stored history and
// counts the outcomes by package, category and host.
//
// The answer is kept while the stored outcomes and models are unchanged.
func (a *App) Calibration(ctx context.Context) (ModelCalibration, error) {
	c, _, err := cachedRead(ctx, a, &a.cache.calibration, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{outcomes: v.Outcomes, models: v.Models}
	}, a.calibration)
	if err != nil {
		return ModelCalibration{}, err
	}
	c.Model.Calibration = slices.Clone(c.Model.Calibration)
	c.ByPackage, c.ByCategory, c.ByHost = slices.Clone(c.ByPackage), slices.Clone(c.ByCategory), slices.Clone(c.ByHost)
	return c, nil
}

func (a *App) calibration(ctx context.Context) (ModelCalibration, error) {
	records, err := a.History(ctx)
	if err != nil {
		return ModelCalibration{}, err
	}
	st, err := a.modelStatus(ctx, records)
	if err != nil {
		return ModelCalibration{}, err
	}
	m, _, err := a.modelWith(ctx, records)
	if err != nil {
		return ModelCalibration{}, err
	}
	res := ModelCalibration{Status: st, Model: risk.Metrics{Name: "model", Calibration: []risk.CalibBin{}}}
	if len(records) > 0 {
		res.Model = risk.EvaluateWith(m, records, risk.EvalOptions{FreezeHistory: true}).Model
	}
	pkg, cat, host := map[string]*OutcomeCount{}, map[string]*OutcomeCount{}, map[string]*OutcomeCount{}
	add := func(m map[string]*OutcomeCount, key string, r risk.Record) {
		c := m[key]
		if c == nil {
			c = &OutcomeCount{Key: key}
			m[key] = c
		}
		c.Total++
		if failedOutcome(r.Outcome) {
			c.Failed++
		} else {
			c.Succeeded++
		}
		switch r.Outcome {
		case patchpilot.OutcomeRolledBack:
			c.RolledBack++
		case patchpilot.OutcomeRollbackFailed:
			c.RollbackFail++
		}
		if !r.Time.Before(c.LastPatched) {
			c.LastPatched, c.LastOutcome = r.Time, string(r.Outcome)
		}
	}
	for _, r := range records {
		add(pkg, r.Package, r)
		c := r.Category
		if c == "" {
			c = risk.Categorize(r.SourcePackage, r.Package)
		}
		add(cat, c, r)
		if r.Host != "" {
			add(host, r.Host, r)
		}
	}
	res.ByPackage, res.ByCategory, res.ByHost = byTotal(pkg), byTotal(cat), byTotal(host)
	return res, nil
}

func byTotal(m map[string]*OutcomeCount) []OutcomeCount {
	out := make([]OutcomeCount, 0, len(m))
	for _, c := range m {
		c.FailureRate = float64(c.Failed) / float64(c.Total)
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// RiskPoint is one past patch of a host: what the active model predicts
// for it and what happened.
type RiskPoint struct {
	Time        time.Time              `json:"time"`
	Rollout     string                 `json:"rollout"`
	Package     string                 `json:"package"`
	ToVersion   string                 `json:"to_version"`
	Probability float64                `json:"probability"`
	Level       patchpilot.RiskLevel   `json:"level"`
	Outcome     patchpilot.OutcomeKind `json:"outcome"`
}

// HostRiskHistory scores each stored patch of a host with the active
// model, oldest first, beside its outcome.
func (a *App) HostRiskHistory(ctx context.Context, host string) ([]RiskPoint, error) {
	outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Host: host})
	if err != nil {
		return nil, err
	}
	m, _, err := a.Model(ctx)
	if err != nil {
		return nil, err
	}
	points := []RiskPoint{}
	for _, r := range recordsOf(outs) {
		as := m.Assess(r)
		points = append(points, RiskPoint{Time: r.Time, Rollout: r.Rollout, Package: r.Package, ToVersion: r.ToVersion,
			Probability: as.Probability, Level: as.Level, Outcome: r.Outcome})
	}
	return points, nil
}

// CalibBin is one bucket of a calibration table: the records whose
// predicted probability fell in it, their mean prediction and their
// observed failure rate.
type CalibBin = risk.CalibBin

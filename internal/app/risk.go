package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// ImportRolloutPrefix starts the rollout id of every imported outcome:
// "import:<digest>", where the digest is taken over the record's content
// (importID). One history line becomes one stored outcome; importing the
// same file again finds the same ids and replaces its outcomes with
// themselves instead of doubling them, two files that share a name keep
// each their own records, and imported outcomes never collide with real
// rollouts.
const ImportRolloutPrefix = "import:"

// importNoHost is the stored host of an imported record that names none
// (public advisory data); the store needs a host, the record keeps "".
const importNoHost = "-"

// importedFeatures is the Features JSON of an imported outcome: what
// risk.FromOutcome reads, plus the record itself so that training and export
// see exactly what was imported (fields such as cve_count, a missing
// to_version or the original rollout have no place in an Outcome).
type importedFeatures struct {
	risk.OutcomeFeatures
	Imported *risk.Record `json:"imported"`
}

// HistoryImport reports a history import: Records and Failures count the
// file's lines, Written the records the import stored new or changed (a
// line repeated in the file is one record; a record already stored as it
// is counts for nothing, so importing a file again writes 0).
type HistoryImport struct {
	File     string `json:"file"`
	Records  int    `json:"records"`
	Failures int    `json:"failures"`
	Written  int    `json:"written"`
}

// ImportHistory reads a JSONL history file (risk.ReadHistory) and stores one
// outcome per line, all in one transaction: a malformed line, named by
// file:line and field, rejects the file and nothing is written.
func (a *App) ImportHistory(ctx context.Context, path string) (HistoryImport, error) {
	rep := HistoryImport{File: path}
	records, err := readHistoryFile(path)
	if err != nil {
		return rep, err
	}
	rep.Records = len(records)
	outcomes := make([]patchpilot.Outcome, 0, len(records))
	seen, err := a.legacyImports(ctx)
	if err != nil {
		return rep, err
	}
	for i, r := range records {
		if r.Failed() {
			rep.Failures++
		}
		id, err := importID(r)
		if err != nil {
			return rep, patchpilot.Errorf(patchpilot.EINVALID, "%s: record %d: %w", path, i+1, err)
		}
		// A line repeated in the file is the same record: store it once.
		// The same goes for a record an older version stored under a
		// per-line id.
		if seen[id] {
			continue
		}
		seen[id] = true
		o, err := importedOutcome(r, id)
		if err != nil {
			return rep, patchpilot.Errorf(patchpilot.EINVALID, "%s: record %d: %w", path, i+1, err)
		}
		outcomes = append(outcomes, o)
	}
	if rep.Written, err = a.Store.ImportOutcomes(ctx, outcomes); err != nil {
		return rep, err
	}
	data, _ := json.Marshal(patchpilot.HistoryImportedData(rep))
	err = a.record(ctx, patchpilot.Event{Kind: patchpilot.EventHistoryImported, Data: data,
		Message: fmt.Sprintf("imported %d history records (%d failures) from %s", rep.Records, rep.Failures, path)})
	return rep, err
}

// importID is the rollout id of an imported record: ImportRolloutPrefix and
// the first 128 bits of the SHA-256 of the record's JSON, with the time in
// UTC so that one instant written in two zones is one record. The id depends
// on nothing but the content (host, package, versions, time, outcome and
// every other field), never on the file's name or the line, so an import can
// replace a record only with an identical one.
func importID(r risk.Record) (string, error) {
	r.Time = r.Time.UTC()
	data, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return ImportRolloutPrefix + hex.EncodeToString(sum[:16]), nil
}

// legacyImports returns the content ids (importID) of the outcomes that
// versions before content ids imported as "import:<file name>:<line>".
// Importing their file again finds them here and does not store them a
// second time.
func (a *App) legacyImports(ctx context.Context) (map[string]bool, error) {
	outcomes, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, o := range outcomes {
		if !isLegacyImportID(o.Rollout) {
			continue
		}
		for _, r := range recordsOf([]patchpilot.Outcome{o}) {
			if id, err := importID(r); err == nil {
				ids[id] = true
			}
		}
	}
	return ids, nil
}

// isLegacyImportID reports whether a rollout id has the per-line form
// "import:<file name>:<line>" rather than "import:<32 hex digits>".
func isLegacyImportID(rollout string) bool {
	rest, ok := strings.CutPrefix(rollout, ImportRolloutPrefix)
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return false
	}
	_, err := strconv.Atoi(rest[i+1:])
	return err == nil
}

// importedOutcome turns one history record into a stored outcome.
func importedOutcome(r risk.Record, rollout string) (patchpilot.Outcome, error) {
	rec := r
	feat := importedFeatures{Imported: &rec, OutcomeFeatures: risk.OutcomeFeatures{
		CVEs: r.CVEs, Severity: r.Severity, RebootRequired: r.RebootRequired,
		TransactionSize: r.TransactionSize, Removals: r.Removals, Conflicts: r.Conflicts, Services: r.Services,
	}}
	if r.Category != "" {
		feat.Categories = map[string]string{r.Package: r.Category}
	}
	if r.Dependents > 0 {
		feat.Dependents = map[string]int{r.Package: r.Dependents}
	}
	data, err := json.Marshal(feat)
	if err != nil {
		return patchpilot.Outcome{}, err
	}
	host := r.Host
	if host == "" {
		host = importNoHost
	}
	return patchpilot.Outcome{
		Time: r.Time, Rollout: rollout, Host: host, OS: r.OS, Labels: r.Labels,
		Packages: []patchpilot.PackageChange{{Name: r.Package, SourcePackage: r.SourcePackage,
			From: r.FromVersion, To: r.ToVersion}},
		Outcome: r.Outcome, Reason: r.Reason, Features: data, Unrelated: r.Unrelated,
	}, nil
}

// recordsOf flattens stored outcomes into history records: imported ones
// give back the imported record, the others go through risk.FromOutcome.
func recordsOf(outcomes []patchpilot.Outcome) []risk.Record {
	var out []risk.Record
	for _, o := range outcomes {
		if len(o.Features) > 0 {
			var f struct {
				Imported *risk.Record `json:"imported"`
			}
			if json.Unmarshal(o.Features, &f) == nil && f.Imported != nil {
				r := *f.Imported
				r.Time = o.Time
				out = append(out, r)
				continue
			}
		}
		out = append(out, risk.FromOutcome(o)...)
	}
	return out
}

// History returns every stored outcome as history records, oldest first.
func (a *App) History(ctx context.Context) ([]risk.Record, error) {
	return a.fleetRecords(ctx)
}

// ExportHistory writes the stored history as JSONL and returns how many
// records it wrote.
func (a *App) ExportHistory(ctx context.Context, w io.Writer) (int, error) {
	records, err := a.History(ctx)
	if err != nil {
		return 0, err
	}
	if err := risk.WriteHistory(w, records); err != nil {
		return 0, patchpilot.Errorf(patchpilot.EINTERNAL, "write history: %w", err)
	}
	return len(records), nil
}

// ModelStatus says which model is in use and what it was trained on. Its
// JSON field names are part of the CLI contract (docs/cli.md).
type ModelStatus struct {
	ModelVersion string `json:"model_version"`
	Stored       bool   `json:"stored"`     // false: no model is stored, the cold-start model is in use
	ColdStart    bool   `json:"cold_start"` // see risk.Model.ColdStart
	// TrainedAt is when the model was trained; nil for the cold-start
	// model of a store without one, which no training made.
	TrainedAt *time.Time `json:"trained_at"`
	// Unreadable, when set, says why the active model cannot be read
	// (stored by another version of patchpilot, or damaged): the status
	// then holds only what the store lists about it, and ModelStatus
	// returns an EINTERNAL error whose hint names 'patchpilot model use'.
	Unreadable string `json:"unreadable,omitempty"`
	// Unchanged is set by 'model train' when the training gave the active
	// model again (the same data, parameters and priors): nothing was
	// stored or recorded.
	Unchanged bool `json:"unchanged,omitempty"`
	// SavedAt is when the model was stored; nil for the cold-start model.
	SavedAt  *time.Time `json:"saved_at"`
	Source   string     `json:"source"`
	Records  int        `json:"records"`
	Failures int        `json:"failures"`
	// BaseRate is the failure rate of the training records, or the public
	// prior's when there were none.
	BaseRate    float64    `json:"base_rate"`
	From        *time.Time `json:"from"`
	To          *time.Time `json:"to"`
	Regression  bool       `json:"regression"`
	Calibrated  bool       `json:"calibrated"`
	PriorRate   float64    `json:"prior_rate"`
	PriorSource string     `json:"prior_source"`
	// StoredRecords is the number of history records in the store now; a
	// number above Records means the model has not seen all of them.
	StoredRecords int `json:"stored_records"`
	// Models is how many models have been stored.
	Models int `json:"models"`
	// Activation says why the active model is the active one, and
	// LastRefused is the latest automatic retrain that was refused.
	Activation  ModelActivation `json:"activation"`
	LastRefused *RefusedRetrain `json:"last_refused,omitempty"`
	// RecentBaseRate is the moving base rate (docs/risk.md, Drift): the
	// failure rate with older outcomes fading by the model's half-life,
	// moved on by the outcomes stored since its training.
	RecentBaseRate float64 `json:"recent_base_rate"`
	// StoredModels lists the stored models, newest first, for 'model use'.
	StoredModels []patchpilot.ModelInfo `json:"stored_models"`
	// Fleet is the calibration of the predictions stored with the
	// fleet's rollouts against their outcomes.
	Fleet *FleetCalibration `json:"fleet_calibration,omitempty"`
}

// coldStart returns the model of a fleet without a stored model.
func (a *App) coldStart() (*risk.Model, error) {
	p, err := risk.DefaultPriors()
	if err != nil {
		return nil, err
	}
	return risk.NewColdStart(p, a.now()), nil
}

func (a *App) now() time.Time {
	if a.Options.Now != nil {
		return a.Options.Now().UTC()
	}
	return time.Now().UTC()
}

// Model returns the active model and whether it was stored; without a stored
// model it returns the cold-start model built from the embedded priors.
// Either way its history counts every stored outcome (withFleetHistory).
// An active model that cannot be read is an EINTERNAL error (the stored
// data, not the caller, is at fault) whose hint names a stored model to
// make active; the stored model's info comes with it.
func (a *App) Model(ctx context.Context) (*risk.Model, *patchpilot.ModelInfo, error) {
	records, err := a.fleetRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	return a.modelWith(ctx, records)
}

// modelWith is Model with the stored outcomes already read, for callers
// that need them too: the store is read once.
func (a *App) modelWith(ctx context.Context, records []risk.Record) (*risk.Model, *patchpilot.ModelInfo, error) {
	m, info, err := a.activeModel(ctx)
	if err != nil {
		return nil, info, err
	}
	withFleetHistory(m, records)
	return m, info, nil
}

// activeModel is the active model as stored (or the cold-start one).
func (a *App) activeModel(ctx context.Context) (*risk.Model, *patchpilot.ModelInfo, error) {
	blob, info, err := a.Store.ActiveModel(ctx)
	if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
		m, err := a.coldStart()
		return m, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := risk.UnmarshalModel(blob, "stored model "+info.Version)
	if err != nil {
		return nil, &info, patchpilot.Errorf(patchpilot.EINTERNAL, "the active risk model %s cannot be read: %w", info.Version, err).
			WithHint(a.unreadableModelHint(ctx, info.Version))
	}
	return m, &info, nil
}

// unreadableModelHint tells what to do about an active model that cannot
// be read: make another stored model active, or train one.
func (a *App) unreadableModelHint(ctx context.Context, active string) string {
	models, err := a.Store.Models(ctx)
	if err == nil {
		for _, m := range models {
			if m.Version != active {
				return fmt.Sprintf("make a readable stored model the active one, e.g. the newest other one: 'patchpilot model use %s' ('patchpilot model status' lists them; model use refuses one it cannot read), or train a new one with 'patchpilot model train'", m.Version)
			}
		}
	}
	return "no other model is stored: train one with 'patchpilot model train' (it becomes the active one)"
}

// TrainModel trains a model on every stored outcome (imported history
// included) and stores it as the active model. Without outcomes it stores
// the cold-start model, so that assessments name a stored version. The
// event names no person (TrainModelBy does).
func (a *App) TrainModel(ctx context.Context) (ModelStatus, error) {
	return a.TrainModelBy(ctx, "")
}

// TrainModelBy is TrainModel recording who trained ('patchpilot model
// train' passes the same local actor as 'model use'). A training whose
// model is already stored (same data, parameters and priors: the same
// version) stores no second copy: when it is the active one the status says
// Unchanged and nothing is recorded; an older stored copy is made the
// active one again, recorded as a training.
func (a *App) TrainModelBy(ctx context.Context, actor string) (ModelStatus, error) {
	records, err := a.History(ctx)
	if err != nil {
		return ModelStatus{}, err
	}
	m, err := risk.Train(records, risk.TrainOptions{Now: a.now(), Source: "store"})
	if err != nil {
		return ModelStatus{}, err
	}
	models, err := a.Store.Models(ctx)
	if err != nil {
		return ModelStatus{}, err
	}
	stored, active := false, false
	for _, info := range models {
		if info.Version == m.Version {
			stored, active = true, active || info.Active
		}
	}
	if active {
		st, err := a.ModelStatus(ctx)
		if err != nil && st.Unreadable == "" {
			return st, err
		}
		if st.Unreadable == "" {
			st.Unchanged = true
			return st, nil
		}
		// The stored copy cannot be read: store the new one over it.
		stored = false
	}
	what := "trained"
	if stored {
		// The same model as an older stored one: make that one active
		// rather than store a copy with the same version.
		if _, err := a.Store.UseModel(ctx, m.Version); err != nil {
			return ModelStatus{}, err
		}
		if _, _, err := a.activeModel(ctx); err != nil {
			stored = false
		} else {
			what = "trained (the same as the stored model, made active again)"
		}
	}
	if !stored {
		blob, err := risk.MarshalModel(m)
		if err != nil {
			return ModelStatus{}, err
		}
		info, err := json.Marshal(m.Training)
		if err != nil {
			return ModelStatus{}, patchpilot.Errorf(patchpilot.EINTERNAL, "encode training info: %w", err)
		}
		if err := a.Store.SaveModel(ctx, m.Version, m.TrainedAt, info, blob); err != nil {
			return ModelStatus{}, err
		}
	}
	data, _ := json.Marshal(patchpilot.ModelTrainedData{ModelVersion: m.Version, Training: m.Training})
	if err := a.record(ctx, patchpilot.Event{Kind: patchpilot.EventModelTrained, Actor: actor, Data: data,
		Message: fmt.Sprintf("%s risk model %s on %s (%s)", what, m.Version,
			counted(m.Training.Records, "record", "records"), counted(m.Training.Failures, "failure", "failures"))}); err != nil {
		return ModelStatus{}, err
	}
	return a.ModelStatus(ctx)
}

// ModelStatus describes the active model (or the cold-start one).
func (a *App) ModelStatus(ctx context.Context) (ModelStatus, error) {
	records, err := a.History(ctx)
	if err != nil {
		return ModelStatus{}, err
	}
	st, err := a.modelStatus(ctx, records)
	if err != nil {
		return st, err // with what can be told of an unreadable model
	}
	fc, err := a.FleetCalibration(ctx)
	st.Fleet = &fc
	return st, err
}

// modelStatus is ModelStatus with the stored history already read.
func (a *App) modelStatus(ctx context.Context, records []risk.Record) (ModelStatus, error) {
	m, info, err := a.modelWith(ctx, records)
	if err != nil && info == nil {
		return ModelStatus{}, err
	}
	models, lerr := a.Store.Models(ctx)
	if lerr != nil {
		return ModelStatus{}, lerr
	}
	if err != nil {
		// The active model cannot be read: say what the store lists, so
		// that another model can be chosen.
		trained, saved := info.TrainedAt, info.SavedAt
		return ModelStatus{ModelVersion: info.Version, Stored: true, TrainedAt: &trained, SavedAt: &saved,
			Unreadable: err.Error(), StoredRecords: len(records), Models: len(models), StoredModels: models,
			Activation: ModelActivation{How: "unreadable", Text: "the active model cannot be read"}}, err
	}
	t := m.Training
	s := ModelStatus{
		ModelVersion: m.Version, Stored: info != nil, ColdStart: m.ColdStart(),
		Source: t.Source, Records: t.Records, Failures: t.Failures, Regression: t.Regression,
		Calibrated: t.Calibrated, PriorRate: m.Priors.Global.Rate, BaseRate: m.Priors.Global.Rate,
		PriorSource: priorSource(m.Priors), StoredRecords: len(records), Models: len(models),
		StoredModels: models,
	}
	if info != nil {
		saved, trained := info.SavedAt, m.TrainedAt
		s.SavedAt, s.TrainedAt = &saved, &trained
	}
	s.RecentBaseRate = movingBaseRate(m, records)
	if s.Activation, s.LastRefused, err = a.activation(ctx, m.Version, info != nil); err != nil {
		return ModelStatus{}, err
	}
	if t.Records > 0 {
		s.BaseRate = float64(t.Failures) / float64(t.Records)
		from, to := t.From, t.To
		s.From, s.To = &from, &to
	}
	return s, nil
}

// priorSource describes where the priors come from in a few words.
func priorSource(p risk.Priors) string {
	pv := p.Provenance
	if pv.Label == "" && pv.From == "" {
		return "embedded priors"
	}
	return fmt.Sprintf("%s, %d of %d public updates failed, %s to %s", pv.Label, p.Global.Failures,
		p.Global.Total, pv.From, pv.To)
}

// EvalOptions are the inputs of EvaluateFiles besides the files.
type EvalOptions struct {
	// FreezeHistory scores the test records against the training history
	// only (risk.EvalOptions).
	FreezeHistory bool
	// PriorsFile, when set, replaces the embedded cold-start priors
	// (written by cmd/riskpriors), so that an evaluation can use priors
	// computed only from data older than its test split.
	PriorsFile string
	Now        time.Time
}

// EvalResult is a model evaluation: the model trained on the training file
// and its report on the test file. Its JSON field names are part of the CLI
// contract (docs/cli.md).
type EvalResult struct {
	ModelVersion  string            `json:"model_version"`
	Train         string            `json:"train"`
	Test          string            `json:"test"`
	Training      risk.TrainingInfo `json:"training"`
	FreezeHistory bool              `json:"freeze_history"`
	// Warnings say what makes the figures less trustworthy, such as a
	// test period that is not after the training period.
	Warnings []string `json:"warnings"`
	risk.Report
}

// EvaluateFiles trains a model on one JSONL history and evaluates it on
// another, beside the rule-based baseline and the base rate. It reads only
// the files; the store is not involved.
func EvaluateFiles(trainPath, testPath string, opts EvalOptions) (EvalResult, error) {
	res := EvalResult{Train: trainPath, Test: testPath, FreezeHistory: opts.FreezeHistory, Warnings: []string{}}
	train, err := readHistoryFile(trainPath)
	if err != nil {
		return res, err
	}
	test, err := readHistoryFile(testPath)
	if err != nil {
		return res, err
	}
	if len(test) == 0 {
		return res, patchpilot.Errorf(patchpilot.EINVALID, "%s: no records to evaluate on", testPath)
	}
	if w := periodOrderWarning(train, test, trainPath, testPath); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	to := risk.TrainOptions{Now: opts.Now, Source: trainPath}
	if opts.PriorsFile != "" {
		data, err := capped.ReadFile(opts.PriorsFile, "priors file", MaxPriorsBytes)
		switch {
		case errors.Is(err, capped.ErrTooLarge):
			return res, err
		case err != nil:
			return res, patchpilot.Errorf(patchpilot.EINVALID, "read priors: %w", err)
		}
		p, err := risk.ParsePriors(data, opts.PriorsFile)
		if err != nil {
			return res, err
		}
		to.Priors = &p
	}
	m, err := risk.Train(train, to)
	if err != nil {
		return res, err
	}
	res.ModelVersion, res.Training = m.Version, m.Training
	res.Report = risk.EvaluateWith(m, test, risk.EvalOptions{FreezeHistory: opts.FreezeHistory})
	return res, nil
}

// periodOrderWarning says when test records are not all after the
// training records: the model is then scored on outcomes older than ones
// it learnt from, which flatters it.
func periodOrderWarning(train, test []risk.Record, trainPath, testPath string) string {
	if len(train) == 0 {
		return ""
	}
	last := train[0].Time
	for _, r := range train {
		if r.Time.After(last) {
			last = r.Time
		}
	}
	older := 0
	first := test[0].Time
	for _, r := range test {
		if !r.Time.After(last) {
			older++
		}
		if r.Time.Before(first) {
			first = r.Time
		}
	}
	if older == 0 {
		return ""
	}
	return fmt.Sprintf("the test period is not after the training period: %s of %s (from %s) are not newer than the newest of %s (%s); train on the past, test on what followed",
		counted(older, "record", "records"), testPath, first.Format(time.DateOnly), trainPath, last.Format(time.DateOnly))
}

// MaxPriorsBytes bounds the priors file of EvaluateFiles (docs/cli.md,
// Input size caps); priors written by cmd/riskpriors are a few KiB.
const MaxPriorsBytes = 16 << 20

// readHistoryFile reads a JSONL history file, capped at
// risk.MaxHistoryBytes by risk.ReadHistory.
func readHistoryFile(path string) ([]risk.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "history file %s does not exist", path)
		}
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "open history file: %w", err)
	}
	defer f.Close()
	return risk.ReadHistory(f, path)
}

// sortedCounts lists a history map's keys by failures, then by total, for
// explanations that name the riskiest packages.
func sortedCounts(m map[string]risk.Count) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m[keys[i]], m[keys[j]]
		if a.Failures != b.Failures {
			return a.Failures > b.Failures
		}
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return keys[i] < keys[j]
	})
	return keys
}

// ColdStartNote says why the model in use is the cold-start one, in words
// true of the store now: no model trained yet (with how many outcomes are
// stored to train one on), or a model trained on too thin a history. It
// is "" when the model in use fitted a regression. The stored outcomes
// are read only for a cold-start model.
func (a *App) ColdStartNote(ctx context.Context) (string, error) {
	m, info, err := a.Model(ctx)
	if err != nil || !m.ColdStart() {
		return "", err
	}
	outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil {
		return "", err
	}
	n := len(outs)
	switch {
	case info == nil && n == 0:
		return "cold-start model: no model trained and no outcomes stored yet; public priors decide", nil
	case info == nil:
		return fmt.Sprintf("cold-start model: no model trained yet (%s stored: run `patchpilot model train`)", counted(n, "outcome", "outcomes")), nil
	}
	note := fmt.Sprintf("cold-start model: the model was trained on %s (%s), too few to fit a regression (it needs %d outcomes and %d failures); public priors and this fleet's counts decide",
		counted(m.Training.Records, "outcome", "outcomes"), counted(m.Training.Failures, "failure", "failures"), m.Params.MinRecords, m.Params.MinFailures)
	if n > m.Training.Records {
		note += fmt.Sprintf(" (%s stored now: run `patchpilot model train` again)", counted(n, "outcome", "outcomes"))
	}
	return note, nil
}

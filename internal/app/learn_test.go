package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// addDemoFleet stores three Debian web hosts running pp-demo-web 1.0.0 with
// 1.1.4 pending, so that --patch may pin any release up to it.
func addDemoFleet(t *testing.T, a *App) {
	t.Helper()
	ctx := context.Background()
	var hosts []patchpilot.Host
	for i := 1; i <= 3; i++ {
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"role": "web"}})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: testNow.Add(-time.Hour), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", Kernel: "6.1.0", Arch: "x86_64",
			PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0", SourceName: "pp-demo-web"}},
			Updates: []patchpilot.Update{{Package: "pp-demo-web", SourcePackage: "pp-demo-web",
				InstalledVersion: "1.0.0", CandidateVersion: "1.1.4"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

// finishRollout stores a host's outcome as the engine does when a host's
// pipeline ends (RecordOutcome, with risk.OutcomeFeatures), then ends the
// rollout the way Engine.Run does: through the engine's OnFinish.
func finishRollout(t *testing.T, a *App, id, host, version string, kind patchpilot.OutcomeKind, reason, unrelated string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	feat, _ := json.Marshal(risk.OutcomeFeatures{Categories: map[string]string{"pp-demo-web": "other"}, Role: "web",
		Stage: "canary", TransactionSize: 1})
	o := patchpilot.Outcome{Time: at, Rollout: id, Host: host, OS: "debian:12", Labels: map[string]string{"role": "web"},
		Packages: []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0", To: version, SourcePackage: "pp-demo-web"}},
		Outcome:  kind, Reason: reason, GateResults: []patchpilot.GateResult{}, Features: feat, Unrelated: unrelated}
	if err := a.Store.RecordOutcome(ctx, o); err != nil {
		t.Fatal(err)
	}
	eng := a.Engine(EngineOptions{})
	if eng.OnFinish == nil {
		t.Fatal("the engine has no OnFinish: a finished rollout would teach the model nothing")
	}
	eng.OnFinish(ctx, id, patchpilot.RolloutSucceeded)
}

func patchProbability(t *testing.T, a *App, spec string) (float64, []risk.Reason) {
	t.Helper()
	res, err := a.Assess(context.Background(), AssessQuery{Patch: spec})
	if err != nil {
		t.Fatalf("Assess(%s): %v", spec, err)
	}
	if len(res.Patches) != 1 || len(res.Patches[0].Hosts) == 0 {
		t.Fatalf("Assess(%s) = %+v, want one patch", spec, res.Patches)
	}
	p := res.Patches[0]
	return p.Summary.MaxProbability, p.Hosts[0].Reasons
}

// After two rollouts (pp-demo-web 1.1.3 rolled back on a host, 1.1.0
// succeeded on another), with no model command, assess ranks the failed
// version above the one that passed, and says why.
func TestAssessLearnsFromRolloutsWithoutTraining(t *testing.T) {
	a := newTestApp(t)
	addDemoFleet(t, a)
	before113, _ := patchProbability(t, a, "pp-demo-web=1.1.3")
	before110, _ := patchProbability(t, a, "pp-demo-web=1.1.0")
	if before113 != before110 {
		t.Fatalf("before any rollout 1.1.3 scores %.4f and 1.1.0 %.4f; want the same", before113, before110)
	}
	finishRollout(t, a, "r-113", "web-1", "1.1.3", patchpilot.OutcomeRolledBack,
		"rolled back: stage canary: gate http_errors: error rate 0.11 above 0.05", "", testNow.Add(-2*time.Hour))
	finishRollout(t, a, "r-110", "web-2", "1.1.0", patchpilot.OutcomeSucceeded, "verified", "", testNow.Add(-time.Hour))

	bad, reasons := patchProbability(t, a, "pp-demo-web=1.1.3")
	good, _ := patchProbability(t, a, "pp-demo-web=1.1.0")
	if bad <= good {
		t.Errorf("1.1.3 (rolled back) scores %.4f, 1.1.0 (succeeded) %.4f; want the failed version higher", bad, good)
	}
	if bad <= before113 {
		t.Errorf("1.1.3 scores %.4f after its rollback, %.4f before; want it higher", bad, before113)
	}
	found := false
	for _, r := range reasons {
		found = found || (r.Feature == risk.FeatureVersion && strings.Contains(r.Text, "1.1.3 already failed in its only host patch"))
	}
	if !found {
		t.Errorf("1.1.3 reasons %+v: want the version's own failure", reasons)
	}
	models, err := a.Store.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(models) > 1 {
		t.Errorf("%d models stored after two outcomes; the first retrain needs more", len(models))
	}
}

// A failure labelled unrelated (the host was unreachable before the apply)
// is kept but not counted against the version.
func TestUnrelatedOutcomeIsNotLearnt(t *testing.T) {
	a := newTestApp(t)
	addDemoFleet(t, a)
	before, _ := patchProbability(t, a, "pp-demo-web=1.1.3")
	finishRollout(t, a, "r-113", "web-1", "1.1.3", patchpilot.OutcomeFailed,
		"preflight: the host does not answer", "the host failed before any change (preflight)", testNow.Add(-time.Hour))
	after, _ := patchProbability(t, a, "pp-demo-web=1.1.3")
	if after != before {
		t.Errorf("1.1.3 scores %.4f after an unrelated failure, %.4f before; want no change", after, before)
	}
	var buf strings.Builder
	if _, err := a.ExportHistory(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"unrelated":"the host failed before any change (preflight)"`) {
		t.Errorf("export %s: want the unrelated label", buf.String())
	}
}

// writeHistory writes records as a JSONL file in the test's folder.
func writeHistory(t *testing.T, records []risk.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := risk.WriteHistory(f, records); err != nil {
		t.Fatal(err)
	}
	return path
}

// synthetic returns n records one hour apart from start where updates
// with removals fail with pRemovals and the rest with pPlain.
func synthetic(n int, start time.Time, pRemovals, pPlain float64, seed int) []risk.Record {
	out := make([]risk.Record, n)
	x := uint64(seed)*2654435761 + 1
	next := func() float64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return float64(x%1000000) / 1000000
	}
	for i := range out {
		r := risk.Record{Time: start.Add(time.Duration(i) * time.Hour), Host: fmt.Sprintf("h%02d", i%17),
			Package: fmt.Sprintf("pkg%02d", i%23), FromVersion: "1.0-1", ToVersion: "1.0-2", Outcome: patchpilot.OutcomeSucceeded}
		p := pPlain
		if i%3 == 0 {
			r.Removals, p = []string{"old-lib"}, pRemovals
		}
		if next() < p {
			r.Outcome = patchpilot.OutcomeRolledBack
		}
		out[i] = r
	}
	return out
}

// The end of a rollout retrains the model once enough new outcomes are
// stored, keeps the new model when it scores no worse on the newest
// outcomes, and says so in 'model status'; 'model use' restores the
// earlier one.
func TestRetrainAfterRolloutAndModelUse(t *testing.T) {
	a := newTestApp(t)
	a.Options.Learning = LearningConfig{RetrainAfter: 100, RetrainEvery: -1}
	ctx := context.Background()
	start := testNow.Add(-2000 * time.Hour)
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(400, start, 0.5, 0.02, 1))); err != nil {
		t.Fatal(err)
	}
	first, err := a.TrainModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Activation.How != "trained" {
		t.Errorf("after model train, activation %+v; want trained", first.Activation)
	}
	// Fewer new outcomes than retrain_after: nothing happens.
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(50, start.Add(400*time.Hour), 0.5, 0.02, 2))); err != nil {
		t.Fatal(err)
	}
	res, err := a.LearnAfterRollout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trigger != "" || res.NewOutcomes != 50 {
		t.Fatalf("after 50 new outcomes: %+v; want no retrain, 50 new", res)
	}
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(100, start.Add(450*time.Hour), 0.5, 0.02, 3))); err != nil {
		t.Fatal(err)
	}
	res, err = a.LearnAfterRollout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trigger == "" || res.Comparison == nil || res.Comparison.CurrentVersion != first.ModelVersion {
		t.Fatalf("after 150 new outcomes: %+v; want a retrain compared with %s", res, first.ModelVersion)
	}
	st, err := a.ModelStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept {
		if st.ModelVersion != res.ModelVersion || st.Activation.How != "retrained" || st.Activation.Previous != first.ModelVersion ||
			!strings.Contains(st.Activation.Text, "kept over "+first.ModelVersion) {
			t.Errorf("status after a kept retrain: %+v", st)
		}
	} else if st.ModelVersion != first.ModelVersion || st.LastRefused == nil {
		t.Errorf("status after a refused retrain: %+v", st)
	}
	if !res.Kept {
		t.Fatalf("retrain on data like the training refused: %+v", res.Comparison)
	}
	// The next call finds nothing new.
	if res, err := a.LearnAfterRollout(ctx); err != nil || res.Trigger != "" || res.NewOutcomes != 0 {
		t.Errorf("right after a retrain: %+v, %v; want nothing new", res, err)
	}

	st, err = a.UseModel(ctx, first.ModelVersion, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if st.ModelVersion != first.ModelVersion || st.Activation.How != "restored" || st.Activation.Previous != res.ModelVersion ||
		st.Activation.By != "ann" || st.Models != 2 {
		t.Errorf("after model use: %+v", st)
	}
	if _, err := a.UseModel(ctx, "rm-nosuch", "ann"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("model use of an unknown version: %v, want not_found", err)
	}
}

// A retrained model that scores worse on the newest outcomes than the
// active one is refused: an event records both scores and the active model
// stays. The newest outcomes are ones neither model was trained on.
func TestRetrainRefusedKeepsTheActiveModel(t *testing.T) {
	a := newTestApp(t)
	a.Options.Learning = LearningConfig{RetrainAfter: 50, RetrainEvery: -1}
	ctx := context.Background()
	start := testNow.Add(-3000 * time.Hour)
	// The active model was trained on a fleet where removals no longer
	// matter and other updates fail...
	current, err := risk.Train(synthetic(1500, start.Add(-5000*time.Hour), 0.02, 0.2, 4), risk.TrainOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.saveModel(ctx, current); err != nil {
		t.Fatal(err)
	}
	first := ModelStatus{ModelVersion: current.Version}
	// ...while the stored outcomes are mostly of an older time when
	// removals failed and nothing else did, so that a model trained on
	// them misjudges the newest outcomes, which neither was trained on.
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(1200, start, 0.6, 0.02, 5))); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(300, start.Add(1200*time.Hour), 0.02, 0.2, 6))); err != nil {
		t.Fatal(err)
	}
	res, err := a.LearnAfterRollout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trigger == "" || res.Kept || res.Comparison == nil {
		t.Fatalf("retrain %+v: want it refused", res)
	}
	if res.Comparison.CandidateBrier <= res.Comparison.CurrentBrier || res.Comparison.Newest != 300 {
		t.Errorf("refused with Brier %.4f against %.4f on %d outcomes, want worse on the 300 newer than the active model's training",
			res.Comparison.CandidateBrier, res.Comparison.CurrentBrier, res.Comparison.Newest)
	}
	st, err := a.ModelStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ModelVersion != first.ModelVersion || st.LastRefused == nil || st.LastRefused.Comparison.CandidateBrier != res.Comparison.CandidateBrier {
		t.Errorf("status after a refusal: %+v", st)
	}
	events, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventModelRefused})
	if err != nil || len(events) != 1 || !strings.Contains(events[0].Message, "the active model stays") {
		t.Errorf("refusal events %+v, %v", events, err)
	}
	// The refusal counts as a training: the same outcomes do not retrain
	// again at the next rollout's end.
	if res, err := a.LearnAfterRollout(ctx); err != nil || res.Trigger != "" {
		t.Errorf("after a refusal: %+v, %v; want no retrain", res, err)
	}
}

// A retrain right after a training on the same outcomes and one more has
// nothing fair to compare on (the active model was fitted on every outcome
// but one): it waits for enough newer outcomes instead of refusing.
func TestRetrainWaitsForUnseenOutcomes(t *testing.T) {
	a := newTestApp(t)
	a.Options.Learning = LearningConfig{RetrainAfter: 1, RetrainEvery: -1}
	ctx := context.Background()
	start := testNow.Add(-3000 * time.Hour)
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(1500, start, 0.5, 0.03, 7))); err != nil {
		t.Fatal(err)
	}
	first, err := a.TrainModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Regression {
		t.Fatal("the trained model fitted no regression")
	}
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(1, start.Add(2000*time.Hour), 0.5, 0.03, 8))); err != nil {
		t.Fatal(err)
	}
	res, err := a.LearnAfterRollout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trigger == "" || res.Kept || res.Comparison != nil || res.Waiting != risk.DefaultMinNewest-1 ||
		!strings.Contains(res.Text, "waiting for 19 more outcomes") {
		t.Fatalf("retrain %+v: want it waiting for 19 more outcomes", res)
	}
	st, err := a.ModelStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ModelVersion != first.ModelVersion || st.LastRefused != nil {
		t.Errorf("status after waiting: model %s, last refused %+v; want %s and no refusal", st.ModelVersion, st.LastRefused, first.ModelVersion)
	}
}

func TestModelConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "patchpilot.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(write("model:\n  retrain_after: 20\n  retrain_every: 7d\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Apply(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Learning.RetrainAfter != 20 || o.Learning.RetrainEvery != 7*24*time.Hour {
		t.Errorf("learning = %+v", o.Learning)
	}
	// A quoted whole number is the number.
	c, err = LoadConfig(write("model:\n  retrain_after: \"50\"\n"), false)
	if err != nil || c.Model.retrainAfter() != 50 {
		t.Errorf("retrain_after \"50\": %+v, %v", c.Model, err)
	}
	c, err = LoadConfig(write("model:\n  retrain_after: off\n"), false)
	if err != nil || c.Model.retrainAfter() > 0 || c.Model.retrainEvery() != DefaultRetrainEvery {
		t.Errorf("retrain_after off: %+v, %v", c.Model, err)
	}
	for text, want := range map[string]string{
		"model:\n  retrain_after: -3\n":                    "patchpilot.yaml:2: model.retrain_after: expected a positive whole number",
		"model:\n  retrain_every: soon\n":                  "patchpilot.yaml:2: model.retrain_every",
		"model:\n  retrain: 5\n":                           `patchpilot.yaml:2: model: unknown key "retrain"`,
		"model: 5\n":                                       "patchpilot.yaml:1: model: expected a mapping",
		"model:\n  retrain_after: 1.5\n":                   "patchpilot.yaml:2: model.retrain_after: expected a positive whole number of outcomes or off, got \"1.5\"",
		"model:\n  retrain_after: 1e3\n":                   "patchpilot.yaml:2: model.retrain_after: expected a positive whole number",
		"model:\n  retrain_after: 5\n  retrain_after: 9\n": `patchpilot.yaml:3: model: mapping key "retrain_after" already defined at line 2`,
	} {
		if _, err := LoadConfig(write(text), false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}

// An imported record labelled unrelated is stored as an unrelated outcome
// and exported with its label.
func TestImportCarriesUnrelated(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	rec := risk.Record{Time: testNow.Add(-time.Hour), Host: "web-1", Package: "pp-demo-web", FromVersion: "1.0.0",
		ToVersion: "1.1.3", Outcome: patchpilot.OutcomeRolledBack, Unrelated: "fault injected: net-drop"}
	if _, err := a.ImportHistory(ctx, writeHistory(t, []risk.Record{rec})); err != nil {
		t.Fatal(err)
	}
	outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil || len(outs) != 1 || outs[0].Unrelated != rec.Unrelated || outs[0].CountsAgainstPatch() {
		t.Fatalf("stored outcomes %+v, %v; want one labelled %q", outs, err, rec.Unrelated)
	}
	recs, err := a.History(ctx)
	if err != nil || len(recs) != 1 || recs[0].Unrelated != rec.Unrelated {
		t.Errorf("history %+v, %v", recs, err)
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

const (
	historyTrain = "../../internal/app/testdata/history-train.jsonl"
	historyTest  = "../../internal/app/testdata/history-test.jsonl"
	historyBad   = "../../internal/app/testdata/history-bad.jsonl"
)

func TestHistoryImportMalformed(t *testing.T) {
	e := newEnv(t)
	r := e.run("history", "import", historyBad)
	if r.code != 2 || !strings.Contains(r.stderr, "history-bad.jsonl:3") || !strings.Contains(r.stderr, `"cves"`) {
		t.Errorf("history import of a malformed file: exit %d, stderr %q; want exit 2 naming history-bad.jsonl:3 and cves", r.code, r.stderr)
	}
	if out := e.mustRun("history", "export"); out != "" {
		t.Errorf("a rejected import stored records; export:\n%s", out)
	}
	if r := e.run("history", "import", "/nonexistent/h.jsonl"); r.code != 4 {
		t.Errorf("history import of a missing file: exit %d, stderr %q; want 4", r.code, r.stderr)
	}
	if r := e.run("history", "import"); r.code != 2 {
		t.Errorf("history import without a file: exit %d; want 2", r.code)
	}
}

func TestHistoryImportExport(t *testing.T) {
	e := newEnv(t)
	rep := decodeJSON[map[string]any](t, e.mustRun("history", "import", historyTest, "-o", "json"))
	if rep["records"] != 300.0 || rep["written"] != 300.0 || rep["failures"] != 14.0 {
		t.Errorf("history import -o json = %v; want 300 records written, 14 failures", rep)
	}
	file := filepath.Join(e.home, "export.jsonl")
	e.mustRun("history", "export", "--out", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 300 || !strings.Contains(lines[0], `"time":"2024-07-01T00:00:00Z"`) {
		t.Errorf("export wrote %d lines, first %q; want 300 from 2024-07-01", len(lines), lines[0])
	}
	// The export reads back in.
	e2 := newEnv(t)
	e2.mustRun("history", "import", file)
	if got := e2.mustRun("history", "export"); got != string(data) {
		t.Errorf("export of a re-imported export differs")
	}
}

func TestModelEval(t *testing.T) {
	e := newEnv(t)
	out := e.mustRun("model", "eval", "--train", historyTrain, "--test", historyTest)
	for _, want := range []string{"AUC", "BRIER", "LOG_LOSS", "\nmodel ", "\nrule-based baseline ", "\nbase rate ",
		"calibration: model", "calibration: base rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("model eval output lacks %q:\n%s", want, out)
		}
	}
	type metrics struct {
		Name        string           `json:"name"`
		N           int              `json:"n"`
		AUC         *float64         `json:"auc"`
		Brier       *float64         `json:"brier"`
		LogLoss     *float64         `json:"log_loss"`
		Calibration []map[string]any `json:"calibration"`
	}
	rep := decodeJSON[struct {
		ModelVersion string  `json:"model_version"`
		Model        metrics `json:"model"`
		Baseline     metrics `json:"baseline"`
		BaseRate     metrics `json:"base_rate"`
	}](t, e.mustRun("model", "eval", "--train", historyTrain, "--test", historyTest, "-o", "json", "--freeze-history"))
	for _, m := range []metrics{rep.Model, rep.Baseline, rep.BaseRate} {
		if m.N != 300 || m.AUC == nil || m.Brier == nil || m.LogLoss == nil || len(m.Calibration) == 0 {
			t.Errorf("model eval -o json %q = %+v; want n 300, auc, brier, log_loss and a calibration table", m.Name, m)
		}
	}
	if !strings.HasPrefix(rep.ModelVersion, "rm-") || *rep.BaseRate.AUC != 0.5 || *rep.Model.Brier > *rep.BaseRate.Brier {
		t.Errorf("model eval: version %q, base rate AUC %v, model Brier %v vs base rate %v", rep.ModelVersion,
			*rep.BaseRate.AUC, *rep.Model.Brier, *rep.BaseRate.Brier)
	}
	for _, args := range [][]string{{"model", "eval", "--train", historyTrain}, {"model", "eval", "--train", historyBad, "--test", historyTest}} {
		if r := e.run(args...); r.code != 2 {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want 2", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// seedFleet writes two hosts with pending pp-agent and pp-libdemo updates
// into the database file, the way a collection would; web-1's dry run
// removes pp-agent-legacy.
func seedFleet(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hosts := []patchpilot.Host{{Name: "web-1", Labels: map[string]string{"role": "web"}},
		{Name: "db-1", Labels: map[string]string{"role": "db"}}}
	if err := db.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC(), Source: "ssh", OSFamily: patchpilot.FamilyDebian,
			OSName: "debian", OSVersion: "12", Kernel: "6.1.0", Arch: "x86_64", PackagesKnown: true, UpdatesKnown: true,
			Updates: []patchpilot.Update{
				{Package: "pp-agent", SourcePackage: "pp-agent", InstalledVersion: "1.0.0", CandidateVersion: "2.0.0"},
				{Package: "pp-libdemo", SourcePackage: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.0.1"},
			}}
		if h.Name == "web-1" {
			f.Removals = []patchpilot.PackageChange{{Name: "pp-agent-legacy", From: "1.0.0"}}
		}
		if err := db.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

type assessJSON struct {
	ModelVersion string `json:"model_version"`
	ColdStart    bool   `json:"cold_start"`
	Patches      []struct {
		Patch    string   `json:"patch"`
		Packages []string `json:"packages"`
		Summary  struct {
			Hosts          int     `json:"hosts"`
			MaxProbability float64 `json:"max_probability"`
			Level          string  `json:"level"`
			Strategy       string  `json:"strategy"`
			ModelVersion   string  `json:"model_version"`
		} `json:"summary"`
		Hosts []struct {
			Host        string   `json:"host"`
			Packages    []string `json:"packages"`
			Probability float64  `json:"probability"`
			Level       string   `json:"level"`
			Reasons     []struct {
				Feature, Text, Direction string
				Effect                   float64
			} `json:"reasons"`
			Warnings []struct {
				Kind, Text string
			} `json:"warnings"`
			Strategy     string `json:"strategy"`
			ModelVersion string `json:"model_version"`
		} `json:"hosts"`
	} `json:"patches"`
}

func TestAssessJSON(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedFleet(t, db)

	cold := decodeJSON[assessJSON](t, e.mustRun("assess", "--db", db, "-o", "json"))
	if !cold.ColdStart || len(cold.Patches) != 2 {
		t.Fatalf("assess before training = %+v; want the cold-start model over 2 patches", cold)
	}
	if out := e.mustRun("assess", "--db", db); !strings.Contains(out, "cold start") {
		t.Errorf("assess table before training does not say it uses the cold-start model:\n%s", out)
	}

	e.mustRun("history", "import", "--db", db, historyTrain)
	status := decodeJSON[map[string]any](t, e.mustRun("model", "train", "--db", db, "-o", "json"))
	if status["stored"] != true || status["records"] != 600.0 {
		t.Fatalf("model train -o json = %v; want a stored model on 600 records", status)
	}

	got := decodeJSON[assessJSON](t, e.mustRun("assess", "--db", db, "-o", "json"))
	if got.ColdStart || got.ModelVersion != status["model_version"] || len(got.Patches) != 2 {
		t.Fatalf("assess after training: version %s (cold %v), %d patches; want %s and 2 patches",
			got.ModelVersion, got.ColdStart, len(got.Patches), status["model_version"])
	}
	bad, good := got.Patches[0], got.Patches[1]
	if bad.Patch != "pp-agent=2.0.0" || good.Patch != "pp-libdemo=1.0.1" || bad.Summary.MaxProbability <= good.Summary.MaxProbability {
		t.Errorf("patches %s (%.3f), %s (%.3f); want pp-agent=2.0.0 riskier than pp-libdemo=1.0.1", bad.Patch,
			bad.Summary.MaxProbability, good.Patch, good.Summary.MaxProbability)
	}
	validLevel := map[string]bool{"low": true, "medium": true, "high": true}
	validStrategy := map[string]bool{"immediate_full_deploy": true, "canary": true, "manual_review_required": true}
	for _, p := range got.Patches {
		if p.Summary.Hosts != 2 || len(p.Hosts) != 2 || p.Summary.ModelVersion != got.ModelVersion ||
			!validLevel[p.Summary.Level] || !validStrategy[p.Summary.Strategy] {
			t.Errorf("patch %s summary %+v", p.Patch, p.Summary)
		}
		for _, h := range p.Hosts {
			if h.Probability <= 0 || h.Probability >= 1 || !validLevel[h.Level] || !validStrategy[h.Strategy] ||
				h.ModelVersion != got.ModelVersion || len(h.Reasons) == 0 || h.Reasons[0].Text == "" || h.Warnings == nil {
				t.Errorf("patch %s host %s = %+v", p.Patch, h.Host, h)
			}
			removal := false
			for _, w := range h.Warnings {
				removal = removal || (w.Kind == "removals" && strings.Contains(w.Text, "removes pp-agent-legacy"))
			}
			if removal != (h.Host == "web-1") {
				t.Errorf("patch %s host %s warnings %+v; want the removal of pp-agent-legacy on web-1 only", p.Patch, h.Host, h.Warnings)
			}
		}
	}

	one := decodeJSON[assessJSON](t, e.mustRun("assess", "--db", db, "-o", "json", "--patch", "pp-agent=2.0.0", "--host", "db-1"))
	if len(one.Patches) != 1 || len(one.Patches[0].Hosts) != 1 || one.Patches[0].Hosts[0].Host != "db-1" {
		t.Errorf("assess --patch pp-agent=2.0.0 --host db-1 = %+v", one)
	}
	if r := e.run("assess", "--db", db, "--patch", "pp-agent=9.9"); r.code != 4 || !strings.Contains(r.stderr, "pp-agent=9.9") {
		t.Errorf("assess of a version not pending: exit %d, stderr %q; want 4", r.code, r.stderr)
	}
	if r := e.run("assess", "--db", db, "--host", "nosuchhost"); r.code != 4 {
		t.Errorf("assess of an unknown host: exit %d; want 4", r.code)
	}

	st := e.mustRun("model", "status", "--db", db)
	for _, want := range []string{status["model_version"].(string), "600 records (44 failures)", "base rate:", "7.33%"} {
		if !strings.Contains(st, want) {
			t.Errorf("model status lacks %q:\n%s", want, st)
		}
	}
	ex := e.mustRun("model", "explain", "--db", db, "--package", "pp-agent", "--host", "web-1")
	for _, want := range []string{"package_history", "pp-agent updates failed in 32 of 113 host patches", "removes pp-agent-legacy"} {
		if !strings.Contains(ex, want) {
			t.Errorf("model explain lacks %q:\n%s", want, ex)
		}
	}
}

// model status on a fleet that never trained a model says so, rather
// than giving the time the cold-start model was built by this command.
func TestModelStatusNeverTrained(t *testing.T) {
	e := newEnv(t)
	out := e.mustRun("model", "status", "--db", filepath.Join(e.home, "none.db"))
	if !strings.Contains(out, "trained:") || !strings.Contains(out, "never") {
		t.Errorf("model status without a trained model:\n%s\nwant 'trained: never'", out)
	}
}

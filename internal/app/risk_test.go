package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

var testNow = time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)

// newTestApp opens an app on a fresh SQLite database.
func newTestApp(t *testing.T) *App {
	t.Helper()
	dir := t.TempDir()
	a, err := New(context.Background(), Options{DBPath: filepath.Join(dir, "pp.db"),
		Env: []string{"HOME=" + dir}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// addFleet stores two Debian hosts with pending updates of a package that
// failed often in the test history (pp-agent) and one that did not
// (pp-libdemo); web-1's dry run removes pp-agent-legacy.
func addFleet(t *testing.T, a *App) {
	t.Helper()
	ctx := context.Background()
	hosts := []patchpilot.Host{
		{Name: "web-1", Labels: map[string]string{"role": "web", "env": "prod"}},
		{Name: "db-1", Labels: map[string]string{"role": "db", "env": "prod"}},
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: testNow.Add(-time.Hour), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", Kernel: "6.1.0", Arch: "x86_64",
			PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-agent", Version: "1.0.0", SourceName: "pp-agent"},
				{Name: "pp-libdemo", Version: "1.0.0", SourceName: "pp-libdemo"}},
			Updates: []patchpilot.Update{
				{Package: "pp-agent", SourcePackage: "pp-agent", InstalledVersion: "1.0.0", CandidateVersion: "2.0.0"},
				{Package: "pp-libdemo", SourcePackage: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.0.1"},
			}}
		if h.Name == "web-1" {
			f.Removals = []patchpilot.PackageChange{{Name: "pp-agent-legacy", From: "1.0.0"}}
		}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

func findPatch(t *testing.T, res AssessResult, name string) PatchAssessment {
	t.Helper()
	for _, p := range res.Patches {
		if p.Patch == name {
			return p
		}
	}
	t.Fatalf("no patch %q in %+v", name, res.Patches)
	return PatchAssessment{}
}

func TestColdStartAssess(t *testing.T) {
	a := newTestApp(t)
	addFleet(t, a)
	ctx := context.Background()
	st, err := a.ModelStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stored || !st.ColdStart || st.Records != 0 || st.BaseRate <= 0 || st.BaseRate >= 0.1 {
		t.Errorf("cold-start status = %+v; want not stored, cold start, no records, a public base rate of a few per cent", st)
	}
	res, err := a.Assess(ctx, AssessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.ColdStart || res.ModelVersion != st.ModelVersion || len(res.Patches) != 2 {
		t.Fatalf("cold-start Assess = %+v; want cold start, version %s, 2 patches", res, st.ModelVersion)
	}
	agent := findPatch(t, res, "pp-agent=2.0.0")
	if agent.Summary.Hosts != 2 || len(agent.Hosts) != 2 || agent.Hosts[0].ModelVersion != st.ModelVersion {
		t.Errorf("pp-agent patch = %+v; want 2 hosts scored by %s", agent, st.ModelVersion)
	}
	// The removal is a fact: it shows as a warning whatever the model.
	for _, h := range agent.Hosts {
		removal := false
		for _, w := range h.Warnings {
			removal = removal || (w.Kind == risk.WarnRemovals && strings.Contains(w.Text, "pp-agent-legacy"))
		}
		if removal != (h.Host == "web-1") {
			t.Errorf("host %s warnings %+v: removal warning %v, want it on web-1 only", h.Host, h.Warnings, removal)
		}
		if h.Host == "web-1" && h.Strategy == risk.StrategyImmediate {
			t.Errorf("web-1 with a removal has strategy %s, want canary or manual review", h.Strategy)
		}
	}
}

func TestImportTrainAssess(t *testing.T) {
	a := newTestApp(t)
	addFleet(t, a)
	ctx := context.Background()

	// A malformed file is rejected whole, naming file:line and field.
	_, err := a.ImportHistory(ctx, "testdata/history-bad.jsonl")
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "history-bad.jsonl:3") ||
		!strings.Contains(err.Error(), "cves") {
		t.Fatalf("import of a bad file: %v; want invalid naming history-bad.jsonl:3 and cves", err)
	}
	if got, _ := a.History(ctx); len(got) != 0 {
		t.Fatalf("a rejected import stored %d records", len(got))
	}
	if _, err := a.ImportHistory(ctx, "testdata/no-such.jsonl"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("import of a missing file: %v; want not_found", err)
	}

	rep, err := a.ImportHistory(ctx, "testdata/history-train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 600 || rep.Written != 600 || rep.Failures != 44 {
		t.Errorf("import = %+v; want 600 records written, 44 failures", rep)
	}
	// Importing again replaces rather than doubles.
	if _, err := a.ImportHistory(ctx, "testdata/history-train.jsonl"); err != nil {
		t.Fatal(err)
	}
	records, err := a.History(ctx)
	if err != nil || len(records) != 600 {
		t.Fatalf("History = %d records, %v; want 600", len(records), err)
	}

	st, err := a.TrainModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Stored || st.Records != 600 || st.Failures != 44 || st.StoredRecords != 600 || st.Models != 1 ||
		st.From == nil || st.From.Format("2006-01") != "2024-01" {
		t.Errorf("status after training = %+v; want a stored model on 600 records from 2024-01", st)
	}
	if want := 44.0 / 600; st.BaseRate != want {
		t.Errorf("base rate = %v, want %v", st.BaseRate, want)
	}

	res, err := a.Assess(ctx, AssessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ColdStart || res.ModelVersion != st.ModelVersion {
		t.Errorf("Assess model %s (cold start %v), want the stored %s", res.ModelVersion, res.ColdStart, st.ModelVersion)
	}
	bad, good := findPatch(t, res, "pp-agent=2.0.0"), findPatch(t, res, "pp-libdemo=1.0.1")
	if res.Patches[0].Patch != bad.Patch {
		t.Errorf("riskiest patch is %s, want pp-agent=2.0.0 first", res.Patches[0].Patch)
	}
	if bad.Summary.MeanProbability < 3*good.Summary.MeanProbability || bad.Summary.Level == patchpilot.RiskLow {
		t.Errorf("pp-agent mean p %.3f (%s), pp-libdemo %.3f: want the known-bad package at least 3x riskier and not low",
			bad.Summary.MeanProbability, bad.Summary.Level, good.Summary.MeanProbability)
	}
	var texts []string
	for _, r := range bad.Hosts[0].Reasons {
		texts = append(texts, r.Text)
	}
	if !strings.Contains(strings.Join(texts, "; "), "pp-agent") {
		t.Errorf("pp-agent reasons %q do not name its history", texts)
	}

	// --patch restricts to the pins and to one host.
	one, err := a.Assess(ctx, AssessQuery{Patch: "pp-libdemo=1.0.1", Host: "db-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Patches) != 1 || one.Patches[0].Patch != "pp-libdemo=1.0.1" || len(one.Patches[0].Hosts) != 1 ||
		one.Patches[0].Hosts[0].Host != "db-1" || !reflect.DeepEqual(one.Patches[0].Packages, []string{"pp-libdemo=1.0.1"}) {
		t.Errorf("Assess --patch pp-libdemo=1.0.1 --host db-1 = %+v", one)
	}
	if _, err := a.Assess(ctx, AssessQuery{Patch: "pp-libdemo=9.9"}); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("Assess of a version not pending: %v; want not_found", err)
	}
	if _, err := a.Assess(ctx, AssessQuery{Patch: "=1.0"}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("Assess of a bad spec: %v; want invalid", err)
	}

	ex, err := a.ExplainModel(ctx, ExplainQuery{Package: "pp-agent", Host: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Terms) == 0 || ex.Assessment == nil || len(ex.Riskiest) == 0 || !strings.HasPrefix(ex.Riskiest[0], "pp-agent ") {
		t.Errorf("Explain = %+v; want terms, pp-agent as the riskiest package and an assessment", ex)
	}
	// Without --host the package is scored on a host with a pending
	// update of it, with its versions.
	ex, err = a.ExplainModel(ctx, ExplainQuery{Package: "pp-agent"})
	if err != nil {
		t.Fatal(err)
	}
	if as := ex.Assessment; as == nil || as.Host == "" || len(as.Packages) == 0 || strings.HasSuffix(as.Packages[0], "=") {
		t.Errorf("Explain --package pp-agent = %+v; want it scored on a host with its pending version", ex.Assessment)
	}
	// A package with no pending update has nothing to score: not found,
	// with a hint, rather than a score of blank versions.
	for _, q := range []ExplainQuery{{Package: "nosuchpkg"}, {Package: "nosuchpkg", Host: "web-1"}} {
		_, err := a.ExplainModel(ctx, q)
		if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || patchpilot.ErrorHint(err) == "" ||
			!strings.Contains(err.Error(), "no pending update of nosuchpkg") {
			t.Errorf("Explain %+v: %v (hint %q); want not_found with a hint", q, err, patchpilot.ErrorHint(err))
		}
	}
}

func TestExportRoundTrip(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	if _, err := a.ImportHistory(ctx, "testdata/history-test.jsonl"); err != nil {
		t.Fatal(err)
	}
	// A real rollout's outcome is exported beside the imported ones.
	if err := a.Store.RecordOutcome(ctx, patchpilot.Outcome{Time: testNow, Rollout: "r-1", Host: "web-1",
		OS: "debian:12", Packages: []patchpilot.PackageChange{{Name: "curl", From: "1", To: "2", SourcePackage: "curl"}},
		Outcome: patchpilot.OutcomeRolledBack, Reason: "http_ok failed"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := a.ExportHistory(ctx, &buf)
	if err != nil || n != 301 {
		t.Fatalf("ExportHistory = %d, %v; want 301", n, err)
	}
	got, err := risk.ReadHistory(&buf, "export")
	if err != nil {
		t.Fatal(err)
	}
	want, err := readHistoryFile("testdata/history-test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(want, func(i, j int) bool { return want[i].Time.Before(want[j].Time) })
	if !reflect.DeepEqual(got[:300], want) {
		t.Errorf("exported history differs from the imported file; first: %+v vs %+v", got[0], want[0])
	}
	if last := got[300]; last.Rollout != "r-1" || last.Package != "curl" || last.Outcome != patchpilot.OutcomeRolledBack {
		t.Errorf("exported rollout outcome = %+v", last)
	}
}

func TestEvaluateFiles(t *testing.T) {
	res, err := EvaluateFiles("testdata/history-train.jsonl", "testdata/history-test.jsonl", EvalOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.N != 300 || res.Baseline.N != 300 || res.BaseRate.N != 300 || res.Training.Records != 600 {
		t.Fatalf("eval sizes: model %d, baseline %d, base rate %d, training %d; want 300 test and 600 training records",
			res.Model.N, res.Baseline.N, res.BaseRate.N, res.Training.Records)
	}
	if res.Model.AUC <= 0.6 || res.Model.Brier > res.BaseRate.Brier {
		t.Errorf("model AUC %.3f Brier %.4f, moving base rate Brier %.4f: want the model above chance and no worse than the base rate",
			res.Model.AUC, res.Model.Brier, res.BaseRate.Brier)
	}
	n := 0
	for _, p := range res.Periods {
		n += p.N
		if p.Worse != (p.ModelBrier > p.BaseRateBrier) {
			t.Errorf("period %+v: worse flag does not match the scores", p)
		}
	}
	if len(res.Periods) == 0 || n != res.Model.N {
		t.Errorf("periods %+v cover %d of %d test records", res.Periods, n, res.Model.N)
	}
	if len(res.Model.Calibration) == 0 {
		t.Error("no calibration table")
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q for a test period after the training one", res.Warnings)
	}
	// Swapped, the test period comes first: a warning says so.
	swapped, err := EvaluateFiles("testdata/history-test.jsonl", "testdata/history-train.jsonl", EvalOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(swapped.Warnings) != 1 || !strings.Contains(swapped.Warnings[0], "the test period is not after the training period") {
		t.Errorf("swapped eval warnings %q, want one on the periods' order", swapped.Warnings)
	}
	_, err = EvaluateFiles("testdata/history-bad.jsonl", "testdata/history-test.jsonl", EvalOptions{})
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "history-bad.jsonl:3") {
		t.Errorf("eval with a bad training file: %v; want invalid naming history-bad.jsonl:3", err)
	}
}

// TestColdStartMeansOneThing: model status, model explain, assess and the
// plan header say cold start for the same models: none stored, or one
// trained on too little history to fit a regression; not for a fitted one.
func TestColdStartMeansOneThing(t *testing.T) {
	a := newTestApp(t)
	addFleet(t, a)
	ctx := context.Background()
	check := func(when string, want bool) {
		t.Helper()
		st, err := a.ModelStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := a.ExplainModel(ctx, ExplainQuery{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Assess(ctx, AssessQuery{})
		if err != nil {
			t.Fatal(err)
		}
		pr, err := a.AssessPatchOn(ctx, patchpilot.PatchSpec{SecurityAll: true}, []string{"web-1"})
		if err != nil {
			t.Fatal(err)
		}
		if st.ColdStart != want || ex.ColdStart != want || res.ColdStart != want || pr.ColdStart != want {
			t.Errorf("%s: cold_start in model status %v, model explain %v, assess %v, plan %v; want %v in all",
				when, st.ColdStart, ex.ColdStart, res.ColdStart, pr.ColdStart, want)
		}
	}
	check("no model stored", true)
	thin := filepath.Join(t.TempDir(), "thin.jsonl")
	if err := os.WriteFile(thin, []byte(`{"time":"2024-01-01T00:00:00Z","host":"web-1","os":"debian:12","package":"pp-agent","from_version":"0.9.0","to_version":"1.0.0","outcome":"succeeded"}
{"time":"2024-01-02T00:00:00Z","host":"db-1","os":"debian:12","package":"pp-agent","from_version":"0.9.0","to_version":"1.0.0","outcome":"rolled_back"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportHistory(ctx, thin); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TrainModel(ctx); err != nil {
		t.Fatal(err)
	}
	check("a stored model trained on 2 records", true)
	if _, err := a.ImportHistory(ctx, "testdata/history-train.jsonl"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TrainModel(ctx); err != nil {
		t.Fatal(err)
	}
	check("a model fitted on 600 records", false)
}

// TestImportSameBaseName imports two different files that share a base name
// and one file twice: every distinct record is kept exactly once.
func TestImportSameBaseName(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(sub string, lines ...string) string {
		t.Helper()
		p := filepath.Join(dir, sub, "fleet.jsonl")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pa := write("a",
		`{"time":"2024-03-01T10:00:00Z","host":"web-1","package":"curl","from_version":"1","to_version":"2","outcome":"rolled_back","reason":"http_ok failed"}`,
		`{"time":"2024-03-01T11:00:00Z","host":"web-2","package":"curl","from_version":"1","to_version":"2","outcome":"succeeded"}`)
	pb := write("b",
		`{"time":"2024-03-02T10:00:00Z","host":"web-1","package":"openssl","from_version":"3.0","to_version":"3.1","outcome":"succeeded"}`,
		`{"time":"2024-03-02T11:00:00Z","host":"db-2","package":"openssl","from_version":"3.0","to_version":"3.1","outcome":"failed"}`,
		// The same record as a's second line, written in another zone.
		`{"time":"2024-03-01T12:00:00+01:00","host":"web-2","package":"curl","from_version":"1","to_version":"2","outcome":"succeeded"}`,
		`{"time":"2024-03-02T11:00:00Z","host":"db-2","package":"openssl","from_version":"3.0","to_version":"3.1","outcome":"failed"}`)
	// Written counts the records newly stored or changed: b's fourth line
	// is its second; its third is a's second written in another zone,
	// the same record whose stored copy of the line (features.imported)
	// each of the two files rewrites.
	for i, p := range []string{pa, pb, pa, pb} {
		rep, err := a.ImportHistory(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{2, 3, 1, 1}[i]; rep.Written != want {
			t.Errorf("import %d of %s: %d written, want %d", i+1, p, rep.Written, want)
		}
	}
	rep, err := a.ImportHistory(ctx, pb)
	// Imported last: nothing is new or changed.
	if err != nil || rep.Records != 4 || rep.Written != 0 {
		t.Errorf("import of b again = %+v, %v; want 4 records, 0 written", rep, err)
	}
	records, err := a.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range records {
		got = append(got, fmt.Sprintf("%s %s %s", r.Host, r.Package, r.Outcome))
	}
	want := []string{"web-1 curl rolled_back", "web-2 curl succeeded", "web-1 openssl succeeded", "db-2 openssl failed"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history after importing a/fleet.jsonl and b/fleet.jsonl twice = %q, want %q", got, want)
	}
}

// TestImportOverLegacyIDs imports a file whose records an older version
// stored under per-line ids ("import:<file>:<line>"): they are recognised
// by their content and not stored twice.
func TestImportOverLegacyIDs(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	records, err := readHistoryFile("testdata/history-test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var legacy []patchpilot.Outcome
	for i, r := range records[:10] {
		o, err := importedOutcome(r, fmt.Sprintf("%shistory-test.jsonl:%d", ImportRolloutPrefix, i+1))
		if err != nil {
			t.Fatal(err)
		}
		legacy = append(legacy, o)
	}
	if _, err := a.Store.ImportOutcomes(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	rep, err := a.ImportHistory(ctx, "testdata/history-test.jsonl")
	if err != nil || rep.Records != 300 || rep.Written != 290 {
		t.Fatalf("import over 10 legacy records = %+v, %v; want 300 records, 290 written", rep, err)
	}
	if got, err := a.History(ctx); err != nil || len(got) != 300 {
		t.Errorf("History = %d records, %v; want 300", len(got), err)
	}
	for _, id := range []string{"import:a:b.jsonl:12", "import:fleet.jsonl:1"} {
		if !isLegacyImportID(id) {
			t.Errorf("isLegacyImportID(%q) = false", id)
		}
	}
	for _, id := range []string{"import:0123456789abcdef0123456789abcdef", "r-1", "import:fleet.jsonl"} {
		if isLegacyImportID(id) {
			t.Errorf("isLegacyImportID(%q) = true", id)
		}
	}
}

package risk_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/risk"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func rec(i int, host, role, src string, failed bool) risk.Record {
	out := patchpilot.OutcomeSucceeded
	if failed {
		out = patchpilot.OutcomeRolledBack
	}
	return risk.Record{Time: t0.Add(time.Duration(i) * time.Hour), Host: host, OS: "debian:12",
		Labels: map[string]string{"role": role}, Package: src, SourcePackage: src,
		FromVersion: "1.0-1", ToVersion: fmt.Sprintf("1.0-%d", 2+i%7), Outcome: out}
}

func TestEmbeddedPriors(t *testing.T) {
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	if p.Global.Rate < 0.02 || p.Global.Rate > 0.05 || len(p.Categories) < 5 || len(p.Provenance.Files) != 3 || p.Provenance.To == "" {
		t.Errorf("embedded priors look wrong: global %+v, %d categories, provenance %+v", p.Global, len(p.Categories), p.Provenance)
	}
}

func TestColdStartUsesPriors(t *testing.T) {
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	m := risk.NewColdStart(p, t0)
	kernel := m.Assess(risk.Record{Package: "linux-image-amd64", SourcePackage: "linux", RebootRequired: true})
	other := m.Assess(risk.Record{Package: "tzdata"})
	if kernel.Probability <= 0 || kernel.Probability > 0.2 || other.Probability <= 0 {
		t.Fatalf("cold start probabilities %v and %v", kernel.Probability, other.Probability)
	}
	manyCVEs := m.Assess(risk.Record{Package: "tzdata", CVECount: 12})
	if manyCVEs.Probability <= other.Probability {
		t.Errorf("12 CVEs p = %.4f, none p = %.4f: the public CVE-count effect is missing", manyCVEs.Probability, other.Probability)
	}
	if !strings.Contains(other.Reasons[0].Text+manyCVEs.Reasons[0].Text, "public data") && len(manyCVEs.Reasons) == 0 {
		t.Errorf("reasons do not cite public data: %v %v", other.Reasons, manyCVEs.Reasons)
	}
}

// TestNoLeakage: a record's features see only strictly earlier outcomes,
// so on data where each outcome is independent noise the model cannot
// beat chance, however the records are ordered in the file.
func TestNoLeakage(t *testing.T) {
	var recs []risk.Record
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		// Every record is its own package and version, and labels are
		// random: only a leak of its own label could predict it.
		r := rec(i, fmt.Sprintf("h%d", i%50), "web", fmt.Sprintf("pkg%d", i), rng.Float64() < 0.08)
		recs = append(recs, r)
	}
	train, test := recs[:1500], recs[1500:]
	m, err := risk.Train(train, risk.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := risk.Evaluate(m, test)
	if rep.Model.AUC > 0.6 {
		t.Errorf("AUC %.3f on labels nothing predicts: features leak the outcome", rep.Model.AUC)
	}
	if rep.Model.Brier > rep.BaseRate.Brier*1.05 {
		t.Errorf("Brier %.4f, base rate %.4f: without signal the model should stay near the prior", rep.Model.Brier, rep.BaseRate.Brier)
	}
}

func TestModelJSONRoundTripAndEvaluateKeepsModel(t *testing.T) {
	var recs []risk.Record
	for i := 0; i < 600; i++ {
		role := []string{"web", "db", "lb"}[i%3]
		src := []string{"openssl", "curl", "nginx", "tzdata"}[i%4]
		recs = append(recs, rec(i, fmt.Sprintf("%s-%d", role, i%5), role, src, src == "nginx" && i%3 == 0 || i%41 == 0))
	}
	m, err := risk.Train(recs[:400], risk.TrainOptions{Now: t0, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Training.Regression || !strings.HasPrefix(m.Version, "rm-") {
		t.Fatalf("training info %+v version %s", m.Training, m.Version)
	}
	again, _ := risk.Train(recs[:400], risk.TrainOptions{Now: t0.Add(time.Hour)})
	if again.Version != m.Version {
		t.Errorf("same data and parameters gave versions %s and %s", m.Version, again.Version)
	}
	other, _ := risk.Train(recs[:399], risk.TrainOptions{Now: t0})
	if other.Version == m.Version {
		t.Error("different data gave the same version")
	}
	probe := rec(1000, "web-1", "web", "nginx", false)
	before := m.Probability(probe)
	rep := risk.Evaluate(m, recs[400:])
	if got := m.Probability(probe); got != before {
		t.Errorf("Evaluate changed the model: %v then %v", before, got)
	}
	if rep.Model.N != 200 || rep.Model.AUC < 0.7 {
		t.Errorf("report %+v", rep.Model)
	}
	data, err := risk.MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := risk.UnmarshalModel(data, "model.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Probability(probe); math.Abs(got-before) > 1e-12 || back.Version != m.Version {
		t.Errorf("after JSON round trip p = %v (want %v), version %s", got, before, back.Version)
	}
	cold := risk.NewColdStart(m.Priors, t0)
	coldBefore := cold.Probability(probe)
	for i := 0; i < 5; i++ {
		cold.Observe(rec(1001+i, "web-2", "web", "nginx", true))
	}
	if got := cold.Probability(probe); got <= coldBefore {
		t.Errorf("observing failures did not raise the risk: %v then %v", coldBefore, got)
	}
	if _, err := risk.UnmarshalModel([]byte(`{"features":["x"]}`), "bad.json"); err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("bad model error = %v", err)
	}
}

func TestWarningsAndStrategy(t *testing.T) {
	p, _ := risk.DefaultPriors()
	m := risk.NewColdStart(p, t0)
	m.Observe(risk.Record{Time: t0, Host: "web-1", Package: "pp-demo-web", ToVersion: "2.0-1", Outcome: patchpilot.OutcomeRolledBack})
	a := m.Assess(risk.Record{Host: "web-1", Package: "pp-demo-web", FromVersion: "1.0-1", ToVersion: "2.0-1",
		Removals: []string{"pp-libdemo-tools"}})
	kinds := map[string]bool{}
	for _, w := range a.Warnings {
		kinds[w.Kind] = true
	}
	for _, k := range []string{risk.WarnRemovals, risk.WarnVersionFailed, risk.WarnHostRolledBack} {
		if !kinds[k] {
			t.Errorf("warnings %+v lack %s", a.Warnings, k)
		}
	}
	if a.Strategy != risk.StrategyManualReview {
		t.Errorf("strategy = %s, want manual review for a version that already failed", a.Strategy)
	}
	tests := []struct {
		p    float64
		warn []risk.Warning
		want risk.Strategy
	}{
		{0.01, nil, risk.StrategyImmediate},
		{0.01, []risk.Warning{{Kind: risk.WarnRemovals}}, risk.StrategyCanary},
		{0.05, nil, risk.StrategyCanary},
		{0.2, nil, risk.StrategyManualReview},
	}
	for _, tt := range tests {
		if got := risk.StrategyFor(risk.LevelOf(tt.p), tt.warn); got != tt.want {
			t.Errorf("StrategyFor(%v, %v) = %s, want %s", tt.p, tt.warn, got, tt.want)
		}
	}
	sum := risk.Summarize([]risk.Assessment{a, m.Assess(risk.Record{Package: "tzdata"})})
	if sum.Hosts != 2 || sum.Strategy != risk.StrategyManualReview || sum.ExpectedFailures <= sum.MaxProbability {
		t.Errorf("summary %+v", sum)
	}
}

// A patch of two binary packages from one source is as risky as its
// riskiest package; packages from two sources add up.
func TestAssessPatchCombinesBySource(t *testing.T) {
	p, _ := risk.DefaultPriors()
	m := risk.NewColdStart(p, t0)
	openssl := risk.Record{Host: "web-1", Package: "openssl", SourcePackage: "openssl", CVECount: 3}
	libssl := risk.Record{Host: "web-1", Package: "libssl3", SourcePackage: "openssl", CVECount: 3}
	nginx := risk.Record{Host: "web-1", Package: "nginx", SourcePackage: "nginx", CVECount: 1}
	po, pl, pn := m.Assess(openssl).Probability, m.Assess(libssl).Probability, m.Assess(nginx).Probability

	one := m.AssessPatch([]risk.Record{openssl, libssl})
	if want := max(po, pl); math.Abs(one.Probability-want) > 1e-12 {
		t.Errorf("one source: p = %.6f, want its riskiest package's %.6f", one.Probability, want)
	}
	if len(one.Packages) != 2 {
		t.Errorf("packages %v, want both", one.Packages)
	}
	two := m.AssessPatch([]risk.Record{openssl, libssl, nginx})
	if want := 1 - (1-max(po, pl))*(1-pn); math.Abs(two.Probability-want) > 1e-12 {
		t.Errorf("two sources: p = %.6f, want %.6f", two.Probability, want)
	}
	if empty := m.AssessPatch(nil); empty.Probability != 0 || empty.Level != patchpilot.RiskLow {
		t.Errorf("empty patch: %+v", empty)
	}
}

// TestBaselineMatchesPlanner keeps the restated rules in step with
// internal/planner.BaselineRisk.
func TestBaselineMatchesPlanner(t *testing.T) {
	p, _ := risk.DefaultPriors()
	m := risk.NewColdStart(p, t0)
	for i := 0; i < 20; i++ {
		m.Observe(rec(i, "h", "web", "nginx", i < 3))
	}
	tests := []risk.Record{
		{Package: "linux-image-amd64", SourcePackage: "linux"},
		{Package: "nginx", SourcePackage: "nginx"},
		{Package: "curl", Removals: []string{"x"}, Severity: "critical"},
		{Package: "curl", Conflicts: true},
		{Package: "curl"},
	}
	for _, r := range tests {
		in := planner.BaselineInput{Packages: []string{r.Package}, HasConflicts: r.Conflicts, HasRemovals: len(r.Removals) > 0, MaxSeverity: r.Severity}
		if r.Package == "nginx" {
			in.PastFailureRate = 3.0 / 20
		}
		want, _, _ := planner.BaselineRisk(in)
		if got := m.BaselineScore(r); got != want {
			t.Errorf("%s: baseline %d, planner %d", r.Package, got, want)
		}
	}
}

func TestAUC(t *testing.T) {
	s := []risk.Scored{{0.1, false}, {0.2, false}, {0.3, true}, {0.4, false}, {0.5, true}}
	if got, want := risk.AUC(s), 5.0/6; math.Abs(got-want) > 1e-12 {
		t.Errorf("AUC = %v, want %v", got, want)
	}
	if got := risk.AUC([]risk.Scored{{0.5, true}, {0.5, false}}); got != 0.5 {
		t.Errorf("tied AUC = %v", got)
	}
	m := risk.Score("x", []risk.Scored{{0.5, true}, {0.5, false}})
	if math.Abs(m.Brier-0.25) > 1e-12 || math.Abs(m.LogLoss-math.Log(2)) > 1e-9 || m.ECE > 1e-12 {
		t.Errorf("metrics %+v", m)
	}
}

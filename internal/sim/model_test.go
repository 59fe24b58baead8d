package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/risk"
	"github.com/patchpilot/patchpilot/internal/sim"
)

// timeSplit splits generated records in time: the first 70% of the patch
// period trains, the rest tests.
func timeSplit(recs []sim.Record) (train, test []sim.Record) {
	at := sim.DefaultStart().Add(time.Duration(sim.DefaultPatches*7/10) * sim.DefaultEvery)
	for _, r := range recs {
		if r.Time.Before(at) {
			train = append(train, r)
		} else {
			test = append(test, r)
		}
	}
	return train, test
}

// Bars the model must clear on generated histories.
const (
	minAUC       = 0.85
	maxECE       = 0.03
	minAUCMargin = 0.15 // over the rule-based baseline
)

func TestModelOnGeneratedHistories(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		recs := sim.GenerateHistory(sim.HistoryConfig{Seed: seed})
		train, test := timeSplit(recs)
		m, err := risk.Train(sim.Records(train), risk.TrainOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rep := risk.Evaluate(m, sim.Records(test))
		var oracle []risk.Scored
		for _, r := range test {
			oracle = append(oracle, risk.Scored{P: r.TrueP, Failed: r.Failed()})
		}
		o := risk.Score("hidden truth", oracle)
		for _, x := range []risk.Metrics{rep.Model, rep.Baseline, rep.BaseRate, o} {
			t.Logf("seed %d %-20s n=%d rate=%.3f auc=%.3f brier=%.4f ece=%.4f", seed, x.Name, x.N, x.Rate, x.AUC, x.Brier, x.ECE)
		}
		if got := rep.Model.AUC; got < minAUC {
			t.Errorf("seed %d: model AUC = %.3f, want >= %.2f", seed, got, minAUC)
		}
		if got := rep.Model.ECE; got > maxECE {
			t.Errorf("seed %d: model ECE = %.4f, want <= %.2f", seed, got, maxECE)
		}
		if got, want := rep.Model.AUC-rep.Baseline.AUC, minAUCMargin; got < want {
			t.Errorf("seed %d: model AUC %.3f is only %.3f above the baseline's %.3f, want >= %.2f",
				seed, rep.Model.AUC, got, rep.Baseline.AUC, want)
		}
		if rep.Model.Brier >= rep.BaseRate.Brier {
			t.Errorf("seed %d: model Brier %.4f is not below the base rate's %.4f", seed, rep.Model.Brier, rep.BaseRate.Brier)
		}
	}
}

// TestModelLearnsBadCombination checks that the model finds the hidden bad
// package-role combination (openssl on load balancers), which the rule-based
// baseline cannot express: it scores the same update alike on every role.
func TestModelLearnsBadCombination(t *testing.T) {
	recs := sim.GenerateHistory(sim.HistoryConfig{Seed: 1})
	train, _ := timeSplit(recs)
	m, err := risk.Train(sim.Records(train), risk.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	upd := func(pkg, src, role string) risk.Record {
		// A host of that role not in the fleet, so its own history plays no part.
		return risk.Record{Host: "new-" + role, OS: "debian:12", Labels: map[string]string{"role": role},
			Package: pkg, SourcePackage: src, FromVersion: "3.0.11-1", ToVersion: "3.0.11-9",
			CVEs: []string{"CVE-2024-1"}, Severity: "high"}
	}
	bad := m.Assess(upd("libssl3", sim.BadComboPackage, sim.BadComboRole))
	for _, role := range []string{"web", "db", "app"} {
		other := m.Assess(upd("libssl3", sim.BadComboPackage, role))
		if bad.Probability < 3*other.Probability {
			t.Errorf("openssl on %s: p = %.3f, on %s: p = %.3f; want the bad combination at least 3 times riskier",
				sim.BadComboRole, bad.Probability, role, other.Probability)
		}
		if bad.BaselineScore != other.BaselineScore {
			t.Errorf("baseline scores differ by role (%d vs %d): the baseline should not see roles", bad.BaselineScore, other.BaselineScore)
		}
	}
	curl := m.Assess(upd("curl", "curl", sim.BadComboRole))
	if bad.Probability < 3*curl.Probability {
		t.Errorf("openssl on lb p = %.3f, curl on lb p = %.3f: the role alone should not explain the risk", bad.Probability, curl.Probability)
	}
	if bad.Level != "high" {
		t.Errorf("openssl on lb level = %s, want high", bad.Level)
	}
	if len(bad.Reasons) == 0 || bad.Reasons[0].Feature != risk.FeaturePackageRole ||
		!strings.Contains(bad.Reasons[0].Text, "openssl on lb hosts failed in") || bad.Reasons[0].Direction != "raises" {
		t.Errorf("first reason = %+v, want the package-role history raising the risk", bad.Reasons)
	}
}

func TestGenerateHistoryIsDeterministic(t *testing.T) {
	a := sim.GenerateHistory(sim.HistoryConfig{Seed: 7, Patches: 40})
	b := sim.GenerateHistory(sim.HistoryConfig{Seed: 7, Patches: 40})
	c := sim.GenerateHistory(sim.HistoryConfig{Seed: 8, Patches: 40})
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("lengths %d and %d", len(a), len(b))
	}
	var buf1, buf2, buf3 strings.Builder
	for _, x := range []struct {
		recs []sim.Record
		w    *strings.Builder
	}{{a, &buf1}, {b, &buf2}, {c, &buf3}} {
		if err := risk.WriteHistory(x.w, sim.Records(x.recs)); err != nil {
			t.Fatal(err)
		}
	}
	if buf1.String() != buf2.String() {
		t.Error("the same seed gave different histories")
	}
	if buf1.String() == buf3.String() {
		t.Error("different seeds gave the same history")
	}
	back, err := risk.ReadHistory(strings.NewReader(buf1.String()), "generated")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(a) {
		t.Errorf("read back %d records, want %d", len(back), len(a))
	}
	for i := 1; i < len(a); i++ {
		if a[i].Time.Before(a[i-1].Time) {
			t.Fatalf("record %d is earlier than record %d", i, i-1)
		}
	}
}

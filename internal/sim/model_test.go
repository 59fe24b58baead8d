package sim_test

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/risk"
	"github.com/patchpilot/patchpilot/internal/sim"
)

// splitAt splits generated records at a time.
func splitAt(recs []sim.Record, at time.Time) (train, test []sim.Record) {
	for _, r := range recs {
		if r.Time.Before(at) {
			train = append(train, r)
		} else {
			test = append(test, r)
		}
	}
	return train, test
}

func TestModelOnGeneratedHistory(t *testing.T) {
	recs := sim.GenerateHistory(sim.HistoryConfig{Seed: 1})
	cut := sim.DefaultStart().Add(time.Duration(sim.DefaultPatches*7/10) * sim.DefaultEvery)
	train, test := splitAt(recs, cut)
	m, err := risk.Train(sim.Records(train), risk.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := risk.Evaluate(m, sim.Records(test))
	var oracle []risk.Scored
	for _, r := range test {
		oracle = append(oracle, risk.Scored{P: r.TrueP, Failed: r.Failed()})
	}
	o := risk.Score("oracle", oracle)
	t.Logf("train %d test %d; strengths %+v", len(train), len(test), m.Strengths)
	for _, x := range []risk.Metrics{rep.Model, rep.Baseline, rep.BaseRate, o} {
		t.Logf("%-20s n=%d rate=%.3f auc=%.3f brier=%.4f logloss=%.4f ece=%.4f", x.Name, x.N, x.Rate, x.AUC, x.Brier, x.LogLoss, x.ECE)
	}
	for i, n := range m.Features {
		t.Logf("%-22s w=%+.3f", n, m.Weights[i])
	}
	t.Logf("platt %.3f %.3f", m.PlattA, m.PlattB)
}

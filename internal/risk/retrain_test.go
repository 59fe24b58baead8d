package risk

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// regime says how likely an update fails given its dry run: with removals,
// with held or conflicting packages, and with neither.
type regime struct{ removals, conflicts, plain float64 }

// generated returns n records, one an hour from start, over 30 packages and
// 40 hosts, failing as the regime says.
func generated(rng *rand.Rand, n int, start time.Time, g regime) []Record {
	out := make([]Record, n)
	for i := range out {
		r := Record{Time: start.Add(time.Duration(i) * time.Hour), Host: fmt.Sprintf("h%02d", rng.IntN(40)),
			Package: fmt.Sprintf("pkg%02d", rng.IntN(30)), FromVersion: "1.0-1", ToVersion: "1.0-2",
			Outcome: patchpilot.OutcomeSucceeded}
		p := g.plain
		switch rng.IntN(4) {
		case 0:
			r.Removals, p = []string{"old-lib"}, g.removals
		case 1:
			r.Conflicts, p = true, g.conflicts
		}
		if rng.Float64() < p {
			r.Outcome = patchpilot.OutcomeRolledBack
		}
		out[i] = r
	}
	return out
}

var retrainStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// A candidate that learns what the fleet shows beats the cold-start model
// on the newest outcomes and is kept: the model returned is trained on all
// the records.
func TestRetrainKeepsABetterModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	records := generated(rng, 1500, retrainStart, regime{removals: 0.5, conflicts: 0.02, plain: 0.02})
	p, err := DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	current := NewColdStart(p, retrainStart)
	got, cmp, err := Retrain(current, records, RetrainOptions{Train: TrainOptions{Now: retrainStart}})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Kept || got == nil {
		t.Fatalf("candidate refused: current Brier %.4f, candidate %.4f", cmp.Current.Brier, cmp.Candidate.Brier)
	}
	if cmp.Candidate.Brier >= cmp.Current.Brier {
		t.Errorf("kept candidate Brier %.4f, want below the current %.4f", cmp.Candidate.Brier, cmp.Current.Brier)
	}
	if cmp.Newest != 300 || got.Training.Records != len(records) {
		t.Errorf("held out %d, final model trained on %d; want 300 and %d", cmp.Newest, got.Training.Records, len(records))
	}
}

// When the fleet changed (removals stopped mattering, conflicts started
// to), a candidate fitted on the older regime scores worse on the newest
// outcomes than a current model that already knows the new one, and is
// refused.
func TestRetrainRefusesAWorseModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	old := regime{removals: 0.6, conflicts: 0.02, plain: 0.02}
	shifted := regime{removals: 0.02, conflicts: 0.6, plain: 0.02}
	records := append(generated(rng, 1200, retrainStart, old),
		generated(rng, 300, retrainStart.Add(1200*time.Hour), shifted)...)
	current, err := Train(generated(rng, 1500, retrainStart.Add(-3000*time.Hour), shifted), TrainOptions{Now: retrainStart})
	if err != nil {
		t.Fatal(err)
	}
	if !current.Training.Regression {
		t.Fatal("the current model fitted no regression")
	}
	got, cmp, err := Retrain(current, records, RetrainOptions{Train: TrainOptions{Now: retrainStart}})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Kept || got != nil {
		t.Fatalf("candidate kept: current Brier %.4f, candidate %.4f", cmp.Current.Brier, cmp.Candidate.Brier)
	}
	if cmp.Candidate.Brier <= cmp.Current.Brier {
		t.Errorf("refused candidate Brier %.4f, want above the current %.4f", cmp.Candidate.Brier, cmp.Current.Brier)
	}
	if cmp.Current.LogLoss == 0 || cmp.Candidate.LogLoss == 0 || cmp.NewestFailures == 0 {
		t.Errorf("comparison %+v: want both log losses and the newest failures", cmp)
	}
}

// Failures labelled Unrelated are neither the patch's failures nor
// successes: the history does not count them.
func TestUnrelatedFailuresAreNotCounted(t *testing.T) {
	h := NewHistory()
	base := Record{Time: retrainStart, Host: "h1", Package: "openssl", ToVersion: "3.0.1", Outcome: patchpilot.OutcomeRolledBack}
	h.Observe(base)
	unrelated := base
	unrelated.Host, unrelated.Unrelated = "h2", "host unreachable before the change"
	h.Observe(unrelated)
	if c := h.Package["openssl"]; c.Total != 1 || c.Failures != 1 {
		t.Errorf("package count %+v, want 1 failure of 1", c)
	}
	if _, ok := h.Host["h2"]; ok {
		t.Errorf("the unrelated failure counted on its host: %+v", h.Host["h2"])
	}
	if unrelated.Failed() || unrelated.Counts() {
		t.Error("an unrelated failure reads as the patch's")
	}
	ok := unrelated
	ok.Outcome = patchpilot.OutcomeSucceeded
	if !ok.Counts() {
		t.Error("a success with a label is not counted")
	}
	o := patchpilot.Outcome{Time: retrainStart, Host: "h2", Outcome: patchpilot.OutcomeRolledBack, Unrelated: "manual abort",
		Packages: []patchpilot.PackageChange{{Name: "openssl", From: "3.0.0", To: "3.0.1"}}}
	if recs := FromOutcome(o); len(recs) != 1 || recs[0].Unrelated != "manual abort" {
		t.Errorf("FromOutcome = %+v, want one record labelled", recs)
	}
}

// The evaluation splits its test set by period and compares the model
// with the moving base rate in each, flagging a period where the model is
// worse.
func TestEvaluatePeriods(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	train := generated(rng, 1500, retrainStart, regime{removals: 0.5, conflicts: 0.02, plain: 0.02})
	m, err := Train(train, TrainOptions{Now: retrainStart})
	if err != nil {
		t.Fatal(err)
	}
	// A first quarter like the training data, then one where removals no
	// longer matter and conflicts do: the model misleads there.
	q1 := generated(rng, 2000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), regime{removals: 0.5, conflicts: 0.02, plain: 0.02})
	q2 := generated(rng, 2000, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), regime{removals: 0.02, conflicts: 0.3, plain: 0.02})
	rep := EvaluateWith(m, append(q1, q2...), EvalOptions{FreezeHistory: true})
	if len(rep.Periods) != 2 || rep.Periods[0].Period != "2026-Q1" || rep.Periods[1].Period != "2026-Q2" {
		t.Fatalf("periods %+v, want 2026-Q1 and 2026-Q2", rep.Periods)
	}
	if p := rep.Periods[0]; p.Worse || p.ModelBrier >= p.BaseRateBrier {
		t.Errorf("2026-Q1: model Brier %.4f, base rate %.4f; want the model better", p.ModelBrier, p.BaseRateBrier)
	}
	if p := rep.Periods[1]; !p.Worse {
		t.Errorf("2026-Q2: model Brier %.4f, base rate %.4f; want the period flagged", p.ModelBrier, p.BaseRateBrier)
	}
	if rep.Periods[0].N+rep.Periods[1].N != rep.Model.N {
		t.Errorf("periods hold %d and %d of %d records", rep.Periods[0].N, rep.Periods[1].N, rep.Model.N)
	}
}

// The moving base rate follows the newest outcomes: a run of failures
// after training lifts it above the training rate, and it fades back.
func TestMovingRate(t *testing.T) {
	m := &Model{RecentRate: 0.02, RecentWeight: 100, RecentAt: retrainStart, Params: TrainParams{HalfLifeDays: 30}}
	mr := m.MovingRate()
	for i := range 10 {
		mr.Observe(retrainStart.Add(time.Duration(i)*time.Hour), true)
	}
	high := mr.Rate()
	if high < 0.08 {
		t.Errorf("after 10 failures the moving rate is %.3f, want above 0.08", high)
	}
	for i := range 50 {
		mr.Observe(retrainStart.AddDate(0, 0, 90+i), false)
	}
	if mr.Rate() >= high/2 {
		t.Errorf("after months of successes the moving rate is %.3f, want well below %.3f", mr.Rate(), high)
	}
}

// The held-out outcomes are ones the current model was not trained on:
// with a single outcome newer than its training, nothing can be compared
// fairly and the retrain waits instead of scoring the current model on its
// own training data; once enough are newer, only those are held out.
func TestRetrainHoldsOutOnlyUnseenOutcomes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	g := regime{removals: 0.5, conflicts: 0.02, plain: 0.02}
	seen := generated(rng, 1500, retrainStart, g)
	current, err := Train(seen, TrainOptions{Now: retrainStart})
	if err != nil {
		t.Fatal(err)
	}
	newer := generated(rng, 100, retrainStart.Add(2000*time.Hour), g)
	got, cmp, err := Retrain(current, append(append([]Record{}, seen...), newer[0]), RetrainOptions{Train: TrainOptions{Now: retrainStart}})
	if err != nil {
		t.Fatal(err)
	}
	if got != nil || cmp.Newest != 0 || cmp.Unseen != 1 || cmp.Waiting != DefaultMinNewest-1 {
		t.Fatalf("one unseen outcome: model %v, comparison %+v; want none, waiting for %d more", got != nil, cmp, DefaultMinNewest-1)
	}
	_, cmp, err = Retrain(current, append(append([]Record{}, seen...), newer...), RetrainOptions{Train: TrainOptions{Now: retrainStart}})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Waiting != 0 || cmp.Unseen != 100 || cmp.Newest != 100 {
		t.Fatalf("100 unseen outcomes: comparison %+v; want all 100 held out and none waiting", cmp)
	}
	if cmp.Current.N != 100 || cmp.Candidate.N != 100 {
		t.Errorf("scored %d and %d outcomes, want 100", cmp.Current.N, cmp.Candidate.N)
	}
}

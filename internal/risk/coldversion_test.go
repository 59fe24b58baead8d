package risk

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// With too little data to fit weights, a version that failed in this fleet
// still scores above another version of the same package: the cold-start
// model uses the version's rate shrunk toward its package's.
func TestColdStartScoresAFailedVersionHigher(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []Record
	for i, v := range []string{"1.1.4", "1.1.1", "1.1.0", "1.1.0", "1.1.0"} {
		kind := patchpilot.OutcomeSucceeded
		if v != "1.1.0" {
			kind = patchpilot.OutcomeRolledBack
		}
		recs = append(recs, Record{Time: at.Add(time.Duration(i) * time.Hour), Host: "h1", Package: "pp-demo-web",
			FromVersion: "1.0.0", ToVersion: v, Outcome: kind})
	}
	m, err := Train(recs, TrainOptions{Now: at.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Training.Regression {
		t.Fatalf("five records should not fit a regression")
	}
	score := func(v string) float64 {
		return m.Assess(Record{Time: at.Add(48 * time.Hour), Host: "h2", Package: "pp-demo-web", FromVersion: "1.0.0", ToVersion: v}).Probability
	}
	if bad, good := score("1.1.4"), score("1.1.0"); bad <= good {
		t.Errorf("failed version scores %.3f, good version %.3f; want the failed one higher", bad, good)
	}
}

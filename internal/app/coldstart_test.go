package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// ColdStartNote says what is true of the store: no history, history but
// no model, or a model trained on too few outcomes with more stored since.
func TestColdStartNote(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	add := func(n, from int) {
		t.Helper()
		var outs []patchpilot.Outcome
		at := time.Now().UTC().Add(-24 * time.Hour)
		for i := from; i < from+n; i++ {
			outs = append(outs, patchpilot.Outcome{Time: at.Add(time.Duration(i) * time.Minute), Rollout: fmt.Sprintf("r-%d", i), Host: "web-1",
				Packages: []patchpilot.PackageChange{{Name: "web", From: "1.0", To: "1.1"}}, Outcome: patchpilot.OutcomeSucceeded})
		}
		if _, err := a.Store.ImportOutcomes(ctx, outs); err != nil {
			t.Fatal(err)
		}
	}
	note := func() string {
		t.Helper()
		s, err := a.ColdStartNote(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := note(); !strings.Contains(s, "no model trained and no outcomes stored yet") {
		t.Errorf("empty store: %q", s)
	}
	add(1, 0)
	if s := note(); !strings.Contains(s, "no model trained yet (1 outcome stored: run `patchpilot model train`)") {
		t.Errorf("one outcome, no model: %q", s)
	}
	if _, err := a.TrainModel(ctx); err != nil {
		t.Fatal(err)
	}
	if s := note(); !strings.Contains(s, "trained on 1 outcome (0 failures), too few") || strings.Contains(s, "stored now") {
		t.Errorf("trained on one outcome: %q", s)
	}
	add(4, 1)
	if s := note(); !strings.Contains(s, "5 outcomes stored now: run `patchpilot model train` again") {
		t.Errorf("more outcomes since the training: %q", s)
	}
}

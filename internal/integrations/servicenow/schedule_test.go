package servicenow

import (
	"context"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A scheduled run's notification creates no change request and writes no
// work note, with or without the rollout it started.
func TestScheduleRunMakesNoChangeRequest(t *testing.T) {
	f, srv := newFakeNow(t)
	ch := newChange(t, srv.URL, nil)
	for _, r := range []*patchpilot.Rollout{nil, rollout()} {
		n := note(9, patchpilot.TopicScheduleRun, r, "schedule nightly: run due 2026-03-01 02:00 UTC skipped: not started")
		n.Level = patchpilot.LevelWarning
		if err := ch.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests(); len(got) != 0 {
		t.Errorf("a scheduled run sent %v", got)
	}
}

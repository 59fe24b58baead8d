package pagerduty

import (
	"context"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A scheduled run pages nobody: no host was touched by it. Without a
// rollout, or with the one it started, it sends no event (a trigger's
// dedup key would name no rollout).
func TestScheduleRunPagesNobody(t *testing.T) {
	n, s := serve(t, 202, "", nil)
	for _, r := range []*patchpilot.Rollout{nil, rollout(patchpilot.RolloutRunning)} {
		note := patchpilot.Notification{Event: patchpilot.Event{ID: 9, Kind: patchpilot.EventScheduleFinished}, Topic: patchpilot.TopicScheduleRun,
			Level: patchpilot.LevelWarning, Summary: "schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts", Rollout: r}
		if r != nil {
			note.Event.Rollout = r.ID
		}
		if evs := n.Events(note); len(evs) != 0 {
			t.Errorf("events %+v", evs)
		}
		if err := n.Notify(context.Background(), note); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.alerts) != 0 {
		t.Errorf("a scheduled run sent %d events: %v", len(s.alerts), s.alerts)
	}
}

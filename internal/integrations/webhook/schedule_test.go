package webhook

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A scheduled run's payload has no rollout object, and its event's data
// (the schedule, outcome and held hosts) as written.
func TestScheduleRunPayload(t *testing.T) {
	data := json.RawMessage(`{"schedule":"nightly","kind":"patch","due":"2026-03-01T02:00:00Z","outcome":"failed"}`)
	n := patchpilot.Notification{Event: patchpilot.Event{ID: 9, Kind: patchpilot.EventScheduleFinished, Data: data},
		Topic: patchpilot.TopicScheduleRun, Level: patchpilot.LevelWarning, Summary: "schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts"}
	b, err := json.Marshal(NewPayload(n))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, `"rollout"`) || !strings.Contains(s, `"topic":"schedule_run"`) || !strings.Contains(s, `"id":"patchpilot-event-9"`) ||
		!strings.Contains(s, `"outcome":"failed"`) {
		t.Errorf("payload %s", s)
	}
}

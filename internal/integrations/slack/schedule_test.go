package slack

import (
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A scheduled run's message is titled as one and carries no rollout
// fields when it started none.
func TestScheduleRunMessage(t *testing.T) {
	n := patchpilot.Notification{Event: patchpilot.Event{ID: 9, Kind: patchpilot.EventScheduleFinished}, Topic: patchpilot.TopicScheduleRun,
		Level: patchpilot.LevelWarning, Summary: "schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts"}
	p := Message(n)
	if want := ":warning: Scheduled run: schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts"; p.Text != want {
		t.Errorf("text %q, want %q", p.Text, want)
	}
	for _, b := range p.Blocks {
		for _, f := range b.Fields {
			if strings.Contains(f.Text, "Rollout") {
				t.Errorf("rollout field in a message without rollout: %+v", b)
			}
		}
	}
	if p.Blocks[0].Text.Text != ":warning: Scheduled run" {
		t.Errorf("header %q", p.Blocks[0].Text.Text)
	}
}

package email

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A scheduled run is mailed by default, its subject the summary, its
// title "scheduled run", its topic header set, with no rollout thread,
// header nor facts when it started none.
func TestScheduleRunMail(t *testing.T) {
	if !slices.Contains(DefaultTopics(), patchpilot.TopicScheduleRun) {
		t.Errorf("default topics %v lack schedule_run", DefaultTopics())
	}
	n := patchpilot.Notification{Event: patchpilot.Event{ID: 9, Time: testNow, Kind: patchpilot.EventScheduleFinished}, Topic: patchpilot.TopicScheduleRun,
		Level: patchpilot.LevelWarning, Summary: "schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts"}
	m := Summary(n, "mail", true)
	if m.Subject != "[patchpilot] schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts" || m.Thread != "" ||
		len(m.Headers) != 1 || m.Headers[0] != [2]string{"X-Patchpilot-Topic", "schedule_run"} {
		t.Errorf("subject %q thread %q headers %v", m.Subject, m.Thread, m.Headers)
	}
	if !strings.HasPrefix(m.Text, "patchpilot: scheduled run\n") || strings.Contains(m.Text, "Rollout:") {
		t.Errorf("text:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, "scheduled run") {
		t.Errorf("html:\n%s", m.HTML)
	}
	// With the rollout it started, the title is still the run's.
	n.Rollout = &patchpilot.Rollout{ID: "r-9", State: patchpilot.RolloutRunning}
	n.Event.Rollout = "r-9"
	if m := Summary(n, "mail", false); !strings.HasPrefix(m.Text, "patchpilot: scheduled run\n") {
		t.Errorf("text with a rollout:\n%s", m.Text)
	}
}

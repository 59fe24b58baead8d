package jira

import (
	"context"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A scheduled run's notification opens no issue and comments on none,
// with or without the rollout it started: an issue is a rollout's.
func TestScheduleRunOpensNoIssue(t *testing.T) {
	f, srv := newFakeJira(t, basic("ops@example.com", "s3cr3t-token"), "/rest/api/2/search/jql")
	recs := &memRecords{}
	j := newCloud(t, srv.URL, recs)
	for _, r := range []*patchpilot.Rollout{nil, rollout()} {
		n := patchpilot.Notification{Event: patchpilot.Event{ID: 9, Kind: patchpilot.EventScheduleFinished}, Topic: patchpilot.TopicScheduleRun,
			Level: patchpilot.LevelWarning, Summary: "schedule nightly: run due 2026-03-01 02:00 UTC failed: no hosts", Rollout: r}
		if err := j.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests(); len(got) != 0 {
		t.Errorf("a scheduled run sent %v", got)
	}
}

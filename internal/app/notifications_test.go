package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestClassifyEvent(t *testing.T) {
	data := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	roll := &patchpilot.Rollout{ID: "r-1", Plan: patchpilot.Plan{Name: "openssl"}, CreatedBy: "user:alice"}
	stage := func(name string, s patchpilot.StageState, reason string) patchpilot.Event {
		return patchpilot.Event{ID: 7, Kind: patchpilot.EventStageState, Rollout: "r-1",
			Data: data(patchpilot.StageStateData{Stage: name, State: s, Reason: reason})}
	}
	state := func(s, prev patchpilot.RolloutState, reason string) patchpilot.Event {
		return patchpilot.Event{ID: 8, Kind: patchpilot.EventRolloutState, Rollout: "r-1",
			Data: data(patchpilot.RolloutStateData{State: s, Previous: prev, Reason: reason})}
	}
	const base = "https://pp.example.com/"
	cases := []struct {
		name    string
		e       patchpilot.Event
		topic   patchpilot.Topic // "" = not notified
		level   patchpilot.Level
		summary string // a part of the summary
		url     string
	}{
		{"created", patchpilot.Event{Kind: patchpilot.EventRolloutCreated, Rollout: "r-1", Actor: "cli",
			Data: data(patchpilot.RolloutCreatedData{Plan: "openssl", Stages: []string{"canary: a", "rest: b"}})},
			patchpilot.TopicRolloutStarted, patchpilot.LevelInfo, "rollout r-1 (openssl) started by user:alice: 2 stages", "https://pp.example.com/ui/rollouts/r-1"},
		{"stage running", stage("canary", patchpilot.StageRunning, ""), "", "", "", ""},
		{"stage succeeded", stage("canary", patchpilot.StageSucceeded, ""), patchpilot.TopicStageDone, patchpilot.LevelInfo, "stage canary succeeded", "https://pp.example.com/ui/rollouts/r-1"},
		{"stage skipped", stage("rest", patchpilot.StageSkipped, "rollout rolled back"), patchpilot.TopicStageDone, patchpilot.LevelInfo, "stage rest skipped: rollout rolled back", "https://pp.example.com/ui/rollouts/r-1"},
		{"stage failed", stage("canary", patchpilot.StageFailed, "1 of 2 hosts failed"), patchpilot.TopicStageDone, patchpilot.LevelWarning, "stage canary failed: 1 of 2 hosts failed", "https://pp.example.com/ui/rollouts/r-1"},
		{"stage rolled back", stage("canary", patchpilot.StageRolledBack, ""), patchpilot.TopicStageDone, patchpilot.LevelWarning, "stage canary rolled back", "https://pp.example.com/ui/rollouts/r-1"},
		{"stage waits for approval", stage("prod", patchpilot.StageWaitingApproval, "needs approval"), patchpilot.TopicApprovalNeeded, patchpilot.LevelWarning,
			"stage prod waits for approval: needs approval", "https://pp.example.com/ui/rollouts/r-1#approve"},
		{"rollout waits for approval (told by the stage)", state(patchpilot.RolloutWaitingApproval, patchpilot.RolloutRunning, "stage prod needs approval"), "", "", "", ""},
		{"started running", state(patchpilot.RolloutRunning, patchpilot.RolloutPending, "started by x"), "", "", "", ""},
		{"running after approval", state(patchpilot.RolloutRunning, patchpilot.RolloutWaitingApproval, "stage prod"), "", "", "", ""},
		{"recovered after halt", state(patchpilot.RolloutRunning, patchpilot.RolloutHalted, "stage prod"), patchpilot.TopicRecovered, patchpilot.LevelInfo, "runs again after being halted", "https://pp.example.com/ui/rollouts/r-1"},
		{"recovered after pause", state(patchpilot.RolloutRunning, patchpilot.RolloutPaused, "stage prod"), patchpilot.TopicRecovered, patchpilot.LevelInfo, "runs again after being paused", "https://pp.example.com/ui/rollouts/r-1"},
		{"halted", state(patchpilot.RolloutHalted, patchpilot.RolloutRunning, "stage canary: 1 of 2 hosts failed"), patchpilot.TopicHalted, patchpilot.LevelCritical, "rollout r-1 (openssl) halted: stage canary: 1 of 2 hosts failed", "https://pp.example.com/ui/rollouts/r-1"},
		{"held", state(patchpilot.RolloutHalted, patchpilot.RolloutRunning, "held: no maintenance window opens within 24h0m0s"), patchpilot.TopicHalted, patchpilot.LevelWarning, "halted: held", "https://pp.example.com/ui/rollouts/r-1"},
		{"rolled back", state(patchpilot.RolloutRolledBack, patchpilot.RolloutRollingBack, "rolled back a on request"), patchpilot.TopicRolledBack, patchpilot.LevelWarning, "rolled back: rolled back a on request", "https://pp.example.com/ui/rollouts/r-1"},
		{"rollback failed", state(patchpilot.RolloutFailed, patchpilot.RolloutRollingBack, "rollback failed on b"), patchpilot.TopicRollbackFailed, patchpilot.LevelCritical, "rollback failed on b", "https://pp.example.com/ui/rollouts/r-1"},
		{"rolling back", state(patchpilot.RolloutRollingBack, patchpilot.RolloutHalted, ""), "", "", "", ""},
		{"succeeded", state(patchpilot.RolloutSucceeded, patchpilot.RolloutRunning, "3 hosts patched"), patchpilot.TopicRolloutFinished, patchpilot.LevelInfo, "rollout r-1 (openssl) succeeded: 3 hosts patched", "https://pp.example.com/ui/rollouts/r-1"},
		{"aborted", state(patchpilot.RolloutAborted, patchpilot.RolloutRunning, "aborted by user:bob"), patchpilot.TopicRolloutFinished, patchpilot.LevelWarning, "aborted: aborted by user:bob", "https://pp.example.com/ui/rollouts/r-1"},
		{"incident", patchpilot.Event{Kind: patchpilot.EventIncident, Rollout: "r-1", Message: "incident 3 in stage canary: unhealthy (hosts a)",
			Data: data(patchpilot.IncidentData{Hosts: []patchpilot.IncidentHost{{Host: "a", State: patchpilot.HostRollbackFailed}}})},
			patchpilot.TopicIncident, patchpilot.LevelCritical, "incident 3 in stage canary: unhealthy (hosts a); the rollback of a failed", "https://pp.example.com/ui/rollouts/r-1"},
		{"old rollout event without payload", patchpilot.Event{Kind: patchpilot.EventRolloutState, Rollout: "r-1", Message: "rollout halted: stage canary failed"},
			patchpilot.TopicHalted, patchpilot.LevelCritical, "halted: stage canary failed", "https://pp.example.com/ui/rollouts/r-1"},
		{"old stage event without payload", patchpilot.Event{Kind: patchpilot.EventStageState, Rollout: "r-1", Message: "stage canary failed: 1 of 2 hosts failed"},
			patchpilot.TopicStageDone, patchpilot.LevelWarning, "stage canary failed: 1 of 2 hosts failed", "https://pp.example.com/ui/rollouts/r-1"},
		{"stage waits for its window", patchpilot.Event{Kind: patchpilot.EventStageState, Rollout: "r-1", Message: "stage canary waits for the maintenance window opening at 2026-03-01T12:00:00Z"}, "", "", "", ""},
		{"host event", patchpilot.Event{Kind: patchpilot.EventHostState, Rollout: "r-1", Host: "a", Message: "host a succeeded"}, "", "", "", ""},
		{"inventory", patchpilot.Event{Kind: patchpilot.EventFactsCollected, Host: "a"}, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, ok := ClassifyEvent(c.e, roll, base)
			if ok != (c.topic != "") {
				t.Fatalf("notified = %v (%+v), want %v", ok, n, c.topic != "")
			}
			if !ok {
				return
			}
			if n.Topic != c.topic || n.Level != c.level || n.URL != c.url {
				t.Errorf("got %s/%s %q, want %s/%s %q", n.Topic, n.Level, n.URL, c.topic, c.level, c.url)
			}
			if !strings.Contains(n.Summary, c.summary) {
				t.Errorf("summary %q does not say %q", n.Summary, c.summary)
			}
			if n.Event.ID != c.e.ID || n.Rollout != roll {
				t.Errorf("notification does not carry its event and rollout: %+v", n)
			}
		})
	}
	// Without a dashboard URL there is no link; a dry run says so.
	dry := &patchpilot.Rollout{ID: "r-2", DryRun: true}
	n, ok := ClassifyEvent(patchpilot.Event{Kind: patchpilot.EventRolloutState, Rollout: "r-2",
		Data: data(patchpilot.RolloutStateData{State: patchpilot.RolloutSucceeded})}, dry, "")
	if !ok || n.URL != "" || !strings.HasPrefix(n.Summary, "dry run: rollout r-2 succeeded") {
		t.Errorf("dry run without dashboard: %v %+v", ok, n)
	}
	// A dry run's halt, failure or incident is told at level info, not
	// as a page.
	for _, e := range []patchpilot.Event{
		{Kind: patchpilot.EventRolloutState, Rollout: "r-2", Data: data(patchpilot.RolloutStateData{State: patchpilot.RolloutHalted, Reason: "2 hosts failed their preflight"})},
		{Kind: patchpilot.EventRolloutState, Rollout: "r-2", Data: data(patchpilot.RolloutStateData{State: patchpilot.RolloutFailed})},
		{Kind: patchpilot.EventIncident, Rollout: "r-2", Message: "gates breached"},
		{Kind: patchpilot.EventStageState, Rollout: "r-2", Data: data(patchpilot.StageStateData{Stage: "canary", State: patchpilot.StageFailed})},
	} {
		n, ok := ClassifyEvent(e, dry, "")
		if !ok || n.Level != patchpilot.LevelInfo || !strings.HasPrefix(n.Summary, "dry run: ") {
			t.Errorf("dry run's %s %s: %v level %s summary %q; want info, \"dry run: …\"", e.Kind, e.Data, ok, n.Level, n.Summary)
		}
	}
}

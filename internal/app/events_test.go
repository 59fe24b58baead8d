package app

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestRolloutEventsInTheCurrentShape stores an adaptive event as older
// versions wrote it (the prior as an object) and reads it back through
// the app in the current shape, beside an event without payload.
func TestRolloutEventsInTheCurrentShape(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := patchpilot.Rollout{ID: "r-1", Plan: patchpilot.Plan{Name: "p"}, State: patchpilot.RolloutRunning, CreatedAt: now, UpdatedAt: now,
		Stages: []patchpilot.StageRun{{Rollout: "r-1", Name: "all", State: patchpilot.StagePending, Hosts: []string{"web-1"}}}}
	if err := a.Store.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	old := `{"budget":1,"prior":{"probability":0.031,"model_version":"m-1","reasons":["r"]},"strength":4}`
	for _, e := range []patchpilot.Event{
		{Kind: patchpilot.EventAdaptive, Rollout: "r-1", Data: json.RawMessage(old)},
		{Kind: patchpilot.EventRolloutState, Rollout: "r-1", Message: "running"},
	} {
		if _, err := a.Store.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := a.RolloutEvents(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Data != nil {
		t.Fatalf("events %+v, want the adaptive event and the state event without data", evs)
	}
	var got map[string]any
	if err := json.Unmarshal(evs[0].Data, &got); err != nil {
		t.Fatal(err)
	}
	if got["prior"] != 0.031 || got["prior_model_version"] != "m-1" || got["strength"] != 4.0 || got["budget"] != 1.0 {
		t.Errorf("adaptive data %s, want the prior flat: prior 0.031, prior_model_version m-1, strength 4, budget 1", evs[0].Data)
	}
	if _, err := a.RolloutEvents(ctx, "r-none"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("unknown rollout: %v, want not found", err)
	}
}

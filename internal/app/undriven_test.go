package app

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Undriven reads the rollout's lease from the store: a running rollout
// whose lease nobody holds is undriven, one whose lease a controller of
// another machine holds is not (nothing is known of it), and a rollout
// that is not running never is.
func TestUndrivenReadsTheLease(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := patchpilot.Rollout{ID: "r-1", State: patchpilot.RolloutRunning, CreatedAt: now, UpdatedAt: now,
		Stages: []patchpilot.StageRun{{Index: 0, Name: "all", State: patchpilot.StagePending, Hosts: []string{"web1"}}}}
	if err := a.Store.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	if why := a.Undriven(ctx, r.ID, patchpilot.RolloutRunning); why != "the command that drove it was interrupted (no controller holds its lease)" {
		t.Errorf("Undriven without a lease = %q", why)
	}
	if granted, _, err := a.Store.AcquireLease(ctx, r.ID, "controller on another machine", time.Hour); err != nil || !granted {
		t.Fatalf("AcquireLease: %v, %v", granted, err)
	}
	if why := a.Undriven(ctx, r.ID, patchpilot.RolloutRunning); why != "" {
		t.Errorf("Undriven with a lease held elsewhere = %q; want \"\"", why)
	}
	if err := a.Store.ReleaseLease(ctx, r.ID, "controller on another machine"); err != nil {
		t.Fatal(err)
	}
	if why := a.Undriven(ctx, r.ID, patchpilot.RolloutPaused); why != "" {
		t.Errorf("Undriven of a paused rollout = %q; want \"\"", why)
	}
}

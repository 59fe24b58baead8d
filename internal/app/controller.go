package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
)

// The engine's defaults, named here so that a front end (the CLI, an HTTP
// server) can show them without reaching past the app into the
// orchestrator.
const (
	// DefaultLeaseTTL is how long a controller's claim on a rollout lasts
	// without renewal.
	DefaultLeaseTTL = orchestrator.DefaultLeaseTTL
	// DefaultCheckInterval is the time between health checks of a bake.
	DefaultCheckInterval = orchestrator.DefaultCheckInterval
)

// Controller is the use cases that drive and steer rollouts: start, run,
// approve, pause, abort, resume and roll back. Front ends hold a
// Controller, never the engine behind it, so that every way in goes
// through the same wiring (store, dialers, package managers, gates).
type Controller struct {
	app *App
	eng *orchestrator.Engine
}

// Controller builds a rollout controller on the app's store with the real
// package managers and health gates (see Engine).
func (a *App) Controller(o EngineOptions) *Controller {
	return &Controller{app: a, eng: a.Engine(o)}
}

// StartOptions say how a rollout is started and by whom.
type StartOptions struct {
	// DryRun runs every host's preflight and health gates once and
	// changes nothing.
	DryRun bool
	// Actor is who starts the rollout, recorded as its creator
	// ("token:alice", "user:ann"). Default: "user:" and the local user.
	Actor string
	// PlanID is the saved plan (App.SavePlan) the rollout is started
	// from. With a PlanID and neither a plan nor a source, the saved
	// plan is the one started.
	PlanID string
}

// Start stores a new rollout of the plan over the stored hosts its targets
// select and returns its id. It changes no host: Run does.
func (c *Controller) Start(ctx context.Context, p patchpilot.Plan, source []byte, o StartOptions) (string, error) {
	return c.app.StartRollout(ctx, c.eng, p, source, o)
}

// Run drives the rollout until it ends, waits for a person, is paused or
// the context ends, and returns the state it was left in. It fails with
// ECONFLICT when another controller holds the rollout's lease.
func (c *Controller) Run(ctx context.Context, id string) (patchpilot.RolloutState, error) {
	return c.eng.Run(ctx, id)
}

// Resume carries on a paused or held rollout, or one whose controller
// died, after examining each host found in the middle of its pipeline.
func (c *Controller) Resume(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	return c.eng.Resume(ctx, id, actor)
}

// MarkResumed records the resume of a paused or held rollout without
// driving it (orchestrator.Engine.MarkResumed): a server answers the
// person once the request is on record, and drives the rollout after.
func (c *Controller) MarkResumed(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	return c.eng.MarkResumed(ctx, id, actor)
}

// Approve approves the named stage (empty: the one waiting) and returns
// its name. Four-eyes: a token that started the rollout, or created the
// saved plan it was started from, may not approve it (EFORBIDDEN).
func (c *Controller) Approve(ctx context.Context, id, stage, actor string) (string, error) {
	if err := c.app.checkFourEyes(ctx, id, actor); err != nil {
		return "", err
	}
	return c.eng.Approve(ctx, id, stage, actor)
}

// Pause stops dispatching hosts; hosts in flight finish.
func (c *Controller) Pause(ctx context.Context, id, actor string) error {
	return c.eng.Pause(ctx, id, actor)
}

// Abort ends the rollout: hosts not yet started are skipped.
func (c *Controller) Abort(ctx context.Context, id, actor string) error {
	return c.eng.Abort(ctx, id, actor)
}

// RequestRollback marks the named hosts (empty: every changed host) for
// rollback and returns the hosts marked; Run or the controller driving
// the rollout carries the rollbacks out.
func (c *Controller) RequestRollback(ctx context.Context, id string, hosts []string, actor string) ([]string, error) {
	return c.eng.RequestRollback(ctx, id, hosts, actor)
}

// NextStep is the hint for a person looking at the rollout as it is: only
// the commands that work on it now (see orchestrator.NextStep).
func (st RolloutStatus) NextStep() string {
	return orchestrator.NextStep(st.ID, st.State, st.Reason, st.Runs())
}

// CanResume reports whether Resume carries the rollout on: it is paused,
// or held for a person after a stage was rolled back.
func (st RolloutStatus) CanResume() bool {
	return st.State == patchpilot.RolloutPaused || orchestrator.Held(st.State, st.Reason)
}

// CanAbort reports whether Abort applies: the rollout is not final, or
// it is held.
func (st RolloutStatus) CanAbort() bool {
	return !st.State.Final() || orchestrator.Held(st.State, st.Reason)
}

// CanRollBack reports whether RequestRollback with no hosts has a changed
// host to roll back: one the rollout changed and has not rolled back,
// finished or not (a dry run changes none).
func (st RolloutStatus) CanRollBack() bool {
	return len(orchestrator.RollbackCandidates(st.Runs())) > 0
}

// Undriven says why nothing drives a running (or rolling back) rollout any
// more, or "" when a controller may still drive it: no controller holds its
// lease (an interrupted 'rollout start', 'approve' or 'resume' gives it
// back), or the one that holds it ran on this machine and its process is
// gone (a killed one). It only reads.
func (a *App) Undriven(ctx context.Context, id string, state patchpilot.RolloutState) string {
	if state != patchpilot.RolloutRunning && state != patchpilot.RolloutRollingBack {
		return ""
	}
	holder, err := a.Store.LeaseHolder(ctx, id)
	switch {
	case err != nil:
		return ""
	case holder == "":
		// A controller holds the lease as long as it drives the rollout
		// and gives it back when it is interrupted.
		return "the command that drove it was interrupted (no controller holds its lease)"
	}
	if why := orchestrator.DeadHolder(holder, nil, nil); why != "" {
		return "the command that drove it stopped (" + why + ")"
	}
	return ""
}

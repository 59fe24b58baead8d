package server

import (
	"context"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// People is what the server needs for API tokens and the audit log.
// *app.App provides it; tests use a small fake. CreateToken and
// RevokeToken record their attempts in the audit log themselves; the
// server records every other call that changes something.
type People interface {
	// Authenticate returns the principal a token's secret belongs to;
	// EUNAUTHENTICATED when it is unknown, revoked or malformed.
	Authenticate(ctx context.Context, secret string) (patchpilot.Principal, error)
	CreateToken(ctx context.Context, name string, role patchpilot.Role, actor string) (string, patchpilot.Token, error)
	Tokens(ctx context.Context) ([]patchpilot.Token, error)
	RevokeToken(ctx context.Context, name, actor string) error
	RecordAudit(ctx context.Context, e patchpilot.AuditEntry) error
	Audit(ctx context.Context, f patchpilot.AuditFilter) ([]patchpilot.AuditEntry, error)
}

// StoredPlan is a plan kept by id with who created it.
type StoredPlan = patchpilot.PlanRecord

// Plans keeps proposed plans by id (as App.SavePlan and App.PlanRecord).
type Plans interface {
	// SavePlan stores the plan parsed from source, with its creator.
	SavePlan(ctx context.Context, p patchpilot.Plan, source []byte, actor string) (StoredPlan, error)
	// PlanRecord returns a stored plan; ENOTFOUND when there is none.
	PlanRecord(ctx context.Context, id string) (StoredPlan, error)
}

// StartOptions say how a rollout is started: as a dry run, by whom, and
// from which stored plan ("" for a plan sent whole).
type StartOptions = app.StartOptions

// Controller drives and steers rollouts (app.Controller).
type Controller interface {
	Start(ctx context.Context, p patchpilot.Plan, source []byte, o StartOptions) (string, error)
	Run(ctx context.Context, id string) (patchpilot.RolloutState, error)
	Resume(ctx context.Context, id, actor string) (patchpilot.RolloutState, error)
	MarkResumed(ctx context.Context, id, actor string) (patchpilot.RolloutState, error)
	Approve(ctx context.Context, id, stage, actor string) (string, error)
	Pause(ctx context.Context, id, actor string) error
	Abort(ctx context.Context, id, actor string) error
	RequestRollback(ctx context.Context, id string, hosts []string, actor string) ([]string, error)
}

// AppController adapts *app.Controller to Controller.
type AppController struct{ C *app.Controller }

// Start starts a rollout through the app, recorded as the authenticated
// actor's, from the stored plan it names.
func (c AppController) Start(ctx context.Context, p patchpilot.Plan, source []byte, o StartOptions) (string, error) {
	return c.C.Start(ctx, p, source, o)
}

// Run drives a rollout.
func (c AppController) Run(ctx context.Context, id string) (patchpilot.RolloutState, error) {
	return c.C.Run(ctx, id)
}

// Resume carries a rollout on.
func (c AppController) Resume(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	return c.C.Resume(ctx, id, actor)
}

// MarkResumed records a resume without driving the rollout.
func (c AppController) MarkResumed(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	return c.C.MarkResumed(ctx, id, actor)
}

// Approve approves a stage.
func (c AppController) Approve(ctx context.Context, id, stage, actor string) (string, error) {
	return c.C.Approve(ctx, id, stage, actor)
}

// Pause pauses a rollout.
func (c AppController) Pause(ctx context.Context, id, actor string) error {
	return c.C.Pause(ctx, id, actor)
}

// Abort aborts a rollout.
func (c AppController) Abort(ctx context.Context, id, actor string) error {
	return c.C.Abort(ctx, id, actor)
}

// RequestRollback marks hosts for rollback.
func (c AppController) RequestRollback(ctx context.Context, id string, hosts []string, actor string) ([]string, error) {
	return c.C.RequestRollback(ctx, id, hosts, actor)
}

package server

import (
	"context"
	"time"

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

// StoredPlan is a plan kept by id with who created it. Its fields are
// those of patchpilot.PlanRecord, in the same order, so that a record
// converts to it (StoredPlan(rec)).
type StoredPlan struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Source    string    `json:"source"` // the plan's YAML
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Plans keeps proposed plans by id (as App.SavePlan and App.PlanRecord).
type Plans interface {
	// SavePlan stores the plan parsed from source, with its creator.
	SavePlan(ctx context.Context, p patchpilot.Plan, source []byte, actor string) (StoredPlan, error)
	// PlanRecord returns a stored plan; ENOTFOUND when there is none.
	PlanRecord(ctx context.Context, id string) (StoredPlan, error)
}

// StartOptions say how a rollout is started: as a dry run, by whom, and
// from which stored plan ("" for a plan sent whole).
type StartOptions struct {
	DryRun bool
	Actor  string
	PlanID string
}

// Controller drives and steers rollouts (app.Controller).
type Controller interface {
	Start(ctx context.Context, p patchpilot.Plan, source []byte, o StartOptions) (string, error)
	Run(ctx context.Context, id string) (patchpilot.RolloutState, error)
	Resume(ctx context.Context, id, actor string) (patchpilot.RolloutState, error)
	Approve(ctx context.Context, id, stage, actor string) (string, error)
	Pause(ctx context.Context, id, actor string) error
	Abort(ctx context.Context, id, actor string) error
	RequestRollback(ctx context.Context, id string, hosts []string, actor string) ([]string, error)
}

// AppController adapts *app.Controller to Controller.
type AppController struct{ C *app.Controller }

// Start starts a rollout through the app.
//
// TODO(integration): pass app.StartOptions{DryRun: o.DryRun, Actor:
// o.Actor, PlanID: o.PlanID} once Controller.Start takes them, so that the
// rollout records the authenticated actor and its plan.
func (c AppController) Start(ctx context.Context, p patchpilot.Plan, source []byte, o StartOptions) (string, error) {
	return c.C.Start(ctx, p, source, o.DryRun)
}

// Run drives a rollout.
func (c AppController) Run(ctx context.Context, id string) (patchpilot.RolloutState, error) {
	return c.C.Run(ctx, id)
}

// Resume carries a rollout on.
func (c AppController) Resume(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	return c.C.Resume(ctx, id, actor)
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

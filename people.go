package patchpilot

import (
	"context"
	"encoding/json"
	"time"
)

// Role is what an API token may do. Roles are ordered: each one may do
// everything the roles before it may, except that approving is its own
// right (an operator may not approve; an approver may do what an operator
// may; an admin may do everything).
type Role string

// Roles, from the least to the most trusted.
const (
	RoleViewer   Role = "viewer"   // reads everything, changes nothing
	RoleOperator Role = "operator" // plans, starts, pauses, resumes, aborts and rolls back
	RoleApprover Role = "approver" // also approves gated stages
	RoleAdmin    Role = "admin"    // also manages tokens, policies and schedules
)

// Roles lists every role in order of trust.
var Roles = []Role{RoleViewer, RoleOperator, RoleApprover, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() >= 0 }

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i
		}
	}
	return -1
}

// Allows reports whether a holder of r may do what needs the role need.
func (r Role) Allows(need Role) bool {
	return r.Valid() && need.Valid() && r.rank() >= need.rank()
}

// Principal is who is calling: the person or system a token was issued
// to. Actor is what events and the audit log record ("token:alice").
type Principal struct {
	Token string `json:"token"` // the token's name
	Role  Role   `json:"role"`
}

// Actor is the name events, rollouts and the audit log record for p.
func (p Principal) Actor() string { return "token:" + p.Token }

// Token describes an API token. The secret itself is never stored: only
// its SHA-256 hash, and it is shown once, when the token is created.
type Token struct {
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// AuditEntry is one call that changed something: who (the actor and the
// token's name), what (the action and its target), and how it ended.
type AuditEntry struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`             // "token:alice", "local:root"
	Token   string          `json:"token,omitempty"`   // the token's name, when a token was used
	Action  string          `json:"action"`            // "rollout.start", "token.create", ...
	Target  string          `json:"target,omitempty"`  // what it acted on: a rollout id, a token name
	Rollout string          `json:"rollout,omitempty"` // the rollout concerned, if any
	Outcome string          `json:"outcome"`           // "ok" or the error code
	Detail  json.RawMessage `json:"detail,omitempty"`  // a JSON object; never a secret
}

// AuditFilter selects audit entries. Zero fields match everything.
type AuditFilter struct {
	Actor   string
	Rollout string
	Since   time.Time
	Until   time.Time
	Limit   int
}

// TokenStore keeps API tokens by the hash of their secret.
type TokenStore interface {
	// CreateToken stores a token under its secret's hash; a name already
	// taken (revoked or not) is ECONFLICT.
	CreateToken(ctx context.Context, t Token, hash []byte) error
	// TokenByHash returns the token whose secret hashes to hash;
	// ENOTFOUND when there is none. Revoked tokens are returned with
	// RevokedAt set: the caller refuses them.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Tokens lists every token, revoked ones too, ordered by name.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the named token revoked; ENOTFOUND when there is
	// no such token. Revoking a revoked token changes nothing.
	RevokeToken(ctx context.Context, name string, at time.Time) error
	// TouchToken records that the named token was used at the given time.
	TouchToken(ctx context.Context, name string, at time.Time) error
}

// AuditStore is the append-only audit log.
type AuditStore interface {
	// AppendAudit stores an entry and returns it with its ID and, when
	// it had none, its time set.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// Audit lists entries matching the filter, oldest first: those at or
	// after Since and before Until. With a Limit it returns the newest
	// Limit of them, still oldest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// PlanRecord is a plan kept in the store by id, with who created it: the
// plan a rollout may be started from, and whose creator four-eyes keeps
// from approving that rollout. Source is the plan's YAML as saved.
type PlanRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// PlanStore keeps saved plans.
type PlanStore interface {
	// SavePlan stores a new plan record; a zero CreatedAt is set from the
	// store's clock. An id already taken is ECONFLICT.
	SavePlan(ctx context.Context, p PlanRecord) error
	// PlanRecord returns the plan with the given id; ENOTFOUND when there
	// is none.
	PlanRecord(ctx context.Context, id string) (PlanRecord, error)
	// PlanRecords lists every saved plan, newest first.
	PlanRecords(ctx context.Context) ([]PlanRecord, error)
}

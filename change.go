package patchpilot

import (
	"context"
	"time"
)

// ChangeRecord links a rollout to the record a change-management service
// keeps of it (a Jira issue, a ServiceNow change request), so that the
// record is found again after a restart instead of being opened twice.
type ChangeRecord struct {
	// Integration is the integration's name in patchpilot.yaml.
	Integration string `json:"integration"`
	Rollout     string `json:"rollout"`
	// ExternalID is the service's own id of the record (a Jira issue id,
	// a ServiceNow sys_id); Key is the name people use (PROJ-123,
	// CHG0030001).
	ExternalID string `json:"external_id"`
	Key        string `json:"key"`
	// State is where patchpilot left the record: "open" once created,
	// "closed" once the outcome was written and the record transitioned
	// or closed.
	State     string    `json:"state"`
	UpdatedAt time.Time `json:"updated_at"`
}

// The states of a ChangeRecord.
const (
	ChangeRecordOpen   = "open"
	ChangeRecordClosed = "closed"
)

// ChangeRecordStore keeps change records, one per integration and rollout.
type ChangeRecordStore interface {
	// SaveChangeRecord inserts the record or replaces the one of the same
	// integration and rollout. Integration, Rollout and ExternalID are
	// required (EINVALID).
	SaveChangeRecord(ctx context.Context, r ChangeRecord) error
	// ChangeRecord returns the record of an integration and a rollout;
	// ENOTFOUND when none is stored.
	ChangeRecord(ctx context.Context, integration, rollout string) (ChangeRecord, error)
}

// ChangeApprovalState is what a change-management service says of a
// change: pending, approved or rejected.
type ChangeApprovalState string

// The approval states.
const (
	ChangePending  ChangeApprovalState = "pending"
	ChangeApproved ChangeApprovalState = "approved"
	ChangeRejected ChangeApprovalState = "rejected"
)

// ChangeApproval is a change's approval as the service answered it.
type ChangeApproval struct {
	State ChangeApprovalState
	// Change names the change for people ("CHG0030001").
	Change string
	// Detail is what the service said beyond the state (who rejected,
	// the raw approval value), for the events; may be empty.
	Detail string
}

// ChangeApprover is an approval held outside patchpilot (a change
// advisory board approving a change request): the stages of a rollout
// that need a person's approval also wait for it. Approval asks the
// service once; the engine polls it.
type ChangeApprover interface {
	// Name is the integration's name, for events and reasons.
	Name() string
	// Approval returns the state of the rollout's change. A rollout whose
	// change does not exist and cannot be made is an error, and the
	// engine then refuses to start the stage (fail closed); a
	// *DeliveryError that is Retryable is asked again at the next poll.
	Approval(ctx context.Context, r Rollout, stage string) (ChangeApproval, error)
}

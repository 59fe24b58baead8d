package patchpilot

import (
	"context"
	"time"
)

// DeliveryCursor is how far the event log has been delivered to one
// integration: every event up to EventID has been delivered, skipped (not
// routed to it) or given up (DeliveryFailure).
type DeliveryCursor struct {
	Integration string `json:"integration"`
	// EventID is the last event handled.
	EventID int64 `json:"event_id"`
	// DeliveredEventID and DeliveredAt are the last event the service
	// accepted and when; zero when none yet.
	DeliveredEventID int64     `json:"delivered_event_id,omitempty"`
	DeliveredAt      time.Time `json:"delivered_at,omitzero"`
	// Behind counts the events of the log after EventID (DeliveryCursors
	// fills it in).
	Behind int `json:"behind"`
	// Retrying is the delivery the dispatcher is retrying (the event
	// after EventID that failed and waits for its next try); nil when
	// none.
	Retrying *DeliveryRetry `json:"retrying,omitempty"`
}

// DeliveryRetry is a delivery that failed and waits to be tried again.
type DeliveryRetry struct {
	EventID  int64     `json:"event_id"`
	Attempts int       `json:"attempts"` // the attempts made so far
	Error    string    `json:"error"`    // the last one's error, never a secret
	NextTry  time.Time `json:"next_try"`
	// Since is when its first attempt failed; a dispatcher taking over
	// the delivery goes on from it and from Attempts, so that the give-up
	// is not postponed. Zero when not known.
	Since time.Time `json:"since,omitzero"`
}

// DeliveryFailure records an event the dispatcher gave up delivering to
// an integration: after its attempts, or at once for a refusal that
// sending again cannot fix. The cursor moved past it.
type DeliveryFailure struct {
	ID          int64     `json:"id"`
	Integration string    `json:"integration"`
	EventID     int64     `json:"event_id"`
	Topic       Topic     `json:"topic"`
	Attempts    int       `json:"attempts"`
	Error       string    `json:"error"` // the last error, never a secret
	Time        time.Time `json:"time"`
	// Redelivery is where a redelivery asked for by 'integrations
	// retry' stands: "" (none asked), RedeliveryRequested,
	// RedeliverySending, RedeliveryDone or RedeliveryFailed; with the
	// redelivery's error and when it ended.
	Redelivery      string    `json:"redelivery,omitempty"`
	RedeliveryError string    `json:"redelivery_error,omitempty"`
	RedeliveredAt   time.Time `json:"redelivered_at,omitzero"`
}

// The states of a redelivery. A failure is redelivered at most once: a
// redelivery is claimed (sending) before it is sent, so one cut off by a
// crash stays sending and is never sent again by itself.
const (
	RedeliveryRequested = "requested"
	RedeliverySending   = "sending"
	RedeliveryDone      = "redelivered"
	RedeliveryFailed    = "failed"
)

// DeliveryStore keeps the integrations' delivery cursors (the outbox: the
// event log is the queue, each integration's cursor its position in it)
// and the deliveries given up.
type DeliveryStore interface {
	// StartDeliveryCursor returns the integration's cursor, creating it
	// at the current end of the event log when it has none: a new
	// integration is told of events from now on, not of the history.
	StartDeliveryCursor(ctx context.Context, integration string) (DeliveryCursor, error)
	// AdvanceDeliveryCursor moves the integration's cursor to eventID;
	// when delivered is not zero, the event was delivered at that time.
	// A cursor never moves back: an eventID at or before it changes
	// nothing. ENOTFOUND when the integration has no cursor.
	// A cursor moved to (or past) the event being retried clears
	// its Retrying.
	AdvanceDeliveryCursor(ctx context.Context, integration string, eventID int64, delivered time.Time) error
	// SetDeliveryRetry records the delivery the dispatcher is retrying
	// (shown by the status until the cursor moves past its event).
	// ENOTFOUND when the integration has no cursor.
	SetDeliveryRetry(ctx context.Context, integration string, r DeliveryRetry) error
	// GiveUpDelivery records the failure and moves the integration's
	// cursor past its event, in one transaction. ENOTFOUND when the
	// integration has no cursor.
	GiveUpDelivery(ctx context.Context, f DeliveryFailure) (DeliveryFailure, error)
	// DeliveryCursors lists every cursor, by integration name, with how
	// many events of the log are after it.
	DeliveryCursors(ctx context.Context) ([]DeliveryCursor, error)
	// DeliveryFailures lists the integration's given-up deliveries
	// (every integration's when integration is ""), newest first; limit
	// 0 means all.
	DeliveryFailures(ctx context.Context, integration string, limit int) ([]DeliveryFailure, error)
	// RequestRedelivery marks the integration's given-up deliveries
	// that were never redelivered (of event eventID only, when it is not
	// 0) as RedeliveryRequested, and returns them. ENOTFOUND when the
	// event has no given-up delivery, ECONFLICT when its redelivery was
	// already asked for.
	RequestRedelivery(ctx context.Context, integration string, eventID int64) ([]DeliveryFailure, error)
	// ClaimRedelivery moves a requested redelivery to RedeliverySending;
	// false when it is not requested (another dispatcher claimed it).
	ClaimRedelivery(ctx context.Context, id int64) (bool, error)
	// FinishRedelivery records a claimed redelivery's outcome:
	// RedeliveryDone when errText is "", else RedeliveryFailed.
	// ECONFLICT when it is not being sent.
	FinishRedelivery(ctx context.Context, id int64, errText string, at time.Time) error
	// AcquireDeliveryLease, TakeOverDeliveryLease and
	// ReleaseDeliveryLease are the dispatcher's lease, with the rules of
	// the scheduler's (ScheduleStore): one dispatcher delivers the events
	// of a database.
	AcquireDeliveryLease(ctx context.Context, owner string, ttl time.Duration) (granted bool, holder string, err error)
	TakeOverDeliveryLease(ctx context.Context, from, owner string, ttl time.Duration) (granted bool, holder string, err error)
	ReleaseDeliveryLease(ctx context.Context, owner string) error
}

package patchpilot

import (
	"context"
	"fmt"
	"time"
)

// Topic is what a notification is about: the moments of a rollout a team
// wants to hear of, and the scheduled runs that need a person. Integrations
// route on it (and on its Level).
type Topic string

// The topics, in the order a rollout meets them, then the schedules'.
const (
	TopicRolloutStarted  Topic = "rollout_started"  // a rollout was created and starts
	TopicStageDone       Topic = "stage_done"       // a stage ended (succeeded, failed, skipped)
	TopicApprovalNeeded  Topic = "approval_needed"  // a stage waits for a person's approval
	TopicHalted          Topic = "halted"           // the rollout stopped on a failure
	TopicRolledBack      Topic = "rolled_back"      // hosts were rolled back
	TopicRollbackFailed  Topic = "rollback_failed"  // a rollback did not restore a host
	TopicIncident        Topic = "incident"         // an incident was opened
	TopicRecovered       Topic = "recovered"        // a halted or paused rollout runs again
	TopicRolloutFinished Topic = "rollout_finished" // the rollout reached a final state
	TopicScheduleRun     Topic = "schedule_run"     // a scheduled run failed, was skipped or missed, or left held hosts out
	TopicTest            Topic = "test"             // `patchpilot integrations test NAME`
)

// Level is a notification's severity, for routing: info < warning <
// critical.
type Level string

// The levels.
const (
	LevelInfo     Level = "info"
	LevelWarning  Level = "warning"
	LevelCritical Level = "critical"
)

// Rank orders levels: 1 info, 2 warning, 3 critical, 0 unknown.
func (l Level) Rank() int {
	switch l {
	case LevelInfo:
		return 1
	case LevelWarning:
		return 2
	case LevelCritical:
		return 3
	}
	return 0
}

// Notification is one event of the log as an integration sees it: the
// event, what it is about, how severe it is, and the rollout it concerns
// as it stood when the notification was built.
type Notification struct {
	// Event is the event of the log the notification comes from; its ID
	// orders notifications and names them (idempotency keys).
	Event Event `json:"event"`
	Topic Topic `json:"topic"`
	Level Level `json:"level"`
	// Summary is one line for a person: "rollout r-… halted in stage
	// canary: 1 of 2 hosts failed".
	Summary string `json:"summary"`
	// Rollout is the rollout the event concerns, nil when none.
	Rollout *Rollout `json:"rollout,omitempty"`
	// URL links to the rollout's page on the dashboard (its approval
	// form for TopicApprovalNeeded); empty when no dashboard URL is
	// configured.
	URL string `json:"url,omitempty"`
	// Hosts are the rollout's host pipelines and Incidents its incidents,
	// read with Rollout; nil when there is no rollout or they were not
	// read. Summaries count hosts from them and PagerDuty resolves each
	// incident's alert from them.
	Hosts     []HostRun  `json:"hosts,omitempty"`
	Incidents []Incident `json:"incidents,omitempty"`
}

// Notifier delivers notifications to one configured service. Notify is
// called once per notification, in event order, and again after a failure
// that DeliveryError says may be retried; it must be safe to call twice
// for the same notification (services that can use Event.ID as an
// idempotency or dedup key do).
type Notifier interface {
	// Name is the integration's name in patchpilot.yaml.
	Name() string
	Notify(ctx context.Context, n Notification) error
}

// DeliveryError is a refusal or failure answered by a service. Retryable
// says whether sending again may succeed (429, 5xx, a network error);
// RetryAfter is the service's Retry-After, zero when it gave none.
type DeliveryError struct {
	Service    string        // "slack", "pagerduty", ...
	Status     int           // the HTTP status, 0 when none (network, SMTP)
	Message    string        // what the service said, trimmed, never a secret
	Retryable  bool          // sending again may succeed
	RetryAfter time.Duration // the service's Retry-After, or 0
}

func (e *DeliveryError) Error() string {
	s := e.Service
	if e.Status != 0 {
		s += fmt.Sprintf(" answered %d", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

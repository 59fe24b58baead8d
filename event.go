package patchpilot

import (
	"encoding/json"
	"time"
)

// Event is one entry of the append-only event log: who did what, when and
// why. Events feed the audit trail, the dashboard and the learning loop.
// Data must never contain secrets.
type Event struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`             // "user:alice", "controller", "cli"
	Kind    string          `json:"kind"`              // see the Event* constants
	Host    string          `json:"host,omitempty"`    // the host concerned, if any
	Rollout string          `json:"rollout,omitempty"` // the rollout concerned, if any
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Event kinds: every event the log holds has one of these. The payload of
// each kind (Event.Data) is the type named beside it, or none; see
// eventdata.go.
const (
	// The inventory.
	EventFactsCollected     = "inventory.collected"      // FactsCollectedData
	EventCollectFailed      = "inventory.collect_failed" // CollectFailedData
	EventFactsImported      = "inventory.imported"       // no payload
	EventFactsPruned        = "inventory.pruned"         // FactsPrunedData
	EventHostsRemoved       = "inventory.hosts_removed"  // HostsRemovedData
	EventAdvisoriesImported = "advisories.imported"      // AdvisoriesImportedData
	EventHostKeyRecorded    = "ssh.host_key_recorded"    // no payload

	// The risk model.
	EventHistoryImported = "history.imported" // HistoryImportedData
	EventModelTrained    = "model.trained"    // ModelTrainedData
	EventModelRefused    = "model.refused"    // ModelRefusedData: an automatic retrain scored worse and was not kept
	EventModelUsed       = "model.used"       // ModelUsedData: a person made a stored model the active one

	// Rollouts.
	EventRolloutCreated = "rollout.created"  // RolloutCreatedData
	EventRolloutState   = "rollout.state"    // RolloutStateData, or none (older events)
	EventStageState     = "rollout.stage"    // StageStateData, or none (older events, window waits)
	EventHostState      = "rollout.host"     // no payload
	EventGateVerdict    = "rollout.gate"     // HealthReport, or none
	EventApproval       = "rollout.approved" // ApprovalData, or none (older events)
	EventIncident       = "rollout.incident" // IncidentData
	EventRequest        = "rollout.request"  // no payload: pause, resume, abort, rollback asked by a person
	EventLease          = "rollout.lease"    // no payload
	EventAdaptive       = "rollout.adaptive" // AdaptiveData
	EventHook           = "rollout.hook"     // HookData: a hook or a playbook apply, with its output
	// EventChangeApproval: a stage waits for, or got, the approval of the
	// rollout's change in a change-management service; no payload.
	EventChangeApproval = "rollout.change"

	// Schedules.
	EventScheduleStarted  = "schedule.started"  // ScheduleRunData
	EventScheduleWaiting  = "schedule.waiting"  // ScheduleRunData: the window is closed
	EventScheduleFinished = "schedule.finished" // ScheduleRunData
	EventScheduleMissed   = "schedule.missed"   // ScheduleRunData

	// Integrations.
	EventReportSent = "integration.report" // ReportSentData: a report mailed, or the attempt
)

// EventFilter selects events. Zero fields match everything; Limit 0 means
// no limit. Events come back in ID order.
type EventFilter struct {
	Host    string
	Rollout string
	Kind    string
	Since   time.Time
	// Until, when set, keeps events at or before it.
	Until   time.Time
	AfterID int64
	Limit   int
	// NoData leaves each event's Data out, for readers that need only
	// the rest.
	NoData bool
}

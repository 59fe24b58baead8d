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

// Event kinds written by the inventory.
const (
	EventFactsCollected     = "inventory.collected"
	EventCollectFailed      = "inventory.collect_failed"
	EventFactsImported      = "inventory.imported"
	EventFactsPruned        = "inventory.pruned"
	EventHostsRemoved       = "inventory.hosts_removed"
	EventAdvisoriesImported = "advisories.imported"
	EventHostKeyRecorded    = "ssh.host_key_recorded"
)

// EventFilter selects events. Zero fields match everything; Limit 0 means
// no limit. Events come back in ID order.
type EventFilter struct {
	Host    string
	Rollout string
	Kind    string
	Since   time.Time
	AfterID int64
	Limit   int
}

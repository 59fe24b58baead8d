package patchpilot

import (
	"context"
	"encoding/json"
	"time"
)

// Store is patchpilot's persistent state. SQLite implements it by default and
// PostgreSQL later; internal/storetest holds the conformance suite both must
// pass. Methods return *Error with ENOTFOUND for a missing host and EINVALID
// for bad input, and are safe for concurrent use.
type Store interface {
	HostStore
	FactStore
	AdvisoryStore
	EventStore
	RolloutStore
	ModelStore
	TokenStore
	AuditStore
	PlanStore
	ScheduleStore
	ComplianceStore
	DeliveryStore
	ChangeRecordStore
	ConnectionStore
	QuarantineStore
	Close() error
}

// HostStore keeps the hosts of the fleet.
type HostStore interface {
	// UpsertHosts adds hosts or replaces their connection details and
	// labels, in one transaction: all are written or none is.
	UpsertHosts(ctx context.Context, hosts []Host) error
	// Host returns one host by name.
	Host(ctx context.Context, name string) (Host, error)
	// Hosts returns every host, ordered by name.
	Hosts(ctx context.Context) ([]Host, error)
	// RemoveHosts deletes the named hosts with their fact snapshots and
	// observed connections, in one transaction: a name that is not a stored host is ENOTFOUND
	// naming it, and then nothing is removed. A name given twice is
	// removed once; no name, or an empty one, is EINVALID. Events,
	// rollouts and outcomes name hosts by name and are kept, so a removed
	// host's history stays; a host added again later starts without facts.
	RemoveHosts(ctx context.Context, names []string) error
}

// FactsSave is one item of FactStore.SaveFactsBatch: a host's snapshot
// and the events that record it, or events alone (Facts nil).
type FactsSave struct {
	Facts  *Facts
	Events []Event
}

// FactStore keeps fact snapshots. History is kept; the latest snapshot of a
// host (by CollectedAt, then by insertion) is its current state.
type FactStore interface {
	// SaveFacts stores a snapshot with its packages and updates in one
	// transaction. The host must exist.
	SaveFacts(ctx context.Context, f Facts) error
	// SaveFactsBatch stores several items, each a snapshot (as SaveFacts
	// would) with the events that go with it, or events alone, in one
	// commit. Each item is stored whole or not at all: one that cannot
	// be stored (invalid facts or events, an unknown host) gets its
	// error at its index in errs, and the others are stored all the
	// same. err is the batch's own failure (the commit failed, the store
	// is unavailable); then nothing of the batch is stored and errs is
	// nil. Events are stored in the order of the items.
	SaveFactsBatch(ctx context.Context, items []FactsSave) (errs []error, err error)
	// LatestFacts returns the current snapshot of a host, with packages
	// and updates; ENOTFOUND when the host has none.
	LatestFacts(ctx context.Context, host string) (Facts, error)
	// FactHistory lists a host's snapshots, newest first, without their
	// package and update lists; limit 0 means all.
	FactHistory(ctx context.Context, host string, limit int) ([]FactSnapshot, error)
	// HostSummaries summarises every host from its latest snapshot,
	// ordered by name, without loading package lists.
	HostSummaries(ctx context.Context) ([]HostSummary, error)
	// RestartsNeeded lists, for each host whose latest snapshot names
	// services needing a restart, those services, ordered by host.
	RestartsNeeded(ctx context.Context) ([]HostRestarts, error)
	// PendingUpdates lists the updates of each host's latest snapshot,
	// ordered by host and package.
	PendingUpdates(ctx context.Context, filter UpdateFilter) ([]HostUpdate, error)
	// FirstSeen returns, for each pending update of the named packages
	// (package and candidate version) in any snapshot ever saved of any
	// host, the earliest snapshot that listed it (by collection time, then
	// by saving order): when it was first seen available. A sighting is
	// history: pruning snapshots or removing their host keeps it. It is
	// ordered by package, then version.
	FirstSeen(ctx context.Context, packages []string) ([]UpdateSighting, error)
	// PruneFacts deletes every host's snapshots but its newest keep (in
	// the order of FactHistory), with their packages and updates, in one
	// transaction, and returns how many snapshots it deleted. keep must be
	// at least 1, so that a host's current state is never deleted.
	PruneFacts(ctx context.Context, keep int) (int, error)
	// FleetFacts returns every collected host's latest facts without
	// their Packages and Updates (nil), ordered by host name: what a
	// fleet-wide read needs of each host's facts, in one read.
	FleetFacts(ctx context.Context) ([]Facts, error)
	// FleetInventory returns, in one read of one state of the store,
	// what Hosts, FleetFacts and HostSummaries return: every host, the
	// latest facts of those collected and every host's summary, each
	// list as its own method orders and fills it. No map is shared
	// between the lists.
	FleetInventory(ctx context.Context) (FleetInventory, error)
	// LatestFactsHead returns the current snapshot of a host as
	// LatestFacts does but without its Packages and Updates (nil), in
	// one read; ENOTFOUND when the host has none.
	LatestFactsHead(ctx context.Context, host string) (Facts, error)
	// LatestPackagesOf returns, by host name, the packages of each
	// host's latest snapshot that are named in names or built from the
	// same source package as a named package installed on that host, in
	// collected order: what a plan of those packages needs of every
	// host's package list, in one read. Hosts with none are left out.
	LatestPackagesOf(ctx context.Context, names []string) (map[string][]Package, error)
	// DataVersions returns the counters that change whenever data of
	// their kind changes, by any writer of the store.
	DataVersions(ctx context.Context) (DataVersions, error)
}

// DataVersions are counters, one per kind of data, each of which changes
// (grows) with every change to the data of its kind, so that a reader can
// keep what it derived from that data while its counter stays the same.
type DataVersions struct {
	// Inventory: hosts, their fact snapshots, observed connections and
	// update sightings, the stored advisories and the hosts' SLA
	// exposures.
	Inventory int64 `json:"inventory"`
	// Outcomes: the stored outcomes.
	Outcomes int64 `json:"outcomes"`
	// Models: the stored risk models.
	Models int64 `json:"models"`
}

// FactSnapshot describes one stored snapshot without its lists.
type FactSnapshot struct {
	ID             int64     `json:"id"`
	Host           string    `json:"host"`
	CollectedAt    time.Time `json:"collected_at"`
	Source         string    `json:"source"`
	OSName         string    `json:"os_name"`
	OSVersion      string    `json:"os_version"`
	Kernel         string    `json:"kernel"`
	BootID         string    `json:"boot_id,omitempty"`
	PackageCount   int       `json:"package_count"`
	UpdateCount    int       `json:"update_count"`
	RebootRequired bool      `json:"reboot_required"`
}

// UpdateSighting is when a candidate version of a package was first seen
// pending, and on which host.
type UpdateSighting struct {
	Package   string    `json:"package"`
	Version   string    `json:"version"`
	Host      string    `json:"host"`
	FirstSeen time.Time `json:"first_seen"`
}

// UpdateFilter selects pending updates. Zero fields match everything.
type UpdateFilter struct {
	Host string
	// Hosts, when not empty, keeps the updates of these hosts only.
	Hosts        []string
	SecurityOnly bool
	Package      string
	// HostsAfter and HostsThrough bound the hosts by name: after the
	// first (exclusive), up to the second (inclusive); "" is no bound.
	// Ranges that tile the names read a large fleet a part at a time.
	HostsAfter, HostsThrough string
}

// AdvisoryStore keeps imported advisories.
type AdvisoryStore interface {
	// SaveAdvisories inserts or replaces advisories by ID, in one
	// transaction, and returns how many were written. A record whose
	// Modified time is older than the stored one does not replace it.
	SaveAdvisories(ctx context.Context, advisories []Advisory) (int, error)
	// AdvisoriesFor returns the advisories that name the given package in
	// the given ecosystem.
	AdvisoriesFor(ctx context.Context, ecosystem, pkg string) ([]Advisory, error)
	// AdvisoryCount returns how many advisories are stored.
	AdvisoryCount(ctx context.Context) (int, error)
}

// EventStore is the append-only event log.
type EventStore interface {
	// AppendEvent stores an event and returns it with its ID and, when
	// it had none, its time set.
	AppendEvent(ctx context.Context, e Event) (Event, error)
	// AppendEvents stores events in one transaction, all or none, in the
	// order given, each as AppendEvent would, and returns them with their
	// IDs and times set. An invalid event is EINVALID naming its index,
	// and then none is stored. Imports and seeded stores use it: one
	// commit for many events.
	AppendEvents(ctx context.Context, events []Event) ([]Event, error)
	// Events lists events matching the filter in ID order.
	Events(ctx context.Context, filter EventFilter) ([]Event, error)
	// LastCollectFailures lists, of the collection failure events
	// (EventCollectFailed), those that no later failure of the same host
	// outdates: a failure is outdated by one of its host with a greater
	// ID dated at or after it. They are in ID order, so what is listed of
	// a host is dated latest first; while a host's failures are dated in
	// the order of their IDs, as appends make them, it is its last
	// failure alone. It is Events of that kind so sifted, read in one
	// snapshot of the log, at a cost that follows the hosts that ever
	// failed rather than the failures.
	LastCollectFailures(ctx context.Context) ([]Event, error)
}

// ModelStore keeps trained risk models. History is kept: every save adds a
// row and makes it the active model, and UseModel makes an earlier one
// active again. The blob is opaque to the store (internal/risk serialises
// it).
type ModelStore interface {
	// SaveModel stores a model and makes it the active one. info is a
	// JSON object describing what the model was trained on.
	SaveModel(ctx context.Context, version string, trainedAt time.Time, info json.RawMessage, blob []byte) error
	// ActiveModel returns the active model: the one saved or made active
	// (UseModel) last; ENOTFOUND when none is stored.
	ActiveModel(ctx context.Context) ([]byte, ModelInfo, error)
	// Models lists the saved models, newest first, without their blobs.
	Models(ctx context.Context) ([]ModelInfo, error)
	// UseModel makes the newest stored row of a model version the active
	// model and returns it; ENOTFOUND when no model of that version is
	// stored. Every row stays.
	UseModel(ctx context.Context, version string) (ModelInfo, error)
	// ImportOutcomes stores outcomes in one transaction, all or none,
	// with the semantics of RecordOutcome for each (a later outcome of the
	// same rollout and host replaces an earlier one). It returns how many
	// were new or changed: one stored already, identical, is not counted.
	// History import uses it.
	ImportOutcomes(ctx context.Context, outcomes []Outcome) (int, error)
}

// ModelInfo describes one saved model. Its JSON field names are part of the
// CLI and API contract.
type ModelInfo struct {
	ID        int64           `json:"id"`
	Version   string          `json:"model_version"`
	TrainedAt time.Time       `json:"trained_at"`
	SavedAt   time.Time       `json:"saved_at"`
	Size      int             `json:"size"` // bytes of the blob
	Active    bool            `json:"active"`
	Info      json.RawMessage `json:"info,omitempty"`
}

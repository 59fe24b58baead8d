package patchpilot

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RolloutState is the state of a whole rollout.
type RolloutState string

// Rollout states. Succeeded, Halted, RolledBack, Failed and Aborted are final
// for the engine (a halted rollout can still be rolled back by a person).
const (
	RolloutPending         RolloutState = "pending"
	RolloutRunning         RolloutState = "running"
	RolloutWaitingApproval RolloutState = "waiting_approval"
	RolloutPaused          RolloutState = "paused"
	RolloutRollingBack     RolloutState = "rolling_back"
	RolloutSucceeded       RolloutState = "succeeded"
	RolloutHalted          RolloutState = "halted"
	RolloutRolledBack      RolloutState = "rolled_back"
	RolloutFailed          RolloutState = "failed"
	RolloutAborted         RolloutState = "aborted"
)

// RolloutStates lists every rollout state, for code that must treat each
// of them (a store that turns Final into a query, say).
func RolloutStates() []RolloutState {
	return []RolloutState{RolloutPending, RolloutRunning, RolloutWaitingApproval, RolloutPaused,
		RolloutRollingBack, RolloutSucceeded, RolloutHalted, RolloutRolledBack, RolloutFailed, RolloutAborted}
}

// Final reports whether the engine has nothing more to do for the rollout.
func (s RolloutState) Final() bool {
	switch s {
	case RolloutSucceeded, RolloutHalted, RolloutRolledBack, RolloutFailed, RolloutAborted:
		return true
	}
	return false
}

// HeldReasonPrefix begins the reason of a rollout halted for a person (see
// Held).
const HeldReasonPrefix = "held"

// Held reports a rollout halted for a person (a stage rolled back by
// rollback_wave_and_hold, no maintenance window, no room in the disruption
// budgets): unlike other halts, it can be resumed or aborted, so it is not
// over although its state is final.
func Held(state RolloutState, reason string) bool {
	return state == RolloutHalted && strings.HasPrefix(reason, HeldReasonPrefix)
}

// HolderState is a rollout's state as the messages about the hosts it
// holds name it: "held for a person" when it is Held, otherwise the state.
func HolderState(state RolloutState, reason string) string {
	if Held(state, reason) {
		return "held for a person"
	}
	return string(state)
}

// HoldsHosts reports whether a rollout in this state, with this reason,
// may still change its hosts without a new rollout: it is not final, or it
// is held for a person who may resume it. Two rollouts never hold one host
// at once (see RolloutStore.CreateRollout); a dry run holds none.
func HoldsHosts(state RolloutState, reason string) bool {
	return !state.Final() || Held(state, reason)
}

// StageState is the state of one stage of a rollout.
type StageState string

// Stage states.
const (
	StagePending         StageState = "pending"
	StageWaitingApproval StageState = "waiting_approval"
	StageRunning         StageState = "running"
	StageSucceeded       StageState = "succeeded"
	StageFailed          StageState = "failed"
	StageRolledBack      StageState = "rolled_back"
	StageSkipped         StageState = "skipped"
)

// HostState is where a host is in its pipeline:
// pending → preflight → snapshot → apply → reboot → verify → succeeded, and on
// failure → rolling_back → rolled_back | rollback_failed.
type HostState string

// Host pipeline states.
const (
	HostPending        HostState = "pending"
	HostPreflight      HostState = "preflight"
	HostSnapshot       HostState = "snapshot"
	HostApply          HostState = "apply"
	HostReboot         HostState = "reboot"
	HostVerify         HostState = "verify"
	HostSucceeded      HostState = "succeeded"
	HostFailed         HostState = "failed" // failed before any change was made (preflight)
	HostRollingBack    HostState = "rolling_back"
	HostRolledBack     HostState = "rolled_back"
	HostRollbackFailed HostState = "rollback_failed"
	HostSkipped        HostState = "skipped"
	HostUnreachable    HostState = "unreachable"
)

// Terminal reports whether the host's pipeline has ended.
func (s HostState) Terminal() bool {
	switch s {
	case HostSucceeded, HostFailed, HostRolledBack, HostRollbackFailed, HostSkipped, HostUnreachable:
		return true
	}
	return false
}

// Changed reports whether the host may have been changed in this state, so
// that a rollback must consider it.
func (s HostState) Changed() bool {
	switch s {
	case HostApply, HostReboot, HostVerify, HostSucceeded, HostRollingBack, HostRollbackFailed:
		return true
	}
	return false
}

// Rollout is one execution of a plan.
type Rollout struct {
	ID         string       `json:"id"`
	Plan       Plan         `json:"-"`
	PlanSource string       `json:"plan"` // the plan as YAML, as it was started
	State      RolloutState `json:"state"`
	Reason     string       `json:"reason,omitempty"` // why it is in its state
	CreatedBy  string       `json:"created_by,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
	DryRun     bool         `json:"dry_run,omitempty"`
	// PlanID is the stored plan (PlanRecord) the rollout was started
	// from; empty for a plan read from a file.
	PlanID string     `json:"plan_id,omitempty"`
	Stages []StageRun `json:"stages"`
	// Predictions are the risk model's assessments of each target host's
	// patch when the rollout started, by host name; each host's outcome
	// carries its own (Outcome.Predicted). Empty when none was made.
	Predictions map[string]Prediction `json:"predictions,omitempty"`
}

// Prediction is the risk model's probability that one host's patch fails
// and the version of the model that gave it.
type Prediction struct {
	Probability  float64 `json:"probability"`
	ModelVersion string  `json:"model_version"`
}

// StageRun is one stage of a rollout with its assigned hosts.
type StageRun struct {
	Rollout    string     `json:"-"`
	Index      int        `json:"index"`
	Name       string     `json:"name"`
	State      StageState `json:"state"`
	Hosts      []string   `json:"-"` // assigned host names, in dispatch order
	ApprovedBy string     `json:"approved_by,omitempty"`
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
}

// HostRun is one host's pipeline in one rollout. It is stored before each
// side effect, so that a restarted controller knows what may have happened.
type HostRun struct {
	Rollout string    `json:"-"`
	Stage   string    `json:"stage"`
	Host    string    `json:"name"`
	State   HostState `json:"state"`
	// Order is the host's position in deployment order across the rollout
	// (set when apply starts); rollbacks go in reverse order.
	Order int `json:"order,omitempty"`
	// FromVersions are the versions installed before the change (""
	// for a package that was not installed); ToVersions the targets.
	FromVersions map[string]string `json:"from_versions"`
	ToVersions   map[string]string `json:"to_versions"`
	BootIDBefore string            `json:"boot_id_before,omitempty"`
	BootIDAfter  string            `json:"boot_id_after,omitempty"`
	// Artifacts are the rollback artifacts kept on the host, by package;
	// Transaction is the package manager's id of the change (dnf history).
	Artifacts   map[string]string `json:"artifacts,omitempty"`
	Transaction string            `json:"transaction,omitempty"`
	// Baseline is the health sampled before the change.
	Baseline  HealthBaseline `json:"-"`
	StartedAt *time.Time     `json:"started_at"`
	// AppliedAt is when the apply step started: the moment the host's
	// health checks and canary analysis compare from.
	AppliedAt  *time.Time   `json:"applied_at,omitempty"`
	FinishedAt *time.Time   `json:"finished_at"`
	Reason     string       `json:"reason"`
	Gates      []GateResult `json:"gate_results,omitempty"`
	UpdatedAt  time.Time    `json:"-"`
}

// Incident records a failure that stopped or rolled back a rollout.
type Incident struct {
	ID       int64     `json:"id"`
	Rollout  string    `json:"rollout"`
	Time     time.Time `json:"time"`
	Stage    string    `json:"stage,omitempty"`
	Reason   string    `json:"reason"`
	Hosts    []string  `json:"hosts"`
	Evidence []byte    `json:"evidence,omitempty"` // JSON
}

// RolloutFilter selects rollouts. Zero fields match everything.
type RolloutFilter struct {
	State RolloutState
	// Active keeps the rollouts not in a final state (RolloutState.Final).
	Active bool
	// Since, when set, keeps the rollouts created at or after it.
	Since time.Time
	Limit int
}

// HostsRolloutFilter selects the rollouts RolloutsOnHosts lists.
type HostsRolloutFilter struct {
	// Hosts are the hosts asked about: a rollout is listed when any of
	// its targets is one of them, with those alone. Empty asks about every
	// host: each rollout is listed with all its targets.
	Hosts []string
	// After, when set, keeps the rollouts created after that rollout in
	// the store's order of creation: a later CreatedAt, or the same one
	// and a greater ID. Of two rollouts, exactly one is after the other.
	// ENOTFOUND when the store does not know it.
	After string
	// Holding keeps the rollouts that hold their hosts (HoldsHosts).
	Holding bool
}

// RolloutOnHosts is a rollout as RolloutsOnHosts lists it.
type RolloutOnHosts struct {
	Rollout   string
	State     RolloutState
	Reason    string
	CreatedAt time.Time
	// Hosts are its targets among those asked about, sorted by name.
	Hosts []HostOfRollout
}

// HostOfRollout is where one target host stands in a rollout: its
// pipeline state and its deployment order (HostRun.State and Order; an
// Order above zero means its change began).
type HostOfRollout struct {
	Host  string
	State HostState
	Order int
}

// Holder is the rollout as a HostsHolder of its hosts, for
// HostsHeldError.
func (r RolloutOnHosts) Holder() HostsHolder {
	h := HostsHolder{Rollout: r.Rollout, State: r.State, Reason: r.Reason}
	for _, x := range r.Hosts {
		h.Hosts = append(h.Hosts, x.Host)
	}
	return h
}

// RolloutStore keeps rollouts, their stages and host pipelines, incidents,
// outcomes and the leases that let one controller at a time drive a
// rollout. Every method is one transaction.
type RolloutStore interface {
	// CreateRollout stores a new rollout with its stages (and their
	// assigned hosts) and a pending HostRun for every assigned host. A
	// rollout (not a dry run) over a host that another rollout, not a dry
	// run, holds (HoldsHosts) is refused with HostsHeldError's ECONFLICT
	// and nothing is stored; the check and the creation are atomic, so
	// of two rollouts over one host created at once one at most succeeds.
	CreateRollout(ctx context.Context, r Rollout) error
	// Rollout returns a rollout with its stages; ENOTFOUND if unknown.
	Rollout(ctx context.Context, id string) (Rollout, error)
	// RolloutState returns a rollout's state and reason as Rollout reads
	// them, without its plan and stages; ENOTFOUND if unknown.
	RolloutState(ctx context.Context, id string) (RolloutState, string, error)
	// Rollouts lists rollouts, newest first.
	Rollouts(ctx context.Context, f RolloutFilter) ([]Rollout, error)
	// SetRolloutState changes the rollout's state and reason.
	SetRolloutState(ctx context.Context, id string, state RolloutState, reason string) error
	// SaveStage replaces a stage's state, approval and times.
	SaveStage(ctx context.Context, s StageRun) error
	// SaveHostRun replaces a host's pipeline record.
	SaveHostRun(ctx context.Context, h HostRun) error
	// SaveHostRunEvent is SaveHostRun and AppendEvent of ev in one
	// transaction, all or nothing; it returns the record as HostRun reads
	// it after the save and the event as AppendEvent does.
	SaveHostRunEvent(ctx context.Context, h HostRun, ev Event) (HostRun, Event, error)
	// HostRuns lists a rollout's host pipelines in stage order, then in
	// the stage's dispatch order.
	HostRuns(ctx context.Context, rollout string) ([]HostRun, error)
	// HostRun returns one host's pipeline record of a rollout, exactly as
	// HostRuns lists it; ENOTFOUND if the rollout is unknown or the host is
	// not one of its targets.
	HostRun(ctx context.Context, rollout, host string) (HostRun, error)
	// AddIncident stores an incident and returns its ID.
	AddIncident(ctx context.Context, i Incident) (int64, error)
	// Incidents lists a rollout's incidents ("" for all), oldest first.
	Incidents(ctx context.Context, rollout string) ([]Incident, error)
	// RecordOutcome stores the final outcome of a host in a rollout,
	// replacing an earlier outcome of the same host and rollout.
	RecordOutcome(ctx context.Context, o Outcome) error
	// Outcomes lists outcomes, oldest first.
	Outcomes(ctx context.Context, f OutcomeFilter) ([]Outcome, error)
	// AcquireLease gives owner the right to drive the rollout until
	// now+ttl, when nobody else holds an unexpired lease (renewing one's
	// own lease is allowed). It reports whether the lease was granted and
	// who holds it otherwise.
	AcquireLease(ctx context.Context, rollout, owner string, ttl time.Duration) (granted bool, holder string, err error)
	// TakeOverLease gives owner the lease that from holds, expired or
	// not, for now+ttl: a controller that knows from is dead (a process
	// of its own machine that no longer runs) need not wait for the lease
	// to expire. It is a compare-and-swap: when the lease is no longer
	// from's (another controller got there first, or it was released and
	// taken), nothing changes and the current holder is reported ("" for
	// none).
	TakeOverLease(ctx context.Context, rollout, from, owner string, ttl time.Duration) (granted bool, holder string, err error)
	// ReleaseLease drops owner's lease, if it holds one.
	ReleaseLease(ctx context.Context, rollout, owner string) error
	// RolloutsOnHosts lists the rollouts, dry runs aside, whose targets
	// include any of the filter's hosts, oldest first in the store's
	// order of creation (CreatedAt, then ID), each with those of its
	// targets and where each stands: what decides whether a rollout
	// stands in the way of another change to those hosts.
	RolloutsOnHosts(ctx context.Context, f HostsRolloutFilter) ([]RolloutOnHosts, error)
	// LeaseHolder returns who holds the rollout's lease, expired or not,
	// or "" when nobody does (nor for a rollout the store does not know):
	// a controller that was killed or interrupted leaves its lease behind
	// until another takes it over. It only reads.
	LeaseHolder(ctx context.Context, rollout string) (string, error)
	// MoveHosts reassigns pending hosts of a rollout from one stage to
	// another, as the adaptive planner resizes waves. The moved hosts keep
	// their relative order; they go before toStage's hosts when toStage
	// comes later in the plan and after them when it comes earlier, so
	// that the rollout's overall dispatch order is unchanged. It is all or
	// nothing: a host that is not in fromStage is EINVALID, one that is no
	// longer pending is ECONFLICT, an unknown rollout or stage ENOTFOUND.
	MoveHosts(ctx context.Context, rollout, fromStage, toStage string, hosts []string) error
}

// HostsHolder is a rollout that holds some hosts another rollout asked
// for (see HoldsHosts).
type HostsHolder struct {
	Rollout string
	State   RolloutState
	Reason  string
	Hosts   []string // the hosts asked for that it holds, sorted
}

// HostsHeldError is the ECONFLICT that refuses a rollout, or a rollback,
// over hosts that other rollouts hold: it names each holding rollout, its
// state and the hosts (HeldHostsText), and the hint names the command that
// shows what each holder waits for.
func HostsHeldError(holders []HostsHolder) *Error {
	return Errorf(ECONFLICT, "%s: one rollout at a time changes a host", HeldHostsText(holders)).
		WithHint(HostsHeldHint(holders))
}

// HeldHostsText says which hosts each holder holds, as in "hosts web-1 and
// web-2 are in rollout r-1 (running), which has not finished".
func HeldHostsText(holders []HostsHolder) string {
	var parts []string
	for i, h := range holders {
		state := HolderState(h.State, h.Reason)
		what := "host " + fewNames(h.Hosts)
		if len(h.Hosts) > 1 {
			what = "hosts " + fewNames(h.Hosts)
		}
		if i == 0 {
			verb := " is"
			if len(h.Hosts) > 1 {
				verb = " are"
			}
			parts = append(parts, fmt.Sprintf("%s%s in rollout %s (%s)", what, verb, h.Rollout, state))
		} else {
			parts = append(parts, fmt.Sprintf("%s in rollout %s (%s)", what, h.Rollout, state))
		}
	}
	which := ", which has not finished"
	if len(holders) > 1 {
		which = "; those rollouts have not finished"
	}
	return strings.Join(parts, ", ") + which
}

// HostsHeldHint says what to do about hosts the holders hold: finish them
// first, naming the command that shows what each waits for, or leave those
// hosts out.
func HostsHeldHint(holders []HostsHolder) string {
	var status []string
	for _, h := range holders {
		status = append(status, "'patchpilot rollout status "+h.Rollout+"'")
	}
	hint := "finish it first (%s shows what it waits for and how to end it), or leave those hosts out of the targets"
	if len(holders) > 1 {
		hint = "finish them first (%s show what they wait for and how to end them), or leave those hosts out of the targets"
	}
	return fmt.Sprintf(hint, joinAnd(status))
}

// fewNames lists up to five names, then how many more there are.
func fewNames(names []string) string {
	if len(names) <= 5 {
		return joinAnd(names)
	}
	return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
}

// joinAnd joins names as a sentence does: "a", "a and b", "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

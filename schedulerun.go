package patchpilot

import (
	"context"
	"time"
)

// ScheduleKind says what a schedule does when it runs.
type ScheduleKind string

// The kinds of schedule.
const (
	// SchedulePatch collects (when it names an inventory), assesses,
	// proposes a plan by the risk strategy and starts it.
	SchedulePatch ScheduleKind = "patch"
	// ScheduleInventory collects an inventory every so often.
	ScheduleInventory ScheduleKind = "inventory"
)

// ScheduleOutcome is the state of one run of a schedule.
type ScheduleOutcome string

// The outcomes of a schedule run. Waiting and running are the states of a
// run that is not finished; the others are final.
const (
	// ScheduleWaiting: due, but the targets' maintenance window is
	// closed; the run starts when it opens.
	ScheduleWaiting ScheduleOutcome = "waiting"
	// ScheduleRunning: the run is collecting, planning or launching.
	ScheduleRunning ScheduleOutcome = "running"
	// ScheduleLaunched: a patch run handed its plan over to be started.
	ScheduleLaunched ScheduleOutcome = "launched"
	// ScheduleProposed: a patch run saved its plan for a person to
	// start, as the policy does not let it start unattended.
	ScheduleProposed ScheduleOutcome = "proposed"
	// ScheduleSucceeded: an inventory run collected every host.
	ScheduleSucceeded ScheduleOutcome = "succeeded"
	// ScheduleNothingToDo: a patch run found no update to install.
	ScheduleNothingToDo ScheduleOutcome = "nothing_to_do"
	// ScheduleSkipped: a patch run started no rollout because unfinished
	// rollouts hold every one of its targets (Message names them); a
	// run of which they hold some leaves those out and goes ahead.
	ScheduleSkipped ScheduleOutcome = "skipped"
	// ScheduleFailed: the run stopped with an error (Message says which),
	// or an inventory run collected some hosts and not others.
	ScheduleFailed ScheduleOutcome = "failed"
	// ScheduleMissed: the run was due while no scheduler was running, too
	// long ago to run late.
	ScheduleMissed ScheduleOutcome = "missed"
	// ScheduleInterrupted: the scheduler stopped while the run was
	// handing its plan over, and it is not repeated, since it may have
	// started a rollout; or the run was left running longer ago than the
	// grace period in which it would run again.
	ScheduleInterrupted ScheduleOutcome = "interrupted"
)

// Finished reports whether the outcome is final.
func (o ScheduleOutcome) Finished() bool {
	return o != ScheduleWaiting && o != ScheduleRunning && o != ""
}

// ScheduleRun is one run of a schedule: one due time, recorded once. Its
// JSON field names are part of the CLI and API contract.
type ScheduleRun struct {
	ID       int64           `json:"id"`
	Schedule string          `json:"schedule"`
	Kind     ScheduleKind    `json:"kind"`
	Due      time.Time       `json:"due"`
	Started  time.Time       `json:"started,omitzero"`
	Finished time.Time       `json:"finished,omitzero"`
	Outcome  ScheduleOutcome `json:"outcome"`
	Message  string          `json:"message,omitempty"`
	// Plan is the name of the plan a patch run proposed.
	Plan string `json:"plan,omitempty"`
	// Rollout is the rollout a patch run started, when the launcher
	// reported it.
	Rollout string `json:"rollout,omitempty"`
}

// ScheduleRunFilter selects schedule runs. Zero fields match everything;
// Limit 0 means no limit.
type ScheduleRunFilter struct {
	Schedule string
	// Unfinished selects the runs that are waiting or running.
	Unfinished bool
	Limit      int
}

// ScheduleStore records the runs of schedules, so that a scheduler that
// restarts neither repeats a run nor loses one.
type ScheduleStore interface {
	// AddScheduleRun records a run unless one of the same schedule and due
	// time is recorded already. It returns the stored run and whether it
	// was added: false means another scheduler (or an earlier life of this
	// one) owns that due time, and the stored run is returned.
	AddScheduleRun(ctx context.Context, r ScheduleRun) (ScheduleRun, bool, error)
	// UpdateScheduleRun stores a run's started and finished times, outcome,
	// message, plan and rollout, by ID; ENOTFOUND when there is none.
	UpdateScheduleRun(ctx context.Context, r ScheduleRun) error
	// ScheduleRuns lists runs matching the filter, latest due time first.
	ScheduleRuns(ctx context.Context, f ScheduleRunFilter) ([]ScheduleRun, error)
	// AcquireSchedulerLease gives owner the right to run the schedules
	// until now+ttl, when nobody else holds an unexpired lease (renewing
	// one's own is allowed): one scheduler runs per database. It reports
	// whether the lease was granted and who holds it otherwise.
	AcquireSchedulerLease(ctx context.Context, owner string, ttl time.Duration) (granted bool, holder string, err error)
	// TakeOverSchedulerLease gives owner the lease that from holds,
	// expired or not, for now+ttl, as TakeOverLease does for a rollout's:
	// a compare-and-swap that reports the current holder ("" for none)
	// when the lease is no longer from's.
	TakeOverSchedulerLease(ctx context.Context, from, owner string, ttl time.Duration) (granted bool, holder string, err error)
	// ReleaseSchedulerLease drops owner's scheduler lease, if it holds it.
	ReleaseSchedulerLease(ctx context.Context, owner string) error
}

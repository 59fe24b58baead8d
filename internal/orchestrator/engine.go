// Package orchestrator executes rollout plans: it assigns hosts to stages,
// drives every host through the per-host pipeline (preflight,
// snapshot, apply, reboot, verify, and rollback on failure), decides each
// stage's fate from its failures and the plan's on_failure action, and keeps
// every step in the RolloutStore before its side effect, so that a
// controller that dies can be replaced by another that re-reads each host's
// real state and carries on.
//
// One controller at a time drives a rollout: it holds a lease in the store
// and renews it while it runs. Pause, abort, approval and rollback requests
// are state changes in the store that the running controller observes
// between steps, so they work from another process.
package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Store is what the engine needs of patchpilot's store.
type Store interface {
	patchpilot.RolloutStore
	AppendEvent(ctx context.Context, e patchpilot.Event) (patchpilot.Event, error)
	Events(ctx context.Context, f patchpilot.EventFilter) ([]patchpilot.Event, error)
	Host(ctx context.Context, name string) (patchpilot.Host, error)
	LatestFacts(ctx context.Context, host string) (patchpilot.Facts, error)
}

// Defaults of the engine's tunables, used when the field is zero.
const (
	// DefaultLeaseTTL is how long a controller's lease lasts without
	// renewal; a dead controller's rollout can be resumed after it.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultPollInterval is how often the engine re-reads the rollout
	// for pause, abort, approval and rollback requests.
	DefaultPollInterval = time.Second
	// DefaultCheckInterval is the time between health checks of a bake.
	DefaultCheckInterval = 10 * time.Second
	// DefaultReviewExtensions is how many times a bake is extended while
	// the verdict is under review before the host counts as failed.
	DefaultReviewExtensions = 1
	// DefaultLockWait bounds the wait for a host's package manager lock.
	DefaultLockWait = 2 * time.Minute
	// DefaultMinFreeBytes is the free space preflight demands.
	DefaultMinFreeBytes = 100 << 20
	// DefaultRollbackSettle bounds the wait for a rolled-back host to be
	// healthy again.
	DefaultRollbackSettle = 2 * time.Minute
	// DefaultMaxWindowWait is the longest the engine waits for a
	// maintenance window to open before it holds the rollout.
	DefaultMaxWindowWait = 7 * 24 * time.Hour
	// rebootBackoffMax caps the pause between reconnection attempts
	// while a host reboots.
	rebootBackoffMax = 5 * time.Second
)

// Engine drives rollouts. The zero value of every tunable is its default.
type Engine struct {
	Store  Store
	Dialer patchpilot.Dialer
	// PackageManagers returns the package manager of an OS family.
	PackageManagers func(patchpilot.OSFamily) (patchpilot.PackageManager, error)
	// Health returns the health checker of a stage's criteria under the
	// plan's health configuration; a nil Health or a nil checker means
	// the stage has no gates beyond the version check.
	Health func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error)
	// Playbooks runs the Ansible playbooks a plan names (its apply:
	// playbook and its playbook hooks); nil refuses such plans' hosts at
	// preflight.
	Playbooks patchpilot.PlaybookRunner
	// Now is the clock; After waits like time.After. Tests inject both.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Logger receives debug logs; events go to the store.
	Logger *slog.Logger
	// Owner identifies this controller in leases (see LeaseOwner;
	// default DefaultOwner()).
	Owner string
	// Machine names the machine this controller runs on and
	// ProcessRunning tells whether a pid runs on it; a lease held by a
	// process of this machine that no longer runs is taken over at once.
	// Nil means LocalMachine and the kernel's answer.
	Machine        func() (Machine, error)
	ProcessRunning func(pid int) bool
	// Actor is the name events are written under. Default "controller".
	Actor string
	// OnEvent, when set, sees every event after it is stored (the CLI
	// prints progress from it). It must not block.
	OnEvent func(patchpilot.Event)
	// OnFinish, when set, is called by Run (and Resume) once the rollout
	// has reached a final state, after the lease is released, with a
	// context that is not cancelled with the run's: what the rollout's
	// outcomes teach the risk model is learnt there. It may take a while.
	OnFinish func(ctx context.Context, rollout string, state patchpilot.RolloutState)

	LeaseTTL         time.Duration
	PollInterval     time.Duration
	CheckInterval    time.Duration
	ReviewExtensions int
	LockWait         time.Duration
	MinFreeBytes     int64
	RollbackSettle   time.Duration
	MaxWindowWait    time.Duration
	// ApprovalWait is how long Run waits for a stage's approval before
	// it returns RolloutWaitingApproval; 0 returns at once.
	ApprovalWait time.Duration
	// Drain, when closed, makes Run stop as a controller that shuts down
	// cleanly does: it dispatches no more hosts, lets each host in flight
	// finish the step it is in (its package manager and reboot commands
	// are not cut off; a bake or a wait is) with that step stored, and
	// returns ECANCELED after releasing the lease. The next controller
	// carries on from the stored steps, as after a crash. Cancelling Run's
	// context instead stops at once, cutting commands off.
	Drain <-chan struct{}
	// Prior gives adaptive rollouts the risk model's probability that the
	// plan's patch breaks one of the hosts; nil (or an error) falls back
	// on the public base rate. PriorStrength is what that probability is
	// worth in hosts (default risk.DefaultPriorStrength).
	// ChangeApprovers are approvals held outside patchpilot (a change
	// request a change board approves): every stage that needs a
	// person's approval also waits until each of them approves the
	// rollout's change, asked every ChangePollInterval (default
	// DefaultChangePollInterval). A rejected change, or one that cannot
	// be checked for a reason other than a retryable failure, halts the
	// rollout before the stage.
	ChangeApprovers    []patchpilot.ChangeApprover
	ChangePollInterval time.Duration
	Prior              func(ctx context.Context, p patchpilot.Plan, hosts []string) (AdaptivePrior, error)
	PriorStrength      float64
	// Predict gives, when a rollout is created, the risk model's
	// probability that each target host's patch fails, by host name: the
	// rollout keeps them and each host's outcome carries its own, for
	// the model's calibration. nil, or an error (logged), stores none.
	Predict func(ctx context.Context, p patchpilot.Plan, hosts []string) (map[string]patchpilot.Prediction, error)
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) after(d time.Duration) <-chan time.Time {
	if e.After != nil {
		return e.After(d)
	}
	return time.After(d)
}

// sleep waits d or until ctx ends.
func (e *Engine) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-e.after(d):
		return nil
	}
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) actor() string {
	if e.Actor != "" {
		return e.Actor
	}
	return "controller"
}

func (e *Engine) owner() string {
	if e.Owner != "" {
		return e.Owner
	}
	return DefaultOwner()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (e *Engine) leaseTTL() time.Duration     { return orDefault(e.LeaseTTL, DefaultLeaseTTL) }
func (e *Engine) pollInterval() time.Duration { return orDefault(e.PollInterval, DefaultPollInterval) }
func (e *Engine) checkInterval() time.Duration {
	return orDefault(e.CheckInterval, DefaultCheckInterval)
}
func (e *Engine) lockWait() time.Duration { return orDefault(e.LockWait, DefaultLockWait) }
func (e *Engine) minFree() int64          { return orDefault(e.MinFreeBytes, int64(DefaultMinFreeBytes)) }
func (e *Engine) settle() time.Duration   { return orDefault(e.RollbackSettle, DefaultRollbackSettle) }
func (e *Engine) maxWindowWait() time.Duration {
	return orDefault(e.MaxWindowWait, DefaultMaxWindowWait)
}
func (e *Engine) reviewExtensions() int {
	if e.ReviewExtensions < 0 {
		return 0
	}
	return orDefault(e.ReviewExtensions, DefaultReviewExtensions)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewRolloutID returns a rollout id that sorts by creation time.
func NewRolloutID(now time.Time) string {
	return "r-" + now.UTC().Format("20060102-150405") + "-" + randomHex(2)
}

// UnitName is the name of the detached job that changes a host in a
// rollout. It depends only on the rollout and the host, so a restarted
// controller asks the package manager for the same job and finds one still
// running instead of starting another.
func UnitName(rollout, host, step string) string {
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	name := "patchpilot-" + clean(rollout) + "-" + clean(host)
	if step != "" {
		name += "-" + step
	}
	return name
}

// event stores an event and shows it to OnEvent. A failure to store it is
// logged: the audit trail must not stop a rollback in progress.
func (e *Engine) event(ctx context.Context, rollout, host, kind, msg string, data []byte) {
	ev := patchpilot.Event{Actor: e.actor(), Kind: kind, Rollout: rollout, Host: host, Message: msg, Data: data}
	stored, err := e.Store.AppendEvent(context.WithoutCancel(ctx), ev)
	if err != nil {
		e.logger().Warn("store event", "kind", kind, "err", err)
		stored = ev
		stored.Time = e.now()
	}
	if e.OnEvent != nil {
		e.OnEvent(stored)
	}
}

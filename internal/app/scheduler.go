package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// DefaultScheduleGrace is how late a run may still start: a run that fell
// due while no scheduler was running starts when one starts within this
// time, and is recorded as missed after it.
const DefaultScheduleGrace = time.Hour

// schedulerActor is the actor of the events the scheduler records.
const schedulerActor = "scheduler"

// DefaultSchedulerLeaseTTL is how long a scheduler's lease on the
// schedules of a database lasts without renewal: when its server dies on
// another machine, another server's scheduler takes over within it. (One
// of this machine that is gone is taken over at once.)
const DefaultSchedulerLeaseTTL = 2 * time.Minute

// maxCatchUp bounds how many missed due times of one schedule the
// scheduler walks through before it jumps to the present.
const maxCatchUp = 10000

// LaunchFunc starts the plan a patch schedule proposed: the caller applies
// its policy and starts the rollout, or keeps the plan for a person to
// start. source is the plan's YAML; scheduleName names the schedule, for
// the rollout's record and audit.
type LaunchFunc func(ctx context.Context, p patchpilot.Plan, source []byte, scheduleName string) (Launched, error)

// Launched is what a LaunchFunc did with a plan; the scheduler records it
// in the schedule's run.
type Launched struct {
	// Rollout is the rollout started; empty when none was.
	Rollout string
	// Proposed is set when the plan was kept for a person to start
	// instead (the policy does not let it start unattended).
	Proposed bool
	// Message says what was done: the saved plan's id, why it waits.
	Message string
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Launch starts the plans of patch schedules. Required when any patch
	// schedule is configured.
	Launch LaunchFunc
	// Grace is how late a missed run may still start. Default
	// DefaultScheduleGrace.
	Grace time.Duration
	// Dialer reaches the hosts inventory runs collect. Default: SSH for an
	// inventory file, the local runner for InventoryLocal.
	Dialer patchpilot.Dialer
	// Refresh runs the package managers' metadata refresh before
	// collecting, as 'inventory collect --refresh' does.
	Refresh bool
	// LeaseTTL: see DefaultSchedulerLeaseTTL.
	LeaseTTL time.Duration
	// Owner names this scheduler in the store's scheduler lease. Default:
	// this process, as rollout leases name it.
	Owner string
}

// Scheduler runs the configured schedules (Options.Schedules) on the
// app's clock: inventory schedules collect their inventory, patch
// schedules collect, assess, propose a plan by the risk strategy and hand
// it to Launch, inside their maintenance window. Every run is recorded in
// the store once per due time, so that a restarted scheduler neither
// repeats a run nor loses one. Run runs them only while it holds the
// store's scheduler lease: one scheduler at a time per database.
type Scheduler struct {
	a       *App
	o       SchedulerOptions
	started bool // the first Tick has looked at runs left by an earlier life
	held    bool // Run holds the scheduler lease
}

// NewScheduler checks that the schedules can run: Launch is given when a
// patch schedule is configured, and every inventory file reads.
func (a *App) NewScheduler(o SchedulerOptions) (*Scheduler, error) {
	if o.Grace <= 0 {
		o.Grace = DefaultScheduleGrace
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultSchedulerLeaseTTL
	}
	if o.Owner == "" {
		o.Owner = orchestrator.DefaultOwner()
	}
	for _, sc := range a.Options.Schedules {
		if sc.Kind == patchpilot.SchedulePatch && sc.rule.IsZero() {
			return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "schedule %q: its rule was not parsed (build schedules with CheckSchedules)", sc.Name)
		}
		if sc.Kind == patchpilot.SchedulePatch && o.Launch == nil {
			return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "schedule %q: no launcher for the plans of patch schedules", sc.Name)
		}
		if sc.Inventory != "" && sc.Inventory != InventoryLocal {
			if _, _, err := a.LoadInventory(sc.Inventory, ""); err != nil {
				return nil, patchpilot.Errorf(patchpilot.ErrorCode(err), "schedule %q: inventory: %w", sc.Name, err)
			}
		}
	}
	return &Scheduler{a: a, o: o}, nil
}

// Run ticks until ctx ends: at each due time and window opening, and at
// least once a minute so that a clock that jumps is noticed. It ticks only
// while it holds the store's scheduler lease, so that one scheduler runs
// the schedules of a database however many servers share it; the others
// wait for the lease, and take it over when its holder stops or dies.
func (s *Scheduler) Run(ctx context.Context) error {
	defer func() {
		if s.held {
			if err := s.a.Store.ReleaseSchedulerLease(context.WithoutCancel(ctx), s.o.Owner); err != nil {
				s.a.Options.Logger.Warn("release the scheduler lease", "err", err)
			}
			s.held = false
		}
	}()
	var waitingFor string // the holder last logged
	for {
		held, holder, err := s.lease(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			s.a.Options.Logger.Error("scheduler lease", "err", err)
		case !held:
			if holder != waitingFor {
				s.a.Options.Logger.Info("another scheduler runs the schedules of this database; waiting for its lease", "holder", holder)
				waitingFor = holder
			}
		default:
			waitingFor = ""
			if err := s.tickHeld(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.a.Options.Logger.Error("scheduler tick", "err", err)
			}
		}
		d := min(s.o.LeaseTTL/3, time.Minute)
		if s.held {
			wake, err := s.NextWake(ctx)
			if err != nil && ctx.Err() != nil {
				return nil
			}
			if err == nil && !wake.IsZero() {
				d = min(max(wake.Sub(s.a.now()), time.Second), d)
			}
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// lease takes or renews the scheduler lease: free, expired or its own, or
// held by a scheduler of this machine that is gone, which is taken over
// at once. A scheduler that comes to hold it looks again at the runs left
// running, as at its first start.
func (s *Scheduler) lease(ctx context.Context) (bool, string, error) {
	st := s.a.Store
	granted, holder, err := st.AcquireSchedulerLease(ctx, s.o.Owner, s.o.LeaseTTL)
	if err == nil && !granted {
		if why := orchestrator.DeadHolder(holder, nil, nil); why != "" {
			var now string
			if granted, now, err = st.TakeOverSchedulerLease(ctx, holder, s.o.Owner, s.o.LeaseTTL); err == nil && granted {
				s.a.Options.Logger.Info("took over the scheduler lease", "from", holder, "why", why)
				holder = s.o.Owner
			} else if err == nil && now == "" {
				granted, holder, err = st.AcquireSchedulerLease(ctx, s.o.Owner, s.o.LeaseTTL)
			} else {
				holder = now
			}
		}
	}
	if err != nil {
		return false, "", err
	}
	if granted && !s.held {
		s.started = false
	}
	s.held = granted
	return granted, holder, nil
}

// tickHeld ticks while renewing the lease; losing it (a renewal refused,
// after this process stalled past the lease) cuts the tick off.
func (s *Scheduler) tickHeld(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(s.o.LeaseTTL/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			granted, holder, err := s.a.Store.AcquireSchedulerLease(ctx, s.o.Owner, s.o.LeaseTTL)
			if err == nil && !granted {
				s.a.Options.Logger.Warn("lost the scheduler lease: stopping the run in progress", "holder", holder)
				cancel()
				return
			}
		}
	}()
	err := s.Tick(ctx)
	cancel()
	<-done
	return err
}

// NextWake is the earliest time at which a Tick has something to do: a due
// time, or the opening of the window a waiting run waits for. Zero when
// nothing is scheduled.
func (s *Scheduler) NextWake(ctx context.Context) (time.Time, error) {
	now := s.a.now()
	var wake time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	for _, sc := range s.a.Options.Schedules {
		last, err := s.lastRun(ctx, sc)
		if err != nil {
			return time.Time{}, err
		}
		if next := sc.NextRuns(now, last.Due, 1); len(next) > 0 {
			earlier(next[0])
		}
		if sc.Window != nil {
			waiting, err := s.a.Store.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: sc.Name, Unfinished: true})
			if err != nil {
				return time.Time{}, err
			}
			if len(waiting) > 0 {
				if open, ok := planner.WindowNextOpen(*sc.Window, now); ok {
					earlier(open)
				}
			}
		}
	}
	return wake, nil
}

// Tick does what is due at the app's current time: it finishes runs an
// earlier scheduler left, starts waiting runs whose window opened, records
// runs missed too long ago and runs what is due. One schedule's failure is
// recorded in its run and does not stop the others; the error is the
// store's.
func (s *Scheduler) Tick(ctx context.Context) error {
	var errs []error
	for _, sc := range s.a.Options.Schedules {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.tick(ctx, sc); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", sc.Name, err))
		}
	}
	s.started = true
	return errors.Join(errs...)
}

func (s *Scheduler) lastRun(ctx context.Context, sc Schedule) (patchpilot.ScheduleRun, error) {
	runs, err := s.a.Store.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: sc.Name, Limit: 1})
	if err != nil || len(runs) == 0 {
		return patchpilot.ScheduleRun{}, err
	}
	return runs[0], nil
}

func (s *Scheduler) tick(ctx context.Context, sc Schedule) error {
	now := s.a.now()
	unfinished, err := s.a.Store.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: sc.Name, Unfinished: true})
	if err != nil {
		return err
	}
	slices.Reverse(unfinished) // oldest first
	var waiting []patchpilot.ScheduleRun
	for _, r := range unfinished {
		switch {
		case r.Outcome == patchpilot.ScheduleRunning && !s.started:
			// Left running by a scheduler that stopped. A run that had
			// not handed a plan over started nothing: it runs again
			// while it is within the grace period. One that had may
			// have started a rollout, and is not repeated.
			if r.Plan == "" && !r.Due.Before(now.Add(-s.o.Grace)) {
				if err := s.execute(ctx, sc, r); err != nil {
					return err
				}
				continue
			}
			r.Finished, r.Outcome = now, patchpilot.ScheduleInterrupted
			r.Message = "the scheduler stopped while this run was running"
			if r.Plan != "" {
				r.Message += "; it is not repeated, since it may have started a rollout of plan " + r.Plan
			} else {
				r.Message += fmt.Sprintf(", and did not start again within %s of its time", s.o.Grace)
			}
			if err := s.finish(ctx, sc, r, heldOut{}); err != nil {
				return err
			}
		case r.Outcome == patchpilot.ScheduleWaiting:
			waiting = append(waiting, r)
		}
	}

	last, err := s.lastRun(ctx, sc)
	if err != nil {
		return err
	}
	due, missed := s.dueTimes(sc, last.Due, now)
	if missed.count > 0 {
		if err := s.recordMissed(ctx, sc, missed); err != nil {
			return err
		}
	}
	if !due.IsZero() {
		// A new run supersedes one still waiting for its window: the
		// window did not open between two due times, and the new run
		// plans from fresher facts.
		for _, w := range waiting {
			w.Finished, w.Outcome = now, patchpilot.ScheduleMissed
			w.Message = fmt.Sprintf("superseded by the run due %s: the maintenance window did not open before it", formatIn(due, sc))
			if err := s.finish(ctx, sc, w, heldOut{}); err != nil {
				return err
			}
		}
		waiting = nil
		if err := s.begin(ctx, sc, due, now); err != nil {
			return err
		}
	}
	for _, w := range waiting {
		if sc.Window == nil || planner.WindowContains(*sc.Window, now) {
			if err := s.execute(ctx, sc, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// missedRuns are the due times of a schedule that passed more than the
// grace period before a scheduler looked.
type missedRuns struct {
	count         int
	first, latest time.Time
	more          bool // count is a lower bound: the walk jumped ahead
}

func (m *missedRuns) add(t time.Time) {
	if m.count == 0 {
		m.first = t
	}
	m.count++
	m.latest = t
}

// dueTimes returns the latest due time in (last, now] that is at most
// Grace old, to run, and the due times before it, which are missed. A
// patch schedule that never ran looks back Grace; an inventory schedule
// that never ran is due now.
func (s *Scheduler) dueTimes(sc Schedule, last, now time.Time) (time.Time, missedRuns) {
	cutoff := now.Add(-s.o.Grace)
	var m missedRuns
	var due time.Time
	// Every due time but the latest is missed; the latest is missed too
	// when it is older than the grace period.
	see := func(t time.Time) {
		if !due.IsZero() {
			m.add(due)
		}
		due = t
	}
	switch sc.Kind {
	case patchpilot.ScheduleInventory:
		if last.IsZero() {
			return now, m
		}
		if sc.Every <= 0 {
			return time.Time{}, m
		}
		next := last.Add(sc.Every)
		if next.After(now) {
			return time.Time{}, m
		}
		n := int(now.Sub(next) / sc.Every) // due times after next, up to now
		if n > 0 {
			m = missedRuns{count: n, first: next, latest: next.Add(time.Duration(n-1) * sc.Every)}
		}
		due = next.Add(time.Duration(n) * sc.Every)
	case patchpilot.SchedulePatch:
		cursor := last
		if cursor.IsZero() {
			cursor = cutoff.Add(-time.Nanosecond)
		}
		steps := 0
		for t := sc.rule.Next(cursor); !t.IsZero() && !t.After(now); t = sc.rule.Next(t) {
			if steps++; steps == maxCatchUp && t.Before(cutoff) {
				// Far behind: count what was walked, and jump to the
				// runs within the grace period.
				see(t)
				m.more = true
				t = sc.rule.Next(cutoff.Add(-time.Nanosecond))
				if t.IsZero() || t.After(now) {
					break
				}
			}
			see(t)
		}
	}
	if !due.IsZero() && due.Before(cutoff) {
		m.add(due)
		due = time.Time{}
	}
	return due, m
}

// recordMissed records the missed due times of a schedule as one missed
// run at the latest of them, naming how many it stands for.
func (s *Scheduler) recordMissed(ctx context.Context, sc Schedule, m missedRuns) error {
	msg := fmt.Sprintf("missed the run due %s: no scheduler was running within %s of it", formatIn(m.latest, sc), s.o.Grace)
	if m.count > 1 {
		count := strconv.Itoa(m.count)
		if m.more {
			count = "more than " + count
		}
		msg = fmt.Sprintf("missed %s runs due from %s to %s: no scheduler was running within %s of them",
			count, formatIn(m.first, sc), formatIn(m.latest, sc), s.o.Grace)
	}
	r, added, err := s.a.Store.AddScheduleRun(ctx, patchpilot.ScheduleRun{Schedule: sc.Name, Kind: sc.Kind, Due: m.latest,
		Outcome: patchpilot.ScheduleMissed, Message: msg})
	if err != nil || !added {
		return err
	}
	return s.event(ctx, patchpilot.EventScheduleMissed, sc, r, fmt.Sprintf("schedule %s: %s", sc.Name, msg),
		func(d *patchpilot.ScheduleRunData) { d.Missed = m.count })
}

// begin records the run of a due time and runs it, or leaves it waiting
// for the schedule's window. A due time recorded already is left alone.
func (s *Scheduler) begin(ctx context.Context, sc Schedule, due, now time.Time) error {
	if sc.Window != nil && !planner.WindowContains(*sc.Window, now) {
		open, ok := planner.WindowNextOpen(*sc.Window, now)
		msg := "waiting for the maintenance window"
		if ok {
			msg += ", which opens " + formatIn(open, sc)
		}
		r, added, err := s.a.Store.AddScheduleRun(ctx, patchpilot.ScheduleRun{Schedule: sc.Name, Kind: sc.Kind, Due: due,
			Outcome: patchpilot.ScheduleWaiting, Message: msg})
		if err != nil || !added {
			return err
		}
		return s.event(ctx, patchpilot.EventScheduleWaiting, sc, r, msg, func(d *patchpilot.ScheduleRunData) { d.WindowOpens = open })
	}
	r, added, err := s.a.Store.AddScheduleRun(ctx, patchpilot.ScheduleRun{Schedule: sc.Name, Kind: sc.Kind, Due: due,
		Started: now, Outcome: patchpilot.ScheduleRunning})
	if err != nil || !added {
		return err
	}
	return s.execute(ctx, sc, r)
}

// execute runs a recorded run and records how it ended.
func (s *Scheduler) execute(ctx context.Context, sc Schedule, r patchpilot.ScheduleRun) error {
	r.Started, r.Outcome, r.Message = s.a.now(), patchpilot.ScheduleRunning, ""
	if err := s.a.Store.UpdateScheduleRun(ctx, r); err != nil {
		return err
	}
	if err := s.event(ctx, patchpilot.EventScheduleStarted, sc, r, fmt.Sprintf("schedule %s: run due %s started", sc.Name, formatIn(r.Due, sc)), nil); err != nil {
		return err
	}
	var err error
	var held heldOut
	if sc.Kind == patchpilot.ScheduleInventory {
		r.Outcome, r.Message, err = s.runInventory(ctx, sc)
	} else {
		r.Outcome, r.Message, err = s.runPatch(ctx, sc, &r, &held)
	}
	if ctx.Err() != nil && r.Plan == "" {
		// Stopped before anything was handed over: the run stays
		// running, and the next scheduler runs it again within the
		// grace period.
		return ctx.Err()
	}
	switch {
	case err != nil:
		r.Outcome, r.Message = patchpilot.ScheduleFailed, err.Error()
		held = heldOut{}
		s.a.Options.Logger.Warn("scheduled run failed", "schedule", sc.Name, "due", r.Due, "err", err)
	case len(held.holders) > 0:
		s.a.Options.Logger.Warn("scheduled run left out targets that unfinished rollouts hold", "schedule", sc.Name, "due", r.Due,
			"outcome", r.Outcome, "held", patchpilot.HeldHostsText(held.holders))
	}
	r.Finished = s.a.now()
	// A run handed over when the scheduler stopped is still recorded.
	return s.finish(context.WithoutCancel(ctx), sc, r, held)
}

// heldOut is what a patch run left out because unfinished rollouts held
// it.
type heldOut struct {
	holders []patchpilot.HostsHolder
	// brief is the run's message without the held hosts (holders names
	// them), which a notification names a few of.
	brief string
}

// finish records how a run ended, and its event; held names the targets
// unfinished rollouts held, which the run left out (none for a zero
// heldOut). The event's message says everything the run's does; its
// payload has the held hosts as data, and the message without them.
func (s *Scheduler) finish(ctx context.Context, sc Schedule, r patchpilot.ScheduleRun, held heldOut) error {
	if err := s.a.Store.UpdateScheduleRun(ctx, r); err != nil {
		return err
	}
	head := fmt.Sprintf("schedule %s: run due %s %s", sc.Name, formatIn(r.Due, sc), strings.ReplaceAll(string(r.Outcome), "_", " "))
	line := func(m string) string {
		if m == "" {
			return head
		}
		return head + ": " + m
	}
	return s.event(ctx, patchpilot.EventScheduleFinished, sc, r, line(r.Message), func(d *patchpilot.ScheduleRunData) {
		if len(held.holders) > 0 {
			d.Held, d.Brief = heldData(held.holders), line(held.brief)
		}
	})
}

func (s *Scheduler) event(ctx context.Context, kind string, sc Schedule, r patchpilot.ScheduleRun, msg string, more func(*patchpilot.ScheduleRunData)) error {
	d := patchpilot.ScheduleRunData{Schedule: sc.Name, Kind: sc.Kind, Due: r.Due, Outcome: r.Outcome, Plan: r.Plan}
	if more != nil {
		more(&d)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.a.record(ctx, patchpilot.Event{Actor: schedulerActor, Kind: kind, Message: msg, Rollout: r.Rollout, Data: data})
}

// collect collects an inventory file, or this machine, as 'inventory
// collect' does.
func (s *Scheduler) collect(ctx context.Context, inventory string) (CollectReport, error) {
	var (
		hosts  []patchpilot.Host
		dialer = s.o.Dialer
		source = "ssh"
	)
	if inventory == InventoryLocal {
		name, _ := os.Hostname()
		if name == "" {
			name = LocalHostName
		}
		hosts, source = []patchpilot.Host{LocalHost(name)}, LocalSource
		if dialer == nil {
			dialer = s.a.LocalDialer()
		}
	} else {
		var err error
		if hosts, _, err = s.a.LoadInventory(inventory, ""); err != nil {
			return CollectReport{}, err
		}
		if dialer == nil {
			if dialer, err = s.a.SSHDialer(); err != nil {
				return CollectReport{}, err
			}
		}
	}
	return s.a.Collect(ctx, dialer, hosts, CollectOptions{Refresh: s.o.Refresh, Actor: schedulerActor}, source, nil)
}

func (s *Scheduler) runInventory(ctx context.Context, sc Schedule) (patchpilot.ScheduleOutcome, string, error) {
	rep, err := s.collect(ctx, sc.Inventory)
	if err != nil {
		return "", "", err
	}
	if rep.Failed > 0 {
		return patchpilot.ScheduleFailed, collectSummary(rep), nil
	}
	return patchpilot.ScheduleSucceeded, collectSummary(rep), nil
}

// collectSummary says how a collection went, naming up to three failed
// hosts.
func collectSummary(rep CollectReport) string {
	msg := fmt.Sprintf("collected %d of %d hosts", len(rep.Hosts)-rep.Failed, len(rep.Hosts))
	var failed []string
	for _, h := range rep.Hosts {
		if h.Err != nil {
			failed = append(failed, h.Host.Name)
		}
	}
	if len(failed) > 0 {
		msg += "; failed: " + hostList(failed)
	}
	return msg
}

// runPatch collects (when the schedule names an inventory), selects the
// updates, proposes a plan by the risk strategy and launches it. Targets
// that unfinished rollouts hold are left out, and set in held with the
// run's message without them; when they hold every target, the run is
// skipped.
func (s *Scheduler) runPatch(ctx context.Context, sc Schedule, r *patchpilot.ScheduleRun, held *heldOut) (patchpilot.ScheduleOutcome, string, error) {
	due := r.Due
	var notes []string
	if sc.Inventory != "" {
		rep, err := s.collect(ctx, sc.Inventory)
		if err != nil {
			return "", "", fmt.Errorf("collect %s: %w", sc.Inventory, err)
		}
		if rep.Failed > 0 {
			// Plan over what answered: the hosts that failed keep their
			// older facts, and a rollout's preflight checks them again.
			notes = append(notes, collectSummary(rep))
		}
	}
	patch, holders, free, err := s.a.scheduledPatch(ctx, sc)
	if err != nil {
		return "", "", err
	}
	if len(holders) > 0 && free == 0 {
		return skipped(holders, held, notes)
	}
	if !patch.SecurityAll && len(patch.Packages) == 0 {
		what := "the targets"
		if len(holders) > 0 {
			what = "the targets no unfinished rollout holds"
		}
		notes = append([]string{fmt.Sprintf("no pending update on %s matches updates (%s)", what, sc.Updates)}, notes...)
		return patchpilot.ScheduleNothingToDo, leaveOut(holders, held, notes), nil
	}
	// The targets held now are left out, and the run says so; a rollout
	// that took the others meanwhile is found here too.
	prop, err := s.a.ProposePlanWith(ctx, patch, sc.Hosts, ProposeOptions{LeaveOutHeld: true})
	var allHeld *TargetsHeldError
	if errors.As(err, &allHeld) {
		return skipped(allHeld.Holders, held, notes)
	}
	if err != nil {
		return "", "", fmt.Errorf("propose a plan: %w", err)
	}
	p := prop.Plan
	shape := fmt.Sprintf("# plan shape: %s risk\n", prop.Level)
	if sc.PlanTemplate != "" {
		tpl, err := ReadPlanTemplate(sc.PlanTemplate)
		if err != nil {
			return "", "", fmt.Errorf("plan_template: %w", err)
		}
		p = fromTemplate(p, tpl)
		prop.withPlan(p)
		shape = fmt.Sprintf("# plan shape: the stages of %s (%s risk)\n", sc.PlanTemplate, prop.Level)
	}
	p.Name = sc.Name + "-" + due.In(sc.Location()).Format("2006-01-02")
	if sc.Window != nil {
		p.Windows = []patchpilot.MaintenanceWindow{*sc.Window}
	}
	data, err := MarshalPlan(p)
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# proposed by schedule %s for its run due %s\n", sc.Name, formatIn(due, sc))
	fmt.Fprintf(&b, "# %s: %s\n", counted(len(prop.Targets), "target", "targets"), strings.Join(prop.Targets, ", "))
	for _, line := range prop.Header {
		fmt.Fprintf(&b, "# %s\n", strings.ReplaceAll(line, "\n", " "))
	}
	b.WriteString(shape)
	b.Write(data)
	source := []byte(b.String())
	// The plan handed over is the one its source reads as, defaults and
	// all, so that what is stored and what runs agree.
	if p, err = planner.Parse(source, "schedule "+sc.Name); err != nil {
		return "", "", fmt.Errorf("proposed plan does not read back: %w", err)
	}
	// Recorded before the hand-over: a scheduler that stops during it
	// must not hand the plan over again.
	r.Plan = p.Name
	if err := s.a.Store.UpdateScheduleRun(ctx, *r); err != nil {
		return "", "", err
	}
	res, err := s.o.Launch(ctx, p, source, sc.Name)
	if err != nil {
		return "", "", fmt.Errorf("launch plan %s: %w", p.Name, err)
	}
	r.Rollout = res.Rollout
	head := fmt.Sprintf("plan %s over %s (%s risk) handed over to start", p.Name, counted(len(prop.Targets), "host", "hosts"), prop.Level)
	outcome := patchpilot.ScheduleLaunched
	if res.Proposed {
		head, outcome = fmt.Sprintf("plan %s over %s (%s risk) proposed", p.Name, counted(len(prop.Targets), "host", "hosts"), prop.Level), patchpilot.ScheduleProposed
	}
	if res.Message != "" {
		head += ": " + res.Message
	}
	return outcome, leaveOut(prop.HeldOut, held, append([]string{head}, notes...)), nil
}

// leaveOut is the message of a patch run that went ahead without the
// targets the holders hold: its parts, then which targets were left out.
// It sets held to the holders and the message without them.
func leaveOut(holders []patchpilot.HostsHolder, held *heldOut, parts []string) string {
	msg := strings.Join(parts, "; ")
	if len(holders) == 0 {
		return msg
	}
	*held = heldOut{holders: holders, brief: msg}
	return msg + "; " + heldLeftOut(holders)
}

// skipped is the outcome of a patch run whose every target an unfinished
// rollout holds: no rollout over them could start.
func skipped(holders []patchpilot.HostsHolder, held *heldOut, notes []string) (patchpilot.ScheduleOutcome, string, error) {
	*held = heldOut{holders: holders, brief: strings.Join(append([]string{"not started"}, notes...), "; ")}
	msg := "not started: unfinished rollouts hold every target: " + patchpilot.HeldHostsText(holders) + "; the next run plans them again"
	return patchpilot.ScheduleSkipped, strings.Join(append([]string{msg}, notes...), "; "), nil
}

// ScheduledPatch is what a patch schedule installs now on those of its
// targets that no unfinished rollout holds: every pending security update
// (SecurityAll) when it selects security updates alone, otherwise a pin of
// each selected package to the newest candidate the targets' facts show.
// An empty spec means that nothing matches.
func (a *App) ScheduledPatch(ctx context.Context, sc Schedule) (patchpilot.PatchSpec, error) {
	spec, _, _, err := a.scheduledPatch(ctx, sc)
	return spec, err
}

// scheduledPatch is ScheduledPatch, with the rollouts that hold some of
// the schedule's targets (each with those targets) and how many targets
// are free of them.
func (a *App) scheduledPatch(ctx context.Context, sc Schedule) (patchpilot.PatchSpec, []patchpilot.HostsHolder, int, error) {
	views, err := a.HostViews(ctx)
	if err != nil {
		return patchpilot.PatchSpec{}, nil, 0, err
	}
	targets, err := planner.SelectTargets(patchpilot.TargetSelector{Selector: sc.Hosts}, views)
	if err != nil {
		return patchpilot.PatchSpec{}, nil, 0, err
	}
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		names = append(names, t.Name())
	}
	holders, err := a.heldTargets(ctx, names)
	if err != nil {
		return patchpilot.PatchSpec{}, nil, 0, err
	}
	held := heldHosts(holders)
	free := 0
	u := sc.Updates
	type candidate struct {
		version string
		family  patchpilot.OSFamily
	}
	pins := map[string]candidate{}
	matched := false
	for _, t := range targets {
		if held[t.Name()] {
			continue
		}
		free++
		updates, err := a.Updates(ctx, patchpilot.UpdateFilter{Host: t.Name(), SecurityOnly: u.Security})
		if err != nil {
			return patchpilot.PatchSpec{}, nil, 0, err
		}
		for _, up := range updates {
			if u.MinSeverity != "" && patchpilot.MaxSeverity(up.Advisories).Rank() < u.MinSeverity.Rank() {
				continue
			}
			if len(u.Packages) > 0 && !slices.Contains(u.Packages, up.Package) && !slices.Contains(u.Packages, up.SourcePackage) {
				continue
			}
			matched = true
			have, ok := pins[up.Package]
			if !ok {
				pins[up.Package] = candidate{up.CandidateVersion, up.Family}
				continue
			}
			if c, err := osfamily.CompareVersions(up.Family, up.CandidateVersion, have.version); err == nil && c > 0 {
				pins[up.Package] = candidate{up.CandidateVersion, up.Family}
			}
		}
	}
	if !matched {
		return patchpilot.PatchSpec{}, holders, free, nil
	}
	if u.Security && u.MinSeverity == "" && len(u.Packages) == 0 {
		return patchpilot.PatchSpec{SecurityAll: true}, holders, free, nil
	}
	var spec patchpilot.PatchSpec
	for _, name := range slices.Sorted(maps.Keys(pins)) {
		spec.Packages = append(spec.Packages, patchpilot.PackagePin{Name: name, Version: pins[name].version})
	}
	return spec, holders, free, nil
}

// formatIn shows a time in the schedule's zone.
func formatIn(t time.Time, sc Schedule) string {
	return t.In(sc.Location()).Format("2006-01-02 15:04 MST")
}

// counted writes a count with its noun: "1 host", "2 hosts".
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

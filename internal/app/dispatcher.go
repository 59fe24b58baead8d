package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
)

// The dispatcher's defaults; see DispatcherOptions.
const (
	// DefaultDeliveryRetryFor bounds the waits between the attempts of
	// one delivery: with waits of 1 s doubling to 5 min, an event is
	// given up after 20 attempts (about 59 minutes) when each wait is
	// full, up to 32 when the jitter shortens them; a receiver down or
	// redeployed for less than an hour loses nothing.
	DefaultDeliveryRetryFor  = time.Hour
	DefaultDeliveryBaseDelay = time.Second
	DefaultDeliveryMaxDelay  = 5 * time.Minute
	DefaultDeliveryPoll      = 2 * time.Second
	// DefaultDeliveryShutdownGrace bounds how long a send in flight
	// when the dispatcher is stopped may go on (its integration's own
	// request timeout bounds it first).
	DefaultDeliveryShutdownGrace = time.Minute
	// DefaultDeliveryLeaseTTL is how long a dispatcher's lease on the
	// deliveries of a database lasts without renewal.
	DefaultDeliveryLeaseTTL = 2 * time.Minute
	// maxRetryAfter bounds a service's Retry-After the dispatcher waits.
	maxRetryAfter = time.Hour
	// deliveryBatch is how many events a pass reads at a time.
	deliveryBatch = 200
)

// DispatcherOptions configure a Dispatcher. Zero fields take the defaults.
type DispatcherOptions struct {
	// RetryFor bounds the time waited between the attempts of one
	// notification to one integration: the delivery is given up,
	// recorded and passed when the next wait would take the waits past
	// it (or at once for a refusal that is not retryable). Default
	// DefaultDeliveryRetryFor.
	RetryFor time.Duration
	// Attempts, when positive, also bounds the sends of one
	// notification to one integration. Default: none (RetryFor alone).
	Attempts int
	// BaseDelay is the wait after the first failed attempt; it doubles
	// with every attempt up to MaxDelay, with jitter, and a service's
	// Retry-After is waited when it is longer.
	BaseDelay, MaxDelay time.Duration
	// Poll is how often the log is read for events written by other
	// processes (the CLI) when Wake is not called.
	Poll time.Duration
	// LeaseTTL and Owner: the store's delivery lease, as the
	// scheduler's (SchedulerOptions).
	LeaseTTL time.Duration
	Owner    string
	// ShutdownGrace bounds how long a send in flight when ctx ends may
	// go on; default DefaultDeliveryShutdownGrace.
	ShutdownGrace time.Duration
	// Sleep waits d or until ctx ends; default a timer. Tests make it
	// return at once and record the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); default math/rand.
	Jitter func() float64
	// Notifiers replace the ones built from Options.Integrations, by
	// name; each must be the notifier of a configured integration.
	Notifiers []patchpilot.Notifier
}

// Dispatcher delivers the event log to the configured integrations that
// are told of events: for each, the events after its cursor, in ID order,
// classified (ClassifyEvent) and routed (topics, min_level); the cursor
// moves after each event is delivered, not routed, or given up. A crash
// between a send and the cursor's write sends that one event again, which
// the services' idempotency keys (the event's ID) absorb.
type Dispatcher struct {
	a       *App
	o       DispatcherOptions
	targets []deliveryTarget
	reports []scheduledReport
	wake    chan struct{}
	// wakes wake the delivery loop of each target, reportWake the
	// reports' loop.
	wakes      []chan struct{}
	reportWake chan struct{}
	held       bool
}

type deliveryTarget struct {
	spec integrations.Spec
	n    patchpilot.Notifier
}

// Notifiers builds the notifier of every configured integration whose
// type is told of events, in the order of the file.
func (a *App) Notifiers() ([]patchpilot.Notifier, error) {
	var out []patchpilot.Notifier
	for _, s := range a.Options.Integrations.Items {
		n, err := a.notifier(s)
		if err != nil {
			return nil, err
		}
		if n != nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// notifier builds one integration's notifier; nil for integrations that
// are not told of events (SpecNotified).
func (a *App) notifier(s integrations.Spec) (patchpilot.Notifier, error) {
	k, ok := integrationKinds[s.Type]
	if !ok {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: integrations: %s: unknown type %q", s.Where(), s.Name, s.Type)
	}
	if !SpecNotified(s) {
		return nil, nil
	}
	var n patchpilot.Notifier
	var err error
	switch {
	case k.storeNotifier != nil && a.Store != nil:
		// Types that keep records in the store (change records,
		// host runs) are built with the app; without a store
		// ('integrations test'), with the store-less builder.
		n, err = k.storeNotifier(s, a)
	case k.notifier != nil:
		n, err = k.notifier(s, a.Options)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, buildError(s, err)
	}
	return n, nil
}

// buildError is the error of building integration s: as it is when it
// already begins "FILE:LINE: integrations: NAME: " (settings and secrets
// errors do), else with that prefix; its code is kept.
func buildError(s integrations.Spec, err error) error {
	if strings.Contains(err.Error(), ": integrations: "+s.Name+": ") {
		if _, ok := err.(*patchpilot.Error); ok {
			return err
		}
		return patchpilot.Errorf(patchpilot.ErrorCode(err), "%w", err)
	}
	return patchpilot.Errorf(patchpilot.ErrorCode(err), "%s: integrations: %s: %w", s.Where(), s.Name, err)
}

// NewDispatcher builds the notifiers of the configured integrations; an
// integration that cannot be built (a secret's variable unset, a bad
// URL) is an error naming it. It has nothing to do when no integration
// is told of events (Empty).
func (a *App) NewDispatcher(o DispatcherOptions) (*Dispatcher, error) {
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultDeliveryRetryFor
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultDeliveryBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultDeliveryMaxDelay
	}
	if o.Poll <= 0 {
		o.Poll = DefaultDeliveryPoll
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultDeliveryLeaseTTL
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultDeliveryShutdownGrace
	}
	if o.Owner == "" {
		o.Owner = orchestrator.DefaultOwner()
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	d := &Dispatcher{a: a, o: o, wake: make(chan struct{}, 1)}
	given := map[string]patchpilot.Notifier{}
	for _, n := range o.Notifiers {
		given[n.Name()] = n
	}
	for _, s := range a.Options.Integrations.Items {
		n, ok := given[s.Name]
		if ok {
			delete(given, s.Name)
		} else {
			var err error
			if n, err = a.notifier(s); err != nil {
				return nil, err
			}
		}
		if n != nil {
			d.targets = append(d.targets, deliveryTarget{spec: s, n: n})
		}
		if k := integrationKinds[s.Type]; k.reports != nil {
			rs, err := k.reports(s, a.Options)
			if err != nil {
				return nil, buildError(s, err)
			}
			if rs.schedule != nil {
				d.reports = append(d.reports, scheduledReport{name: s.Name, rs: rs})
			}
		}
	}
	for name := range given {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "dispatcher: notifier %q is not a configured integration", name)
	}
	d.reportWake = make(chan struct{}, 1)
	for range d.targets {
		d.wakes = append(d.wakes, make(chan struct{}, 1))
	}
	return d, nil
}

// Notified counts the integrations the dispatcher tells of events.
func (d *Dispatcher) Notified() int { return len(d.targets) }

// Empty reports whether no configured integration is told of events or
// sends reports on a schedule.
func (d *Dispatcher) Empty() bool { return len(d.targets) == 0 && len(d.reports) == 0 }

// Wake makes a running dispatcher read the log now (an event was written).
func (d *Dispatcher) Wake() {
	for _, c := range append([]chan struct{}{d.wake, d.reportWake}, d.wakes...) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx ends, while it holds the store's delivery lease:
// one dispatcher delivers the events of a database however many servers
// share it; the others wait and take over when its holder stops or dies.
//
// While it holds the lease, each integration told of events has its own
// delivery loop (woken by Wake and the poll, with its own waits between
// retries), so that one integration that keeps failing does not hold the
// others back; the scheduled KPI reports have one more. Losing the lease
// stops them all (the cursor of an event in flight is not moved, so the
// next holder sends it). ctx ending (a shutdown) is not a loss: the sends
// in flight finish and are recorded (see Deliver), then the lease is
// released.
func (d *Dispatcher) Run(ctx context.Context) error {
	var w *deliveryLoops
	defer func() {
		if w != nil {
			w.wait()
		}
		if d.held {
			if err := d.a.Store.ReleaseDeliveryLease(context.WithoutCancel(ctx), d.o.Owner); err != nil {
				d.a.Options.Logger.Warn("release the delivery lease", "err", err)
			}
			d.held = false
		}
	}()
	d.startCursors(ctx)
	var waitingFor string
	for {
		held, holder, err := d.lease(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			d.a.Options.Logger.Error("delivery lease", "err", err)
		case !held:
			if w != nil {
				d.a.Options.Logger.Warn("lost the delivery lease: stopping the deliveries in progress", "holder", holder)
				w.stop()
				w = nil
			}
			if holder != waitingFor {
				d.a.Options.Logger.Info("another server delivers the events of this database to the integrations; waiting for its lease", "holder", holder)
				if len(d.targets) > 0 {
					d.a.Options.Logger.Warn("the server holding the delivery lease delivers with its own integrations: configuration: "+
						"if it does not name "+d.targetNames()+" too, their events wait, kept, until this server holds the lease; "+
						"servers sharing a database should share the integrations: section",
						"holder", holder, "integrations", d.targetNames())
				}
				waitingFor = holder
			}
		default:
			waitingFor = ""
			if w == nil {
				w = d.startLoops(ctx)
			}
		}
		t := time.NewTimer(min(d.o.Poll, d.o.LeaseTTL/3))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// deliveryLoops are the delivery loops of a dispatcher holding the lease.
type deliveryLoops struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// stop ends the loops at once (a lost lease) and waits for them.
func (w *deliveryLoops) stop() {
	w.cancel()
	w.wg.Wait()
}

// wait waits for the loops to end after the dispatcher's ctx ended: the
// sends in flight finish (within the ShutdownGrace) and are recorded.
func (w *deliveryLoops) wait() {
	w.wg.Wait()
	w.cancel()
}

// startLoops starts one delivery loop per integration told of events and
// one for the scheduled reports. Their waits and reads end with ctx or
// with the loops' stop; their sends and records run under hard (see
// graceful), which outlives ctx by the ShutdownGrace.
func (d *Dispatcher) startLoops(ctx context.Context) *deliveryLoops {
	hard, cancel := d.graceful(ctx)
	lctx, lcancel := context.WithCancel(ctx)
	context.AfterFunc(hard, lcancel)
	w := &deliveryLoops{cancel: func() { cancel(); lcancel() }}
	for i, t := range d.targets {
		w.wg.Go(func() { d.loop(lctx, hard, t, d.wakes[i]) })
	}
	if len(d.reports) > 0 {
		w.wg.Go(func() {
			for {
				d.SendDueReports(lctx)
				if !d.pause(lctx, d.reportWake) {
					return
				}
			}
		})
	}
	return w
}

// loop delivers to t until ctx ends: the events after its cursor, then
// again when woken or at the poll.
func (d *Dispatcher) loop(ctx, hard context.Context, t deliveryTarget, wake <-chan struct{}) {
	for {
		if err := d.deliverTo(ctx, hard, t); err != nil && ctx.Err() == nil {
			d.a.Options.Logger.Error("deliveries", "integration", t.spec.Name, "err", err)
		}
		if !d.pause(ctx, wake) {
			return
		}
	}
}

// pause waits for wake or the poll; false when ctx ended.
func (d *Dispatcher) pause(ctx context.Context, wake <-chan struct{}) bool {
	if ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(d.o.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

// startCursors creates the cursor of every integration told of events
// that has none, at the end of the log, whether or not this dispatcher
// holds the lease: the events from the server's start on are kept for it
// even while another server (which may not have it in its configuration)
// delivers. An existing cursor is not moved.
func (d *Dispatcher) startCursors(ctx context.Context) {
	for _, t := range d.targets {
		if _, err := d.a.Store.StartDeliveryCursor(ctx, t.spec.Name); err != nil && ctx.Err() == nil {
			d.a.Options.Logger.Error("start the delivery cursor", "integration", t.spec.Name, "err", err)
		}
	}
}

// targetNames names the integrations told of events, comma-separated.
func (d *Dispatcher) targetNames() string {
	names := make([]string, len(d.targets))
	for i, t := range d.targets {
		names[i] = t.spec.Name
	}
	return strings.Join(names, ", ")
}

// lease takes or renews the delivery lease; a holder of this machine that
// is gone is taken over at once.
func (d *Dispatcher) lease(ctx context.Context) (bool, string, error) {
	st := d.a.Store
	granted, holder, err := st.AcquireDeliveryLease(ctx, d.o.Owner, d.o.LeaseTTL)
	if err == nil && !granted {
		if why := orchestrator.DeadHolder(holder, nil, nil); why != "" {
			var now string
			if granted, now, err = st.TakeOverDeliveryLease(ctx, holder, d.o.Owner, d.o.LeaseTTL); err == nil && granted {
				d.a.Options.Logger.Info("took over the delivery lease", "from", holder, "why", why)
				holder = d.o.Owner
			} else if err == nil && now == "" {
				granted, holder, err = st.AcquireDeliveryLease(ctx, d.o.Owner, d.o.LeaseTTL)
			} else {
				holder = now
			}
		}
	}
	if err != nil {
		return false, "", err
	}
	d.held = granted
	return granted, holder, nil
}

// graceful is the context of the sends: it outlives ctx by the
// ShutdownGrace, so that a send in flight when ctx ends finishes (bounded
// by its integration's own timeout) and is recorded.
func (d *Dispatcher) graceful(ctx context.Context) (context.Context, context.CancelFunc) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(d.o.ShutdownGrace, cancel)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	return hard, func() { stop(); cancel() }
}

// Deliver brings every integration up to the end of the log, each on its
// own so that a service that is down does not hold the others back. It
// returns when all are caught up (or ctx ends); it does not take the
// lease (Run does). When ctx ends, the waits between attempts end at
// once, but a send in flight finishes (bounded by its integration's
// timeout and the ShutdownGrace) and its outcome is recorded, so that the
// next dispatcher does not send it again.
func (d *Dispatcher) Deliver(ctx context.Context) error {
	hard, cancel := d.graceful(ctx)
	defer cancel()
	return d.deliver(ctx, hard)
}

// deliver is Deliver with the context of the sends and their records,
// hard, which ends later than ctx (or sooner: a lost lease).
func (d *Dispatcher) deliver(ctx, hard context.Context) error {
	errs := make([]error, len(d.targets))
	var wg sync.WaitGroup
	for i, t := range d.targets {
		wg.Go(func() { errs[i] = d.deliverTo(ctx, hard, t) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliverTo delivers the events after t's cursor, in order.
func (d *Dispatcher) deliverTo(ctx, hard context.Context, t deliveryTarget) error {
	st := d.a.Store
	c, err := st.StartDeliveryCursor(ctx, t.spec.Name)
	if err != nil {
		return err
	}
	if err := d.redeliver(ctx, hard, t); err != nil {
		return err
	}
	at := c.EventID
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		evs, err := st.Events(ctx, patchpilot.EventFilter{AfterID: at, Limit: deliveryBatch})
		if err != nil {
			return err
		}
		skipped := int64(0) // the last event passed without a send, not yet written
		for _, e := range evs {
			if ctx.Err() != nil {
				break
			}
			n, ok, err := d.classify(ctx, e)
			if err != nil {
				return err
			}
			if !ok || !t.spec.Wants(n) {
				skipped = e.ID
				continue
			}
			if err := d.a.addRolloutDetails(ctx, &n); err != nil {
				return err
			}
			if err := d.send(ctx, hard, t, n, c.Retrying); err != nil {
				return err
			}
			skipped = 0
		}
		if skipped != 0 {
			if err := st.AdvanceDeliveryCursor(hard, t.spec.Name, skipped, time.Time{}); err != nil {
				return err
			}
		}
		if len(evs) < deliveryBatch {
			return nil
		}
		at = evs[len(evs)-1].ID
	}
}

// redeliver sends, once each, t's given-up deliveries whose redelivery
// was asked for ('integrations retry'), oldest first. Each is claimed in
// the store before it is sent, so no two dispatchers (or commands) send
// it, and one cut off by a crash is never sent again by itself.
func (d *Dispatcher) redeliver(ctx, hard context.Context, t deliveryTarget) error {
	st, log := d.a.Store, d.a.Options.Logger
	fs, err := st.DeliveryFailures(ctx, t.spec.Name, 0)
	if err != nil {
		return err
	}
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if f.Redelivery != patchpilot.RedeliveryRequested {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ok, err := st.ClaimRedelivery(ctx, f.ID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		errText := ""
		if err := d.redeliverOne(hard, t, f); err != nil {
			errText = err.Error()
			log.Error("a redelivery failed; it is not tried again", "integration", t.spec.Name, "event", f.EventID, "err", err)
		} else {
			log.Info("redelivered a given-up delivery", "integration", t.spec.Name, "event", f.EventID)
		}
		if err := st.FinishRedelivery(hard, f.ID, errText, d.a.now()); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dispatcher) redeliverOne(ctx context.Context, t deliveryTarget, f patchpilot.DeliveryFailure) error {
	evs, err := d.a.Store.Events(ctx, patchpilot.EventFilter{AfterID: f.EventID - 1, Limit: 1})
	if err != nil {
		return err
	}
	if len(evs) == 0 || evs[0].ID != f.EventID {
		return patchpilot.Errorf(patchpilot.ENOTFOUND, "event %d is no longer in the log", f.EventID)
	}
	n, ok, err := d.classify(ctx, evs[0])
	if err != nil {
		return err
	}
	if !ok {
		return patchpilot.Errorf(patchpilot.EINVALID, "event %d is not one the integrations are told of", f.EventID)
	}
	if err := d.a.addRolloutDetails(ctx, &n); err != nil {
		return err
	}
	return t.n.Notify(ctx, n)
}

// RetryResult is what RetryDeliveries did.
type RetryResult struct {
	// Requested are the given-up deliveries marked for a redelivery.
	Requested []patchpilot.DeliveryFailure `json:"requested"`
	// Delivered says whether this process sent them (no server held
	// the delivery lease); else Holder, the dispatcher holding it,
	// sends them.
	Delivered bool   `json:"delivered"`
	Holder    string `json:"holder,omitempty"`
	// Results are the redeliveries as they stand after the command.
	Results []patchpilot.DeliveryFailure `json:"results"`
}

// RetryDeliveries asks for the redelivery of the named integration's
// given-up deliveries (of one event when eventID is not 0), each at most
// once. The redeliveries are marked in the store; when no dispatcher
// holds the delivery lease, this process takes it and sends them itself,
// else the holder sends them at its next pass (the integration is built,
// its secrets read, only to send). Either way each is claimed in the
// store before it is sent: it is sent once.
func (a *App) RetryDeliveries(ctx context.Context, name string, eventID int64) (RetryResult, error) {
	var res RetryResult
	s, err := a.Integration(name)
	if err != nil {
		return res, err
	}
	if !SpecNotified(s) {
		return res, patchpilot.Errorf(patchpilot.EINVALID, "integration %s: %s is not told of events: it has no deliveries to retry", s.Name, notToldWhat(s))
	}
	if res.Requested, err = a.Store.RequestRedelivery(ctx, name, eventID); err != nil {
		return res, err
	}
	if len(res.Requested) == 0 {
		res.Results = []patchpilot.DeliveryFailure{}
		return res, nil
	}
	d := &Dispatcher{a: a, o: DispatcherOptions{Owner: orchestrator.DefaultOwner(), LeaseTTL: DefaultDeliveryLeaseTTL, ShutdownGrace: DefaultDeliveryShutdownGrace}}
	held, holder, err := d.lease(ctx)
	if err != nil {
		return res, err
	}
	if held {
		defer a.Store.ReleaseDeliveryLease(context.WithoutCancel(ctx), d.o.Owner)
		// The integration is built (its secrets read) only to send.
		n, err := a.notifier(s)
		if err != nil {
			return res, patchpilot.Errorf(patchpilot.ErrorCode(err), "%d redeliver%s marked, to be sent by a server that can build the integration: %w",
				len(res.Requested), map[bool]string{true: "y", false: "ies"}[len(res.Requested) == 1], err)
		}
		hard, cancel := d.graceful(ctx)
		defer cancel()
		if err := d.redeliver(ctx, hard, deliveryTarget{spec: s, n: n}); err != nil {
			return res, err
		}
		res.Delivered = true
	} else {
		res.Holder = holder
	}
	all, err := a.Store.DeliveryFailures(ctx, name, 0)
	if err != nil {
		return res, err
	}
	res.Results = []patchpilot.DeliveryFailure{}
	for _, f := range all {
		for _, r := range res.Requested {
			if r.ID == f.ID {
				res.Results = append(res.Results, f)
			}
		}
	}
	return res, nil
}

// classify makes the event's notification with its rollout as stored.
func (d *Dispatcher) classify(ctx context.Context, e patchpilot.Event) (patchpilot.Notification, bool, error) {
	// Most events (hosts, gates, inventory) are never told: the rollout
	// is read only for those that are.
	if _, ok := ClassifyEvent(e, nil, ""); !ok {
		return patchpilot.Notification{}, false, nil
	}
	var r *patchpilot.Rollout
	if e.Rollout != "" {
		got, err := d.a.Store.Rollout(ctx, e.Rollout)
		switch {
		case err == nil:
			r = &got
		case patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND:
			return patchpilot.Notification{}, false, err
		}
	}
	n, ok := ClassifyEvent(e, r, d.a.Options.Integrations.DashboardURL)
	return n, ok, nil
}

// send delivers one notification, retrying what may succeed with
// exponential backoff and jitter, and moves the cursor past it: delivered,
// or given up and recorded.
//
// The send and its record run under hard, which outlives ctx (a
// shutdown) so that a send in flight is finished and recorded; the waits
// end with ctx.
//
// resume is the retry recorded in t's cursor: when it is this event's
// (another dispatcher, or this one before a lost lease, was retrying it),
// the attempts go on from its count and the time since its first failure
// counts as waited, so that a takeover does not postpone the give-up.
func (d *Dispatcher) send(ctx, hard context.Context, t deliveryTarget, n patchpilot.Notification, resume *patchpilot.DeliveryRetry) error {
	st, log := d.a.Store, d.a.Options.Logger
	var waited time.Duration
	first, since := 1, time.Time{}
	if resume != nil && resume.EventID == n.Event.ID && resume.Attempts > 0 {
		first = resume.Attempts + 1
		if !resume.Since.IsZero() {
			since = resume.Since
			waited = max(d.a.now().Sub(since), 0)
		}
	}
	for attempt := first; ; attempt++ {
		err := t.n.Notify(hard, n)
		if err == nil {
			return st.AdvanceDeliveryCursor(hard, t.spec.Name, n.Event.ID, d.a.now())
		}
		if hard.Err() != nil {
			return hard.Err()
		}
		var de *patchpilot.DeliveryError
		isDE := errors.As(err, &de)
		// An error that is not a DeliveryError is the notifier's own
		// failure; sending again may succeed, within the attempts.
		retryable := !isDE || de.Retryable
		wait := d.backoff(attempt)
		if isDE && de.RetryAfter > wait {
			wait = min(de.RetryAfter, maxRetryAfter)
		}
		if !retryable || (d.o.Attempts > 0 && attempt >= d.o.Attempts) || waited+wait > d.o.RetryFor {
			f, gerr := st.GiveUpDelivery(hard, patchpilot.DeliveryFailure{Integration: t.spec.Name, EventID: n.Event.ID,
				Topic: n.Topic, Attempts: attempt, Error: err.Error(), Time: d.a.now()})
			if gerr != nil {
				return gerr
			}
			log.Error("gave up a delivery", "integration", t.spec.Name, "event", n.Event.ID, "topic", n.Topic,
				"attempts", f.Attempts, "err", err)
			return nil
		}
		waited += wait
		if since.IsZero() {
			since = d.a.now()
		}
		log.Warn("delivery failed; retrying", "integration", t.spec.Name, "event", n.Event.ID, "attempt", attempt,
			"retry_in", wait.String(), "err", err)
		if serr := st.SetDeliveryRetry(hard, t.spec.Name, patchpilot.DeliveryRetry{EventID: n.Event.ID, Attempts: attempt,
			Error: err.Error(), NextTry: d.a.now().Add(wait), Since: since}); serr != nil {
			return serr
		}
		if err := d.o.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// backoff is the wait after the attempt-th failure: BaseDelay doubled per
// attempt, capped at MaxDelay, of which the upper half is random.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	w := d.o.BaseDelay
	for i := 1; i < attempt && w < d.o.MaxDelay; i++ {
		w *= 2
	}
	w = min(w, d.o.MaxDelay)
	return w/2 + time.Duration(d.o.Jitter()*float64(w/2))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IntegrationStatus is how one configured integration stands.
type IntegrationStatus struct {
	Name     string             `json:"name"`
	Type     string             `json:"type"`
	Topics   []patchpilot.Topic `json:"topics,omitempty"`
	MinLevel patchpilot.Level   `json:"min_level,omitempty"`
	// Notified says whether its type is told of events.
	Notified bool `json:"notified"`
	// UnsetSecrets are the environment variables its secrets are read
	// from that are not set in this environment (see UnsetSecrets).
	UnsetSecrets []string `json:"unset_secrets,omitempty"`
	// Cursor is its delivery cursor; nil until a dispatcher (the server)
	// first delivered to it.
	Cursor *patchpilot.DeliveryCursor `json:"cursor,omitempty"`
	// GivenUp are its given-up deliveries, newest first (at most
	// statusFailures of them), and GivenUpTotal how many there are.
	GivenUp      []patchpilot.DeliveryFailure `json:"given_up"`
	GivenUpTotal int                          `json:"given_up_total"`
	// StillGivenUp counts the given-up deliveries not redelivered
	// ('integrations retry' not asked, or its redelivery failed);
	// Redelivered those redelivered, the last at LastRedelivery (of
	// event LastRedeliveryEventID).
	StillGivenUp          int       `json:"still_given_up"`
	Redelivered           int       `json:"redelivered"`
	LastRedeliveryEventID int64     `json:"last_redelivery_event_id,omitempty"`
	LastRedelivery        time.Time `json:"last_redelivery,omitzero"`
}

const statusFailures = 20

// UnsetSecrets names the environment variables the integration's secrets
// are read from that are unset or empty in the app's environment, where
// building it would fail. The server runs in an environment of its own,
// which may differ. No secret's value is read out.
func (a *App) UnsetSecrets(s integrations.Spec) []string {
	var out []string
	for _, e := range s.SecretEnvs() {
		if a.Options.Getenv(e) == "" {
			out = append(out, e)
		}
	}
	return out
}

// IntegrationStatuses tells, for every configured integration, how far it
// has been told of the event log and what was given up.
func (a *App) IntegrationStatuses(ctx context.Context) ([]IntegrationStatus, error) {
	cs, err := a.Store.DeliveryCursors(ctx)
	if err != nil {
		return nil, err
	}
	cursors := map[string]patchpilot.DeliveryCursor{}
	for _, c := range cs {
		cursors[c.Integration] = c
	}
	var out []IntegrationStatus
	for _, s := range a.Options.Integrations.Items {
		st := IntegrationStatus{Name: s.Name, Type: s.Type, Topics: IntegrationTopics(s), MinLevel: s.MinLevel, Notified: SpecNotified(s),
			UnsetSecrets: a.UnsetSecrets(s), GivenUp: []patchpilot.DeliveryFailure{}}
		if c, ok := cursors[s.Name]; ok {
			st.Cursor = &c
		}
		all, err := a.Store.DeliveryFailures(ctx, s.Name, 0)
		if err != nil {
			return nil, err
		}
		st.GivenUpTotal = len(all)
		for _, f := range all {
			if f.Redelivery != patchpilot.RedeliveryDone {
				st.StillGivenUp++
				continue
			}
			st.Redelivered++
			if f.RedeliveredAt.After(st.LastRedelivery) {
				st.LastRedelivery, st.LastRedeliveryEventID = f.RedeliveredAt, f.EventID
			}
		}
		st.GivenUp = all[:min(len(all), statusFailures)]
		out = append(out, st)
	}
	return out, nil
}

// Integration returns the configured integration of that name; an
// unknown name is ENOTFOUND listing the configured ones.
func (a *App) Integration(name string) (integrations.Spec, error) {
	var names []string
	for _, s := range a.Options.Integrations.Items {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return integrations.Spec{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "no integration %q: the configuration has no integrations: section with services", name)
	}
	return integrations.Spec{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "no integration %q; the configured integrations are %s", name, strings.Join(names, ", "))
}

// TestIntegration builds the named integration's notifier and sends it a
// test notification (TopicTest), returning the notification sent. The
// error is the service's answer (a *patchpilot.DeliveryError) or why the
// integration could not be built.
func (a *App) TestIntegration(ctx context.Context, name string) (patchpilot.Notification, error) {
	s, err := a.Integration(name)
	if err != nil {
		return patchpilot.Notification{}, err
	}
	n, err := a.notifier(s)
	if err != nil {
		return patchpilot.Notification{}, err
	}
	if n == nil {
		return patchpilot.Notification{}, patchpilot.Errorf(patchpilot.EINVALID, "integration %s: %s is not told of events, so it has no test notification", s.Name, notToldWhat(s))
	}
	now := a.now()
	note := patchpilot.Notification{
		Event: patchpilot.Event{Time: now, Actor: "cli", Kind: "integration.test",
			Message: fmt.Sprintf("test notification to %s from patchpilot", s.Name)},
		Topic: patchpilot.TopicTest, Level: patchpilot.LevelInfo,
		Summary: fmt.Sprintf("patchpilot test notification to integration %s (%s): delivery works", s.Name, s.Type),
		URL:     a.Options.Integrations.DashboardURL,
	}
	if note.URL != "" {
		note.URL += "/ui/rollouts"
	}
	return note, n.Notify(ctx, note)
}

// scheduledReport is an integration that sends the KPI report on a
// schedule; next is when the log is next read for its last report.
type scheduledReport struct {
	name string
	rs   reportSender
	next time.Time
}

// reportCheck is how often the dispatcher looks whether a scheduled
// report is due.
const reportCheck = time.Minute

// SendDueReports sends the KPI report of each integration whose schedule
// says it is due. The last report sent on schedule is read from the event
// log (EventReportSent), so a restart neither sends again one already
// sent nor forgets one that failed (tried again an hour later). A failure
// is logged and recorded; it does not stop the deliveries. Run calls it
// while it holds the delivery lease.
func (d *Dispatcher) SendDueReports(ctx context.Context) {
	log := d.a.Options.Logger
	for i := range d.reports {
		r := &d.reports[i]
		now := d.a.now()
		if now.Before(r.next) {
			continue
		}
		r.next = now.Add(reportCheck)
		sch := r.rs.schedule
		last, failed, err := d.a.lastScheduledReport(ctx, r.name, sch.lookback)
		if err != nil {
			log.Error("read the last KPI report", "integration", r.name, "err", err)
			continue
		}
		if !sch.due(now, last, failed) {
			continue
		}
		from, to := sch.window(now)
		sent, err := d.a.sendKPIReport(ctx, r.name, r.rs, KPIQuery{From: from, To: to}, true)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("could not send the KPI report; it is tried again later", "integration", r.name, "schedule", sch.text, "err", err)
			continue
		}
		log.Info("sent the KPI report", "integration", r.name, "schedule", sch.text, "from", sent.From, "to", sent.To)
	}
}

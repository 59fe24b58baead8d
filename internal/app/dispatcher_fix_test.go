package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// logRecords is a slog handler that passes each record's message and
// attributes, as text, to a channel.
type logRecords chan string

func (l logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	select {
	case l <- b.String():
	default:
	}
	return nil
}
func (l logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecords) WithGroup(string) slog.Handler      { return l }

// waitLog reads the log until a line contains every part.
func waitLog(t *testing.T, logs logRecords, parts ...string) string {
	t.Helper()
	for line := range logs {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
	return ""
}

// TestDispatcherStartsCursorsWithoutLease: a server whose integrations
// are not in the lease holder's configuration creates their cursors when
// it starts, so the events written while another server holds the lease
// are delivered when it takes the lease over; it warns, naming them.
func TestDispatcherStartsCursorsWithoutLease(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	logs := make(logRecords, 100)
	a.Options.Logger = slog.New(logs)
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "only-here", Type: "webhook"}}}}
	rec := &recorder{name: "only-here"}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, Owner: "server-2", Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if granted, _, err := a.Store.AcquireDeliveryLease(ctx, "server-1", time.Hour); err != nil || !granted {
		t.Fatalf("AcquireDeliveryLease: %v %v", granted, err)
	}
	before := appendEvent(t, a, stateEvent(t, "r-0", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	waitLog(t, logs, "INFO", "waiting for its lease", "server-1")
	cs, err := a.Store.DeliveryCursors(ctx)
	if err != nil || len(cs) != 1 || cs[0].Integration != "only-here" || cs[0].EventID != before.ID {
		t.Fatalf("cursors while another server holds the lease = %+v, %v; want only-here's at event %d", cs, err, before.ID)
	}
	if line := <-logs; !strings.Contains(line, "WARN") || !strings.Contains(line, "only-here") || !strings.Contains(line, "share") {
		t.Errorf("after waiting for the lease, logged %q; want a warning naming only-here and telling to share the configuration", line)
	}
	// An event written while server-1 delivers (without only-here).
	during := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	if err := a.Store.ReleaseDeliveryLease(ctx, "server-1"); err != nil {
		t.Fatal(err)
	}
	for {
		cs, err := a.Store.DeliveryCursors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cs[0].EventID == during.ID {
			break
		}
		d.Wake()
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := rec.delivered(); !equalIDs(got, []int64{during.ID}) {
		t.Errorf("delivered %v, want the event written while another server held the lease (%d), once", got, during.ID)
	}
	// Starting again does not move a cursor.
	appendEvent(t, a, stateEvent(t, "r-2", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	c, err := a.Store.StartDeliveryCursor(ctx, "only-here")
	if err != nil || c.EventID != during.ID {
		t.Errorf("cursor after a second start = %+v, %v; want event %d", c, err, during.ID)
	}
}

// TestDispatcherRecordsRetry: while a failed delivery waits for its next
// try, the status shows it (event, attempts, error, next try); it is
// cleared once the service takes the event.
func TestDispatcherRecordsRetry(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.Options.Now = func() time.Time { return now }
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "hook", Type: "webhook"}}}}
	rec := &recorder{name: "hook", errs: []error{
		&patchpilot.DeliveryError{Service: "webhook", Status: 503, Message: "unavailable", Retryable: true},
		&patchpilot.DeliveryError{Service: "webhook", Status: 502, Message: "bad gateway", Retryable: true},
	}}
	var seen []patchpilot.DeliveryRetry
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, Jitter: func() float64 { return 0 },
		Sleep: func(context.Context, time.Duration) error {
			st, err := a.IntegrationStatuses(ctx)
			if err != nil || len(st) != 1 || st[0].Cursor == nil || st[0].Cursor.Retrying == nil {
				t.Errorf("status while waiting to retry = %+v, %v; want the retry", st, err)
				return nil
			}
			seen = append(seen, *st[0].Cursor.Retrying)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	e := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].EventID != e.ID || seen[0].Attempts != 1 || !strings.Contains(seen[0].Error, "503") ||
		!seen[0].NextTry.Equal(now.Add(500*time.Millisecond)) || seen[1].Attempts != 2 || !strings.Contains(seen[1].Error, "502") ||
		!seen[1].NextTry.Equal(now.Add(time.Second)) {
		t.Errorf("retries shown = %+v", seen)
	}
	st, err := a.IntegrationStatuses(ctx)
	if err != nil || st[0].Cursor == nil || st[0].Cursor.Retrying != nil || st[0].Cursor.DeliveredEventID != e.ID {
		t.Errorf("status after the delivery = %+v, %v; want delivered, no retry", st, err)
	}
}

// TestDispatcherRetryWindow: by default a failing delivery is retried
// with waits doubling from 1 s to 5 min until the waits would pass an
// hour, then given up: a receiver down for most of an hour loses
// nothing.
func TestDispatcherRetryWindow(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "hook", Type: "webhook"}}}}
	rec := &recorder{name: "hook"}
	for range 100 {
		rec.errs = append(rec.errs, &patchpilot.DeliveryError{Service: "webhook", Status: 503, Message: "unavailable", Retryable: true})
	}
	var waits []time.Duration
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, Jitter: func() float64 { return 0.999999999 },
		Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d.Round(time.Second))
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	e := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	var want []time.Duration
	var total time.Duration
	for w := time.Second; len(want) < 19; w = min(2*w, 5*time.Minute) {
		want = append(want, w)
		total += w
	}
	if !equalDurations(waits, want) || total > time.Hour || total < 55*time.Minute {
		t.Errorf("waits = %v, want %v (%s in all)", waits, want, total)
	}
	fs, err := a.Store.DeliveryFailures(ctx, "hook", 0)
	if err != nil || len(fs) != 1 || fs[0].EventID != e.ID || fs[0].Attempts != 20 || len(rec.delivered()) != 20 {
		t.Errorf("given up = %+v, %v after %d sends; want event %d after 20 attempts", fs, err, len(rec.delivered()), e.ID)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// blocking is a Notifier whose sends wait for release (or their
// context's end), telling started when one begins.
type blocking struct {
	started chan int64
	release chan struct{}
	mu      sync.Mutex
	got     []int64
}

func (b *blocking) Name() string { return "hook" }
func (b *blocking) Notify(ctx context.Context, n patchpilot.Notification) error {
	b.started <- n.Event.ID
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, n.Event.ID)
	return nil
}

// TestDispatcherShutdownFinishesSend: stopping the dispatcher (a clean
// SIGTERM of the server) lets the send in flight finish and records it,
// so the next server does not send it again; the events after it wait;
// a wait between retries ends at once.
func TestDispatcherShutdownFinishesSend(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "hook", Type: "webhook"}}}}
	b := &blocking{started: make(chan int64, 10), release: make(chan struct{})}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{b}, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	first := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	appendEvent(t, a, stateEvent(t, "r-2", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	if got := <-b.started; got != first.ID {
		t.Fatalf("first send of event %d, want %d", got, first.ID)
	}
	stop()
	close(b.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cs, err := a.Store.DeliveryCursors(ctx)
	if err != nil || len(cs) != 1 || cs[0].EventID != first.ID || cs[0].DeliveredEventID != first.ID || cs[0].Behind != 1 {
		t.Fatalf("cursor after the shutdown = %+v, %v; want event %d delivered and recorded, 1 behind", cs, err, first.ID)
	}
	if len(b.started) != 0 {
		t.Errorf("a send started after the shutdown: event %d", <-b.started)
	}

	// A wait between retries ends at once.
	rec := &recorder{name: "hook", errs: []error{&patchpilot.DeliveryError{Service: "webhook", Status: 503, Retryable: true}}}
	d2, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, BaseDelay: time.Hour, MaxDelay: time.Hour, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop = context.WithCancel(ctx)
	go func() { done <- d2.Run(runCtx) }()
	for {
		if cs, err := a.Store.DeliveryCursors(ctx); err != nil || cs[0].Retrying != nil {
			break
		}
		d2.Wake()
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRetryDeliveries: 'integrations retry' sends a given-up delivery
// once more: by itself when no server holds the delivery lease, else
// through the holder's dispatcher; never twice, and recorded.
func TestRetryDeliveries(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.Options.Now = func() time.Time { return now }
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "hook", Type: "webhook"}}}}
	if _, err := a.Store.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	var evs []patchpilot.Event
	for i := range 3 {
		e := appendEvent(t, a, stateEvent(t, "r-"+string(rune('1'+i)), patchpilot.RolloutHalted, patchpilot.RolloutRunning))
		if _, err := a.Store.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "hook", EventID: e.ID, Topic: patchpilot.TopicHalted,
			Attempts: 20, Error: "webhook answered 503", Time: now}); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	// RetryDeliveries builds the integration from its configuration; the
	// webhook's own sends are proven by its tests, so a recorder stands
	// in through the dispatcher's Notifiers here.
	rec := &recorder{name: "hook"}
	restore := integrationKinds["webhook"]
	integrationKinds["webhook"] = integrationKind{notifier: func(integrations.Spec, Options) (patchpilot.Notifier, error) { return rec, nil }}
	defer func() { integrationKinds["webhook"] = restore }()

	// No server holds the lease: the command sends the one asked for.
	res, err := a.RetryDeliveries(ctx, "hook", evs[0].ID)
	if err != nil || !res.Delivered || len(res.Results) != 1 || res.Results[0].Redelivery != patchpilot.RedeliveryDone || !res.Results[0].RedeliveredAt.Equal(now) {
		t.Fatalf("RetryDeliveries(event %d) = %+v, %v", evs[0].ID, res, err)
	}
	if got := rec.delivered(); !equalIDs(got, []int64{evs[0].ID}) {
		t.Errorf("sent %v, want event %d once", got, evs[0].ID)
	}
	if _, err := a.RetryDeliveries(ctx, "hook", evs[0].ID); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Errorf("a second retry of event %d: %v; want a conflict (at most once)", evs[0].ID, err)
	}

	// A server holds the lease: the command marks the rest; the holder's
	// dispatcher sends them, once, and a second pass sends nothing.
	if granted, _, err := a.Store.AcquireDeliveryLease(ctx, "server-1", time.Hour); err != nil || !granted {
		t.Fatalf("AcquireDeliveryLease: %v %v", granted, err)
	}
	rec.errs = []error{nil, &patchpilot.DeliveryError{Service: "webhook", Status: 401, Message: "check the secret"}}
	res, err = a.RetryDeliveries(ctx, "hook", 0)
	if err != nil || res.Delivered || res.Holder != "server-1" || len(res.Requested) != 2 {
		t.Fatalf("RetryDeliveries(all) while server-1 holds the lease = %+v, %v", res, err)
	}
	if got := rec.delivered(); len(got) != 1 {
		t.Fatalf("the command sent %v while another server holds the lease", got)
	}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, Owner: "server-1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.delivered(); !equalIDs(got, []int64{evs[0].ID, evs[1].ID, evs[2].ID}) {
		t.Errorf("sent %v, want events %d, %d, %d once each", got, evs[0].ID, evs[1].ID, evs[2].ID)
	}
	st, err := a.IntegrationStatuses(ctx)
	if err != nil || st[0].GivenUpTotal != 3 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// Two were redelivered, one is still given up (its redelivery failed).
	if s := st[0]; s.StillGivenUp != 1 || s.Redelivered != 2 || s.LastRedeliveryEventID == 0 || !s.LastRedelivery.Equal(now) {
		t.Errorf("status = still given up %d, redelivered %d, last redelivery event %d at %s; want 1, 2, one at %s",
			s.StillGivenUp, s.Redelivered, s.LastRedeliveryEventID, s.LastRedelivery, now)
	}
	byEvent := map[int64]patchpilot.DeliveryFailure{}
	for _, f := range st[0].GivenUp {
		byEvent[f.EventID] = f
	}
	if f := byEvent[evs[1].ID]; f.Redelivery != patchpilot.RedeliveryDone {
		t.Errorf("event %d: %+v; want redelivered", evs[1].ID, f)
	}
	if f := byEvent[evs[2].ID]; f.Redelivery != patchpilot.RedeliveryFailed || !strings.Contains(f.RedeliveryError, "401") {
		t.Errorf("event %d: %+v; want its redelivery failed with the 401", evs[2].ID, f)
	}
	if res, err := a.RetryDeliveries(ctx, "hook", 0); err != nil || len(res.Requested) != 0 {
		t.Errorf("retry after every one was retried = %+v, %v; want nothing", res, err)
	}
}

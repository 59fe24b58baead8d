package app

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// recorder is a Notifier that records what it is sent and answers with
// the errors queued for it, one per call, then nil.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []patchpilot.Notification
	errs []error
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, n patchpilot.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	if len(r.errs) > 0 {
		err := r.errs[0]
		r.errs = r.errs[1:]
		return err
	}
	return nil
}

// delivered lists the event ids of the notifications received, with
// repeats (retries) kept.
func (r *recorder) delivered() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for _, n := range r.got {
		ids = append(ids, n.Event.ID)
	}
	return ids
}

func stateEvent(t *testing.T, rollout string, s patchpilot.RolloutState, prev patchpilot.RolloutState) patchpilot.Event {
	b, err := json.Marshal(patchpilot.RolloutStateData{State: s, Previous: prev, Reason: "because"})
	if err != nil {
		t.Fatal(err)
	}
	return patchpilot.Event{Kind: patchpilot.EventRolloutState, Rollout: rollout, Message: "rollout " + string(s), Data: b}
}

func appendEvent(t *testing.T, a *App, e patchpilot.Event) patchpilot.Event {
	t.Helper()
	got, err := a.Store.AppendEvent(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestDispatcher: a new integration starts at the end of the log; events
// are delivered in order, routed by topic and level; a retryable failure
// is retried with growing, jittered waits honouring Retry-After; a
// refusal is given up, recorded, shown in the status and passed; the
// cursor survives a restart, so nothing is sent twice.
func TestDispatcher(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir}, Now: func() time.Time { return now },
		Integrations: integrations.Config{DashboardURL: "https://pp.example.com", Items: []integrations.Spec{
			{Common: integrations.Common{Name: "all", Type: "webhook"}},
			{Common: integrations.Common{Name: "critical", Type: "webhook", MinLevel: patchpilot.LevelCritical}},
		}}}
	a, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	appendEvent(t, a, stateEvent(t, "r-0", patchpilot.RolloutHalted, patchpilot.RolloutRunning))

	all, crit := &recorder{name: "all"}, &recorder{name: "critical"}
	var waits []time.Duration
	newDispatcher := func(a *App, ns ...patchpilot.Notifier) *Dispatcher {
		d, err := a.NewDispatcher(DispatcherOptions{Notifiers: ns, Attempts: 4, BaseDelay: time.Second, MaxDelay: 10 * time.Second,
			Jitter: func() float64 { return 0.5 },
			Sleep:  func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := newDispatcher(a, all, crit)
	// The first pass records the cursors at the end of the log: the
	// event written before is history, not told.
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(all.got)+len(crit.got) != 0 {
		t.Fatalf("history was delivered: %v %v", all.delivered(), crit.delivered())
	}

	halted := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	appendEvent(t, a, patchpilot.Event{Kind: patchpilot.EventHostState, Rollout: "r-1", Host: "web-1", Message: "host web-1 failed"})
	recovered := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutRunning, patchpilot.RolloutHalted))
	finished := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutSucceeded, patchpilot.RolloutRunning))
	// "all" fails twice on the halt (503, then 429 with a Retry-After
	// longer than the backoff), then takes it; "critical" refuses the
	// halt for good (401).
	all.errs = []error{
		&patchpilot.DeliveryError{Service: "webhook", Status: 503, Message: "unavailable", Retryable: true},
		&patchpilot.DeliveryError{Service: "webhook", Status: 429, Message: "slow down", Retryable: true, RetryAfter: 7 * time.Second},
	}
	crit.errs = []error{&patchpilot.DeliveryError{Service: "webhook", Status: 401, Message: "check the secret"}}
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	want := []int64{halted.ID, halted.ID, halted.ID, recovered.ID, finished.ID}
	if got := all.delivered(); !equalIDs(got, want) {
		t.Errorf("all received %v, want %v (the halt three times, then the rest once)", got, want)
	}
	if got := crit.delivered(); !equalIDs(got, []int64{halted.ID}) {
		t.Errorf("critical received %v, want only the halt, once", got)
	}
	// Backoff: 1s then 2s, each half fixed and half jittered (0.5), and
	// the 429's 7s Retry-After wins over the second.
	if len(waits) != 2 || waits[0] != 750*time.Millisecond || waits[1] != 7*time.Second {
		t.Errorf("waits = %v, want [750ms 7s]", waits)
	}
	n := all.got[3]
	if n.Topic != patchpilot.TopicRecovered || n.URL != "https://pp.example.com/ui/rollouts/r-1" || n.Event.ID != recovered.ID {
		t.Errorf("recovered notification = %+v", n)
	}

	st, err := a.IntegrationStatuses(ctx)
	if err != nil || len(st) != 2 {
		t.Fatalf("IntegrationStatuses = %+v, %v", st, err)
	}
	if c := st[0].Cursor; c == nil || c.EventID != finished.ID || c.DeliveredEventID != finished.ID || !c.DeliveredAt.Equal(now) || c.Behind != 0 || st[0].GivenUpTotal != 0 {
		t.Errorf("status of all = %+v (cursor %+v)", st[0], st[0].Cursor)
	}
	if c := st[1].Cursor; c == nil || c.EventID != finished.ID || c.DeliveredEventID != 0 || st[1].GivenUpTotal != 1 ||
		st[1].GivenUp[0].EventID != halted.ID || st[1].GivenUp[0].Attempts != 1 || !strings.Contains(st[1].GivenUp[0].Error, "401") {
		t.Errorf("status of critical = %+v (cursor %+v)", st[1], st[1].Cursor)
	}

	// A restart (a new app and dispatcher on the same database) sends
	// nothing again, and goes on with what comes next.
	a.Close()
	a2, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	all2, crit2 := &recorder{name: "all"}, &recorder{name: "critical"}
	d2 := newDispatcher(a2, all2, crit2)
	if err := d2.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(all2.got)+len(crit2.got) != 0 {
		t.Fatalf("after a restart, delivered again: %v %v", all2.delivered(), crit2.delivered())
	}
	// A retryable failure past the attempts is given up too.
	next := appendEvent(t, a2, stateEvent(t, "r-2", patchpilot.RolloutFailed, patchpilot.RolloutRollingBack))
	for range 4 {
		crit2.errs = append(crit2.errs, errors.New("connection reset"))
	}
	if err := d2.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if got := crit2.delivered(); !equalIDs(got, []int64{next.ID, next.ID, next.ID, next.ID}) {
		t.Errorf("critical received %v, want event %d four times", got, next.ID)
	}
	fs, err := a2.Store.DeliveryFailures(ctx, "critical", 0)
	if err != nil || len(fs) != 2 || fs[0].EventID != next.ID || fs[0].Attempts != 4 || fs[0].Topic != patchpilot.TopicRollbackFailed {
		t.Errorf("failures of critical = %+v, %v", fs, err)
	}
	if got := all2.delivered(); !equalIDs(got, []int64{next.ID}) {
		t.Errorf("all received %v, want %d", got, next.ID)
	}
}

func equalIDs(a, b []int64) bool {
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

// TestDispatcherLease: the dispatcher delivers only while it holds the
// database's delivery lease.
func TestDispatcherLease(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "all", Type: "webhook"}}}}
	rec := &recorder{name: "all"}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, Owner: "server-2", Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if granted, _, err := a.Store.AcquireDeliveryLease(ctx, "server-1", time.Hour); err != nil || !granted {
		t.Fatalf("AcquireDeliveryLease: %v %v", granted, err)
	}
	if _, err := a.Store.StartDeliveryCursor(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	e := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	// While server-1 holds the lease, server-2's dispatcher looks and
	// waits; once it is released, it delivers.
	for i := 0; ; i++ {
		if _, holder, err := a.Store.AcquireDeliveryLease(ctx, "server-1", time.Hour); err != nil || holder != "server-1" {
			t.Fatalf("lease taken from its holder: %q %v", holder, err)
		}
		if i == 20 {
			break
		}
		d.Wake()
	}
	if got := rec.delivered(); len(got) != 0 {
		t.Fatalf("delivered %v without the lease", got)
	}
	if err := a.Store.ReleaseDeliveryLease(ctx, "server-1"); err != nil {
		t.Fatal(err)
	}
	for len(rec.delivered()) == 0 {
		d.Wake()
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.delivered(); !equalIDs(got, []int64{e.ID}) {
		t.Errorf("delivered %v, want %d once", got, e.ID)
	}
	if granted, _, err := a.Store.AcquireDeliveryLease(ctx, "server-3", time.Hour); err != nil || !granted {
		t.Errorf("the lease was not released when Run ended: %v %v", granted, err)
	}
}

// TestDispatcherNotificationsCarryHostsAndIncidents: a notification of a
// rollout is sent with its host pipelines and incidents as stored, which
// the summaries count and PagerDuty resolves.
func TestDispatcherNotificationsCarryHostsAndIncidents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir}, Now: func() time.Time { return now },
		Integrations: integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "mail", Type: "webhook"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := patchpilot.Rollout{ID: "r-1", PlanSource: "name: p\n", State: patchpilot.RolloutRunning, CreatedAt: now, UpdatedAt: now,
		Stages: []patchpilot.StageRun{{Rollout: "r-1", Name: "canary", State: patchpilot.StageRunning, Hosts: []string{"web-1", "web-2"}}}}
	if err := a.Store.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, h := range []patchpilot.HostRun{
		{Rollout: "r-1", Stage: "canary", Host: "web-1", State: patchpilot.HostSucceeded},
		{Rollout: "r-1", Stage: "canary", Host: "web-2", State: patchpilot.HostRolledBack, Reason: "unhealthy"},
	} {
		if err := a.Store.SaveHostRun(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Store.AddIncident(ctx, patchpilot.Incident{Rollout: "r-1", Time: now, Stage: "canary", Reason: "p99", Hosts: []string{"web-2"}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{name: "mail"}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx); err != nil { // the cursor starts at the end
		t.Fatal(err)
	}
	appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 {
		t.Fatalf("delivered %v", rec.delivered())
	}
	n := rec.got[0]
	if len(n.Hosts) != 2 || n.Hosts[1].Host != "web-2" || n.Hosts[1].State != patchpilot.HostRolledBack || len(n.Incidents) != 1 || n.Incidents[0].Reason != "p99" {
		t.Errorf("hosts %+v incidents %+v", n.Hosts, n.Incidents)
	}
}

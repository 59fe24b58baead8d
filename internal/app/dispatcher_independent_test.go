package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/email"
)

// failing is a Notifier that answers 500 to every send.
type failing struct{ name string }

func (f failing) Name() string { return f.name }
func (f failing) Notify(context.Context, patchpilot.Notification) error {
	return &patchpilot.DeliveryError{Service: "pagerduty", Status: 500, Message: "internal error", Retryable: true}
}

// telling is a Notifier that passes on the event id of each send.
type telling struct {
	name string
	got  chan int64
}

func (n telling) Name() string { return n.name }
func (n telling) Notify(_ context.Context, note patchpilot.Notification) error {
	n.got <- note.Event.ID
	return nil
}

// TestDispatcherFailingIntegrationHoldsNoOneBack: while one integration
// answers 500 to every send and waits between its retries, another is
// told of every new event as it comes.
func TestDispatcherFailingIntegrationHoldsNoOneBack(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{
		{Common: integrations.Common{Name: "pd", Type: "webhook"}},
		{Common: integrations.Common{Name: "chat", Type: "webhook"}},
	}}
	retrying := make(chan struct{}, 100)
	chat := telling{name: "chat", got: make(chan int64, 100)}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{failing{name: "pd"}, chat}, Poll: time.Hour,
		// Every wait between retries lasts until the dispatcher stops.
		Sleep: func(ctx context.Context, _ time.Duration) error {
			retrying <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pd", "chat"} {
		if _, err := a.Store.StartDeliveryCursor(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	first := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	if got := <-chat.got; got != first.ID {
		t.Fatalf("chat told of event %d, want %d", got, first.ID)
	}
	<-retrying // pd failed and waits to retry
	for i := range 3 {
		e := appendEvent(t, a, stateEvent(t, "r-"+string(rune('2'+i)), patchpilot.RolloutHalted, patchpilot.RolloutRunning))
		d.Wake()
		if got := <-chat.got; got != e.ID {
			t.Fatalf("chat told of event %d, want %d", got, e.ID)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cs, err := a.Store.DeliveryCursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Integration == "pd" && (c.Retrying == nil || c.Retrying.EventID != first.ID) {
			t.Errorf("pd's cursor = %+v; want it retrying event %d", c, first.ID)
		}
	}
}

// TestDispatcherResumesRetry: a dispatcher that picks up a delivery
// another was retrying (a lease takeover) goes on from its attempts and
// its first failure, so the give-up after an hour is not postponed.
func TestDispatcherResumesRetry(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.Options.Now = func() time.Time { return now }
	a.Options.Integrations = integrations.Config{Items: []integrations.Spec{{Common: integrations.Common{Name: "hook", Type: "webhook"}}}}
	var errs []error
	for range 40 {
		errs = append(errs, &patchpilot.DeliveryError{Service: "webhook", Status: 503, Message: "unavailable", Retryable: true})
	}
	rec := &recorder{name: "hook", errs: errs}
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{rec}, Jitter: func() float64 { return 0 },
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	e := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	// The dispatcher before the takeover tried 19 times over 59 minutes.
	if err := a.Store.SetDeliveryRetry(ctx, "hook", patchpilot.DeliveryRetry{EventID: e.ID, Attempts: 19, Error: "webhook answered 503",
		NextTry: now, Since: now.Add(-59 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.delivered(); len(got) != 1 {
		t.Errorf("sends after the takeover = %v; want one (attempt 20, then given up)", got)
	}
	fs, err := a.Store.DeliveryFailures(ctx, "hook", 0)
	if err != nil || len(fs) != 1 || fs[0].EventID != e.ID || fs[0].Attempts != 20 {
		t.Errorf("given up = %+v, %v; want event %d after 20 attempts", fs, err, e.ID)
	}

	// A retry that this dispatcher records keeps its first failure.
	e2 := appendEvent(t, a, stateEvent(t, "r-2", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	rec.errs = []error{&patchpilot.DeliveryError{Service: "webhook", Status: 503, Retryable: true}, &patchpilot.DeliveryError{Service: "webhook", Status: 503, Retryable: true}}
	var seen []patchpilot.DeliveryRetry
	d.o.Sleep = func(context.Context, time.Duration) error {
		cs, err := a.Store.DeliveryCursors(ctx)
		if err == nil && len(cs) == 1 && cs[0].Retrying != nil {
			seen = append(seen, *cs[0].Retrying)
		}
		now = now.Add(time.Second)
		return nil
	}
	start := now
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].EventID != e2.ID || !seen[0].Since.Equal(start) || !seen[1].Since.Equal(start) || seen[1].Attempts != 2 {
		t.Errorf("retries recorded = %+v; want 2 since %s", seen, start)
	}
}

// TestDryRunSummarySaysSoOnce: a dry run's halt, whose reason says "dry
// run" already, is summarised (and mailed) with "dry run:" once.
func TestDryRunSummarySaysSoOnce(t *testing.T) {
	b, err := json.Marshal(patchpilot.RolloutStateData{State: patchpilot.RolloutHalted, Previous: patchpilot.RolloutRunning,
		Reason: "dry run: preflight or health gates failed on web-1"})
	if err != nil {
		t.Fatal(err)
	}
	e := patchpilot.Event{ID: 7, Kind: patchpilot.EventRolloutState, Rollout: "r-1", Message: "rollout halted", Data: b}
	n, ok := ClassifyEvent(e, &patchpilot.Rollout{ID: "r-1", DryRun: true}, "")
	if !ok || strings.Count(n.Summary, "dry run") != 1 || !strings.HasPrefix(n.Summary, "dry run: ") || !strings.Contains(n.Summary, "failed on web-1") {
		t.Errorf("summary = %q, %v; want \"dry run:\" once, first, and the reason", n.Summary, ok)
	}
	if m := email.Summary(n, "mail", false); strings.Count(m.Subject, "dry run") != 1 {
		t.Errorf("mail subject = %q; want \"dry run\" once", m.Subject)
	}
}

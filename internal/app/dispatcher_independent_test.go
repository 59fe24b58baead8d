package app

import (
	"context"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
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

package app

import (
	"context"
	"log/slog"
	"strings"
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
	line := waitLog(t, logs, "WARN", "server-1", "only-here", "share")
	cs, err := a.Store.DeliveryCursors(ctx)
	if err != nil || len(cs) != 1 || cs[0].Integration != "only-here" || cs[0].EventID != before.ID {
		t.Fatalf("cursors while another server holds the lease = %+v, %v; want only-here's at event %d (warned: %s)", cs, err, before.ID, line)
	}
	// An event written while server-1 delivers (without only-here).
	during := appendEvent(t, a, stateEvent(t, "r-1", patchpilot.RolloutHalted, patchpilot.RolloutRunning))
	if err := a.Store.ReleaseDeliveryLease(ctx, "server-1"); err != nil {
		t.Fatal(err)
	}
	for len(rec.delivered()) == 0 {
		d.Wake()
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := rec.delivered(); !equalIDs(got, []int64{during.ID}) {
		t.Errorf("delivered %v, want the event written while another server held the lease (%d), once", got, during.ID)
	}
	// Starting again does not move a cursor.
	c, err := a.Store.StartDeliveryCursor(ctx, "only-here")
	if err != nil || c.EventID != during.ID {
		t.Errorf("cursor after a second start = %+v, %v; want event %d", c, err, during.ID)
	}
}

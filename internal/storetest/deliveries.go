package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// runDeliveries is the group for patchpilot.DeliveryStore.
func (s suite) runDeliveries(t *testing.T) {
	t.Run("DeliveryCursors", s.testDeliveryCursors)
	t.Run("DeliveryFailures", s.testDeliveryFailures)
	t.Run("DeliveryRetry", s.testDeliveryRetry)
	t.Run("Redelivery", s.testRedelivery)
	t.Run("DeliveryLease", s.testDeliveryLease)
}

func appendEvents(t *testing.T, st patchpilot.Store, n int) []patchpilot.Event {
	t.Helper()
	var evs []patchpilot.Event
	for i := range n {
		e, err := st.AppendEvent(context.Background(), patchpilot.Event{Time: baseTime.Add(time.Duration(i) * time.Second),
			Kind: patchpilot.EventRolloutCreated, Rollout: "r-1", Message: fmt.Sprintf("event %d", i)})
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		evs = append(evs, e)
	}
	return evs
}

// testDeliveryCursors: a cursor starts at the end of the log, moves only
// forward, remembers the last delivery and counts the events after it.
func (s suite) testDeliveryCursors(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if cs, err := st.DeliveryCursors(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("DeliveryCursors of an empty store = %+v, %v; want none", cs, err)
	}
	// On an empty log the cursor starts at 0.
	empty, err := st.StartDeliveryCursor(ctx, "hook-a")
	if err != nil || empty.EventID != 0 || empty.Integration != "hook-a" {
		t.Fatalf("StartDeliveryCursor on an empty log = %+v, %v; want event 0", empty, err)
	}
	evs := appendEvents(t, st, 3)
	c, err := st.StartDeliveryCursor(ctx, "hook-b")
	if err != nil || c.EventID != evs[2].ID || c.DeliveredEventID != 0 || !c.DeliveredAt.IsZero() {
		t.Fatalf("StartDeliveryCursor after 3 events = %+v, %v; want event %d, nothing delivered", c, err, evs[2].ID)
	}
	// Starting again returns the stored cursor, not a new one at the end.
	more := appendEvents(t, st, 2)
	if again, err := st.StartDeliveryCursor(ctx, "hook-b"); err != nil || again.EventID != evs[2].ID {
		t.Fatalf("StartDeliveryCursor again = %+v, %v; want event %d kept", again, err, evs[2].ID)
	}
	if again, err := st.StartDeliveryCursor(ctx, "hook-a"); err != nil || again.EventID != 0 {
		t.Fatalf("StartDeliveryCursor of hook-a again = %+v, %v; want event 0 kept", again, err)
	}
	at := baseTime.Add(time.Hour)
	if err := st.AdvanceDeliveryCursor(ctx, "hook-b", more[0].ID, at); err != nil {
		t.Fatalf("AdvanceDeliveryCursor: %v", err)
	}
	if err := st.AdvanceDeliveryCursor(ctx, "hook-b", more[1].ID, time.Time{}); err != nil { // skipped, not delivered
		t.Fatalf("AdvanceDeliveryCursor: %v", err)
	}
	// Moving back changes nothing.
	if err := st.AdvanceDeliveryCursor(ctx, "hook-b", evs[0].ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("AdvanceDeliveryCursor back: %v", err)
	}
	cs, err := st.DeliveryCursors(ctx)
	if err != nil {
		t.Fatalf("DeliveryCursors: %v", err)
	}
	want := []patchpilot.DeliveryCursor{
		{Integration: "hook-a", EventID: 0, Behind: 5},
		{Integration: "hook-b", EventID: more[1].ID, DeliveredEventID: more[0].ID, DeliveredAt: at, Behind: 0},
	}
	if len(cs) != 2 || cs[0] != want[0] || cs[1] != want[1] {
		t.Errorf("DeliveryCursors =\n %+v\nwant\n %+v", cs, want)
	}
	wantCode(t, st.AdvanceDeliveryCursor(ctx, "nobody", more[1].ID, at), patchpilot.ENOTFOUND, "nobody")
	wantCode(t, st.AdvanceDeliveryCursor(ctx, "", more[1].ID, at), patchpilot.EINVALID, "")
	_, err = st.StartDeliveryCursor(ctx, "")
	wantCode(t, err, patchpilot.EINVALID, "integration")
}

// testDeliveryFailures: giving up records the failure and moves the
// cursor past it in one step; failures list newest first.
func (s suite) testDeliveryFailures(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if _, err := st.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartDeliveryCursor(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	evs := appendEvents(t, st, 3)
	f1, err := st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "hook", EventID: evs[0].ID, Topic: patchpilot.TopicHalted,
		Attempts: 5, Error: "webhook answered 503: unavailable", Time: baseTime})
	if err != nil || f1.ID == 0 {
		t.Fatalf("GiveUpDelivery = %+v, %v", f1, err)
	}
	if _, err := st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "chat", EventID: evs[1].ID, Topic: patchpilot.TopicIncident,
		Attempts: 1, Error: "slack answered 401", Time: baseTime.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	f3, err := st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "hook", EventID: evs[2].ID, Topic: patchpilot.TopicStageDone,
		Attempts: 1, Error: "webhook answered 400", Time: baseTime.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.DeliveryFailures(ctx, "hook", 0)
	if err != nil || len(got) != 2 || got[0] != f3 || got[1] != f1 {
		t.Fatalf("DeliveryFailures(hook) = %+v, %v; want %+v then %+v", got, err, f3, f1)
	}
	if got[1].Time != baseTime || got[1].Error != "webhook answered 503: unavailable" || got[1].Attempts != 5 || got[1].Topic != patchpilot.TopicHalted {
		t.Errorf("failure did not round-trip: %+v", got[1])
	}
	if all, err := st.DeliveryFailures(ctx, "", 2); err != nil || len(all) != 2 || all[0].ID != f3.ID || all[1].Integration != "chat" {
		t.Errorf("DeliveryFailures(all, 2) = %+v, %v", all, err)
	}
	cs, err := st.DeliveryCursors(ctx)
	if err != nil || len(cs) != 2 || cs[0].Integration != "chat" || cs[0].EventID != evs[1].ID || cs[0].Behind != 1 ||
		cs[1].EventID != evs[2].ID || cs[1].Behind != 0 || cs[1].DeliveredEventID != 0 {
		t.Errorf("cursors after giving up = %+v, %v", cs, err)
	}
	_, err = st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "nobody", EventID: evs[2].ID, Attempts: 1, Time: baseTime})
	wantCode(t, err, patchpilot.ENOTFOUND, "nobody")
	if got, err := st.DeliveryFailures(ctx, "nobody", 0); err != nil || len(got) != 0 {
		t.Errorf("a refused give-up was recorded: %+v, %v", got, err)
	}
	_, err = st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "hook", EventID: evs[2].ID, Attempts: 1})
	wantCode(t, err, patchpilot.EINVALID, "time")
	_, err = st.DeliveryFailures(ctx, "", -1)
	wantCode(t, err, patchpilot.EINVALID, "limit")
}

// testDeliveryLease: the dispatcher's lease has the scheduler's rules and
// is a lease of its own.
func (s suite) testDeliveryLease(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	acquire := func(owner string, ttl time.Duration, wantGranted bool, wantHolder string) {
		t.Helper()
		granted, holder, err := st.AcquireDeliveryLease(ctx, owner, ttl)
		if err != nil {
			t.Fatalf("AcquireDeliveryLease(%s): %v", owner, err)
		}
		if granted != wantGranted || holder != wantHolder {
			t.Errorf("AcquireDeliveryLease(%s) = %v, %q; want %v, %q", owner, granted, holder, wantGranted, wantHolder)
		}
	}
	acquire("srv-a", longLease, true, "srv-a")
	acquire("srv-b", longLease, false, "srv-a")
	// The scheduler's lease is another one.
	if granted, _, err := st.AcquireSchedulerLease(ctx, "srv-b", longLease); err != nil || !granted {
		t.Fatalf("AcquireSchedulerLease while the delivery lease is held = %v, %v; want granted", granted, err)
	}
	acquire("srv-a", shortLease, true, "srv-a")
	time.Sleep(leasePause)
	acquire("srv-b", longLease, true, "srv-b")
	if granted, holder, err := st.TakeOverDeliveryLease(ctx, "srv-b", "srv-c", longLease); err != nil || !granted || holder != "srv-c" {
		t.Errorf("TakeOverDeliveryLease = %v, %q, %v; want granted to srv-c", granted, holder, err)
	}
	if granted, holder, err := st.TakeOverDeliveryLease(ctx, "srv-b", "srv-d", longLease); err != nil || granted || holder != "srv-c" {
		t.Errorf("TakeOverDeliveryLease from a former holder = %v, %q, %v; want refused, srv-c", granted, holder, err)
	}
	if err := st.ReleaseDeliveryLease(ctx, "srv-c"); err != nil {
		t.Fatal(err)
	}
	acquire("srv-d", longLease, true, "srv-d")
	_, _, err := st.AcquireDeliveryLease(ctx, "", longLease)
	wantCode(t, err, patchpilot.EINVALID, "owner")
	wantCode(t, st.ReleaseDeliveryLease(ctx, ""), patchpilot.EINVALID, "owner")
}

// testDeliveryRetry: the delivery being retried is kept in the cursor
// until the cursor moves past its event, delivered or given up.
func (s suite) testDeliveryRetry(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if _, err := st.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	evs := appendEvents(t, st, 3)
	r := patchpilot.DeliveryRetry{EventID: evs[0].ID, Attempts: 3, Error: "webhook answered 503", NextTry: baseTime.Add(time.Minute), Since: baseTime.Add(-time.Minute)}
	if err := st.SetDeliveryRetry(ctx, "hook", r); err != nil {
		t.Fatalf("SetDeliveryRetry: %v", err)
	}
	cursor := func() patchpilot.DeliveryCursor {
		t.Helper()
		cs, err := st.DeliveryCursors(ctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("DeliveryCursors = %+v, %v", cs, err)
		}
		return cs[0]
	}
	if c := cursor(); c.Retrying == nil || *c.Retrying != r || c.Behind != 3 {
		t.Fatalf("cursor while retrying = %+v (retrying %+v); want %+v, 3 behind", c, c.Retrying, r)
	}
	if c, err := st.StartDeliveryCursor(ctx, "hook"); err != nil || c.Retrying == nil || *c.Retrying != r {
		t.Errorf("StartDeliveryCursor while retrying = %+v, %v; want the retry kept", c, err)
	}
	// Moving the cursor before the retried event keeps it; delivering it
	// clears it.
	r.Attempts, r.NextTry = 4, r.NextTry.Add(time.Minute)
	if err := st.SetDeliveryRetry(ctx, "hook", r); err != nil {
		t.Fatal(err)
	}
	if err := st.AdvanceDeliveryCursor(ctx, "hook", evs[0].ID, baseTime); err != nil {
		t.Fatal(err)
	}
	if c := cursor(); c.Retrying != nil {
		t.Errorf("cursor after the retried event was delivered = %+v; want no retry", *c.Retrying)
	}
	// Giving up clears it too.
	r = patchpilot.DeliveryRetry{EventID: evs[1].ID, Attempts: 1, Error: "timeout", NextTry: baseTime}
	if err := st.SetDeliveryRetry(ctx, "hook", r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "hook", EventID: evs[1].ID, Attempts: 2, Time: baseTime}); err != nil {
		t.Fatal(err)
	}
	if c := cursor(); c.Retrying != nil || c.EventID != evs[1].ID {
		t.Errorf("cursor after giving up = %+v; want at event %d with no retry", c, evs[1].ID)
	}
	wantCode(t, st.SetDeliveryRetry(ctx, "nobody", r), patchpilot.ENOTFOUND, "nobody")
	wantCode(t, st.SetDeliveryRetry(ctx, "hook", patchpilot.DeliveryRetry{EventID: evs[2].ID, NextTry: baseTime}), patchpilot.EINVALID, "attempts")
	wantCode(t, st.SetDeliveryRetry(ctx, "hook", patchpilot.DeliveryRetry{EventID: evs[2].ID, Attempts: 1}), patchpilot.EINVALID, "next try")
}

// testRedelivery: a given-up delivery is redelivered at most once:
// requested, claimed by one dispatcher, finished once.
func (s suite) testRedelivery(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if _, err := st.StartDeliveryCursor(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	evs := appendEvents(t, st, 3)
	var fs []patchpilot.DeliveryFailure
	for _, e := range evs[:2] {
		f, err := st.GiveUpDelivery(ctx, patchpilot.DeliveryFailure{Integration: "hook", EventID: e.ID, Topic: patchpilot.TopicHalted, Attempts: 3, Error: "503", Time: baseTime})
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	got, err := st.RequestRedelivery(ctx, "hook", evs[0].ID)
	if err != nil || len(got) != 1 || got[0].ID != fs[0].ID || got[0].Redelivery != patchpilot.RedeliveryRequested {
		t.Fatalf("RequestRedelivery(event %d) = %+v, %v", evs[0].ID, got, err)
	}
	_, err = st.RequestRedelivery(ctx, "hook", evs[0].ID)
	wantCode(t, err, patchpilot.ECONFLICT, "at most once")
	_, err = st.RequestRedelivery(ctx, "hook", evs[2].ID)
	wantCode(t, err, patchpilot.ENOTFOUND, fmt.Sprint(evs[2].ID))
	// All: only the one not asked for yet.
	if got, err := st.RequestRedelivery(ctx, "hook", 0); err != nil || len(got) != 1 || got[0].ID != fs[1].ID {
		t.Fatalf("RequestRedelivery(all) = %+v, %v", got, err)
	}
	if got, err := st.RequestRedelivery(ctx, "hook", 0); err != nil || len(got) != 0 {
		t.Fatalf("RequestRedelivery(all) again = %+v, %v; want none", got, err)
	}
	if ok, err := st.ClaimRedelivery(ctx, fs[0].ID); err != nil || !ok {
		t.Fatalf("ClaimRedelivery = %v, %v", ok, err)
	}
	if ok, err := st.ClaimRedelivery(ctx, fs[0].ID); err != nil || ok {
		t.Fatalf("ClaimRedelivery twice = %v, %v; want refused", ok, err)
	}
	wantCode(t, st.FinishRedelivery(ctx, fs[1].ID, "", baseTime), patchpilot.ECONFLICT, "not being sent")
	if err := st.FinishRedelivery(ctx, fs[0].ID, "", baseTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, st.FinishRedelivery(ctx, fs[0].ID, "", baseTime), patchpilot.ECONFLICT, "not being sent")
	if _, err := st.ClaimRedelivery(ctx, fs[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRedelivery(ctx, fs[1].ID, "webhook answered 401", baseTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := st.DeliveryFailures(ctx, "hook", 0)
	if err != nil || len(list) != 2 {
		t.Fatalf("DeliveryFailures = %+v, %v", list, err)
	}
	if f := list[1]; f.Redelivery != patchpilot.RedeliveryDone || !f.RedeliveredAt.Equal(baseTime.Add(time.Hour)) || f.RedeliveryError != "" {
		t.Errorf("redelivered failure = %+v", f)
	}
	if f := list[0]; f.Redelivery != patchpilot.RedeliveryFailed || f.RedeliveryError != "webhook answered 401" {
		t.Errorf("failed redelivery = %+v", f)
	}
}

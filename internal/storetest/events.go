package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testEvents(t *testing.T) {
	ctx := context.Background()

	t.Run("NoData", func(t *testing.T) {
		st := s.store(t)
		for i, data := range []string{`{"verdict": "unhealthy"}`, ``} {
			e := patchpilot.Event{Kind: patchpilot.EventGateVerdict, Host: "web-1", Rollout: "r1", Actor: "controller",
				Time: baseTime.Add(time.Duration(i) * time.Minute), Message: fmt.Sprint(i)}
			if data != "" {
				e.Data = json.RawMessage(data)
			}
			if _, err := st.AppendEvent(ctx, e); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
		}
		full, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventGateVerdict})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		got, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventGateVerdict, NoData: true})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if len(full) != 2 || len(full[0].Data) == 0 {
			t.Fatalf("events with data: %+v", full)
		}
		for i := range full {
			full[i].Data = nil
		}
		if !reflect.DeepEqual(got, full) {
			t.Errorf("without data: %+v\nwant %+v", got, full)
		}
	})

	t.Run("AppendSetsIDAndTime", func(t *testing.T) {
		st := s.store(t)
		before := time.Now()
		e, err := st.AppendEvent(ctx, patchpilot.Event{Actor: "cli", Kind: patchpilot.EventFactsCollected,
			Host: "web-1", Message: "collected"})
		after := time.Now()
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		if e.ID <= 0 {
			t.Errorf("ID = %d, want positive", e.ID)
		}
		// A store may use its own clock; allow for a coarse one.
		if e.Time.Before(before.Add(-time.Second)) || e.Time.After(after.Add(time.Second)) {
			t.Errorf("Time = %v, want about now (%v)", e.Time, before)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("Time %v is not in UTC", e.Time)
		}
		zone := time.FixedZone("JST", 9*3600)
		given := baseTime.In(zone)
		e2, err := st.AppendEvent(ctx, patchpilot.Event{Kind: "test.given", Time: given})
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		if !e2.Time.Equal(baseTime) || e2.Time.Location() != time.UTC {
			t.Errorf("given time came back as %v, want %v in UTC", e2.Time, baseTime)
		}
		if e2.ID <= e.ID {
			t.Errorf("IDs %d then %d, want increasing", e.ID, e2.ID)
		}
		all, err := st.Events(ctx, patchpilot.EventFilter{})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if want := []patchpilot.Event{e, e2}; !reflect.DeepEqual(all, want) {
			t.Errorf("Events = %+v, want %+v", all, want)
		}
	})

	t.Run("DataRoundTrip", func(t *testing.T) {
		st := s.store(t)
		data := json.RawMessage(`{"packages": ["openssl", "libssl3"], "count": 2}`)
		e, err := st.AppendEvent(ctx, patchpilot.Event{Kind: "k", Data: data})
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		noData, err := st.AppendEvent(ctx, patchpilot.Event{Kind: "k"})
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		got, err := st.Events(ctx, patchpilot.EventFilter{})
		if err != nil || len(got) != 2 {
			t.Fatalf("Events = %v, %v; want two", got, err)
		}
		if !jsonEqual(t, got[0].Data, data) || got[0].ID != e.ID {
			t.Errorf("Data = %s, want %s", got[0].Data, data)
		}
		if got[1].Data != nil || got[1].ID != noData.ID {
			t.Errorf("Data of an event without data = %q, want nil", got[1].Data)
		}
	})

	t.Run("Filter", func(t *testing.T) {
		st := s.store(t)
		var ids []int64
		add := func(kind, host, rollout string, at time.Time) {
			t.Helper()
			e, err := st.AppendEvent(ctx, patchpilot.Event{Time: at, Actor: "controller", Kind: kind,
				Host: host, Rollout: rollout, Message: kind + " " + host})
			if err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
			ids = append(ids, e.ID)
		}
		t0 := baseTime
		add("inventory.collected", "a", "", t0)                                     // 0
		add("inventory.collected", "b", "", t0.Add(time.Minute))                    // 1
		add("rollout.started", "", "r1", t0.Add(2*time.Minute))                     // 2
		add("host.patched", "a", "r1", t0.Add(3*time.Minute))                       // 3
		add("host.patched", "b", "r2", t0.Add(4*time.Minute))                       // 4
		add("inventory.collected", "a", "", t0.Add(30*time.Second))                 // 5: out of time order
		add("inventory.collected", "a", "", t0.Add(5*time.Minute+time.Microsecond)) // 6
		add("inventory.collect_failed", "c", "", t0.Add(6*time.Minute))             // 7

		pick := func(idx ...int) []int64 {
			var out []int64
			for _, i := range idx {
				out = append(out, ids[i])
			}
			return out
		}
		cases := []struct {
			name   string
			filter patchpilot.EventFilter
			want   []int64
		}{
			{"all", patchpilot.EventFilter{}, pick(0, 1, 2, 3, 4, 5, 6, 7)},
			{"host", patchpilot.EventFilter{Host: "a"}, pick(0, 3, 5, 6)},
			{"rollout", patchpilot.EventFilter{Rollout: "r1"}, pick(2, 3)},
			{"kind", patchpilot.EventFilter{Kind: "host.patched"}, pick(3, 4)},
			{"since", patchpilot.EventFilter{Since: t0.Add(4 * time.Minute)}, pick(4, 6, 7)},
			{"since microsecond", patchpilot.EventFilter{Since: t0.Add(5*time.Minute + time.Microsecond)}, pick(6, 7)},
			{"kind since", patchpilot.EventFilter{Kind: "inventory.collected", Since: t0.Add(4 * time.Minute)}, pick(6)},
			{"kind since limit", patchpilot.EventFilter{Kind: "inventory.collected", Since: t0, Limit: 2}, pick(0, 1)},
			{"since limit", patchpilot.EventFilter{Since: t0.Add(3 * time.Minute), Limit: 2}, pick(3, 4)},
			{"after id", patchpilot.EventFilter{AfterID: ids[5]}, pick(6, 7)},
			{"limit", patchpilot.EventFilter{Limit: 3}, pick(0, 1, 2)},
			{"after id and limit", patchpilot.EventFilter{AfterID: ids[1], Limit: 2}, pick(2, 3)},
			{"combined", patchpilot.EventFilter{Host: "a", Kind: "inventory.collected", Since: t0.Add(time.Second)},
				pick(5, 6)},
			{"no match", patchpilot.EventFilter{Host: "zzz"}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := st.Events(ctx, c.filter)
				if err != nil {
					t.Fatalf("Events: %v", err)
				}
				var gotIDs []int64
				for _, e := range got {
					gotIDs = append(gotIDs, e.ID)
				}
				if !reflect.DeepEqual(gotIDs, c.want) {
					t.Errorf("got ids %v, want %v", gotIDs, c.want)
				}
			})
		}
	})

	t.Run("AppendEvents", func(t *testing.T) {
		st := s.store(t)
		first, err := st.AppendEvent(ctx, patchpilot.Event{Kind: "k", Time: baseTime, Message: "before"})
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		zone := time.FixedZone("JST", 9*3600)
		in := []patchpilot.Event{
			{Kind: patchpilot.EventHostState, Time: baseTime.Add(time.Minute).In(zone), Actor: "controller",
				Host: "web-1", Rollout: "r1", Message: "web-1 apply"},
			{Kind: patchpilot.EventGateVerdict, Time: baseTime.Add(30 * time.Second), Host: "web-1", Rollout: "r1",
				Data: json.RawMessage(`{"verdict": "healthy", "results": []}`)},
			{Kind: "k", Message: "no time given"},
		}
		before := time.Now()
		got, err := st.AppendEvents(ctx, in)
		if err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
		if len(got) != len(in) {
			t.Fatalf("AppendEvents returned %d events, want %d", len(got), len(in))
		}
		prev := first.ID
		for i, e := range got {
			if e.ID <= prev {
				t.Errorf("events[%d]: ID %d after %d, want increasing in the order given", i, e.ID, prev)
			}
			prev = e.ID
			if e.Time.Location() != time.UTC {
				t.Errorf("events[%d]: time %v is not in UTC", i, e.Time)
			}
		}
		if !got[0].Time.Equal(baseTime.Add(time.Minute)) {
			t.Errorf("events[0]: time %v, want %v", got[0].Time, baseTime.Add(time.Minute))
		}
		if got[2].Time.Before(before.Add(-time.Second)) {
			t.Errorf("events[2]: time %v, want about now", got[2].Time)
		}
		all, err := st.Events(ctx, patchpilot.EventFilter{AfterID: first.ID})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if len(all) != len(got) {
			t.Fatalf("Events after the first = %d events, want %d", len(all), len(got))
		}
		for i := range all {
			if all[i].ID != got[i].ID || !all[i].Time.Equal(got[i].Time) || all[i].Kind != got[i].Kind ||
				all[i].Host != got[i].Host || all[i].Message != got[i].Message {
				t.Errorf("stored events[%d] = %+v, want %+v", i, all[i], got[i])
			}
		}
		if !jsonEqual(t, all[1].Data, in[1].Data) || all[0].Data != nil {
			t.Errorf("data came back as %q and %q", all[0].Data, all[1].Data)
		}
		// One bad event rejects the whole call, naming its index.
		_, err = st.AppendEvents(ctx, []patchpilot.Event{{Kind: "ok"}, {Kind: "bad", Data: json.RawMessage(`{`)}})
		wantCode(t, err, patchpilot.EINVALID, "events[1]")
		if after, err := st.Events(ctx, patchpilot.EventFilter{AfterID: prev}); err != nil || len(after) != 0 {
			t.Errorf("Events after a rejected batch = %v, %v; want none", after, err)
		}
		if none, err := st.AppendEvents(ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("AppendEvents(nil) = %v, %v; want none and no error", none, err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		st := s.store(t)
		_, err := st.AppendEvent(ctx, patchpilot.Event{Message: "no kind"})
		wantCode(t, err, patchpilot.EINVALID, "kind")
		_, err = st.AppendEvent(ctx, patchpilot.Event{Kind: "k", Data: json.RawMessage(`{not json`)})
		wantCode(t, err, patchpilot.EINVALID, "")
		if got, err := st.Events(ctx, patchpilot.EventFilter{}); err != nil || len(got) != 0 {
			t.Errorf("Events after rejected appends = %v, %v; want none", got, err)
		}
	})
}

// jsonEqual reports whether two JSON documents hold the same value; a store
// may normalise spacing and key order (PostgreSQL's jsonb does).
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Errorf("stored data %q is not JSON: %v", a, err)
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("test data %q is not JSON: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// siftCollectFailures is LastCollectFailures the straightforward way: the
// failure events, in id order, each outdating the kept ones of its host
// dated at or before it.
func siftCollectFailures(evs []patchpilot.Event) []patchpilot.Event {
	byHost := map[string][]patchpilot.Event{}
	for _, e := range evs {
		kept := byHost[e.Host]
		for len(kept) > 0 && !kept[len(kept)-1].Time.After(e.Time) {
			kept = kept[:len(kept)-1]
		}
		byHost[e.Host] = append(kept, e)
	}
	out := []patchpilot.Event{}
	for _, kept := range byHost {
		out = append(out, kept...)
	}
	slices.SortFunc(out, func(a, b patchpilot.Event) int { return int(a.ID - b.ID) })
	return out
}

// LastCollectFailures lists what a full read of the failure events, sifted
// host by host, keeps: each host's last failure, and the earlier ones
// dated after every later one (a clock set back), over a log with equal
// times, hosts that failed once, never or only long ago, a failure without
// a host, and other events of the same hosts between and after the
// failures; an empty log lists none.
func (s suite) testLastCollectFailures(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	check := func(step string) {
		t.Helper()
		all, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventCollectFailed})
		if err != nil {
			t.Fatal(err)
		}
		want := siftCollectFailures(all)
		got, err := st.LastCollectFailures(ctx)
		if err != nil {
			t.Fatalf("%s: LastCollectFailures: %v", step, err)
		}
		if len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: LastCollectFailures lists %d events, the full read %d", step, len(got), len(want))
			for i := range max(len(got), len(want)) {
				var g, w patchpilot.Event
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("  %d: %d %s %s, want %d %s %s", i, g.ID, g.Host, g.Time, w.ID, w.Host, w.Time)
				}
			}
		}
	}
	check("empty log")

	fail := func(host string, at time.Time) {
		t.Helper()
		data, _ := json.Marshal(patchpilot.CollectFailedData{Code: "unreachable"})
		if _, err := st.AppendEvent(ctx, patchpilot.Event{Kind: patchpilot.EventCollectFailed, Actor: "cli", Host: host, Time: at,
			Message: "collect " + host + ": connection refused", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	other := func(host string, at time.Time) {
		t.Helper()
		if _, err := st.AppendEvent(ctx, patchpilot.Event{Kind: patchpilot.EventFactsCollected, Actor: "cli", Host: host, Time: at,
			Message: "collected " + host}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := baseTime
	// In order.
	for i := range 4 {
		fail("web-1", t0.Add(time.Duration(i)*time.Minute))
		other("web-1", t0.Add(time.Duration(i)*time.Minute+time.Second))
	}
	// A clock set back, twice, and then forward past the first.
	fail("web-2", t0.Add(20*time.Minute))
	fail("web-2", t0.Add(30*time.Minute))
	fail("web-2", t0.Add(10*time.Minute))
	fail("web-2", t0.Add(5*time.Minute))
	other("web-2", t0.Add(time.Hour))
	// Equal times.
	fail("web-3", t0.Add(time.Minute))
	fail("web-3", t0.Add(time.Minute))
	fail("web-3", t0)
	fail("web-3", t0)
	// Once; long ago; no host; a name that sorts between others.
	fail("db-1", t0.Add(2*time.Minute))
	fail("old", t0.Add(-1000*time.Hour))
	fail("", t0)
	fail("web-10", t0.Add(3*time.Minute))
	other("never-failed", t0.Add(time.Hour))
	check("varied log")

	fail("web-2", t0.Add(40*time.Minute)) // outdates every one kept
	fail("web-1", t0.Add(-time.Hour))     // kept after the last
	check("after more failures")

	// Many hosts, times drawn at random around the appends' order.
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		fail(fmt.Sprintf("h%03d", rnd.IntN(40)), t0.Add(time.Duration(i-rnd.IntN(60))*time.Minute))
		if i%7 == 0 {
			other(fmt.Sprintf("h%03d", rnd.IntN(40)), t0.Add(time.Duration(i)*time.Minute))
		}
	}
	check("random log")
}

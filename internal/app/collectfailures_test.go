package app

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

// TestHostSummariesMarkCollectFailures: a host's last failed collection
// is on its summary only when it is newer than the facts the summary
// shows (or the host was never collected), with its time, code and
// message; the last of several failures is the one kept.
func TestHostSummariesMarkCollectFailures(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var hosts []patchpilot.Host
	for _, n := range []string{"failed-after", "failed-before", "never", "fine"} {
		hosts = append(hosts, patchpilot.Host{Name: n, Address: "127.0.0.1"})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"failed-after", "failed-before", "fine"} {
		f := patchpilot.Facts{Host: n, CollectedAt: t0.Add(time.Hour), Source: "ssh", OSFamily: patchpilot.FamilyDebian,
			OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	failure := func(host string, at time.Time, code patchpilot.Code, msg string) patchpilot.Event {
		data, _ := json.Marshal(patchpilot.CollectFailedData{Code: code})
		return patchpilot.Event{Time: at, Kind: patchpilot.EventCollectFailed, Host: host, Message: msg, Data: data}
	}
	if _, err := a.Store.AppendEvents(ctx, []patchpilot.Event{
		failure("failed-before", t0, patchpilot.EUNREACHABLE, "before its facts"),
		failure("failed-after", t0.Add(2*time.Hour), patchpilot.EUNREACHABLE, "first failure"),
		failure("failed-after", t0.Add(3*time.Hour), patchpilot.EHOSTKEY, "host key changed"),
		failure("never", t0, patchpilot.EINVALID, "no usable private key"),
	}); err != nil {
		t.Fatal(err)
	}
	sums, err := a.HostSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*patchpilot.CollectFailure{}
	for _, s := range sums {
		got[s.Name] = s.LastCollectFailure
	}
	want := map[string]*patchpilot.CollectFailure{
		"failed-after":  {At: t0.Add(3 * time.Hour), Code: string(patchpilot.EHOSTKEY), Message: "host key changed"},
		"failed-before": nil,
		"never":         {At: t0, Code: string(patchpilot.EINVALID), Message: "no usable private key"},
		"fine":          nil,
	}
	for name, w := range want {
		g := got[name]
		if (g == nil) != (w == nil) || g != nil && (!g.At.Equal(w.At) || g.Code != w.Code || g.Message != w.Message) {
			t.Errorf("%s: last collect failure %+v, want %+v", name, g, w)
		}
	}
	// MarkCollectFailure tells the same of one host's summary, as
	// 'hosts show' and GET /api/v1/hosts/NAME build it.
	for name, w := range want {
		h, err := a.Store.Host(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var facts *patchpilot.Facts
		if f, err := a.Store.LatestFacts(ctx, name); err == nil {
			facts = &f
		}
		s := patchpilot.Summarize(h, facts)
		if err := a.MarkCollectFailure(ctx, &s); err != nil {
			t.Fatal(err)
		}
		g := s.LastCollectFailure
		if (g == nil) != (w == nil) || g != nil && (!g.At.Equal(w.At) || g.Code != w.Code || g.Message != w.Message) {
			t.Errorf("MarkCollectFailure of %s: %+v, want %+v", name, g, w)
		}
	}

	// HostFactSummaries are the same summaries without the failures,
	// and read no event to get them.
	counting := &eventCountingStore{Store: a.Store}
	a.Store = counting
	facts, err := a.HostFactSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counting.events != 0 {
		t.Errorf("HostFactSummaries read the events %d times", counting.events)
	}
	if len(facts) != len(sums) {
		t.Fatalf("%d fact summaries, %d summaries", len(facts), len(sums))
	}
	for i := range sums {
		want := sums[i]
		want.LastCollectFailure = nil
		if !reflect.DeepEqual(facts[i], want) {
			t.Errorf("fact summary %+v, want %+v", facts[i], want)
		}
	}
	// Each call has its own list: changing one changes no later answer.
	facts[0].Name = "changed"
	if again, err := a.HostFactSummaries(ctx); err != nil || again[0].Name == "changed" {
		t.Errorf("a caller's change shows in the next answer: %v, %v", again[0].Name, err)
	}
	if _, err := a.HostSummaries(ctx); err != nil || counting.events == 0 {
		t.Errorf("HostSummaries read no events (%v): the test's counting store counts nothing", err)
	}
}

// eventCountingStore counts the reads of the event log.
type eventCountingStore struct {
	patchpilot.Store
	events int
}

func (s *eventCountingStore) Events(ctx context.Context, f patchpilot.EventFilter) ([]patchpilot.Event, error) {
	s.events++
	return s.Store.Events(ctx, f)
}

// The failures HostSummaries keeps between calls mark the summaries as a
// full read of the failure events since the oldest facts does, call after
// call: with events appended between calls (in pages), times that do not
// follow the ids (a clock set back, equal times), facts collected again,
// and hosts added that were never collected.
func TestHostSummariesKeepCollectFailures(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	defer func(n int) { collectFailurePage = n }(collectFailurePage)
	collectFailurePage = 7
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	rnd := rand.New(rand.NewPCG(3, 4))
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("h%02d", i))
	}
	var hosts []patchpilot.Host
	for _, n := range names {
		hosts = append(hosts, patchpilot.Host{Name: n, Address: "127.0.0.1"})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	collect := func(host string, at time.Time) {
		t.Helper()
		f := patchpilot.Facts{Host: host, CollectedAt: at, Source: "ssh", OSFamily: patchpilot.FamilyDebian,
			OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	// All but the last two are collected, at different times, after
	// many of the failures.
	for i, n := range names[:10] {
		collect(n, t0.Add(time.Duration(10+i)*time.Hour))
	}
	want := func() []patchpilot.HostSummary {
		t.Helper()
		sums, err := a.keptSummaries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums = slices.Clone(sums)
		var since time.Time
		for i, s := range sums {
			if s.CollectedAt == nil {
				since = time.Time{}
				break
			}
			if i == 0 || s.CollectedAt.Before(since) {
				since = *s.CollectedAt
			}
		}
		evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventCollectFailed, Since: since})
		if err != nil {
			t.Fatal(err)
		}
		setCollectFailures(sums, evs)
		return sums
	}
	check := func(step string) {
		t.Helper()
		got, err := a.HostSummaries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if w := want(); !reflect.DeepEqual(got, w) {
			for i := range w {
				if i < len(got) && !reflect.DeepEqual(got[i], w[i]) {
					t.Errorf("%s: %s: %+v, want %+v", step, w[i].Name, got[i].LastCollectFailure, w[i].LastCollectFailure)
				}
			}
			t.Fatalf("%s: the kept failures mark the summaries otherwise than a full read", step)
		}
	}
	marked := 0
	for step := range 12 {
		var evs []patchpilot.Event
		for range 1 + rnd.IntN(30) {
			// Times before and after the facts, often before the
			// previous event of the host, sometimes equal to it.
			at := t0.Add(time.Duration(rnd.IntN(30*4)) * 15 * time.Minute)
			data, _ := json.Marshal(patchpilot.CollectFailedData{Code: patchpilot.EUNREACHABLE})
			evs = append(evs, patchpilot.Event{Time: at, Kind: patchpilot.EventCollectFailed, Host: names[rnd.IntN(len(names))],
				Message: fmt.Sprintf("failure %d", step), Data: data})
		}
		if _, err := a.Store.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		switch step {
		case 4: // collected again, later: the oldest facts move on
			collect(names[0], t0.Add(22*time.Hour))
		case 6: // collected for the first time
			collect(names[10], t0.Add(12*time.Hour+30*time.Minute))
			collect(names[11], t0.Add(25*time.Hour))
		case 8: // a host never collected: every failure counts again
			if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "new-1", Address: "127.0.0.1"}}); err != nil {
				t.Fatal(err)
			}
			names = append(names, "new-1")
		}
		check(fmt.Sprintf("step %d", step))
		sums, _ := a.HostSummaries(ctx)
		for _, s := range sums {
			if s.LastCollectFailure != nil {
				marked++
			}
		}
	}
	if marked == 0 {
		t.Error("no summary was ever marked: the test exercises nothing")
	}
}

// keepSummaries keeps the answer of the latest inventory version it was
// given: an answer read under an older version than the kept one is
// returned to its reader but does not replace the kept one; one read
// under the kept version gets the kept answer; a later one replaces it.
func TestKeepSummariesKeepsTheLatestInventory(t *testing.T) {
	a := newTestApp(t)
	kept := func() (int64, string) {
		c := &a.cache.summaries
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.key.inventory, c.val[0].Name
	}
	v5 := []patchpilot.HostSummary{{Name: "read at 5"}}
	if got := a.keepSummaries(cacheKey{inventory: 5}, v5); &got[0] != &v5[0] {
		t.Fatalf("the first answer is not kept: %+v", got)
	}
	v3 := []patchpilot.HostSummary{{Name: "read at 3"}}
	if got := a.keepSummaries(cacheKey{inventory: 3}, v3); &got[0] != &v3[0] {
		t.Errorf("an older read got %+v, want its own answer", got)
	}
	if v, name := kept(); v != 5 || name != "read at 5" {
		t.Errorf("after an older read, the kept answer is %q of version %d; want version 5's", name, v)
	}
	again := []patchpilot.HostSummary{{Name: "read at 5 again"}}
	if got := a.keepSummaries(cacheKey{inventory: 5}, again); &got[0] != &v5[0] {
		t.Errorf("a read of the kept version got %+v, want the kept answer", got)
	}
	v7 := []patchpilot.HostSummary{{Name: "read at 7"}}
	if got := a.keepSummaries(cacheKey{inventory: 7}, v7); &got[0] != &v7[0] {
		t.Errorf("a later read got %+v, want its own answer", got)
	}
	if v, name := kept(); v != 7 || name != "read at 7" {
		t.Errorf("after a later read, the kept answer is %q of version %d; want version 7's", name, v)
	}
}

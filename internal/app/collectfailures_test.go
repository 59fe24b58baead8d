package app

import (
	"context"
	"encoding/json"
	"reflect"
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

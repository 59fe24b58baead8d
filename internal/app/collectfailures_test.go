package app

import (
	"encoding/json"
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
}

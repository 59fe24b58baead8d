package app

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/collect"
	"github.com/patchpilot/patchpilot/internal/sim/fleet"
)

// failingDialer fails to reach the named hosts.
type failingDialer struct {
	patchpilot.Dialer
	down map[string]bool
}

func (d failingDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	if d.down[h.Name] {
		return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "dial %s: connection refused", h.Name)
	}
	return d.Dialer.Dial(ctx, h)
}

// spoilingStore hands the store facts of the named hosts with a package
// without a name, which the store refuses.
type spoilingStore struct {
	patchpilot.Store
	spoil map[string]bool
}

func (s spoilingStore) SaveFactsBatch(ctx context.Context, items []patchpilot.FactsSave) ([]error, error) {
	out := slices.Clone(items)
	for i, it := range out {
		if it.Facts != nil && s.spoil[it.Facts.Host] {
			f := *it.Facts
			f.Packages = slices.Clone(f.Packages)
			f.Packages[0].Name = ""
			out[i].Facts = &f
		}
	}
	return s.Store.SaveFactsBatch(ctx, out)
}

// A collection stores its hosts in batches through one writer; it must
// store and report exactly what storing each host on its own (SaveFacts,
// then its event) stores, over a fleet larger than a batch, with hosts
// that cannot be reached and a host whose facts the store refuses; and it
// reports each host only once its facts are committed.
func TestCollectInBatchesStoresAsHostByHost(t *testing.T) {
	const hosts = 2*collectBatchHosts + 37
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	down := map[string]bool{}
	spoil := map[string]bool{}
	newFleet := func() (*fleet.Fleet, []patchpilot.Host) {
		fl, err := fleet.New(fleet.Config{Hosts: hosts, Seed: 11})
		if err != nil {
			t.Fatal(err)
		}
		inv := fl.Inventory()
		for i, h := range inv {
			switch i % 41 {
			case 7:
				down[h.Name] = true
			case 19:
				spoil[h.Name] = true
			}
		}
		return fl, inv
	}

	// Host by host, as a collection stored its hosts before batches.
	ctx, ref, _ := openTestApp(t)
	ref.Options.Now = func() time.Time { return at }
	fl, inv := newFleet()
	if err := ref.Store.UpsertHosts(ctx, inv); err != nil {
		t.Fatal(err)
	}
	results := collect.Fleet(ctx, failingDialer{fl, down}, inv,
		collect.FleetOptions{Options: collect.Options{SkipDepth: true, Source: "simulated", Now: ref.Options.Now}}, nil)
	wantFailed := map[string]patchpilot.Code{}
	for _, r := range results {
		if r.Err == nil && spoil[r.Host.Name] {
			r.Err = fmt.Errorf("store facts: %w", patchpilot.Errorf(patchpilot.EINVALID, "refused"))
		}
		if r.Err != nil {
			wantFailed[r.Host.Name] = patchpilot.ErrorCode(r.Err)
			data, _ := json.Marshal(patchpilot.CollectFailedData{Code: patchpilot.ErrorCode(r.Err)})
			if err := ref.record(ctx, patchpilot.Event{Kind: patchpilot.EventCollectFailed, Host: r.Host.Name, Data: data}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := ref.Store.SaveFacts(ctx, r.Facts); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(patchpilot.FactsCollectedData{Packages: len(r.Facts.Packages), Updates: len(r.Facts.Updates),
			SecurityUpdates: r.Facts.SecurityUpdateCount(), Source: "simulated"})
		if err := ref.record(ctx, patchpilot.Event{Kind: patchpilot.EventFactsCollected, Host: r.Host.Name, Data: data,
			Message: fmt.Sprintf("collected %d packages, %d pending updates", len(r.Facts.Packages), len(r.Facts.Updates))}); err != nil {
			t.Fatal(err)
		}
	}
	if len(wantFailed) < 4 {
		t.Fatalf("only %d hosts fail; the test wants unreachable and refused hosts", len(wantFailed))
	}

	// In batches.
	_, a, _ := openTestApp(t)
	a.Options.Now = func() time.Time { return at }
	a.Store = spoilingStore{a.Store, spoil}
	fl, inv = newFleet()
	var reported []string
	rep, err := a.Collect(ctx, failingDialer{fl, down}, inv, CollectOptions{NoDepth: true}, "simulated", func(r HostReport) {
		reported = append(reported, r.Host.Name)
		_, err := a.Store.LatestFacts(ctx, r.Host.Name)
		if stored := err == nil; stored != (r.Err == nil) {
			t.Errorf("%s reported (error %v) with its facts stored: %v", r.Host.Name, r.Err, stored)
		}
	})
	if err == nil || !strings.Contains(err.Error(), "store facts") {
		t.Errorf("Collect = %v; want the store's refusal", err)
	}
	if rep.Failed != len(wantFailed) || len(rep.Hosts) != hosts || len(reported) != hosts {
		t.Fatalf("report: %d hosts, %d failed, %d reported; want %d, %d failed", len(rep.Hosts), rep.Failed, len(reported), hosts, len(wantFailed))
	}
	for _, hr := range rep.Hosts {
		if code, failed := wantFailed[hr.Host.Name]; failed {
			if patchpilot.ErrorCode(hr.Err) != code || !reflect.DeepEqual(hr.Summary, patchpilot.HostSummary{}) {
				t.Errorf("%s: error %v, summary %+v; want %s and no summary", hr.Host.Name, hr.Err, hr.Summary, code)
			}
			continue
		}
		f, err := a.Store.LatestFacts(ctx, hr.Host.Name)
		if err != nil {
			t.Fatal(err)
		}
		if want := patchpilot.Summarize(hr.Host, &f); hr.Err != nil || !reflect.DeepEqual(hr.Summary, want) {
			t.Errorf("%s: error %v, summary %+v; want %+v", hr.Host.Name, hr.Err, hr.Summary, want)
		}
	}

	for _, h := range inv {
		want, werr := ref.Store.LatestFacts(ctx, h.Name)
		got, gerr := a.Store.LatestFacts(ctx, h.Name)
		if patchpilot.ErrorCode(gerr) != patchpilot.ErrorCode(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: facts stored differ (%v, %v)", h.Name, gerr, werr)
		}
	}
	for _, read := range []func(patchpilot.Store) (any, error){
		func(st patchpilot.Store) (any, error) { return st.HostSummaries(ctx) },
		func(st patchpilot.Store) (any, error) { return st.PendingUpdates(ctx, patchpilot.UpdateFilter{}) },
		func(st patchpilot.Store) (any, error) {
			// Which host was stored first at the same time is the
			// order the hosts answered in.
			seen, err := st.FirstSeen(ctx, []string{"bash", "perl", "libperl5.36", "openssl", "libssl3"})
			for i := range seen {
				seen[i].Host = ""
			}
			return seen, err
		},
	} {
		want, werr := read(ref.Store)
		got, gerr := read(a.Store)
		if werr != nil || gerr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("reads differ:\n batches     %.300v (%v)\n host by host %.300v (%v)", got, gerr, want, werr)
		}
	}
	// The events, in the order the hosts were reported, with their data.
	events := func(st patchpilot.Store) map[string][]string {
		evs, err := st.Events(ctx, patchpilot.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, e := range evs {
			if e.Kind == patchpilot.EventFactsCollected || e.Kind == patchpilot.EventCollectFailed {
				msg := e.Message
				if e.Kind == patchpilot.EventCollectFailed {
					msg = "" // the wording of the reason is the run's
				}
				out[e.Host] = append(out[e.Host], e.Kind+" "+e.Actor+" "+msg+" "+string(e.Data))
			}
		}
		return out
	}
	if got, want := events(a.Store), events(ref.Store); !reflect.DeepEqual(got, want) {
		t.Errorf("events differ:\n batches     %v\n host by host %v", got, want)
	}
}

// cancelingDialer cancels the collection when it is asked for the host
// named at.
type cancelingDialer struct {
	patchpilot.Dialer
	at     string
	cancel context.CancelFunc
}

func (d cancelingDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	if h.Name == d.at {
		d.cancel()
		return nil, ctx.Err()
	}
	return d.Dialer.Dial(ctx, h)
}

// An interrupted collection stores what it collected, with its events,
// and records no failure for the hosts it did not get to.
func TestInterruptedCollectStoresWhatItCollected(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	fl, err := fleet.New(fleet.Config{Hosts: 40, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	inv := fl.Inventory()
	a.Options.Concurrency = 1
	run, cancel := context.WithCancel(ctx)
	defer cancel()
	rep, err := a.Collect(run, cancelingDialer{fl, inv[10].Name, cancel}, inv, CollectOptions{NoDepth: true}, "simulated", nil)
	if patchpilot.ErrorCode(err) != patchpilot.ECANCELED {
		t.Fatalf("Collect = %v; want ECANCELED", err)
	}
	stored := 0
	for _, hr := range rep.Hosts {
		if hr.Err == nil {
			stored++
			if _, err := a.Store.LatestFacts(ctx, hr.Host.Name); err != nil {
				t.Errorf("%s reported collected, not stored: %v", hr.Host.Name, err)
			}
		}
	}
	if stored != 10 || len(rep.Hosts) != len(inv) {
		t.Errorf("%d of %d hosts reported, %d collected; want all reported, the 10 before the interruption collected", len(rep.Hosts), len(inv), stored)
	}
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	if kinds[patchpilot.EventFactsCollected] != 10 || kinds[patchpilot.EventCollectFailed] != 0 {
		t.Errorf("events %v; want 10 facts_collected and no collect_failed", kinds)
	}
}

// A report's summary keeps its own copy of the strings it takes from the
// facts, so that it does not keep the command output they were cut from.
func TestDetachedSummaryCopiesItsStrings(t *testing.T) {
	out := "ID=debian\nVERSION_ID=12\n" + strings.Repeat("#", 4096) + "\n6.1.0-18-amd64 x86_64"
	f := patchpilot.Facts{OSFamily: patchpilot.OSFamily(out[3:9]), OSName: out[3:9], OSVersion: out[21:23],
		Kernel: out[len(out)-21 : len(out)-7], Arch: out[len(out)-6:], CollectedAt: time.Now()}
	h := patchpilot.Host{Name: "web-1", Labels: map[string]string{"role": "web"}}
	got := detachedSummary(h, &f)
	if want := patchpilot.Summarize(h, &f); !reflect.DeepEqual(got, want) {
		t.Fatalf("detachedSummary = %+v, want %+v", got, want)
	}
	for _, s := range []string{string(got.OSFamily), got.OSName, got.OSVersion, got.Kernel, got.Arch} {
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(out)))
		if p >= start && p < start+uintptr(len(out)) {
			t.Errorf("%q still points into the command's output", s)
		}
	}
}

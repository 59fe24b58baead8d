package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// testFactsBatch states that SaveFactsBatch stores exactly what SaveFacts
// and AppendEvents store item by item, on a varied batch: several
// families, a host's history within the batch and out of time order,
// depths with connections and held packages, events alone; and that the
// items that cannot be stored (invalid facts, an unknown host, an invalid
// event) fail alone, each with its error, while the others are stored.
func (s suite) testFactsBatch(t *testing.T) {
	ctx := context.Background()
	t0 := baseTime
	hosts := []patchpilot.Host{{Name: "web-1"}, {Name: "db-1"}, {Name: "suse-1"}, {Name: "bad-1"}}

	rhel := Facts("db-1", t0, 6, 4)
	rhel.OSFamily, rhel.OSName, rhel.OSVersion, rhel.OSPretty = patchpilot.FamilyRedHat, "rhel", "9.3", "Red Hat Enterprise Linux 9.3 (Plow)"
	rhel.Packages[0].SourceName = ""
	rhel.Updates[1].Advisories = []patchpilot.AdvisoryRef{{ID: "RHSA-2026:0001", Severity: "critical"}}
	suse := Facts("suse-1", t0.Add(time.Minute), 3, 3)
	suse.OSFamily, suse.OSName, suse.OSVersion = patchpilot.FamilySUSE, "sles", "15.5"
	suse.PackageState = "sha256:0123"
	later := richFacts("web-1", t0.Add(2*time.Hour))
	later.Depth.Held = []string{"openssl", "nginx-core"}
	later.Depth.CollectedAt = t0.Add(2 * time.Hour)
	earlier := richFacts("web-1", t0.Add(-time.Hour)) // saved after, collected before
	earlier.Depth.Connections = earlier.Depth.Connections[:1]
	invalid := Facts("bad-1", t0, 3, 1)
	invalid.Packages[1].Name = ""
	unknown := Facts("ghost", t0, 2, 1)
	big := Facts("web-1", t0.Add(time.Hour), 250, 120) // more rows than one INSERT carries

	ev := func(kind, host string, minute int) patchpilot.Event {
		return patchpilot.Event{Time: t0.Add(time.Duration(minute) * time.Minute), Actor: "test", Kind: kind, Host: host,
			Message: kind + " " + host, Data: []byte(`{"n":1}`)}
	}
	items := []patchpilot.FactsSave{
		{Facts: ptr(richFacts("web-1", t0)), Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "web-1", 0)}},
		{Facts: &rhel, Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "db-1", 1)}},
		{Facts: &invalid, Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "bad-1", 2)}},
		{Events: []patchpilot.Event{ev(patchpilot.EventCollectFailed, "bad-2", 3)}},
		{Facts: &suse},
		{Facts: &unknown, Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "ghost", 4)}},
		{Facts: &big, Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "web-1", 5)}},
		{Facts: ptr(Facts("db-1", t0.Add(time.Hour), 6, 0)), Events: []patchpilot.Event{{Kind: "", Host: "db-1"}}},
		{Facts: &later, Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "web-1", 6), ev("note", "web-1", 6)}},
		{Facts: &earlier, Events: []patchpilot.Event{ev(patchpilot.EventFactsCollected, "web-1", 7)}},
	}
	wantErr := map[int]patchpilot.Code{2: patchpilot.EINVALID, 5: patchpilot.ENOTFOUND, 7: patchpilot.EINVALID}

	one := s.store(t)
	mustUpsert(t, one, hosts...)
	for i, it := range items {
		if _, bad := wantErr[i]; bad {
			continue
		}
		if it.Facts != nil {
			mustSave(t, one, *it.Facts)
		}
		if _, err := one.AppendEvents(ctx, it.Events); err != nil {
			t.Fatalf("items[%d]: AppendEvents: %v", i, err)
		}
	}

	batch := s.store(t)
	mustUpsert(t, batch, hosts...)
	// Two batches: the second after a first that failed in part.
	errs, err := batch.SaveFactsBatch(ctx, items[:8])
	if err != nil {
		t.Fatalf("SaveFactsBatch: %v", err)
	}
	more, err := batch.SaveFactsBatch(ctx, items[8:])
	if err != nil {
		t.Fatalf("SaveFactsBatch: %v", err)
	}
	errs = append(errs, more...)
	if len(errs) != len(items) {
		t.Fatalf("SaveFactsBatch returned %d errors for %d items", len(errs), len(items))
	}
	for i, err := range errs {
		if code, bad := wantErr[i]; bad {
			wantCode(t, err, code, "")
		} else if err != nil {
			t.Errorf("items[%d]: %v", i, err)
		}
	}
	if errs, err := batch.SaveFactsBatch(ctx, nil); err != nil || len(errs) != 0 {
		t.Errorf("SaveFactsBatch of nothing = %v, %v", errs, err)
	}

	same := func(what string, read func(st patchpilot.Store) (any, error)) {
		t.Helper()
		want, err := read(one)
		if err != nil {
			t.Fatalf("%s, saved one by one: %v", what, err)
		}
		got, err := read(batch)
		if err != nil {
			t.Fatalf("%s, saved in batches: %v", what, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs:\n batch    %+v\n one by one %+v", what, got, want)
		}
	}
	for _, h := range []string{"web-1", "db-1", "suse-1"} {
		same("LatestFacts("+h+")", func(st patchpilot.Store) (any, error) { return st.LatestFacts(ctx, h) })
		same("FactHistory("+h+")", func(st patchpilot.Store) (any, error) { return st.FactHistory(ctx, h, 0) })
	}
	if _, err := batch.LatestFacts(ctx, "bad-1"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("bad-1's invalid facts: LatestFacts = %v, want ENOTFOUND (nothing stored)", err)
	}
	same("FleetFacts", func(st patchpilot.Store) (any, error) { return st.FleetFacts(ctx) })
	same("HostSummaries", func(st patchpilot.Store) (any, error) { return st.HostSummaries(ctx) })
	same("PendingUpdates", func(st patchpilot.Store) (any, error) {
		return st.PendingUpdates(ctx, patchpilot.UpdateFilter{})
	})
	same("FirstSeen", func(st patchpilot.Store) (any, error) {
		return st.FirstSeen(ctx, []string{"openssl", "linux-image-6.1.0-20-amd64", "pkg0000", "pkg0001", "pkg0002", "pkg0100"})
	})
	same("LatestPackagesOf", func(st patchpilot.Store) (any, error) {
		return st.LatestPackagesOf(ctx, []string{"pkg0000", "linux-image-6.1.0-18-amd64", "broken"})
	})
	same("Connections", func(st patchpilot.Store) (any, error) { return st.Connections(ctx, time.Time{}) })
	same("Events", func(st patchpilot.Store) (any, error) { return st.Events(ctx, patchpilot.EventFilter{}) })
}

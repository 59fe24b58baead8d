package app

import (
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestComplianceKeptUntilDataChanges checks that the kept compliance base
// still measures against the clock (a deadline that passes flips a host
// without a new read) and is read again once the inventory changes.
func TestComplianceKeptUntilDataChanges(t *testing.T) {
	ctx, a := kpiHistory(t)
	now := t0.Add(30*day + 12*time.Hour)
	a.Options.Now = func() time.Time { return now }
	rep, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h4, _ := rep.Host("h4"); h4.State != SLAWithin {
		t.Fatalf("h4 %+v, want within its SLA", h4)
	}
	read := rep.DataAt

	// h4's high update (available day 2, 30 days) is due on day 32.
	now = t0.Add(33 * day)
	if rep, err = a.Compliance(ctx); err != nil {
		t.Fatal(err)
	}
	if h4, _ := rep.Host("h4"); h4.State != SLAOut || h4.Overdue[0].Overdue() != day {
		t.Errorf("h4 a day past its deadline: %+v", h4)
	}
	if !rep.DataAt.Equal(read) || !rep.At.Equal(now) {
		t.Errorf("report at %v from data at %v, want at %v from the kept data at %v", rep.At, rep.DataAt, now, read)
	}
	if rep.Totals.OutOfSLA != 2 || rep.Totals.WithinSLA != 0 {
		t.Errorf("totals %+v", rep.Totals)
	}

	// New facts of h2 without its overdue update: read again.
	f := patchpilot.Facts{Host: "h2", CollectedAt: t0.Add(32 * day), Source: "ssh", OSFamily: patchpilot.FamilyRedHat,
		OSName: "rocky", OSVersion: "9.4", Kernel: "5.14", Arch: "x86_64", PackagesKnown: true, UpdatesKnown: true,
		Packages: []patchpilot.Package{{Name: "openssl", Version: "3.0.2"}}}
	if err := a.Store.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	if rep, err = a.Compliance(ctx); err != nil {
		t.Fatal(err)
	}
	if h2, _ := rep.Host("h2"); h2.State != SLACompliant {
		t.Errorf("h2 after patching: %+v", h2)
	}
	if !rep.DataAt.Equal(now) {
		t.Errorf("data at %v, want read again at %v", rep.DataAt, now)
	}

	// A new host is unknown at once.
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "h6"}}); err != nil {
		t.Fatal(err)
	}
	if rep, err = a.Compliance(ctx); err != nil {
		t.Fatal(err)
	}
	if h6, ok := rep.Host("h6"); !ok || h6.State != SLAUnknown || rep.Totals.Hosts != 6 {
		t.Errorf("h6 %+v (%v), totals %+v", h6, ok, rep.Totals)
	}
}

// TestUpdateCountsFollowAdvisories checks that the kept counts change
// when an advisory makes a pending update a security one.
func TestUpdateCountsFollowAdvisories(t *testing.T) {
	ctx, a := kpiHistory(t)
	c, err := a.UpdateCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := a.Updates(ctx, patchpilot.UpdateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range c.All {
		total += n
	}
	if total != len(ups) || c.Security["critical"] != 1 || c.Security["high"] != 1 {
		t.Fatalf("counts %+v for %d updates", c, len(ups))
	}
	vim := patchpilot.Advisory{ID: "RLSA-9", Published: t0, Modified: t0, Severity: "Moderate",
		Affected: []patchpilot.AffectedPackage{{Ecosystem: "Rocky Linux:9", Name: "vim", Versions: []string{"9.0"}}}}
	if _, err := a.Store.SaveAdvisories(ctx, []patchpilot.Advisory{vim}); err != nil {
		t.Fatal(err)
	}
	want, err := a.Updates(ctx, patchpilot.UpdateFilter{SecurityOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = a.UpdateCounts(ctx); err != nil {
		t.Fatal(err)
	}
	sec := 0
	for _, n := range c.Security {
		sec += n
	}
	if sec != len(want) || len(want) != 3 {
		t.Errorf("security counts %+v, want %d updates", c.Security, len(want))
	}
}

// TestDowntimeReadsNewEvents checks that the KPIs' index of the event log
// takes the events stored after it was first read.
func TestDowntimeReadsNewEvents(t *testing.T) {
	ctx, a := kpiHistory(t)
	rep, err := a.KPIs(ctx, KPIQuery{From: t0})
	if err != nil {
		t.Fatal(err)
	}
	before := rep.Downtime
	d20 := t0.Add(20 * day)
	for _, e := range []patchpilot.Event{
		{Time: d20, Kind: patchpilot.EventHostState, Rollout: "r9", Host: "h2", Message: "h2 reboot", Actor: "controller"},
		{Time: d20.Add(10 * time.Minute), Kind: patchpilot.EventHostState, Rollout: "r9", Host: "h2", Message: "h2 verify", Actor: "controller"},
		{Time: d20.Add(11 * time.Minute), Kind: patchpilot.EventGateVerdict, Rollout: "r9", Host: "h2", Actor: "controller",
			Data: []byte(`{"verdict":"rollback","results":[],"reason":"down"}`)},
		{Time: d20.Add(15 * time.Minute), Kind: patchpilot.EventHostState, Rollout: "r9", Host: "h2", Message: "h2 rolled_back", Actor: "controller"},
	} {
		if _, err := a.Store.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err = a.KPIs(ctx, KPIQuery{From: t0}); err != nil {
		t.Fatal(err)
	}
	want := Downtime{Reboots: before.Reboots + 1, RebootSeconds: before.RebootSeconds + 600,
		Unhealthy: before.Unhealthy + 1, UnhealthySeconds: before.UnhealthySeconds + 240}
	if rep.Downtime != want {
		t.Errorf("downtime %+v, want %+v", rep.Downtime, want)
	}
}

// TestFleetContextsGiveTheSameRecords checks that the one-query read of the
// fleet's facts that large assessments use gives each update the record
// that reading its host's facts alone gives.
func TestFleetContextsGiveTheSameRecords(t *testing.T) {
	a := newTestApp(t)
	addFleet(t, a)
	ctx := t.Context()
	fleet, err := a.fleetContexts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := a.Updates(ctx, patchpilot.UpdateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) == 0 || len(fleet) != 2 {
		t.Fatalf("%d updates, %d hosts read", len(ups), len(fleet))
	}
	one := map[string]*hostContext{}
	for _, u := range ups {
		hc, err := a.hostContext(ctx, one, u.Host)
		if err != nil {
			t.Fatal(err)
		}
		got, want := recordFor(u, fleet[u.Host], testNow, nil), recordFor(u, hc, testNow, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s on %s: record %+v, want %+v", u.Package, u.Host, got, want)
		}
	}
}

package app

import (
	"context"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sim/fleet"
)

// coldApp is an App on a's store with nothing kept: what a new process
// proposes.
func coldApp(a *App) *App { return &App{Options: a.Options, Store: a.Store} }

// TestKeptFleetReadsPlanAsCold proposes plans of varied patches one after
// another with one App, which keeps the inventory's fleet-wide reads
// between them, and checks that each equals the proposal of an App with
// nothing kept, on the fleet-wide and the host-by-host paths, over a fleet
// with other systems, held packages, never-collected hosts, declared
// dependencies, a history and quarantines.
func TestKeptFleetReadsPlanAsCold(t *testing.T) {
	ctx, a, _, cat := variedPlanFleet(t)
	patches := variedPlanPatches(t, cat)
	saved := fleetReadFrom
	t.Cleanup(func() { fleetReadFrom = saved })
	for _, from := range []int{200, 1 << 30} {
		fleetReadFrom = from
		var kept *inventoryReads
		for i, patch := range patches {
			// Every patch over the fleet; half of them on a selector too.
			selectors := []string{""}
			if i%2 == 0 {
				selectors = append(selectors, "role=web")
			}
			for _, selector := range selectors {
				warm, warmErr := a.ProposePlanWith(ctx, patch, selector, ProposeOptions{AllowQuarantined: i%2 == 1})
				cold, coldErr := coldApp(a).ProposePlanWith(ctx, patch, selector, ProposeOptions{AllowQuarantined: i%2 == 1})
				if errString(warmErr) != errString(coldErr) || !reflect.DeepEqual(warm, cold) {
					t.Errorf("fleet-wide from %d, patch %d %+v %q: the proposal with kept reads differs:\n got %v %q\nwant %v %q",
						from, i, patch, selector, warmErr, warm.Header, coldErr, cold.Header)
				}
				if kept == nil {
					kept = a.cache.inventoryReads.val
				}
			}
		}
		// The inventory did not change: every proposal after the first
		// used the reads the first kept.
		if kept == nil || a.cache.inventoryReads.val != kept {
			t.Errorf("fleet-wide from %d: the inventory's reads were not kept between proposals", from)
		}
	}
}

// TestKeptFleetReadsFollowChanges checks that a proposal with kept reads
// sees at once each change to what they were read from: a new host
// collected, a host relabelled, a new collection without the update, and
// (read afresh by each plan) an outcome that quarantines the patch on a
// class; each proposal equals that of an App with nothing kept.
func TestKeptFleetReadsFollowChanges(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	fl, err := fleet.New(fleet.Config{Hosts: 40, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	inv := fl.Inventory()
	if rep, err := a.Collect(ctx, fl, inv, CollectOptions{NoDepth: true}, "simulated", nil); err != nil || rep.Failed > 0 {
		t.Fatalf("collect: %v, %d failed", err, rep.Failed)
	}
	saved := fleetReadFrom
	t.Cleanup(func() { fleetReadFrom = saved })
	fleetReadFrom = 10 // the fleet-wide path

	// The most common pending update and the hosts that have it.
	var u fleet.Upgrade
	for _, c := range commonUpgrades(fl) {
		u = c
		break
	}
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: u.Package, Version: u.New}}}
	var pending []string
	for _, h := range inv {
		if fl.Host(h.Name).Installed(u.Package) == u.Old {
			pending = append(pending, h.Name)
		}
	}
	if len(pending) < 3 {
		t.Fatalf("%s pending on %v, want at least 3 hosts", u.Package, pending)
	}
	propose := func(step, selector string) PlanProposal {
		t.Helper()
		warm, warmErr := a.ProposePlan(ctx, patch, selector)
		cold, coldErr := coldApp(a).ProposePlan(ctx, patch, selector)
		if errString(warmErr) != errString(coldErr) || !reflect.DeepEqual(warm, cold) {
			t.Fatalf("%s: the proposal with kept reads differs from a new App's:\n got %v %q\nwant %v %q",
				step, warmErr, warm.Header, coldErr, cold.Header)
		}
		return warm
	}
	assessed := func(p PlanProposal) []string {
		var out []string
		for _, h := range p.Risk.Hosts {
			out = append(out, h.Host)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	before := propose("before", "")
	if _, err := a.ProposePlan(ctx, patch, "role=nosuch"); err == nil {
		t.Fatal("a selector of no host proposed a plan")
	}

	// A new host collected with the update pending.
	f, err := a.Store.LatestFacts(ctx, pending[0])
	if err != nil {
		t.Fatal(err)
	}
	f.Host, f.CollectedAt = "zz-new", f.CollectedAt.Add(time.Minute)
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "zz-new", Labels: map[string]string{"role": "nosuch"}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	added := propose("new host", "")
	if !slices.Contains(added.Targets, "zz-new") || !slices.Contains(assessed(added), "zz-new") || len(added.Targets) != len(before.Targets)+1 {
		t.Errorf("new host: targets %d (before %d), assessed %v: want zz-new among both", len(added.Targets), len(before.Targets), assessed(added))
	}
	// Its label selects it.
	if p := propose("new label", "role=nosuch"); !reflect.DeepEqual(p.Targets, []string{"zz-new"}) {
		t.Errorf("role=nosuch selects %v, want zz-new", p.Targets)
	}

	// A new collection of a host without the update (installed since).
	g, err := a.Store.LatestFacts(ctx, pending[1])
	if err != nil {
		t.Fatal(err)
	}
	g.CollectedAt = g.CollectedAt.Add(time.Minute)
	g.Updates = slices.DeleteFunc(slices.Clone(g.Updates), func(x patchpilot.Update) bool { return x.Package == u.Package })
	g.Packages = slices.Clone(g.Packages)
	for i := range g.Packages {
		if g.Packages[i].Name == u.Package {
			g.Packages[i].Version = u.New
		}
	}
	if err := a.Store.SaveFacts(ctx, g); err != nil {
		t.Fatal(err)
	}
	patched := propose("new collection", "")
	if slices.Contains(assessed(patched), pending[1]) || !slices.Contains(assessed(added), pending[1]) {
		t.Errorf("new collection: %s assessed %v before, %v after; want it gone", pending[1],
			slices.Contains(assessed(added), pending[1]), slices.Contains(assessed(patched), pending[1]))
	}

	// An outcome that quarantines the update on the class of pending[2].
	sums, err := a.HostSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var class patchpilot.HostSummary
	for _, s := range sums {
		if s.Name == pending[2] {
			class = s
		}
	}
	if err := a.Store.RecordOutcome(ctx, patchpilot.Outcome{Time: time.Now().UTC().Add(-time.Hour), Rollout: "r-bad",
		Host: pending[2], OS: class.OSName + ":" + class.OSVersion, Labels: class.Labels,
		Packages: []patchpilot.PackageChange{{Name: u.Package, From: u.Old, To: u.New}},
		Outcome:  patchpilot.OutcomeRolledBack, Reason: "http_ok failed", GateResults: []patchpilot.GateResult{}}); err != nil {
		t.Fatal(err)
	}
	quarantined := propose("quarantine", "")
	var out []string
	for _, q := range quarantined.Quarantined {
		out = append(out, q.Host)
	}
	if !slices.Contains(out, pending[2]) || slices.Contains(quarantined.Targets, pending[2]) {
		t.Errorf("quarantine: left out %v, targets hold %s: %v; want it left out", out, pending[2], slices.Contains(quarantined.Targets, pending[2]))
	}
}

// commonUpgrades returns the catalog's upgrades by how many of the
// simulated fleet's hosts have them pending, most first.
func commonUpgrades(fl *fleet.Fleet) []fleet.Upgrade {
	count := map[string]int{}
	for _, h := range fl.Inventory() {
		for _, u := range fl.Host(h.Name).Pending() {
			count[u.Package]++
		}
	}
	cat := fl.Recording().Catalog()
	slices.SortStableFunc(cat, func(x, y fleet.Upgrade) int { return count[y.Package] - count[x.Package] })
	return cat
}

// inventoryCountStore counts the store's reads of the hosts' summaries and
// of the whole inventory.
type inventoryCountStore struct {
	patchpilot.Store
	summaries, inventory atomic.Int32
}

func (s *inventoryCountStore) HostSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	s.summaries.Add(1)
	return s.Store.HostSummaries(ctx)
}

func (s *inventoryCountStore) FleetInventory(ctx context.Context) (patchpilot.FleetInventory, error) {
	s.inventory.Add(1)
	return s.Store.FleetInventory(ctx)
}

// TestKeptFleetReadsShareSummaries checks that a cold proposal reads the
// inventory once and keeps the summaries it read for HostSummaries, that
// a proposal after HostSummaries shares the summaries it kept, and that
// what each returns equals what an App with nothing kept returns, before
// and after a change to the inventory.
func TestKeptFleetReadsShareSummaries(t *testing.T) {
	ctx, a, _, cat := variedPlanFleet(t)
	st := &inventoryCountStore{Store: a.Store}
	a.Store = st
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: cat[0].Package, Version: cat[0].New}}}
	check := func(step string) {
		t.Helper()
		warm, warmErr := a.ProposePlan(ctx, patch, "")
		cold, coldErr := coldApp(a).ProposePlan(ctx, patch, "")
		if errString(warmErr) != errString(coldErr) || !reflect.DeepEqual(warm, cold) {
			t.Errorf("%s: the proposal with kept reads differs:\n got %v %q\nwant %v %q", step, warmErr, warm.Header, coldErr, cold.Header)
		}
		got, err := a.HostSummaries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := coldApp(a).HostSummaries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: HostSummaries differs from a new App's", step)
		}
		kept := a.cache.inventoryReads.val
		if len(kept.sums) == 0 || len(a.cache.summaries.val) == 0 || &kept.sums[0] != &a.cache.summaries.val[0] {
			t.Errorf("%s: the plan's summaries are not those HostSummaries keeps", step)
		}
	}

	// A cold proposal first: one read of the inventory, whose summaries
	// HostSummaries then serves without reading them again.
	if _, err := a.ProposePlan(ctx, patch, ""); err != nil {
		t.Fatal(err)
	}
	if n, m := st.inventory.Load(), st.summaries.Load(); n != 1 || m != 0 {
		t.Errorf("a cold proposal read the inventory %d times and the summaries %d times, want 1 and 0", n, m)
	}
	st.inventory.Store(0)
	if _, err := a.HostSummaries(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.summaries.Load(); n != 0 {
		t.Errorf("HostSummaries after a proposal read the summaries %d times, want them kept", n)
	}
	st.summaries.Store(0)
	check("unchanged")

	// A relabelled host; HostSummaries reads the summaries first, and
	// the next proposal shares them.
	hosts, err := a.Store.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := hosts[len(hosts)/2]
	h.Labels = map[string]string{"role": "moved"}
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{h}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.HostSummaries(ctx); err != nil {
		t.Fatal(err)
	}
	check("relabelled")
}

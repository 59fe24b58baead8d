package app

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/sim/fleet"
)

// A plan over a large fleet reads the fleet at once (hostViewsOf,
// readPatchFleet, pinsSighted, the fleet-wide baselineInput) instead of
// host by host; it must propose exactly what the host-by-host reads
// propose. The fleet is simulated (varied pending updates, roles, package
// sets), collected through the real collectors into the store.
func TestFleetWideReadsPlanAsHostByHost(t *testing.T) {
	ctx, a, inv, cat := variedPlanFleet(t)
	pick := func(name string) patchpilot.PackagePin {
		for _, u := range cat {
			if u.Package == name {
				return patchpilot.PackagePin{Name: u.Package, Version: u.New}
			}
		}
		t.Fatalf("no %s in the catalog", name)
		return patchpilot.PackagePin{}
	}
	patches := map[string]patchpilot.PatchSpec{
		// perl's source builds several binaries: canaries by key packages.
		"perl":          {Packages: []patchpilot.PackagePin{pick("perl")}},
		"two pins":      {Packages: []patchpilot.PackagePin{pick("bash"), pick("libperl5.36")}},
		"security":      {SecurityAll: true},
		"old version":   {Packages: []patchpilot.PackagePin{{Name: "bash", Version: cat[1].Old}}},
		"unknown":       {Packages: []patchpilot.PackagePin{{Name: "bash", Version: "9.9-1"}}},
		"not installed": {Packages: []patchpilot.PackagePin{{Name: "nosuch-package", Version: "1.0-1"}}},
		"source pin":    {Packages: []patchpilot.PackagePin{{Name: "perl", Version: pick("perl").Version}}},
	}
	saved := fleetReadFrom
	t.Cleanup(func() { fleetReadFrom = saved })
	for name, patch := range patches {
		selector := ""
		if len(name)%2 == 1 {
			selector = "role=web"
		}
		{
			fleetReadFrom = 1 << 30 // host by host
			want, wantErr := a.ProposePlan(ctx, patch, selector)
			wantRisk, wantRiskErr := a.AssessPatchOn(ctx, patch, hostNames(inv))
			fleetReadFrom = 200 // fleet-wide
			got, gotErr := a.ProposePlan(ctx, patch, selector)
			// The views a proposal keeps for re-resolving its stages hold
			// only the patch's packages on the fleet-wide path, by design.
			got.targetViews, want.targetViews = nil, nil
			gotRisk, gotRiskErr := a.AssessPatchOn(ctx, patch, hostNames(inv))
			if !reflect.DeepEqual(errString(gotErr), errString(wantErr)) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s %q: fleet-wide plan differs:\n got %v %+v\nwant %v %+v", name, selector, gotErr, got.Header, wantErr, want.Header)
			}
			if !reflect.DeepEqual(errString(gotRiskErr), errString(wantRiskErr)) || !reflect.DeepEqual(gotRisk, wantRisk) {
				t.Errorf("%s: fleet-wide assessment differs: %v %+v, want %v %+v", name, gotRiskErr, gotRisk.Summary, wantRiskErr, wantRisk.Summary)
			}
			if wantErr == nil {
				// A rollout's start resolves the plan over the fleet's
				// views: the same with the patch's packages only.
				full, err := a.HostViews(ctx)
				if err != nil {
					t.Fatal(err)
				}
				fleetReadFrom = 200
				views, err := a.hostViewsOf(ctx, patch, nil)
				if err != nil {
					t.Fatal(err)
				}
				w, werr := planner.ResolveFleet(want.Plan, full)
				g, gerr := planner.ResolveFleet(want.Plan, views)
				if !reflect.DeepEqual(errString(gerr), errString(werr)) || !reflect.DeepEqual(g, w) {
					t.Errorf("%s: the plan resolves differently over the patch's views: %v %+v, want %v %+v", name, gerr, g.Notes, werr, w.Notes)
				}
			}
			if name == "perl" && (wantErr != nil || len(want.Stages) < 2 || len(want.Risk.Hosts) == 0) {
				t.Errorf("perl: want a staged plan with assessed hosts, got %v %+v", wantErr, want.Stages)
			}
			if name == "perl" && selector == "" {
				// The varied fleet shows in the plan: quarantined hosts
				// left out, the dependents gate, the other systems.
				header := strings.Join(want.Header, "\n")
				if len(want.Quarantined) == 0 || !strings.Contains(header, "dependents_reachable") ||
					!strings.Contains(strings.Join(want.Targets, " "), "other-03") {
					t.Errorf("perl: want quarantined hosts left out, the dependents gate and the Debian 11 hosts, got %d quarantined, targets %v, header\n%s",
						len(want.Quarantined), want.Targets, header)
				}
			}
		}
	}
}

func hostNames(hs []patchpilot.Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

// varyFleet adds to a collected simulated fleet what it lacks and a plan
// reads: hosts of other operating systems (one of them holding a package
// back, so that its candidate is older than the others'), declared
// dependencies between hosts (and one on a host the fleet does not have),
// and a history of outcomes that gives the pinned packages a failure rate
// and quarantines versions on some classes, a security update's among
// them. It returns the inventory with the new hosts.
// variedPlanFleet is a store of 215 simulated hosts, 210 of them collected
// through the real collectors (a few known but never collected), varied
// by varyFleet; it returns the inventory as varyFleet left it and the
// recording's catalog of upgrades.
func variedPlanFleet(t *testing.T) (context.Context, *App, []patchpilot.Host, []fleet.Upgrade) {
	t.Helper()
	ctx, a, _ := openTestApp(t)
	fl, err := fleet.New(fleet.Config{Hosts: 215, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	inv := fl.Inventory()
	if rep, err := a.Collect(ctx, fl, inv[:210], CollectOptions{NoDepth: true}, "simulated", nil); err != nil || rep.Failed > 0 {
		t.Fatalf("collect: %v, %d failed", err, rep.Failed)
	}
	if err := a.Store.UpsertHosts(ctx, inv[210:]); err != nil {
		t.Fatal(err)
	}
	cat := fl.Recording().Catalog()
	return ctx, a, varyFleet(t, ctx, a, inv, cat), cat
}

// variedPlanPatches are the patches the tests over variedPlanFleet
// propose: the catalog's versions of one and two packages, every security
// update, an older and an unknown version, a package no host has, an
// explicit pin of a catalog version and the catalog's first package.
func variedPlanPatches(t *testing.T, cat []fleet.Upgrade) []patchpilot.PatchSpec {
	t.Helper()
	pin := func(name string) patchpilot.PackagePin {
		for _, u := range cat {
			if u.Package == name {
				return patchpilot.PackagePin{Name: u.Package, Version: u.New}
			}
		}
		t.Fatalf("no %s in the catalog", name)
		return patchpilot.PackagePin{}
	}
	return []patchpilot.PatchSpec{
		{Packages: []patchpilot.PackagePin{pin("perl")}},
		{Packages: []patchpilot.PackagePin{pin("bash"), pin("libperl5.36")}},
		{SecurityAll: true},
		{Packages: []patchpilot.PackagePin{{Name: "bash", Version: cat[1].Old}}},
		{Packages: []patchpilot.PackagePin{{Name: "bash", Version: "9.9-1"}}},
		{Packages: []patchpilot.PackagePin{{Name: "nosuch-package", Version: "1.0-1"}}},
		{Packages: []patchpilot.PackagePin{{Name: "perl", Version: pin("perl").Version}}},
		{Packages: []patchpilot.PackagePin{pin(cat[0].Package)}},
	}
}

func varyFleet(t *testing.T, ctx context.Context, a *App, inv []patchpilot.Host, cat []fleet.Upgrade) []patchpilot.Host {
	t.Helper()
	version := func(name string) fleet.Upgrade {
		for _, u := range cat {
			if u.Package == name {
				return u
			}
		}
		t.Fatalf("no %s in the catalog", name)
		return fleet.Upgrade{}
	}
	bash, perl := version("bash"), version("perl")
	// Declared dependencies: web and api hosts on a db host's port, one
	// on a host that is not in the fleet.
	var relabel []patchpilot.Host
	for i, h := range inv[:40] {
		if i%4 != 0 {
			continue
		}
		h.Labels = cloneLabels(h.Labels)
		h.Labels["depends_on"] = inv[50+i%7].Name + ":5432"
		if i == 8 {
			h.Labels["depends_on"] += ", nosuch-host"
		}
		relabel = append(relabel, h)
	}
	if err := a.Store.UpsertHosts(ctx, relabel); err != nil {
		t.Fatal(err)
	}
	// Hosts of other systems: Rocky 9 and Debian 11, with bash and perl.
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var extra []patchpilot.Host
	for i := range 6 {
		role := []string{"web", "db", "api"}[i%3]
		h := patchpilot.Host{Name: fmt.Sprintf("other-%02d", i), Labels: map[string]string{"role": role, "env": "prod"}}
		f := patchpilot.Facts{Host: h.Name, CollectedAt: at, Source: "ssh", PackagesKnown: true, UpdatesKnown: true,
			OSFamily: patchpilot.FamilyRedHat, OSName: "rocky", OSVersion: "9",
			Packages: []patchpilot.Package{{Name: "bash", Version: "5.1.8-6.el9", SourceName: "bash"},
				{Name: "perl", Version: "5.32.1-480.el9", SourceName: "perl"}},
			Updates: []patchpilot.Update{{Package: "bash", SourcePackage: "bash", InstalledVersion: "5.1.8-6.el9",
				CandidateVersion: "5.1.8-9.el9", Security: true}},
			RebootPackages: []string{"kernel"}}
		if i >= 3 {
			f.OSFamily, f.OSName, f.OSVersion = patchpilot.FamilyDebian, "debian", "11"
			f.Packages = []patchpilot.Package{{Name: "bash", Version: bash.Old, SourceName: "bash"},
				{Name: "perl", Version: perl.Old, SourceName: "perl"}, {Name: "perl-base", Version: perl.Old, SourceName: "perl"}}
			f.Updates = []patchpilot.Update{{Package: "perl", SourcePackage: "perl", InstalledVersion: perl.Old, CandidateVersion: perl.New, Security: true}}
			if i == 5 {
				// bash held back: pending at the installed version's
				// successor only, older than the fleet's candidate.
				f.Updates = append(f.Updates, patchpilot.Update{Package: "bash", SourcePackage: "bash",
					InstalledVersion: bash.Old, CandidateVersion: bash.Old + "+deb11u1"})
			}
		}
		if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{h}); err != nil {
			t.Fatal(err)
		}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
		extra = append(extra, h)
	}
	// History: bash succeeded and failed here and there; perl rolled
	// back on the Debian 12 db hosts (a quarantine of that class); a
	// security update rolled back on the Debian 12 api hosts.
	sec, err := a.Updates(ctx, patchpilot.UpdateFilter{Host: inv[0].Name, SecurityOnly: true})
	if err != nil || len(sec) == 0 {
		t.Fatalf("no security update on %s: %v", inv[0].Name, err)
	}
	outcome := func(host, role, pkg, from, to string, kind patchpilot.OutcomeKind) patchpilot.Outcome {
		return patchpilot.Outcome{Time: at, Rollout: "r-history", Host: host, OS: "debian:12", Labels: map[string]string{"role": role},
			Packages: []patchpilot.PackageChange{{Name: pkg, From: from, To: to}},
			Outcome:  kind, Reason: "http_ok failed", GateResults: []patchpilot.GateResult{}}
	}
	for _, o := range []patchpilot.Outcome{
		outcome(inv[1].Name, "web", "bash", bash.Old, bash.New, patchpilot.OutcomeSucceeded),
		outcome(inv[2].Name, "web", "bash", bash.Old, bash.New, patchpilot.OutcomeSucceeded),
		outcome(inv[3].Name, "db", "bash", bash.Old, bash.New, patchpilot.OutcomeFailed),
		outcome(inv[4].Name, "db", "perl", perl.Old, perl.New, patchpilot.OutcomeRolledBack),
		outcome(inv[5].Name, "api", sec[0].Package, sec[0].InstalledVersion, sec[0].CandidateVersion, patchpilot.OutcomeRolledBack),
	} {
		if err := a.Store.RecordOutcome(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return append(append([]patchpilot.Host(nil), inv...), extra...)
}

func cloneLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

package app

import (
	"reflect"
	"strings"
	"testing"

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
	ctx, a, _ := openTestApp(t)
	fl, err := fleet.New(fleet.Config{Hosts: 215, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	inv := fl.Inventory()
	// A few hosts known but never collected.
	if rep, err := a.Collect(ctx, fl, inv[:210], CollectOptions{NoDepth: true}, "simulated", nil); err != nil || rep.Failed > 0 {
		t.Fatalf("collect: %v, %d failed", err, rep.Failed)
	}
	if err := a.Store.UpsertHosts(ctx, inv[210:]); err != nil {
		t.Fatal(err)
	}
	cat := fl.Recording().Catalog()
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
				views, err := a.hostViewsOf(ctx, patch)
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

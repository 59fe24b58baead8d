package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// fleetReads are the fleet-wide reads of one plan of one patch, each made
// at most once and shared by the steps that need it (the host views, the
// pin check, the rule-based baseline, the patch's assessment, the
// dependents gate), which otherwise each read them again. A nil
// *fleetReads reads afresh at every call. What it returns is shared: read
// it only, and copy an element before changing it.
// Every call with the same fleetReads names the same patch.
type fleetReads struct {
	hosts    []patchpilot.Host
	heads    []patchpilot.Facts
	sums     []patchpilot.HostSummary
	packages map[string][]patchpilot.Package
	updates  []patchpilot.HostUpdate
	graph    *patchpilot.DependencyGraph

	hostsRead, headsRead, sumsRead, packagesRead, updatesRead bool

	// updatesByHost is updates by host, in their order: worked out once.
	updatesByHost map[string][]patchpilot.HostUpdate

	// The model and the quarantines, read ahead (proposalReads) or by
	// their first use.
	model           *risk.Model
	quarantines     []Quarantine
	quarantinesRead bool

	// headAt and sumAt are each host's place in heads and sums, by name.
	headAt, sumAt map[string]int
}

// factsIndex is each host's place in heads (fleetFacts' answer) by name,
// worked out once per fleetReads.
func (fr *fleetReads) factsIndex(heads []patchpilot.Facts) map[string]int {
	if fr != nil && fr.headAt != nil {
		return fr.headAt
	}
	at := placesBy(heads, func(f *patchpilot.Facts) string { return f.Host })
	if fr != nil {
		fr.headAt = at
	}
	return at
}

// summariesIndex is each host's place in sums (fleetSummaries' answer) by
// name, worked out once per fleetReads.
func (fr *fleetReads) summariesIndex(sums []patchpilot.HostSummary) map[string]int {
	if fr != nil && fr.sumAt != nil {
		return fr.sumAt
	}
	at := placesBy(sums, func(s *patchpilot.HostSummary) string { return s.Name })
	if fr != nil {
		fr.sumAt = at
	}
	return at
}

// placesBy maps each element's name to its place in list.
func placesBy[T any](list []T, name func(*T) string) map[string]int {
	at := make(map[string]int, len(list))
	for i := range list {
		at[name(&list[i])] = i
	}
	return at
}

// inventoryReads are the fleet-wide reads of a plan that depend on the
// store's inventory alone: every host, their latest facts without lists
// and their summaries. They are kept between plans (readCache) while the
// inventory is unchanged; what a plan reads for its patch (the patch's
// packages and pending updates), the quarantines, the outcomes and the
// dependency map (which ages its observed edges with the clock) are read
// for each plan.
type inventoryReads struct {
	hosts         []patchpilot.Host
	heads         []patchpilot.Facts
	sums          []patchpilot.HostSummary
	headAt, sumAt map[string]int
}

// keptFleetReads returns the fleetReads of one plan with the inventory's
// reads already made: those kept while the store's inventory is unchanged,
// read now otherwise.
func (a *App) keptFleetReads(ctx context.Context) (*fleetReads, error) {
	var key cacheKey
	inv, _, err := cachedRead(ctx, a, &a.cache.inventoryReads, func(v patchpilot.DataVersions) cacheKey {
		key = cacheKey{inventory: v.Inventory}
		return key
	}, func(ctx context.Context) (*inventoryReads, error) {
		// The hosts, their facts and their summaries in one read.
		fi, err := a.Store.FleetInventory(ctx)
		if err != nil {
			return nil, err
		}
		// The summaries HostSummaries keeps, shared, not a copy: those
		// kept under this version of the inventory, or these, kept now.
		sums := a.keepSummaries(key, fi.Summaries)
		var fr *fleetReads
		return &inventoryReads{hosts: fi.Hosts, heads: fi.Facts, sums: sums, headAt: fr.factsIndex(fi.Facts), sumAt: fr.summariesIndex(sums)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &fleetReads{hosts: inv.hosts, heads: inv.heads, sums: inv.sums, hostsRead: true, headsRead: true, sumsRead: true,
		headAt: inv.headAt, sumAt: inv.sumAt}, nil
}

// fleetHosts is Store.Hosts.
func (a *App) fleetHosts(ctx context.Context, fr *fleetReads) ([]patchpilot.Host, error) {
	if fr == nil {
		return a.Store.Hosts(ctx)
	}
	if !fr.hostsRead {
		hs, err := a.Store.Hosts(ctx)
		if err != nil {
			return nil, err
		}
		fr.hosts, fr.hostsRead = hs, true
	}
	return fr.hosts, nil
}

// fleetFacts is Store.FleetFacts: every host's latest facts without
// their lists.
func (a *App) fleetFacts(ctx context.Context, fr *fleetReads) ([]patchpilot.Facts, error) {
	if fr == nil {
		return a.Store.FleetFacts(ctx)
	}
	if !fr.headsRead {
		fs, err := a.Store.FleetFacts(ctx)
		if err != nil {
			return nil, err
		}
		fr.heads, fr.headsRead = fs, true
	}
	return fr.heads, nil
}

// fleetSummaries is Store.HostSummaries.
func (a *App) fleetSummaries(ctx context.Context, fr *fleetReads) ([]patchpilot.HostSummary, error) {
	if fr == nil {
		return a.Store.HostSummaries(ctx)
	}
	if !fr.sumsRead {
		ss, err := a.Store.HostSummaries(ctx)
		if err != nil {
			return nil, err
		}
		fr.sums, fr.sumsRead = ss, true
	}
	return fr.sums, nil
}

// pinnedPackages is Store.LatestPackagesOf the patch's pinned names.
func (a *App) pinnedPackages(ctx context.Context, patch patchpilot.PatchSpec, fr *fleetReads) (map[string][]patchpilot.Package, error) {
	if fr == nil {
		return a.Store.LatestPackagesOf(ctx, pinNames(patch))
	}
	if !fr.packagesRead {
		ps, err := a.Store.LatestPackagesOf(ctx, pinNames(patch))
		if err != nil {
			return nil, err
		}
		fr.packages, fr.packagesRead = ps, true
	}
	return fr.packages, nil
}

// fleetPatchUpdates is patchUpdates: the fleet's pending updates the
// patch concerns.
func (a *App) fleetPatchUpdates(ctx context.Context, patch patchpilot.PatchSpec, fr *fleetReads) ([]patchpilot.HostUpdate, error) {
	if fr == nil {
		return a.patchUpdates(ctx, patch)
	}
	if !fr.updatesRead {
		us, err := a.patchUpdates(ctx, patch)
		if err != nil {
			return nil, err
		}
		fr.updates, fr.updatesRead = us, true
	}
	return fr.updates, nil
}

// fleetGraph is DependencyGraph of the whole fleet.
func (a *App) fleetGraph(ctx context.Context, fr *fleetReads) (*patchpilot.DependencyGraph, error) {
	if fr != nil && fr.graph != nil {
		return fr.graph, nil
	}
	g, err := a.dependencyGraph(ctx, DepsOptions{}, fr)
	if err != nil {
		return nil, err
	}
	if fr != nil {
		fr.graph = &g
	}
	return &g, nil
}

// fleetUpdatesByHost is fleetPatchUpdates by host, each host's in their
// order.
func (a *App) fleetUpdatesByHost(ctx context.Context, patch patchpilot.PatchSpec, fr *fleetReads) (map[string][]patchpilot.HostUpdate, error) {
	if fr != nil && fr.updatesByHost != nil {
		return fr.updatesByHost, nil
	}
	us, err := a.fleetPatchUpdates(ctx, patch, fr)
	if err != nil {
		return nil, err
	}
	byHost := map[string][]patchpilot.HostUpdate{}
	for _, u := range us {
		byHost[u.Host] = append(byHost[u.Host], u)
	}
	if fr != nil {
		fr.updatesByHost = byHost
	}
	return byHost, nil
}

// fleetModel is Model's model.
func (a *App) fleetModel(ctx context.Context, fr *fleetReads) (*risk.Model, error) {
	if fr != nil && fr.model != nil {
		return fr.model, nil
	}
	m, _, err := a.Model(ctx)
	if err == nil && fr != nil {
		fr.model = m
	}
	return m, err
}

// fleetQuarantines is Quarantines.
func (a *App) fleetQuarantines(ctx context.Context, fr *fleetReads) ([]Quarantine, error) {
	if fr != nil && fr.quarantinesRead {
		return fr.quarantines, nil
	}
	qs, err := a.Quarantines(ctx)
	if err == nil && fr != nil {
		fr.quarantines, fr.quarantinesRead = qs, true
	}
	return qs, err
}

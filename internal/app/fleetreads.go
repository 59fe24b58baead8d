package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
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
	packages map[string][]patchpilot.Package
	updates  []patchpilot.HostUpdate
	graph    *patchpilot.DependencyGraph

	hostsRead, headsRead, packagesRead, updatesRead bool
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

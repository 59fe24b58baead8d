package app

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// PatchRisk is the risk model's assessment of one patch on a set of hosts:
// what the planner sizes a default plan by and what an adaptive rollout
// starts from.
type PatchRisk struct {
	ModelVersion string               `json:"model_version"`
	ColdStart    bool                 `json:"cold_start"`
	Summary      risk.Summary         `json:"summary"`
	Strategy     risk.Strategy        `json:"strategy"`
	Level        patchpilot.RiskLevel `json:"level"`
	Hosts        []risk.Assessment    `json:"hosts"`
	// Reasons and Warnings are the riskiest host's, and every distinct
	// warning of any host.
	Reasons  []risk.Reason  `json:"reasons"`
	Warnings []risk.Warning `json:"warnings"`
}

// AssessPatchOn scores a patch (exact pins, or every pending security
// update) on the named hosts with the active model, or the cold-start
// model when none is stored. A pin without a pending update on a host is
// scored from the pin and the host's facts alone (installed version,
// labels, services), so that a rollout's prior can still be had when the
// facts are older than the plan; a proposed plan's pins are checked against
// the facts first (CheckPins).
func (a *App) AssessPatchOn(ctx context.Context, patch patchpilot.PatchSpec, hosts []string) (PatchRisk, error) {
	return a.assessPatchOn(ctx, patch, hosts, nil)
}

// assessPatchOn is AssessPatchOn with the fleet-wide reads made through fr.
func (a *App) assessPatchOn(ctx context.Context, patch patchpilot.PatchSpec, hosts []string, fr *fleetReads) (PatchRisk, error) {
	m, err := a.fleetModel(ctx, fr)
	if err != nil {
		return PatchRisk{}, err
	}
	pr := PatchRisk{ModelVersion: m.Version, ColdStart: m.ColdStart(), Hosts: []risk.Assessment{},
		Reasons: []risk.Reason{}, Warnings: []risk.Warning{}}
	cache := map[string]*hostContext{}
	now := a.now()
	deps, err := a.fleetGraph(ctx, fr)
	if err != nil {
		return pr, err
	}
	blast := risk.NewBlastIndex(deps)
	var fleet *patchFleet
	score := func(recs []risk.Record) risk.Assessment {
		as := m.AssessPatch(recs)
		as.Features = nil
		return as
	}
	if len(hosts) > fleetReadFrom {
		if fleet, err = a.readPatchFleet(ctx, patch, fr); err != nil {
			return pr, err
		}
		cache = fleet.contexts
		// Alike hosts (the same updates, OS, role and history) share
		// one scoring, as the fleet's assessment shares it; their
		// assessments share their slices, which are only read here.
		score = m.NewPatchScorer().AssessPatch
	}
	seen := map[string]bool{}
	for _, name := range hosts {
		hc, err := a.hostContext(ctx, cache, name)
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			h, herr := a.Store.Host(ctx, name)
			if herr != nil {
				return pr, herr
			}
			hc, err = &hostContext{host: h}, nil
		}
		if err != nil {
			return pr, err
		}
		var recs []risk.Record
		if fleet != nil {
			recs = patchRecordsFrom(patch, hc, fleet.updates[name], fleet.packages[name], now, blast)
		} else if recs, err = a.patchRecords(ctx, patch, hc, now, blast); err != nil {
			return pr, err
		}
		if len(recs) == 0 {
			continue
		}
		for i := range recs {
			recs[i].TransactionSize = len(recs)
		}
		as := score(recs)
		pr.Hosts = append(pr.Hosts, as)
		for _, w := range as.Warnings {
			if !seen[w.Text] {
				seen[w.Text] = true
				pr.Warnings = append(pr.Warnings, w)
			}
		}
	}
	sort.SliceStable(pr.Hosts, func(i, j int) bool { return pr.Hosts[i].Probability > pr.Hosts[j].Probability })
	pr.Summary = risk.Summarize(pr.Hosts)
	pr.Strategy, pr.Level = pr.Summary.Strategy, pr.Summary.Level
	if len(pr.Hosts) > 0 {
		pr.Reasons = pr.Hosts[0].Reasons
	}
	return pr, nil
}

// patchRecords builds the model's records of a patch on one host: its
// pending updates that the patch names (or every pending security update),
// and for a pin with no such update, a record from the pin and the facts.
func (a *App) patchRecords(ctx context.Context, patch patchpilot.PatchSpec, hc *hostContext, now time.Time, blast *risk.BlastIndex) ([]risk.Record, error) {
	updates, err := a.Updates(ctx, patchpilot.UpdateFilter{Host: hc.host.Name, SecurityOnly: patch.SecurityAll})
	if err != nil {
		return nil, err
	}
	return patchRecordsFrom(patch, hc, updates, hc.facts.Packages, now, blast), nil
}

// patchRecordsFrom is patchRecords from the host's pending updates (all
// of them, or at least every one of the patch's packages) and installed
// packages (all, or at least the patch's) as read already.
func patchRecordsFrom(patch patchpilot.PatchSpec, hc *hostContext, updates []patchpilot.HostUpdate, packages []patchpilot.Package, now time.Time, blast *risk.BlastIndex) []risk.Record {
	var recs []risk.Record
	if patch.SecurityAll {
		for _, u := range updates {
			recs = append(recs, recordFor(u, hc, now, blast))
		}
		return recs
	}
	installed := map[string]patchpilot.Package{}
	for _, p := range packages {
		installed[p.Name] = p
	}
	for _, pin := range patch.Packages {
		found := false
		for _, u := range updates {
			if u.Package == pin.Name && u.CandidateVersion == pin.Version {
				recs, found = append(recs, recordFor(u, hc, now, blast)), true
				break
			}
		}
		if found {
			continue
		}
		u := patchpilot.HostUpdate{Host: hc.host.Name, Package: pin.Name, CandidateVersion: pin.Version}
		if p, ok := installed[pin.Name]; ok {
			if p.Version == pin.Version {
				continue // already installed: nothing to change on this host
			}
			u.InstalledVersion, u.SourcePackage = p.Version, p.SourceName
		}
		recs = append(recs, recordFor(u, hc, now, blast))
	}
	return recs
}

// patchFleet is what a patch's assessment over many hosts reads of the
// whole fleet at once, rather than host by host: every host with its
// latest facts (without their lists), the pending updates the patch
// concerns and the installed packages it names, by host.
type patchFleet struct {
	contexts map[string]*hostContext
	updates  map[string][]patchpilot.HostUpdate
	packages map[string][]patchpilot.Package
}

func (a *App) readPatchFleet(ctx context.Context, patch patchpilot.PatchSpec, fr *fleetReads) (*patchFleet, error) {
	contexts, err := a.fleetContextsOf(ctx, fr)
	if err != nil {
		return nil, err
	}
	updates, err := a.fleetUpdatesByHost(ctx, patch, fr)
	if err != nil {
		return nil, err
	}
	pf := &patchFleet{contexts: contexts, updates: updates}
	if !patch.SecurityAll {
		if pf.packages, err = a.pinnedPackages(ctx, patch, fr); err != nil {
			return nil, err
		}
	}
	return pf, nil
}

// patchUpdates reads the fleet's pending updates a patch concerns, with
// their advisories, ordered by host and package as Updates orders them:
// every pending security update; those of the one package pinned (and of
// the source package of that name); every pending update for several
// pins. A host's share holds what its own Updates lists of the patch's
// packages.
func (a *App) patchUpdates(ctx context.Context, patch patchpilot.PatchSpec) ([]patchpilot.HostUpdate, error) {
	if patch.SecurityAll {
		return a.Updates(ctx, patchpilot.UpdateFilter{SecurityOnly: true})
	}
	if names := pinNames(patch); len(names) == 1 {
		return a.Updates(ctx, patchpilot.UpdateFilter{Package: names[0]})
	}
	return a.Updates(ctx, patchpilot.UpdateFilter{})
}

// pinNames is the distinct package names a patch pins, in order.
func pinNames(patch patchpilot.PatchSpec) []string {
	var names []string
	for _, p := range patch.Packages {
		if !slices.Contains(names, p.Name) {
			names = append(names, p.Name)
		}
	}
	return names
}

// Prior is the orchestrator's hook for adaptive rollouts: the model's mean
// probability that the plan's patch breaks one of the rollout's hosts.
func (a *App) Prior(ctx context.Context, p patchpilot.Plan, hosts []string) (orchestrator.AdaptivePrior, error) {
	pr, err := a.AssessPatchOn(ctx, p.Patch, hosts)
	if err != nil {
		return orchestrator.AdaptivePrior{}, err
	}
	if len(pr.Hosts) == 0 {
		return orchestrator.AdaptivePrior{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "the patch updates none of the rollout's hosts")
	}
	out := orchestrator.AdaptivePrior{Probability: pr.Summary.MeanProbability, ModelVersion: pr.ModelVersion}
	for _, r := range pr.Reasons {
		out.Reasons = append(out.Reasons, r.String())
	}
	return out, nil
}

// riskHeader is the comment block a proposed plan starts with: the model,
// its probability, strategy, reasons and warnings.
func riskHeader(pr PatchRisk) []string {
	model := pr.ModelVersion
	if pr.ColdStart {
		model += " (" + risk.ColdStartMeaning + ")"
	}
	lines := []string{
		"risk model " + model,
		fmt.Sprintf("probability of failure per host: mean %.1f%%, max %.1f%%, %.1f hosts expected to fail; level %s, strategy %s",
			100*pr.Summary.MeanProbability, 100*pr.Summary.MaxProbability, pr.Summary.ExpectedFailures, pr.Level, pr.Strategy),
	}
	for _, r := range pr.Reasons {
		lines = append(lines, "reason: "+r.String())
	}
	for _, w := range pr.Warnings {
		lines = append(lines, "warning: "+w.Text)
	}
	return lines
}

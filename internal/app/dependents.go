package app

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// DependentsOf reads, for each of the provider hosts, the hosts that depend
// on it on the dependency map with the provider's ports they use and the
// services that use them. Edges from outside the fleet, from the provider
// itself, and edges that name no port (nothing can be probed) are left
// out; the notes say which.
func DependentsOf(g patchpilot.DependencyGraph, providers []string) (map[string][]patchpilot.HealthDependent, []string) {
	want := map[string]bool{}
	for _, p := range providers {
		want[p] = true
	}
	type key struct{ provider, dependent string }
	ports := map[key]map[int]bool{}
	services := map[key]map[string]bool{}
	var notes []string
	for _, e := range g.Edges {
		if !want[e.To.Host] || e.From.External() || e.From.Host == e.To.Host {
			continue
		}
		if e.To.Port == 0 {
			notes = append(notes, fmt.Sprintf("%s depends on %s, but the map names no port of it: not checked by %s",
				e.From.Host, e.To.Host, patchpilot.CriterionDependentsReachable))
			continue
		}
		k := key{e.To.Host, e.From.Host}
		if ports[k] == nil {
			ports[k], services[k] = map[int]bool{}, map[string]bool{}
		}
		ports[k][e.To.Port] = true
		if e.From.Service != "" {
			services[k][e.From.Service] = true
		}
	}
	out := map[string][]patchpilot.HealthDependent{}
	for k, ps := range ports {
		d := patchpilot.HealthDependent{Host: k.dependent}
		for p := range ps {
			d.Ports = append(d.Ports, p)
		}
		sort.Ints(d.Ports)
		for s := range services[k] {
			d.Services = append(d.Services, s)
		}
		sort.Strings(d.Services)
		out[k.provider] = append(out[k.provider], d)
	}
	for p := range out {
		sort.Slice(out[p], func(i, j int) bool { return out[p][i].Host < out[p][j].Host })
	}
	return out, notes
}

// namesCriterion reports whether a stage of the plan names the criterion.
func namesCriterion(p patchpilot.Plan, name string) bool {
	for _, s := range p.Stages {
		for _, c := range s.Criteria {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// resolveDependents writes into a plan about to become a rollout the
// dependents of each of its targets, when one of its stages names
// dependents_reachable: the stored plan carries them, so every check of
// the rollout, after a restart too, asks the same hosts.
func (a *App) resolveDependents(ctx context.Context, p patchpilot.Plan, views []planner.HostView) (patchpilot.Plan, error) {
	if !namesCriterion(p, patchpilot.CriterionDependentsReachable) {
		return p, nil
	}
	targets, err := planner.SelectTargets(p.Targets, views)
	if err != nil {
		return p, err
	}
	g, err := a.DependencyGraph(ctx, DepsOptions{})
	if err != nil {
		return p, err
	}
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		names = append(names, t.Name())
	}
	deps, _ := DependentsOf(g, names)
	p.Health.Dependents = nil
	if len(deps) > 0 {
		p.Health.Dependents = deps
	}
	return p, nil
}

// withDependentsGate adds dependents_reachable to every stage of a default
// plan when one of its targets has dependents on the map, and returns the
// header lines that say so.
func (a *App) withDependentsGate(ctx context.Context, p patchpilot.Plan, targets []string, fr *fleetReads) (patchpilot.Plan, []string, error) {
	g, err := a.fleetGraph(ctx, fr)
	if err != nil {
		return p, nil, err
	}
	deps, _ := DependentsOf(*g, targets)
	if len(deps) == 0 {
		return p, nil, nil
	}
	providers := make([]string, 0, len(deps))
	for h := range deps {
		providers = append(providers, h)
	}
	slices.Sort(providers)
	p.Stages = slices.Clone(p.Stages)
	for i := range p.Stages {
		s := &p.Stages[i]
		if !slices.ContainsFunc(s.Criteria, func(c patchpilot.Criterion) bool { return c.Name == patchpilot.CriterionDependentsReachable }) {
			s.Criteria = append(slices.Clone(s.Criteria), patchpilot.Criterion{Name: patchpilot.CriterionDependentsReachable})
		}
	}
	header := []string{fmt.Sprintf("%s: other hosts depend on %d of the targets (%s): their ports are checked from the dependents after the change; remove the criterion to turn it off",
		patchpilot.CriterionDependentsReachable, len(providers), joinFirst(providers, 5))}
	return p, header, nil
}

func joinFirst(items []string, n int) string {
	s := ""
	for i, it := range items {
		if i == n {
			return s + fmt.Sprintf(", and %d more", len(items)-n)
		}
		if i > 0 {
			s += ", "
		}
		s += it
	}
	return s
}

package planner

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// ResolvedPlan is a plan with its target hosts assigned to stages: what the
// orchestrator executes. Notes explain choices that apply to the whole plan.
type ResolvedPlan struct {
	Plan   patchpilot.Plan
	Stages []ResolvedStage
	Notes  []string
	// Warnings name what in the plan looks mistaken against the targets:
	// a budget whose service or selector covers none of them.
	Warnings []string
}

// ResolvedStage is one stage with its hosts, in the order they are
// dispatched.
type ResolvedStage struct {
	Stage patchpilot.Stage
	Hosts []string
	// Canary is true for the early stages whose hosts were chosen to
	// cover the targets' configurations; critical hosts are never in them.
	Canary bool
	// RequiresApproval is true when the plan asks for an approval or the
	// stage holds critical hosts and the policy does not waive it.
	RequiresApproval bool
	// Reasons explain the host choice (canary coverage, the dependency
	// order), the budgets that hold its hosts and the approval.
	Reasons []string
}

// Host counts of stages are resolved against the number of targets; these
// errors say which stage does not fit and why.
const resolveHint = "adjust the stage targets to the number of target hosts, or start from a default plan sized for them"

// StageSizes returns how many hosts each stage gets out of total targets:
// counts as written, percentages of the total rounded up (at least 1), and
// the rest. It is an error for a stage to need more hosts than remain, for a
// stage to be left empty, or for hosts to be left over with no rest stage.
func StageSizes(stages []patchpilot.Stage, total int) ([]int, error) {
	if len(stages) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "the plan has no stages")
	}
	if total <= 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "no target hosts").WithHint("check the plan's target selector against the hosts 'patchpilot hosts' lists")
	}
	sizes := make([]int, len(stages))
	remaining := total
	for i, s := range stages {
		n := s.Targets.Of(total)
		if s.Targets.IsRest() {
			n = remaining
		}
		switch {
		case n == 0 && s.Targets.IsRest():
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "stage %q would be empty: the stages before it take all %d target hosts", s.Name, total).WithHint(resolveHint)
		case n <= 0:
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "stage %q has no hosts (targets %s)", s.Name, s.Targets).WithHint(resolveHint)
		case n > remaining:
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "stage %q needs %d hosts (targets %s) but only %d of %d target hosts remain",
				s.Name, n, s.Targets, remaining, total).WithHint(resolveHint)
		}
		sizes[i] = n
		remaining -= n
	}
	if remaining > 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "the stages cover %d of %d target hosts", total-remaining, total).
			WithHint("end the plan with a stage whose targets are rest")
	}
	return sizes, nil
}

// IsCanaryStage reports whether stage i of n is a canary stage: the first
// stage, or one named validation* or canary*, but never the last stage (a
// single-stage plan has to take every host, critical or not).
func IsCanaryStage(stages []patchpilot.Stage, i int) bool {
	if i >= len(stages)-1 {
		return false
	}
	name := strings.ToLower(stages[i].Name)
	return i == 0 || strings.HasPrefix(name, "validation") || strings.HasPrefix(name, "canary")
}

// Resolve assigns the target hosts (already selected) to the plan's stages.
// The canary stages get non-critical hosts chosen to cover the distinct
// configurations of the targets (OS and version, role, and key packages:
// which of the patch's packages, their source siblings and services each
// host runs), lowest criticality first; the later stages get the other hosts by criticality and name, so
// critical hosts go last. The dependency map (HostView.Dependents, see
// WithDependencies) then orders them as the plan's order section says: by
// default providers stay out of the canary stages while other candidates
// remain and go after the target hosts that depend on them, and each
// stage's reasons say why. The result is deterministic for a given input.
func Resolve(p patchpilot.Plan, hosts []HostView) (ResolvedPlan, error) {
	p = p.WithDefaults()
	rp := ResolvedPlan{Plan: p}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h.Name() == "" {
			return rp, patchpilot.Errorf(patchpilot.EINVALID, "a target host has no name")
		}
		if seen[h.Name()] {
			return rp, patchpilot.Errorf(patchpilot.EINVALID, "target host %q is listed twice", h.Name())
		}
		seen[h.Name()] = true
	}
	if err := checkDowngrades(p, hosts); err != nil {
		return rp, err
	}
	sizes, err := StageSizes(p.Stages, len(hosts))
	if err != nil {
		return rp, err
	}

	slots := 0
	for i := range p.Stages {
		if IsCanaryStage(p.Stages, i) {
			slots += sizes[i]
		}
	}
	// Views are large: the lists are made as long as they can get rather
	// than grown view by view.
	candidates, critical := make([]HostView, 0, len(hosts)), []HostView(nil)
	for _, h := range hosts {
		if h.Host.Critical() {
			critical = append(critical, h)
		} else {
			candidates = append(candidates, h)
		}
	}
	if slots > len(candidates) {
		first := p.Stages[0].Name
		return rp, patchpilot.Errorf(patchpilot.EINVALID,
			"the canary stages (from %q) need %d hosts but only %d of %d target hosts are not critical",
			first, slots, len(candidates), len(hosts)).
			WithHint("critical hosts are never canaries: add non-critical targets or shrink the early stages")
	}
	order := p.DependencyOrder()
	keyOf := configKeys(p.Patch, len(hosts))
	canaries, configs, held := pickCanaries(candidates, slots, keyOf, order)
	covered := map[string]bool{}
	for i := range canaries {
		covered[keyOf(&canaries[i])] = true
	}
	var missing []string
	for _, c := range configs {
		if !covered[c] {
			missing = append(missing, c)
		}
	}
	for i := range critical {
		if c := keyOf(&critical[i]); !covered[c] && !contains(missing, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 && slots > 0 {
		// A plan without canary stages has no coverage to speak of.
		rp.Notes = append(rp.Notes, fmt.Sprintf("the canary stages cover %d of %d configurations; not covered: %s",
			len(covered), len(covered)+len(missing), strings.Join(missing, ", ")))
	}

	rest := make([]HostView, 0, len(hosts))
	picked := map[string]bool{}
	for _, h := range canaries {
		picked[h.Name()] = true
	}
	for _, h := range hosts {
		if !picked[h.Name()] {
			rest = append(rest, h)
		}
	}
	sortByCriticality(rest)
	why := map[string]string{}
	if order != patchpilot.OrderIgnore {
		first := order == patchpilot.OrderProvidersFirst
		var c1, c2 map[string]string
		canaries, c1 = dependencyOrder(canaries, first)
		rest, c2 = dependencyOrder(rest, first)
		why = orderReasons(append(append([]HostView(nil), canaries...), rest...), first)
		for _, c := range []map[string]string{c1, c2} {
			for k, v := range c {
				why[k] = strings.TrimPrefix(why[k]+"; ", "; ") + v
			}
		}
	}

	covers := coverBudgets(p.Budgets, hosts)
	for i, s := range p.Stages {
		rs := ResolvedStage{Stage: s, Canary: IsCanaryStage(p.Stages, i)}
		var take []HostView
		if rs.Canary {
			take, canaries = canaries[:sizes[i]], canaries[sizes[i]:]
			var keys []string
			for i := range take {
				if k := keyOf(&take[i]); !contains(keys, k) {
					keys = append(keys, k)
				}
			}
			rs.Reasons = append(rs.Reasons, "canary hosts chosen to cover configurations "+strings.Join(keys, ", ")+", lowest criticality first")
			rs.Reasons = append(rs.Reasons, canaryOrderReasons(take, held, order, i == 0)...)
		} else {
			take, rest = rest[:sizes[i]], rest[sizes[i]:]
		}
		var crit []string
		for _, h := range take {
			if w, ok := why[h.Name()]; ok {
				rs.Reasons = append(rs.Reasons, w)
			}
		}
		rs.Reasons = append(rs.Reasons, budgetReasons(p.Budgets, covers, take)...)
		for _, h := range take {
			rs.Hosts = append(rs.Hosts, h.Name())
			if h.Host.Critical() {
				crit = append(crit, h.Name())
			}
		}
		if s.Approval == patchpilot.ApprovalRequired {
			rs.RequiresApproval = true
			rs.Reasons = append(rs.Reasons, "the plan requires approval for this stage")
		}
		if len(crit) > 0 {
			// Critical hosts always need a person; no plan can waive it.
			rs.RequiresApproval = true
			rs.Reasons = append(rs.Reasons, "holds critical hosts "+strings.Join(crit, ", ")+", which need approval")
		}
		rp.Stages = append(rp.Stages, rs)
	}
	rp.Warnings = budgetWarnings(p.Budgets, covers, hosts)
	return rp, nil
}

// chooseCanaries picks n hosts round-robin over the configurations, so that
// every configuration gets one canary before any gets two. Configurations
// are visited by their least critical host, then by size (most common
// first), then by name; hosts within one by criticality, then name. It
// returns the picks in order and the configurations in visiting order.
func chooseCanaries(hosts []HostView, n int, keyOf func(*HostView) string) ([]HostView, []string) {
	// The groups hold places in hosts: a view is large, and the groups
	// are built and sorted over every candidate.
	ranks := make([]int, len(hosts))
	groups := map[string][]int{}
	var keys []string
	for i := range hosts {
		ranks[i] = criticalityRank(&hosts[i])
		k := keyOf(&hosts[i])
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range keys {
		sortPlaces(groups[k], hosts, ranks)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := groups[keys[i]], groups[keys[j]]
		if ra, rb := ranks[a[0]], ranks[b[0]]; ra != rb {
			return ra < rb
		}
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return keys[i] < keys[j]
	})
	var out []HostView
	for round := 0; len(out) < n && round < len(hosts); round++ {
		for _, k := range keys {
			if len(out) < n && round < len(groups[k]) {
				out = append(out, hosts[groups[k][round]])
			}
		}
	}
	return out, keys
}

// configKeys returns configKey of the patch, worked out once per host (by
// name: a resolution's hosts have distinct names) however often the
// resolution asks; the patch's package names are gathered once for all.
func configKeys(patch patchpilot.PatchSpec, hosts int) func(*HostView) string {
	keys := make(map[string]string, hosts)
	names := patchNames(patch)
	return func(h *HostView) string {
		k, ok := keys[h.Name()]
		if !ok {
			k = configKey(h, patch, names)
			keys[h.Name()] = k
		}
		return k
	}
}

// patchNames is the set of the names of a patch's packages.
func patchNames(patch patchpilot.PatchSpec) map[string]bool {
	names := make(map[string]bool, len(patch.Packages))
	for _, pin := range patch.Packages {
		names[pin.Name] = true
	}
	return names
}

// configKey names a host's configuration for canary coverage: OS and
// version, role, and the host's key packages for the patch (see
// keyPackages), when it has any. names is patchNames(patch).
func configKey(h *HostView, patch patchpilot.PatchSpec, names map[string]bool) string {
	os := "unknown-os"
	if h.Facts.CollectedAt != nil && h.Facts.OSName != "" {
		os = h.Facts.OSName + ":" + h.Facts.OSVersion
	}
	role := h.Host.Labels[patchpilot.LabelRole]
	if role == "" {
		role = "no-role"
	}
	key := os + "/" + role
	if keys := keyPackages(h, patch, names); len(keys) > 0 {
		key += "/" + strings.Join(keys, "+")
	}
	return key
}

// keyPackages are what a patch touches on a host, as far as its facts
// tell: the patched packages it has installed, the other installed
// packages built from the same sources (libssl3 beside openssl), and the
// running services named after a patched package or its source (the
// daemon the update restarts). Two hosts of one OS and role that differ
// here may well react differently to the patch, so the canaries cover
// both. A patch of every security update has no fixed package list and no
// key packages. names is patchNames(patch), shared by every host.
func keyPackages(h *HostView, patch patchpilot.PatchSpec, names map[string]bool) []string {
	if len(patch.Packages) == 0 || (len(h.Packages) == 0 && h.Facts.PackageCount == 0) {
		// A view may hold only the packages a patch concerns (see
		// HostView): its facts' count says whether the host has any.
		return nil
	}
	sources := map[string]bool{}
	for _, pin := range patch.Packages {
		if src, ok := h.Packages[pin.Name]; ok && src != "" {
			sources[src] = true
		}
	}
	var out []string
	for name, src := range h.Packages {
		if names[name] || (src != "" && sources[src]) {
			out = append(out, name)
		}
	}
	for _, svc := range h.Services {
		unit := strings.TrimSuffix(svc, ".service")
		if names[unit] || sources[unit] {
			out = append(out, "svc:"+unit)
		}
	}
	if out == nil {
		return []string{}
	}
	// A package name appears once in the map; a service may be listed
	// twice.
	sort.Strings(out)
	return slices.Compact(out)
}

// criticalityRank orders hosts by their criticality label: low, then
// unlabelled or medium, then high, then critical.
func criticalityRank(h *HostView) int {
	if h.Host.Critical() {
		return 3
	}
	switch strings.ToLower(h.Host.Labels[patchpilot.LabelCriticality]) {
	case "low":
		return 0
	case "high":
		return 2
	}
	return 1
}

// sortByCriticality sorts hosts by criticality (criticalityRank), then
// name, keeping the order of equal ones.
func sortByCriticality(hosts []HostView) {
	ranks := make([]int, len(hosts))
	places := make([]int, len(hosts))
	for i := range hosts {
		ranks[i], places[i] = criticalityRank(&hosts[i]), i
	}
	sortPlaces(places, hosts, ranks)
	sorted := make([]HostView, len(hosts))
	for i, p := range places {
		sorted[i] = hosts[p]
	}
	copy(hosts, sorted)
}

// sortPlaces sorts places in hosts as sortByCriticality sorts the hosts
// they name (ranks are the hosts' criticalityRank), keeping the order of
// equal ones: places in increasing order sort as the hosts would.
func sortPlaces(places []int, hosts []HostView, ranks []int) {
	sort.SliceStable(places, func(i, j int) bool {
		a, b := places[i], places[j]
		if ranks[a] != ranks[b] {
			return ranks[a] < ranks[b]
		}
		return hosts[a].Name() < hosts[b].Name()
	})
}

// ResolveFleet selects the plan's targets among all known hosts and
// resolves the plan against them.
func ResolveFleet(p patchpilot.Plan, fleet []HostView) (ResolvedPlan, error) {
	targets, err := SelectTargets(p.Targets, fleet)
	if err != nil {
		return ResolvedPlan{Plan: p.WithDefaults()}, err
	}
	return Resolve(p, targets)
}

package canary

import (
	"sort"

	"github.com/patchpilot/patchpilot"
)

// DefaultControlsPerStratum is how many unchanged hosts Controls picks for
// each stratum of the changed hosts: enough to average out one odd host,
// few enough to keep each look to a handful of queries.
const DefaultControlsPerStratum = 4

// LabelOS is the host label Stratum reads when Target.OS is empty.
const LabelOS = "os"

// Stratum is the matching key of a host: its role and OS, such as
// "web/debian:12". The judge compares each patched host with the control
// hosts of its stratum when there are any, else with all control hosts.
func Stratum(t Target) string {
	role := t.Host.Labels[patchpilot.LabelRole]
	os := t.OS
	if os == "" {
		os = t.Host.Labels[LabelOS]
	}
	if role == "" && os == "" {
		return ""
	}
	return role + "/" + os
}

// Controls picks the control hosts for the changed hosts from candidates,
// the hosts not yet changed (those of later stages). For each stratum of
// the changed hosts it takes up to perStratum candidates of the same role
// and OS; when there are none, of the same role; when there are none
// either, of any kind. Candidates are taken in name order, so that every
// look of a bake compares with the same hosts, and none is taken twice or
// when it is itself among the changed hosts. perStratum <= 0 means
// DefaultControlsPerStratum.
func Controls(changed []Target, candidates []Target, perStratum int) []Target {
	if perStratum <= 0 {
		perStratum = DefaultControlsPerStratum
	}
	pool := make([]Target, 0, len(candidates))
	skip := map[string]bool{}
	for _, t := range changed {
		skip[t.Host.Name] = true
	}
	for _, c := range candidates {
		if !skip[c.Host.Name] {
			skip[c.Host.Name] = true
			pool = append(pool, Target{Host: c.Host, OS: c.OS})
		}
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i].Host.Name < pool[j].Host.Name })
	strata := map[string]Target{}
	var keys []string
	for _, t := range changed {
		k := Stratum(t)
		if _, ok := strata[k]; !ok {
			strata[k] = t
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	taken := map[string]bool{}
	var out []Target
	for _, k := range keys {
		want := strata[k]
		role := want.Host.Labels[patchpilot.LabelRole]
		for _, match := range []func(Target) bool{
			func(c Target) bool { return Stratum(c) == k },
			func(c Target) bool { return c.Host.Labels[patchpilot.LabelRole] == role },
			func(Target) bool { return true },
		} {
			n := 0
			for _, c := range pool {
				if n < perStratum && !taken[c.Host.Name] && match(c) {
					taken[c.Host.Name] = true
					out = append(out, c)
					n++
				}
			}
			if n > 0 {
				break
			}
		}
	}
	return out
}

// StageFleet splits a rollout's hosts for a look at stage: the stage's
// hosts whose change is on them or being made (apply, reboot, verify,
// succeeded; a host rolling back or rolled back is not), each with the time
// its change was applied, and the hosts not yet started in the stages after
// it, the candidates for controls (Controls picks among them). checked is
// the host being checked: its own Host and Since stand for its stored
// record, which may be a step behind. runs are the rollout's host runs;
// hosts the stored hosts by name (a run whose host is not among them is
// left out); osOf names a host's OS for matching, or "".
func StageFleet(p patchpilot.Plan, stage string, checked patchpilot.HealthTarget, runs []patchpilot.HostRun,
	hosts map[string]patchpilot.Host, osOf func(host string) string) (changed, unchanged []Target) {
	later := map[string]bool{}
	seen := false
	for _, st := range p.Stages {
		if seen {
			later[st.Name] = true
		}
		seen = seen || st.Name == stage
	}
	for _, hr := range runs {
		h, ok := hosts[hr.Host]
		if !ok {
			continue
		}
		target := Target{Host: h, OS: osOf(h.Name)}
		switch {
		case hr.Stage == stage && changedState(hr.State):
			if hr.AppliedAt != nil {
				target.AppliedAt = *hr.AppliedAt
			}
			if hr.Host == checked.Host.Name {
				target.Host = checked.Host
				if !checked.Since.IsZero() {
					target.AppliedAt = checked.Since
				}
			}
			changed = append(changed, target)
		case later[hr.Stage] && hr.State == patchpilot.HostPending && hr.Order == 0:
			unchanged = append(unchanged, target)
		}
	}
	return changed, unchanged
}

// changedState reports whether a host in state s has its change on it, or
// being made: it counts among its stage's patched hosts.
func changedState(s patchpilot.HostState) bool {
	switch s {
	case patchpilot.HostApply, patchpilot.HostReboot, patchpilot.HostVerify, patchpilot.HostSucceeded:
		return true
	}
	return false
}

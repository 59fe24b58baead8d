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

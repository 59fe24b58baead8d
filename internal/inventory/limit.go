package inventory

import (
	"path"
	"regexp"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Limit selects hosts with an Ansible --limit pattern. A pattern is a list
// of terms separated by "," (or by ":" when it has no comma). Each term is a
// host name, a group name, a glob over host and group names (web*, db-?),
// "all" or "*", or ~REGEX (matched from the start of host and group names).
// A term prefixed with "&" intersects, with "!" excludes; the result is the
// union of the plain terms, intersected with each & term, less each ! term,
// as Ansible computes it. A pattern of only & and ! terms starts from all.
// The result keeps the order of hosts. An empty pattern selects every host.
//
// A plain name that matches no host and no group is an EINVALID error, as it
// is almost always a typo; globs and regular expressions may match nothing.
func Limit(hosts []patchpilot.Host, pattern string) ([]patchpilot.Host, error) {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		return hosts, nil
	}
	terms := splitLimit(pattern)
	var include, intersect, exclude []map[int]bool
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		list := &include
		switch t[0] {
		case '!':
			list, t = &exclude, t[1:]
		case '&':
			list, t = &intersect, t[1:]
		}
		set, err := matchTerm(hosts, t)
		if err != nil {
			return nil, err
		}
		*list = append(*list, set)
	}
	selected := map[int]bool{}
	if len(include) == 0 {
		for i := range hosts {
			selected[i] = true
		}
	}
	for _, s := range include {
		for i := range s {
			selected[i] = true
		}
	}
	for _, s := range intersect {
		for i := range selected {
			if !s[i] {
				delete(selected, i)
			}
		}
	}
	for _, s := range exclude {
		for i := range s {
			delete(selected, i)
		}
	}
	out := []patchpilot.Host{}
	for i, h := range hosts {
		if selected[i] {
			out = append(out, h)
		}
	}
	return out, nil
}

// splitLimit splits a pattern into terms: on commas when there are any,
// otherwise on colons, except inside a ~regex term, which keeps its colons.
func splitLimit(p string) []string {
	if strings.Contains(p, ",") {
		return strings.Split(p, ",")
	}
	if strings.HasPrefix(strings.TrimLeft(p, "!&"), "~") {
		return []string{p}
	}
	return strings.Split(p, ":")
}

// matchTerm returns the indexes of the hosts one term selects.
func matchTerm(hosts []patchpilot.Host, t string) (map[int]bool, error) {
	if t == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "empty term in limit pattern").
			WithHint("remove the stray &, ! or separator")
	}
	set := map[int]bool{}
	if t == groupAll || t == "*" {
		for i := range hosts {
			set[i] = true
		}
		return set, nil
	}
	var match func(string) bool
	plain := false
	switch {
	case t[0] == '~':
		re, err := regexp.Compile("^(?:" + t[1:] + ")")
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "invalid regular expression %q in limit pattern: %v", t[1:], err)
		}
		match = re.MatchString
	case strings.ContainsAny(t, "*?["):
		if _, err := path.Match(t, ""); err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "invalid glob %q in limit pattern", t)
		}
		match = func(s string) bool { ok, _ := path.Match(t, s); return ok }
	default:
		plain = true
		match = func(s string) bool { return s == t }
	}
	for i, h := range hosts {
		if match(h.Name) {
			set[i] = true
			continue
		}
		for _, g := range h.Groups {
			if match(g) {
				set[i] = true
				break
			}
		}
	}
	if plain && len(set) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "limit %q matches no host or group", t).
			WithHint("check the name against the inventory, or use a glob such as web*")
	}
	return set, nil
}

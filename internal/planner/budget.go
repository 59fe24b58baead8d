package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// BudgetGroup returns the group a host falls in under a disruption budget,
// and false when the budget does not cover the host: the host must serve
// the budget's service and match its selector, and falls in the group of
// its label value (one group when the budget names no label).
func BudgetGroup(b patchpilot.DisruptionBudget, v HostView) (string, bool) {
	if b.Service != "" {
		// A spec the planner refused never reaches a stored plan; should
		// one, it covers every host: the budget then holds more hosts,
		// never fewer.
		if sp, err := ParseServiceSpec(b.Service); err == nil && !sp.Covers(v) {
			return "", false
		}
	}
	if b.Selector != "" {
		sel, err := ParseSelector(b.Selector)
		if err != nil || !sel.Matches(v) {
			return "", false
		}
	}
	if b.Group == "" {
		return "", true
	}
	return v.Host.Labels[b.Group], true
}

// budgetLabel names a budget in reasons and warnings: "budget 2 (service:
// postgresql:5432, max_unavailable: 1)".
func budgetLabel(i int, b patchpilot.DisruptionBudget) string {
	var parts []string
	if b.Group != "" {
		parts = append(parts, "group: "+b.Group)
	}
	if b.Selector != "" {
		parts = append(parts, "selector: "+strconv.Quote(b.Selector))
	}
	if b.Service != "" {
		parts = append(parts, "service: "+b.Service)
	}
	parts = append(parts, "max_unavailable: "+b.MaxUnavailable.String())
	return fmt.Sprintf("budget %d (%s)", i+1, strings.Join(parts, ", "))
}

// budgetWarnings name the budgets with a service or a selector that cover
// none of the targets as their latest facts tell: a mistyped unit, port
// or label disables the budget without a word otherwise.
func budgetWarnings(budgets []patchpilot.DisruptionBudget, covers []budgetCover, targets []HostView) []string {
	var out []string
	for i, b := range budgets {
		if (b.Service == "" && b.Selector == "") || len(covers[i].group) > 0 {
			continue
		}
		var why []string
		if sp, err := ParseServiceSpec(b.Service); b.Service != "" && err == nil && !anyHost(targets, sp.Covers) {
			switch {
			case sp.Port == 0:
				why = append(why, "none runs unit "+sp.Unit)
			case sp.Unit == "":
				why = append(why, fmt.Sprintf("none listens on port %d", sp.Port))
			default:
				why = append(why, fmt.Sprintf("none runs unit %s listening on port %d", sp.Unit, sp.Port))
			}
		}
		if sel, err := ParseSelector(b.Selector); b.Selector != "" && err == nil && !anyHost(targets, sel.Matches) {
			why = append(why, fmt.Sprintf("its selector %q matches none", b.Selector))
		}
		if len(why) == 0 {
			why = append(why, "none matches all of its terms at once")
		}
		out = append(out, fmt.Sprintf("%s covers none of the %s: %s as their latest facts tell, so it limits nothing; check it against 'patchpilot hosts show HOST'",
			budgetLabel(i, b), countedHosts(len(targets), "target host", "target hosts"), strings.Join(why, " and ")))
	}
	return out
}

func anyHost(hosts []HostView, f func(HostView) bool) bool {
	for _, h := range hosts {
		if f(h) {
			return true
		}
	}
	return false
}

func countedHosts(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// budgetCover is which targets a budget covers, in which group, and each
// group's size among the targets.
type budgetCover struct {
	group map[string]string // host → group, for the hosts it covers
	size  map[string]int
}

// coverBudgets reads once which targets each budget covers.
func coverBudgets(budgets []patchpilot.DisruptionBudget, targets []HostView) []budgetCover {
	out := make([]budgetCover, len(budgets))
	for i, b := range budgets {
		c := budgetCover{group: map[string]string{}, size: map[string]int{}}
		for _, h := range targets {
			if g, ok := BudgetGroup(b, h); ok {
				c.group[h.Name()] = g
				c.size[g]++
			}
		}
		out[i] = c
	}
	return out
}

// budgetReasons explain which budgets hold a stage's hosts: for each
// budget covering any of them, the stage's hosts in each of its groups,
// the group's size among the targets and how many of it may be
// unavailable at once.
func budgetReasons(budgets []patchpilot.DisruptionBudget, covers []budgetCover, stage []HostView) []string {
	var out []string
	for i, b := range budgets {
		members := map[string][]string{}
		for _, h := range stage {
			if g, ok := covers[i].group[h.Name()]; ok {
				members[g] = append(members[g], h.Name())
			}
		}
		if len(members) == 0 {
			continue
		}
		groups := make([]string, 0, len(members))
		for g := range members {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		var parts []string
		for _, g := range groups {
			n := covers[i].size[g]
			part := fmt.Sprintf("%s (of %s it covers: at most %d unavailable at a time)",
				strings.Join(members[g], ", "), countedHosts(n, "target host", "target hosts"), b.Allowed(n))
			switch {
			case b.Group != "" && g == "":
				part = fmt.Sprintf("no %s label: %s", b.Group, part)
			case b.Group != "":
				part = fmt.Sprintf("%s=%s: %s", b.Group, g, part)
			}
			parts = append(parts, part)
		}
		out = append(out, budgetLabel(i, b)+" holds "+strings.Join(parts, "; "))
	}
	return out
}

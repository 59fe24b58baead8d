package planner

import (
	"container/heap"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// WithDependencies returns copies of the views with their Dependents set
// from the dependency map: every edge (live, stale or declared) from
// another fleet host to the view's host. Edges from external addresses
// and a host's edges to itself are left out: only fleet hosts wait for a
// provider. The edges are sorted by client host, service and port.
func WithDependencies(views []HostView, g patchpilot.DependencyGraph) []HostView {
	in := map[string][]patchpilot.DependencyEdge{}
	for _, e := range g.Edges {
		if e.From.External() || e.To.External() || e.From.Host == e.To.Host {
			continue
		}
		in[e.To.Host] = append(in[e.To.Host], e)
	}
	out := make([]HostView, len(views))
	for i, v := range views {
		v.Dependents = nil
		if edges := in[v.Name()]; len(edges) > 0 {
			v.Dependents = append([]patchpilot.DependencyEdge(nil), edges...)
			sort.SliceStable(v.Dependents, func(a, b int) bool {
				x, y := v.Dependents[a], v.Dependents[b]
				if x.From.Host != y.From.Host {
					return x.From.Host < y.From.Host
				}
				if x.From.Service != y.From.Service {
					return x.From.Service < y.From.Service
				}
				return x.To.Port < y.To.Port
			})
		}
		out[i] = v
	}
	return out
}

// DependentHosts returns the distinct fleet hosts that depend on the view's
// host, sorted.
func (v HostView) DependentHosts() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range v.Dependents {
		if !seen[e.From.Host] {
			seen[e.From.Host] = true
			out = append(out, e.From.Host)
		}
	}
	sort.Strings(out)
	return out
}

// IsProvider reports whether another fleet host depends on the view's host.
func (v HostView) IsProvider() bool { return len(v.Dependents) > 0 }

// EdgeText words a dependency edge as plans explain their order:
// "lab01:pp-demo-client depends on lab02:pp-demo-web:8080".
func EdgeText(e patchpilot.DependencyEdge) string {
	return EndText(e.From, false) + " depends on " + EndText(e.To, true)
}

// EndText words one end of an edge: host, service (its unit without
// ".service") and, with port, the provider's port: "lab02:pp-demo-web:8080",
// "lab02:5432", "lab02", or the address of an external end.
func EndText(e patchpilot.DependencyEnd, port bool) string {
	s := e.Host
	if e.External() {
		s = e.Address
	}
	if svc := strings.TrimSuffix(e.Service, ".service"); svc != "" {
		s += ":" + svc
	}
	if port && e.Port > 0 {
		s += ":" + strconv.Itoa(e.Port)
	}
	return s
}

// maxEdgesShown is how many edges a reason names before "and N more".
const maxEdgesShown = 3

// edgesText words the edges behind an ordering, at most maxEdgesShown.
func edgesText(edges []patchpilot.DependencyEdge) string {
	var parts []string
	for i, e := range edges {
		if i == maxEdgesShown {
			parts = append(parts, fmt.Sprintf("and %d more", len(edges)-i))
			break
		}
		parts = append(parts, EdgeText(e))
	}
	return strings.Join(parts, "; ")
}

// firstOf returns, for each host, the other hosts the dependency order
// puts before it, with the edges that say so: its dependents, or with
// providersFirst its providers, among the given hosts.
func firstOf(hosts []HostView, providersFirst bool) map[string]map[string][]patchpilot.DependencyEdge {
	in := map[string]bool{}
	for _, h := range hosts {
		in[h.Name()] = true
	}
	out := map[string]map[string][]patchpilot.DependencyEdge{}
	add := func(then, first string, e patchpilot.DependencyEdge) {
		if out[then] == nil {
			out[then] = map[string][]patchpilot.DependencyEdge{}
		}
		out[then][first] = append(out[then][first], e)
	}
	for _, h := range hosts {
		for _, e := range h.Dependents {
			d := e.From.Host
			if !in[d] || d == h.Name() {
				continue
			}
			if providersFirst {
				add(d, h.Name(), e)
			} else {
				add(h.Name(), d, e)
			}
		}
	}
	return out
}

// dependencyOrder orders hosts (given in their criticality order) so that,
// among them, each provider comes after the hosts that depend on it, or,
// with providersFirst, before them. Among the hosts free to go next the
// given order decides. A dependency cycle is broken by taking the first
// waiting host in the given order, and said so in cycles.
func dependencyOrder(hosts []HostView, providersFirst bool) (out []HostView, cycles map[string]string) {
	before := firstOf(hosts, providersFirst)
	cycles = map[string]string{}
	// Each host counts the hosts it still waits for; the ready ones wait
	// in a heap by their place in the given order, so that the next host
	// is the first ready one in that order without scanning every host.
	index := make(map[string]int, len(hosts))
	for i, h := range hosts {
		index[h.Name()] = i
	}
	waits := make([]int, len(hosts))
	waiters := map[string][]int{}
	ready := &intHeap{}
	for i, h := range hosts {
		for y := range before[h.Name()] {
			waits[i]++
			waiters[y] = append(waiters[y], i)
		}
		if waits[i] == 0 {
			heap.Push(ready, i)
		}
	}
	placed := make([]bool, len(hosts))
	first := 0 // every host before it is placed
	out = make([]HostView, 0, len(hosts))
	for len(out) < len(hosts) {
		next := -1
		for ready.Len() > 0 && next < 0 {
			if i := heap.Pop(ready).(int); !placed[i] {
				next = i
			}
		}
		for first < len(hosts) && placed[first] {
			first++
		}
		if next < 0 {
			// A cycle: every waiting host waits for another.
			next = first
			var waiting []string
			for i := first; i < len(hosts); i++ {
				if !placed[i] {
					waiting = append(waiting, hosts[i].Name())
				}
			}
			name := hosts[next].Name()
			cycles[name] = fmt.Sprintf("%s goes first among %s, which depend on each other (a dependency cycle): %s",
				name, strings.Join(waiting, ", "), edgesText(hosts[next].Dependents))
		}
		placed[next] = true
		out = append(out, hosts[next])
		for _, w := range waiters[hosts[next].Name()] {
			if waits[w]--; waits[w] == 0 && !placed[w] {
				heap.Push(ready, w)
			}
		}
	}
	return out, cycles
}

// intHeap is a min-heap of ints (container/heap).
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// orderReasons explain each host's place in the plan's final order (all
// stages' hosts, in dispatch order): "lab02 after lab01: lab01:app depends
// on lab02:postgresql:5432", naming the hosts the dependency order puts
// before it that do come before it.
func orderReasons(ordered []HostView, providersFirst bool) map[string]string {
	pos := map[string]int{}
	for i, h := range ordered {
		pos[h.Name()] = i
	}
	out := map[string]string{}
	for x, firsts := range firstOf(ordered, providersFirst) {
		var names []string
		for y := range firsts {
			if pos[y] < pos[x] {
				names = append(names, y)
			}
		}
		if len(names) == 0 {
			continue
		}
		sort.Slice(names, func(i, j int) bool { return pos[names[i]] < pos[names[j]] })
		var edges []patchpilot.DependencyEdge
		for _, y := range names {
			edges = append(edges, firsts[y]...)
		}
		out[x] = x + " after " + strings.Join(names, ", ") + ": " + edgesText(edges)
	}
	return out
}

// pickCanaries chooses the canary hosts among the non-critical candidates
// (chooseCanaries) in the plan's dependency order: with dependents_first,
// hosts that others depend on only when the other candidates do not fill
// the slots, and it returns the providers it kept out; with
// providers_first, providers before the others. The configurations are
// every candidate's, in chooseCanaries' visiting order.
func pickCanaries(candidates []HostView, slots int, keyOf func(*HostView) string, order string) (picked []HostView, configs []string, keptOut []HostView) {
	_, configs = chooseCanaries(candidates, 0, keyOf)
	if order == patchpilot.OrderIgnore {
		picked, _ = chooseCanaries(candidates, slots, keyOf)
		return picked, configs, nil
	}
	plain, providers := make([]HostView, 0, len(candidates)), []HostView(nil)
	for _, h := range candidates {
		if h.IsProvider() {
			providers = append(providers, h)
		} else {
			plain = append(plain, h)
		}
	}
	preferred, others := plain, providers
	if order == patchpilot.OrderProvidersFirst {
		preferred, others = providers, plain
	}
	picked, _ = chooseCanaries(preferred, min(slots, len(preferred)), keyOf)
	if n := slots - len(picked); n > 0 {
		more, _ := chooseCanaries(others, n, keyOf)
		picked = append(picked, more...)
	}
	if order == patchpilot.OrderDependentsFirst {
		in := map[string]bool{}
		for _, h := range picked {
			in[h.Name()] = true
		}
		for _, h := range providers {
			if !in[h.Name()] {
				keptOut = append(keptOut, h)
			}
		}
		sortByCriticality(keptOut)
	}
	return picked, configs, keptOut
}

// canaryOrderReasons explain a canary stage's hosts by the dependency map:
// the providers kept out of the canary stages (said at the first stage),
// and the providers in this one.
func canaryOrderReasons(take, keptOut []HostView, order string, first bool) []string {
	var out []string
	if order == patchpilot.OrderIgnore {
		return nil
	}
	if first && len(keptOut) > 0 {
		var parts []string
		for _, h := range keptOut {
			parts = append(parts, h.Name()+" ("+edgesText(h.Dependents)+")")
		}
		out = append(out, "kept out of the canary stages, as other hosts depend on them: "+strings.Join(parts, ", "))
	}
	for _, h := range take {
		if !h.IsProvider() {
			continue
		}
		deps := h.DependentHosts()
		if order == patchpilot.OrderProvidersFirst {
			out = append(out, fmt.Sprintf("%s goes first (order: providers_first): %s", h.Name(), edgesText(h.Dependents)))
			continue
		}
		out = append(out, fmt.Sprintf("%s is a canary although %s on it, as the other targets do not fill the canary stages: %s",
			h.Name(), countedDeps(len(deps)), edgesText(h.Dependents)))
	}
	return out
}

func countedDeps(n int) string {
	if n == 1 {
		return "1 host depends"
	}
	return strconv.Itoa(n) + " hosts depend"
}

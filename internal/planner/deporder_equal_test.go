package planner

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// dependencyOrderScan is dependencyOrder as it was written first, scanning
// every host for the next ready one: the reference the heap-based order
// must equal.
func dependencyOrderScan(hosts []HostView, providersFirst bool) (out []HostView, cycles map[string]string) {
	before := firstOf(hosts, providersFirst)
	cycles = map[string]string{}
	placed := map[string]bool{}
	out = make([]HostView, 0, len(hosts))
	for len(out) < len(hosts) {
		next := -1
		for i, h := range hosts {
			if placed[h.Name()] {
				continue
			}
			ready := true
			for y := range before[h.Name()] {
				if !placed[y] {
					ready = false
					break
				}
			}
			if ready {
				next = i
				break
			}
		}
		if next < 0 {
			// A cycle: every waiting host waits for another.
			var waiting []string
			for i, h := range hosts {
				if !placed[h.Name()] {
					if next < 0 {
						next = i
					}
					waiting = append(waiting, h.Name())
				}
			}
			name := hosts[next].Name()
			cycles[name] = fmt.Sprintf("%s goes first among %s, which depend on each other (a dependency cycle): %s",
				name, strings.Join(waiting, ", "), edgesText(hosts[next].Dependents))
		}
		placed[hosts[next].Name()] = true
		out = append(out, hosts[next])
	}
	return out, cycles
}

// The heap-based dependency order equals the scanning one on random
// fleets with dependencies, cycles, and edges to hosts outside the list.
func TestDependencyOrderEqualsScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	reordered, cyclic := 0, 0
	for round := 0; round < 300; round++ {
		n := 1 + rng.IntN(40)
		var hosts []HostView
		for i := 0; i < n; i++ {
			hosts = append(hosts, HostView{Host: patchpilot.Host{Name: fmt.Sprintf("h%02d", i)}})
		}
		edges := rng.IntN(2 * n)
		for e := 0; e < edges; e++ {
			from, to := rng.IntN(n+3), rng.IntN(n)
			hosts[to].Dependents = append(hosts[to].Dependents, patchpilot.DependencyEdge{
				From: patchpilot.DependencyEnd{Host: fmt.Sprintf("h%02d", from), Service: "app"},
				To:   patchpilot.DependencyEnd{Host: hosts[to].Name(), Service: "db", Port: 5432}})
		}
		rng.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
		for _, providersFirst := range []bool{true, false} {
			got, gotCycles := dependencyOrder(hosts, providersFirst)
			want, wantCycles := dependencyOrderScan(hosts, providersFirst)
			if !reflect.DeepEqual(orderNames(got), orderNames(want)) || !reflect.DeepEqual(gotCycles, wantCycles) {
				t.Fatalf("round %d providersFirst=%v: got %v %v, want %v %v", round, providersFirst, orderNames(got), gotCycles, orderNames(want), wantCycles)
			}
			if orderNames(got) != orderNames(hosts) {
				reordered++
			}
			if len(gotCycles) > 0 {
				cyclic++
			}
		}
	}
	if reordered == 0 || cyclic == 0 {
		t.Fatalf("the random fleets never reorder (%d) or never cycle (%d): the test compares nothing", reordered, cyclic)
	}
}

func orderNames(hs []HostView) string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name())
	}
	return strings.Join(out, " ")
}

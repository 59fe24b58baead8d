package risk_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// variedGraph is a dependency map of n hosts with every kind of edge the
// blast radius reads: edges on a service, on a port, on the whole host;
// edges from outside the fleet and to it; a host's edges to itself;
// several edges between one pair; and edges to hosts outside the list.
func variedGraph(n, edges int, seed uint64) patchpilot.DependencyGraph {
	rnd := rand.New(rand.NewPCG(seed, 7))
	host := func() string { return fmt.Sprintf("h%05d", rnd.IntN(n)) }
	services := []string{"", "web.service", "db.service", "ssh.service", "cache"}
	ports := []int{0, 22, 80, 5432, 6379}
	var g patchpilot.DependencyGraph
	for range edges {
		from := patchpilot.DependencyEnd{Host: host(), Service: services[rnd.IntN(len(services))]}
		to := patchpilot.DependencyEnd{Host: host(), Service: services[rnd.IntN(len(services))], Port: ports[rnd.IntN(len(ports))]}
		switch rnd.IntN(10) {
		case 0: // from outside the fleet
			from = patchpilot.DependencyEnd{Address: "198.51.100.9"}
		case 1: // to itself
			to.Host = from.Host
		case 2: // to an address outside the fleet
			to = patchpilot.DependencyEnd{Address: "203.0.113.5", Port: 443}
		case 3: // to a host that is not in the list
			to.Host = "gone-1"
		}
		e := patchpilot.DependencyEdge{From: from, To: to, Sources: []string{patchpilot.EdgeObserved}, State: patchpilot.EdgeLive}
		g.Edges = append(g.Edges, e)
		if rnd.IntN(8) == 0 { // the same pair again, maybe on another port
			e.To.Port = ports[rnd.IntN(len(ports))]
			g.Edges = append(g.Edges, e)
		}
	}
	return g
}

// variedFacts are a host's facts with or without depth, its services
// touching the packages blastPackages names.
func variedFacts(name string, i int) patchpilot.Facts {
	f := patchpilot.Facts{Host: name, Services: []string{"web.service", "ssh.service", "cache.service", "openssl.service"}}
	if i%3 != 0 {
		f.Depth = &patchpilot.HostDepth{Services: []patchpilot.ServiceDetail{
			{Unit: "web.service", Package: "nginx", Libraries: []string{"libc6", "libssl3"}, Listens: []patchpilot.Socket{{Port: 80}}},
			{Unit: "db.service", Package: "postgresql", Libraries: []string{"libc6"}, Listens: []patchpilot.Socket{{Port: 5432}}},
			{Unit: "ssh.service", Package: "openssh-server", Libraries: []string{"libc6", "libssl3"}, Listens: []patchpilot.Socket{{Port: 22}}},
		}}
	}
	return f
}

var blastPackages = [][2]string{{"libc6", "glibc"}, {"libssl3", "openssl"}, {"nginx", ""}, {"web", ""}, {"cache", ""}, {"vim", "vim"}}

// The indexed blast radius is the straightforward one, on every host of a
// varied map (and hosts it does not name, and the empty name), for
// packages that touch one service, several or none, with and without a
// reboot, with and without depth.
func TestBlastIndexAnswersAsTheScan(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		g := variedGraph(60, 400, seed)
		x := risk.NewBlastIndex(&g)
		found := 0
		hosts := []string{"", "gone-1", "nowhere"}
		for i := range 60 {
			hosts = append(hosts, fmt.Sprintf("h%05d", i))
		}
		for i, h := range hosts {
			f := variedFacts(h, i)
			reached := false
			for _, p := range blastPackages {
				for _, reboot := range []bool{false, true} {
					want := risk.BlastRadiusOf(g, h, f, p[0], p[1], reboot)
					got := x.BlastRadiusOf(h, f, p[0], p[1], reboot)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("seed %d, %s, %s (reboot %v): indexed %+v, scanned %+v", seed, h, p[0], reboot, got, want)
					}
					if want != nil {
						found++
						reached = true
					}
				}
			}
			if reached && !x.Reaches(h) {
				t.Errorf("seed %d: %s has a blast radius but the index says nothing reaches it", seed, h)
			}
		}
		if found < 100 {
			t.Errorf("seed %d: only %d blast radii: the map does not exercise the index", seed, found)
		}
	}
	// No map: no blast radius, nothing reached.
	var none *risk.BlastIndex = risk.NewBlastIndex(nil)
	if none.BlastRadiusOf("h00001", variedFacts("h00001", 1), "libc6", "glibc", true) != nil || none.Reaches("h00001") {
		t.Error("an index of no map gives a blast radius")
	}
}

// BenchmarkBlastRadius measures every host's blast radius for a few
// packages over a map of 10,000 hosts and 40,000 edges: scanning the map
// for each record (scan) against indexing it once (indexed).
func BenchmarkBlastRadius(b *testing.B) {
	const hosts = 10000
	g := variedGraph(hosts, 40000, 1)
	facts := make([]patchpilot.Facts, hosts)
	for i := range facts {
		facts[i] = variedFacts(fmt.Sprintf("h%05d", i), i)
	}
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			for i := range facts {
				for _, p := range blastPackages[:3] {
					risk.BlastRadiusOf(g, facts[i].Host, facts[i], p[0], p[1], false)
				}
			}
		}
	})
	b.Run("indexed", func(b *testing.B) {
		for b.Loop() {
			x := risk.NewBlastIndex(&g)
			for i := range facts {
				for _, p := range blastPackages[:3] {
					x.BlastRadiusOf(facts[i].Host, facts[i], p[0], p[1], false)
				}
			}
		}
	})
}

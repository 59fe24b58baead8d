package depmap

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

var (
	now    = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	latest = now.Add(-2 * time.Minute) // every host's latest collection
	out    = patchpilot.DirectionOut
	in     = patchpilot.DirectionIn
)

// lab is a small fleet: web1 (nginx) calls db1 (postgresql on 5432 on
// every address) and cache1 (redis on 10.0.0.3:6379 only).
func lab() ([]patchpilot.Host, []patchpilot.Facts) {
	hosts := []patchpilot.Host{
		{Name: "web1", Address: "10.0.0.1"},
		{Name: "db1", Address: "db1.example.internal"},
		{Name: "cache1", Address: "10.0.0.3"},
	}
	facts := []patchpilot.Facts{
		{Host: "web1", CollectedAt: latest, Depth: &patchpilot.HostDepth{
			Services: []patchpilot.ServiceDetail{{Unit: "nginx.service", Package: "nginx-core", Version: "1.22.1-9",
				Listens: []patchpilot.Socket{{Port: 80}}}},
		}},
		{Host: "db1", CollectedAt: latest, Depth: &patchpilot.HostDepth{
			Addresses: []string{"10.0.0.2", "fd00::2"},
			Services: []patchpilot.ServiceDetail{{Unit: "postgresql.service", Package: "postgresql-15", Version: "15.6-0+deb12u1",
				Listens: []patchpilot.Socket{{Address: "0.0.0.0", Port: 5432}, {Address: "::", Port: 5432}}}},
		}},
		{Host: "cache1", CollectedAt: latest, Depth: &patchpilot.HostDepth{
			Services: []patchpilot.ServiceDetail{{Unit: "redis-server.service", Package: "redis-server", Version: "7.0.15",
				Listens: []patchpilot.Socket{{Address: "10.0.0.3", Port: 6379}}}},
		}},
	}
	return hosts, facts
}

func ob(host, dir, service, peer string, port int, last time.Time) patchpilot.ObservedConnection {
	return patchpilot.ObservedConnection{Host: host, Direction: dir, Service: service, Peer: peer, Port: port,
		FirstSeen: last.Add(-time.Hour), LastSeen: last, Seen: 3}
}

func only(t *testing.T, g patchpilot.DependencyGraph) patchpilot.DependencyEdge {
	t.Helper()
	if len(g.Edges) != 1 {
		t.Fatalf("got %d edges, want 1: %+v (notes %q)", len(g.Edges), g.Edges, g.Notes)
	}
	return g.Edges[0]
}

func TestResolvesPeerToHostServiceAndPackage(t *testing.T) {
	hosts, facts := lab()
	g := Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest)}, now, time.Hour)
	e := only(t, g)
	want := patchpilot.DependencyEdge{
		From:    patchpilot.DependencyEnd{Host: "web1", Service: "nginx.service", Package: "nginx-core", Version: "1.22.1-9"},
		To:      patchpilot.DependencyEnd{Host: "db1", Service: "postgresql.service", Package: "postgresql-15", Version: "15.6-0+deb12u1", Port: 5432},
		Sources: []string{patchpilot.EdgeObserved}, State: patchpilot.EdgeLive,
		FirstSeen: latest.Add(-time.Hour), LastSeen: latest, Seen: 3,
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("edge:\n got %+v\nwant %+v", e, want)
	}
	if !g.At.Equal(now) || g.MaxAge != time.Hour {
		t.Errorf("graph at %s max age %s, want %s and 1h", g.At, g.MaxAge, now)
	}
}

func TestAddresses(t *testing.T) {
	hosts, facts := lab()
	cases := []struct {
		name, peer, wantHost string
	}{
		{"inventory IP", "10.0.0.3", "cache1"},
		{"collected IPv4", "10.0.0.2", "db1"},
		{"collected IPv6", "fd00::2", "db1"},
		{"IPv4-mapped IPv6", "::ffff:10.0.0.2", "db1"},
		{"inventory DNS name is no address", "db1.example.internal", ""},
		{"outside the fleet", "192.0.2.7", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := only(t, Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "nginx.service", c.peer, 6379, latest)}, now, 0))
			if e.To.Host != c.wantHost {
				t.Errorf("peer %s resolved to host %q, want %q", c.peer, e.To.Host, c.wantHost)
			}
			if c.wantHost == "" && (e.To.Address != c.peer || e.To.Port != 6379 || !e.To.External()) {
				t.Errorf("unresolved peer: To = %+v, want the external end %s:6379", e.To, c.peer)
			}
		})
	}
}

func TestAmbiguousAddressIsNotUsed(t *testing.T) {
	hosts, facts := lab()
	// cache1 also lists 10.0.0.2, which db1 lists: no inventory says whose it is.
	facts[2].Depth.Addresses = []string{"10.0.0.2"}
	g := Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest)}, now, 0)
	e := only(t, g)
	if !e.To.External() || e.To.Address != "10.0.0.2" {
		t.Errorf("ambiguous peer resolved to %+v, want an external end", e.To)
	}
	if len(g.Notes) != 1 || !strings.Contains(g.Notes[0], "10.0.0.2") || !strings.Contains(g.Notes[0], "cache1, db1") {
		t.Errorf("notes = %q, want one naming 10.0.0.2 and both hosts", g.Notes)
	}

	// Two hosts with one inventory address are ambiguous too.
	hosts[1].Address = "10.0.0.3"
	g = Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "", "10.0.0.3", 6379, latest)}, now, 0)
	if e := only(t, g); !e.To.External() {
		t.Errorf("address two inventories give resolved to %+v", e.To)
	}
}

func TestInventoryAddressWinsOverCollectedOnes(t *testing.T) {
	hosts, facts := lab()
	// Hosts sharing a network namespace all list the machine's addresses.
	for i := range facts {
		facts[i].Depth.Addresses = []string{"10.0.0.1", "10.0.0.3"}
	}
	g := Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "nginx.service", "10.0.0.3", 6379, latest)}, now, 0)
	if e := only(t, g); e.To.Host != "cache1" || e.To.Service != "redis-server.service" {
		t.Errorf("To = %+v, want cache1's redis (its inventory address)", e.To)
	}
	if len(g.Notes) != 0 {
		t.Errorf("notes = %q, want none", g.Notes)
	}
}

func TestListenerAddressMatching(t *testing.T) {
	for _, c := range []struct {
		listen, peer string
		want         bool
	}{
		{"", "10.0.0.3", true},
		{"0.0.0.0", "10.0.0.3", true},
		{"::", "10.0.0.3", true},
		{"*", "10.0.0.3", true},
		{"10.0.0.3", "10.0.0.3", true},
		{"10.0.0.3", "::ffff:10.0.0.3", true},
		{"127.0.0.1", "10.0.0.3", false},
	} {
		hosts, facts := lab()
		facts[2].Depth.Addresses = []string{"10.0.0.3", "10.0.0.33"}
		facts[2].Depth.Services[0].Listens = []patchpilot.Socket{{Address: c.listen, Port: 6379}}
		e := only(t, Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "", c.peer, 6379, latest)}, now, 0))
		if got := e.To.Service == "redis-server.service"; got != c.want {
			t.Errorf("listener %q, peer %s: service %q, want matched=%v", c.listen, c.peer, e.To.Service, c.want)
		}
		if e.To.Host != "cache1" || e.To.Port != 6379 {
			t.Errorf("listener %q: To = %+v, want cache1:6379 whatever the service", c.listen, e.To)
		}
	}
	// A different port is no service of it.
	hosts, facts := lab()
	e := only(t, Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "", "10.0.0.3", 6380, latest)}, now, 0))
	if e.To.Service != "" || e.To.Package != "" {
		t.Errorf("port 6380 resolved to service %q package %q, want none", e.To.Service, e.To.Package)
	}
}

func TestOutgoingAndIncomingMergeIntoOneEdge(t *testing.T) {
	hosts, facts := lab()
	o := ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest.Add(-time.Hour)) // stale from web1's side
	o.Seen = 2
	i := ob("db1", in, "postgresql.service", "10.0.0.1", 5432, latest) // live from db1's side
	i.FirstSeen = latest.Add(-5 * time.Hour)
	i.Seen = 5
	// Without the provider in depth, the incoming side names the service.
	facts[1].Depth.Services = nil
	for _, obs := range [][]patchpilot.ObservedConnection{{o, i}, {i, o}} {
		e := only(t, Build(hosts, facts, obs, now, 0))
		if e.From.Host != "web1" || e.From.Service != "nginx.service" || e.To.Host != "db1" ||
			e.To.Service != "postgresql.service" || e.To.Port != 5432 {
			t.Errorf("merged edge %+v, want web1:nginx → db1:postgresql:5432", e)
		}
		if e.State != patchpilot.EdgeLive || !e.LastSeen.Equal(latest) || !e.FirstSeen.Equal(i.FirstSeen) || e.Seen != 5 {
			t.Errorf("merged edge state %s last %s first %s seen %d; want live, the newest, the oldest, 5",
				e.State, e.LastSeen, e.FirstSeen, e.Seen)
		}
	}
}

func TestIncomingOnly(t *testing.T) {
	hosts, facts := lab()
	g := Build(hosts, facts, []patchpilot.ObservedConnection{
		ob("db1", in, "postgresql.service", "10.0.0.1", 5432, latest),
		ob("db1", in, "postgresql.service", "198.51.100.4", 5432, latest),
	}, now, 0)
	if len(g.Edges) != 2 {
		t.Fatalf("got %d edges, want 2: %+v", len(g.Edges), g.Edges)
	}
	ext, fleet := g.Edges[0], g.Edges[1] // external clients sort first (no host)
	if fleet.From != (patchpilot.DependencyEnd{Host: "web1"}) || fleet.To.Host != "db1" ||
		fleet.To.Package != "postgresql-15" || fleet.To.Port != 5432 {
		t.Errorf("fleet client edge %+v, want web1 → db1:postgresql:5432", fleet)
	}
	if !ext.From.External() || ext.From.Address != "198.51.100.4" || ext.To.Host != "db1" {
		t.Errorf("external client edge %+v, want 198.51.100.4 → db1", ext)
	}
}

func TestStates(t *testing.T) {
	hosts, facts := lab()
	maxAge := 24 * time.Hour
	g := Build(hosts, facts, []patchpilot.ObservedConnection{
		ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest),                       // seen at web1's latest collection
		ob("web1", out, "nginx.service", "10.0.0.3", 6379, latest.Add(-time.Hour)),       // within max age only
		ob("web1", out, "nginx.service", "192.0.2.1", 443, now.Add(-maxAge-time.Second)), // too old
		ob("web1", out, "nginx.service", "192.0.2.2", 443, now.Add(-maxAge)),             // exactly at the edge of max age
	}, now, maxAge)
	states := map[string]string{}
	for _, e := range g.Edges {
		states[e.To.Host+e.To.Address] = e.State
	}
	want := map[string]string{"db1": patchpilot.EdgeLive, "cache1": patchpilot.EdgeStale, "192.0.2.2": patchpilot.EdgeStale}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("states = %v, want %v", states, want)
	}

	// A host with no facts has no latest collection: its observations are stale.
	g = Build(hosts, facts[1:], []patchpilot.ObservedConnection{ob("web1", out, "", "10.0.0.2", 5432, latest)}, now, 0)
	if e := only(t, g); e.State != patchpilot.EdgeStale {
		t.Errorf("observation of a host without facts is %s, want stale", e.State)
	}
	// An observation of a host not in the fleet is no edge.
	g = Build(hosts, facts, []patchpilot.ObservedConnection{ob("gone", out, "", "10.0.0.2", 5432, latest)}, now, 0)
	if len(g.Edges) != 0 {
		t.Errorf("observation of a removed host made edges %+v", g.Edges)
	}
}

func TestDefaultMaxAge(t *testing.T) {
	hosts, facts := lab()
	obs := []patchpilot.ObservedConnection{
		ob("web1", out, "", "10.0.0.2", 5432, now.Add(-patchpilot.DefaultDependencyMaxAge+time.Minute)),
		ob("web1", out, "", "10.0.0.3", 6379, now.Add(-patchpilot.DefaultDependencyMaxAge-time.Minute)),
	}
	g := Build(hosts, facts, obs, now, 0)
	if g.MaxAge != patchpilot.DefaultDependencyMaxAge {
		t.Errorf("MaxAge = %s, want the default", g.MaxAge)
	}
	if e := only(t, g); e.To.Host != "db1" {
		t.Errorf("edge to %s, want only db1's (cache1's is older than the default max age)", e.To.Host)
	}
}

func TestSelfConnectionIsNoEdge(t *testing.T) {
	hosts, facts := lab()
	g := Build(hosts, facts, []patchpilot.ObservedConnection{
		ob("web1", out, "nginx.service", "10.0.0.1", 80, latest),
		ob("web1", in, "nginx.service", "10.0.0.1", 80, latest),
	}, now, 0)
	if len(g.Edges) != 0 {
		t.Errorf("a host's connection to itself made edges %+v", g.Edges)
	}
}

func TestDeclared(t *testing.T) {
	hosts, facts := lab()
	hosts[0].Labels = map[string]string{patchpilot.LabelDependsOn: "db1:5432, cache1:redis-server, db1:9999, ghost, web1:x:y, ,db1:postgresql"}
	hosts[2].Labels = map[string]string{patchpilot.LabelDependsOn: "db1"}
	obs := []patchpilot.ObservedConnection{ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest.Add(-time.Hour))}
	g := Build(hosts, facts, obs, now, 0)

	type row struct {
		from, to string
		port     int
		service  string
		sources  string
		state    string
	}
	var got []row
	for _, e := range g.Edges {
		got = append(got, row{e.From.Host, e.To.Host, e.To.Port, e.To.Service, strings.Join(e.Sources, "+"), e.State})
	}
	want := []row{
		// cache1 declares db1 alone: a declared edge to the host.
		{"cache1", "db1", 0, "", "declared", patchpilot.EdgeLive},
		// cache1:redis-server resolves the service's one port and package.
		{"web1", "cache1", 6379, "redis-server.service", "declared", patchpilot.EdgeLive},
		// db1:5432 and db1:postgresql merge with the observed edge, which keeps its state.
		{"web1", "db1", 5432, "postgresql.service", "observed+declared", patchpilot.EdgeStale},
		// db1:9999 matches no observed edge: an edge of its own.
		{"web1", "db1", 9999, "", "declared", patchpilot.EdgeLive},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edges:\n got %+v\nwant %+v", got, want)
	}
	for _, e := range g.Edges {
		if e.To.Service == "redis-server.service" && e.To.Package != "redis-server" {
			t.Errorf("declared service edge lacks the package: %+v", e.To)
		}
	}
	notes := strings.Join(g.Notes, "\n")
	for _, w := range []string{"host web1", "ghost", "not a host of the inventory", `"web1:x:y"`} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes do not mention %q:\n%s", w, notes)
		}
	}
}

func TestDeclaredItselfIsANote(t *testing.T) {
	hosts, facts := lab()
	hosts[0].Labels = map[string]string{patchpilot.LabelDependsOn: "web1"}
	g := Build(hosts, facts, nil, now, 0)
	if len(g.Edges) != 0 || len(g.Notes) != 1 || !strings.Contains(g.Notes[0], "itself") {
		t.Errorf("self declaration: edges %+v notes %q; want no edge and a note", g.Edges, g.Notes)
	}
}

func TestEmptyGraph(t *testing.T) {
	g := Build(nil, nil, nil, now, 0)
	if g.Edges == nil || len(g.Edges) != 0 || g.Notes == nil || len(g.Notes) != 0 {
		t.Errorf("empty graph = %+v, want no edges and no notes (empty lists)", g)
	}
}

func TestQueries(t *testing.T) {
	hosts, facts := lab()
	hosts = append(hosts, patchpilot.Host{Name: "web2", Address: "10.0.0.4"})
	hosts[2].Labels = map[string]string{patchpilot.LabelDependsOn: "db1"}
	g := Build(hosts, facts, []patchpilot.ObservedConnection{
		ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest),
		ob("web1", out, "php-fpm.service", "10.0.0.2", 5432, latest.Add(-time.Hour)),
		ob("web1", out, "nginx.service", "10.0.0.3", 6379, latest),
		ob("web2", out, "", "10.0.0.3", 7000, latest),
		ob("db1", in, "postgresql.service", "203.0.113.9", 5432, latest),
	}, now, 0)

	n := Neighbourhood(g, "cache1")
	for _, e := range n.Edges {
		if e.From.Host != "cache1" && e.To.Host != "cache1" {
			t.Errorf("neighbourhood of cache1 has %+v", e)
		}
	}
	if len(n.Edges) != 3 {
		t.Errorf("neighbourhood of cache1 has %d edges, want 3 (web1, web2, db1)", len(n.Edges))
	}
	if len(Neighbourhood(g, "nobody").Edges) != 0 {
		t.Error("neighbourhood of an unknown host is not empty")
	}

	dep := Dependents(g, "db1")
	if !reflect.DeepEqual(dep, Related{Hosts: []string{"cache1", "web1"}, Services: []string{"web1:nginx", "web1:php-fpm"}}) {
		t.Errorf("Dependents(db1) = %+v", dep)
	}
	prov := Providers(g, "web1")
	if !reflect.DeepEqual(prov, Related{Hosts: []string{"cache1", "db1"}, Services: []string{"cache1:redis-server", "db1:postgresql"}}) {
		t.Errorf("Providers(web1) = %+v", prov)
	}
	if prov := Providers(g, "web2"); !reflect.DeepEqual(prov.Services, []string{"cache1:7000"}) {
		t.Errorf("Providers(web2) = %+v, want the port where the service is unknown", prov)
	}
	if none := Dependents(g, "web2"); len(none.Hosts) != 0 || none.Hosts == nil {
		t.Errorf("Dependents(web2) = %+v, want empty lists", none)
	}
}

func TestParseDependsOn(t *testing.T) {
	got, errs := ParseDependsOn(" db1, db1:5432 ,cache1:redis, q:postgresql.service,, 10.0.0.9:80")
	want := []Declared{{Host: "db1"}, {Host: "db1", Port: 5432}, {Host: "cache1", Service: "redis.service"},
		{Host: "q", Service: "postgresql.service"}, {Host: "10.0.0.9", Port: 80}}
	if !reflect.DeepEqual(got, want) || len(errs) != 0 {
		t.Errorf("ParseDependsOn = %+v, %v; want %+v", got, errs, want)
	}
	for _, bad := range []string{"db1:", ":5432", "db1:0", "db1:65536", "db1:a:b", "db 1", "db1:red is", "db1:99999999999999999999"} {
		got, errs := ParseDependsOn("ok, " + bad)
		if len(errs) != 1 || len(got) != 1 || got[0].Host != "ok" {
			t.Errorf("ParseDependsOn(%q) = %+v, %v; want ok kept and one error", bad, got, errs)
			continue
		}
		if !strings.Contains(errs[0].Error(), strings.TrimSpace(bad)) {
			t.Errorf("error %q does not name the entry %q", errs[0], bad)
		}
	}
	for _, d := range want {
		if back, errs := ParseDependsOn(d.String()); len(errs) != 0 || !reflect.DeepEqual(back, []Declared{d}) {
			t.Errorf("%+v does not round trip through %q: %+v %v", d, d.String(), back, errs)
		}
	}
}

func FuzzParseDependsOn(f *testing.F) {
	for _, s := range []string{"db1", "db1:5432, web:nginx", ",,", "a:b:c", "x:0", "é:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		decls, errs := ParseDependsOn(s)
		entries := 0
		for e := range strings.SplitSeq(s, ",") {
			if strings.TrimSpace(e) != "" {
				entries++
			}
		}
		if len(decls)+len(errs) != entries {
			t.Fatalf("%q: %d entries, %d parsed and %d errors", s, entries, len(decls), len(errs))
		}
		for _, d := range decls {
			if d.Host == "" || d.Port < 0 || d.Port > 65535 || (d.Port != 0 && d.Service != "") {
				t.Fatalf("%q: bad entry %+v", s, d)
			}
			if back, errs := ParseDependsOn(d.String()); len(errs) != 0 || !reflect.DeepEqual(back, []Declared{d}) {
				t.Fatalf("%+v does not round trip: %+v %v", d, back, errs)
			}
		}
	})
}

// FuzzBuild builds graphs from arbitrary observations and labels: it never
// panics, and every graph keeps the invariants callers rely on.
func FuzzBuild(f *testing.F) {
	f.Add("10.0.0.2", 5432, "out", "db1:5432", int64(0), "10.0.0.2")
	f.Add("::ffff:10.0.0.1", 80, "in", "ghost,web1", int64(-3600), "10.0.0.1")
	f.Add("", 0, "sideways", ":::", int64(1<<40), "")
	f.Fuzz(func(t *testing.T, peer string, port int, dir, label string, ageSec int64, addr string) {
		hosts, facts := lab()
		hosts[0].Labels = map[string]string{patchpilot.LabelDependsOn: label}
		facts[2].Depth.Addresses = []string{addr}
		last := latest.Add(time.Duration(ageSec) * time.Second)
		obs := []patchpilot.ObservedConnection{
			ob("web1", dir, "nginx.service", peer, port, last),
			ob("db1", patchpilot.DirectionIn, "postgresql.service", peer, port, last),
			ob("cache1", patchpilot.DirectionOut, "", peer, port, last),
		}
		g := Build(hosts, facts, obs, now, time.Hour)
		g2 := Build(hosts, facts, obs, now, time.Hour)
		if !reflect.DeepEqual(g, g2) {
			t.Fatal("Build is not deterministic")
		}
		if !slices.IsSortedFunc(g.Edges, compareEdges) {
			t.Fatal("edges are not sorted")
		}
		for _, e := range g.Edges {
			if e.From.Host != "" && e.From.Host == e.To.Host {
				t.Fatalf("self edge %+v", e)
			}
			if len(e.Sources) == 0 || (e.State != patchpilot.EdgeLive && e.State != patchpilot.EdgeStale) {
				t.Fatalf("edge without source or state %+v", e)
			}
			if slices.Contains(e.Sources, patchpilot.EdgeObserved) && e.LastSeen.Before(now.Add(-time.Hour)) {
				t.Fatalf("edge older than max age %+v", e)
			}
			if (e.From.Host == "") == (e.From.Address == "") && !slices.Contains(e.Sources, patchpilot.EdgeDeclared) {
				t.Fatalf("client end is neither a host nor an address: %+v", e.From)
			}
		}
	})
}

// BenchmarkBuild builds the map of a fleet of 2,000 hosts, each seeing
// its five connections to other hosts from both ends, with a declaration
// per host.
func BenchmarkBuild(b *testing.B) {
	const n = 2000
	var (
		hosts []patchpilot.Host
		facts []patchpilot.Facts
		obs   []patchpilot.ObservedConnection
	)
	addr := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256) }
	for i := range n {
		name := fmt.Sprintf("h%04d", i)
		hosts = append(hosts, patchpilot.Host{Name: name, Address: addr(i),
			Labels: map[string]string{patchpilot.LabelDependsOn: fmt.Sprintf("h%04d:5432", (i+1)%n)}})
		facts = append(facts, patchpilot.Facts{Host: name, CollectedAt: latest, Depth: &patchpilot.HostDepth{
			Services: []patchpilot.ServiceDetail{{Unit: "app.service", Package: "app", Version: "1", Listens: []patchpilot.Socket{{Port: 5432}}}},
		}})
		for k := 1; k <= 5; k++ {
			j := (i + k*37) % n
			obs = append(obs,
				ob(name, out, "app.service", addr(j), 5432, latest),
				ob(fmt.Sprintf("h%04d", j), in, "app.service", addr(i), 5432, latest))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		g := Build(hosts, facts, obs, now, 0)
		if len(g.Edges) < 5*n {
			b.Fatalf("%d edges, want at least %d", len(g.Edges), 5*n)
		}
	}
}

// A host collected without root keeps the sockets of every host of its
// network namespace: observations at another host's inventory address are
// set aside with a note, not credited to it.
func TestObservationAtAnotherHostsAddressIsSetAside(t *testing.T) {
	hosts, facts := lab()
	mine := ob("cache1", in, "", "10.0.0.1", 6379, latest)
	mine.Local = "10.0.0.3"
	webs := ob("cache1", in, "", "198.51.100.7", 80, latest)
	webs.Local = "10.0.0.1" // web1's inventory address
	webs2 := ob("cache1", out, "", "192.0.2.9", 443, latest)
	webs2.Local = "10.0.0.1"
	g := Build(hosts, facts, []patchpilot.ObservedConnection{mine, webs, webs2}, now, 0)
	if e := only(t, g); e.To.Host != "cache1" || e.From.Host != "web1" || e.To.Port != 6379 {
		t.Errorf("edge %+v, want only web1 → cache1:6379", e)
	}
	want := "cache1: 2 connections from other hosts' addresses set aside (collected without root: ss cannot tell whose sockets they are)"
	if !slices.Contains(g.Notes, want) {
		t.Errorf("notes %q, want %q", g.Notes, want)
	}
}

// Incoming connections to the SSH daemon are patchpilot's own sessions
// (management), unless the client declares them.
func TestIncomingSSHIsManagement(t *testing.T) {
	hosts, facts := lab()
	facts[2].Depth.Services = append(facts[2].Depth.Services, patchpilot.ServiceDetail{Unit: "ssh.service",
		Listens: []patchpilot.Socket{{Port: 22}}})
	unnamed := ob("cache1", in, "", "127.0.0.1", 22, latest) // without root: unit from the listener
	named := ob("cache1", in, "sshd.service", "198.51.100.7", 22, latest)
	fromWeb := ob("cache1", in, "ssh.service", "10.0.0.1", 22, latest)
	g := Build(hosts, facts, []patchpilot.ObservedConnection{unnamed, named, fromWeb}, now, 0)
	if len(g.Edges) != 0 {
		t.Errorf("edges %+v, want none: SSH sessions are management traffic", g.Edges)
	}
	hosts[0].Labels = map[string]string{patchpilot.LabelDependsOn: "cache1:22"}
	g = Build(hosts, facts, []patchpilot.ObservedConnection{unnamed, named, fromWeb}, now, 0)
	if e := only(t, g); e.From.Host != "web1" || !slices.Equal(e.Sources, []string{patchpilot.EdgeObserved, patchpilot.EdgeDeclared}) {
		t.Errorf("edge %+v, want web1 → cache1:22 observed and declared", e)
	}
}

// A collection without depth carries the previous depth forward: an
// observation seen when that depth was read stays live.
func TestLiveAtTheDepthsCollection(t *testing.T) {
	hosts, facts := lab()
	later := latest.Add(time.Minute)
	facts[0].CollectedAt = later // web1's newest snapshot did not read depth
	facts[0].Depth.CollectedAt = latest
	g := Build(hosts, facts, []patchpilot.ObservedConnection{ob("web1", out, "nginx.service", "10.0.0.2", 5432, latest)}, now, 0)
	if e := only(t, g); e.State != patchpilot.EdgeLive {
		t.Errorf("edge %s, want live: it was seen when web1's depth was read", e.State)
	}
}

// On the lab capture collected without root (every socket of the shared
// network namespace kept), lab01's map has none of the controller's or
// lab02's connections: only notes saying what was set aside.
func TestNotRootCaptureMakesNoPhantomEdges(t *testing.T) {
	data, err := os.ReadFile("../osfamily/testdata/debian12-lab-nonroot/depth.out")
	if err != nil {
		t.Fatal(err)
	}
	d := osfamily.Depth(osfamily.Transcript{osfamily.StepDepth: {Stdout: data}}, nil)
	d.CollectedAt = latest
	hosts := []patchpilot.Host{{Name: "lab01", Address: "127.0.77.1"}, {Name: "lab02", Address: "127.0.77.2"}}
	facts := []patchpilot.Facts{{Host: "lab01", CollectedAt: latest, Depth: d}}
	var obs []patchpilot.ObservedConnection
	for _, c := range d.Connections {
		obs = append(obs, patchpilot.ObservedConnection{Host: "lab01", Direction: c.Direction, Service: c.Service,
			Local: c.Local, Peer: c.Peer, Port: c.Port, FirstSeen: latest, LastSeen: latest, Seen: 1})
	}
	if len(obs) == 0 {
		t.Fatal("the capture has no connections")
	}
	g := Build(hosts, facts, obs, now, 0)
	if len(g.Edges) != 0 {
		t.Errorf("edges %+v from a collection without root, want none (notes %q)", g.Edges, g.Notes)
	}
	for _, want := range []string{
		"lab01: 1 connection from other hosts' addresses set aside",
		"lab01: 1 connection from a loopback address to other hosts set aside",
	} {
		if !slices.ContainsFunc(g.Notes, func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("notes %q, want one starting %q", g.Notes, want)
		}
	}
}

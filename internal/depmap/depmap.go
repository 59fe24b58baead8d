// Package depmap builds the fleet's dependency map from what collections
// observed (the connections store) and what the inventory declares (the
// depends_on label): which host's service depends on which host's service,
// where each edge came from and whether it is live. It is pure: it reads
// the hosts, their latest facts and the observations it is given, and
// returns a patchpilot.DependencyGraph; docs/dependencies.md describes the
// rules.
package depmap

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// fleet is what resolution needs of the hosts and their facts.
type fleet struct {
	hosts  map[string]patchpilot.Host
	depth  map[string]*patchpilot.HostDepth
	latest map[string]time.Time // when each host's latest connections were read
	owner  map[netip.Addr]string
	// byInventory maps an inventory address to its one host.
	byInventory map[netip.Addr]string
	// ambiguous are the addresses two or more hosts claim, with them.
	ambiguous map[netip.Addr][]string
	notes     map[string]bool
}

func (f *fleet) note(format string, args ...any) { f.notes[fmt.Sprintf(format, args...)] = true }

// parseAddr parses an IP address, IPv4-mapped IPv6 addresses as IPv4 and
// without a zone; ok is false for anything else (a DNS name).
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// newFleet indexes the hosts, their facts and their addresses. A host's
// addresses are its inventory address when that is an IP, and the
// addresses its collection found. An address that is one host's inventory
// address is that host's, whatever other hosts list (hosts that share a
// network namespace all list its addresses); otherwise an address listed
// by two or more hosts is ambiguous and resolves to none of them.
func newFleet(hosts []patchpilot.Host, facts []patchpilot.Facts) *fleet {
	f := &fleet{
		hosts: map[string]patchpilot.Host{}, depth: map[string]*patchpilot.HostDepth{},
		latest: map[string]time.Time{}, owner: map[netip.Addr]string{}, byInventory: map[netip.Addr]string{},
		ambiguous: map[netip.Addr][]string{}, notes: map[string]bool{},
	}
	for _, h := range hosts {
		f.hosts[h.Name] = h
	}
	snapshot := map[string]time.Time{}
	for _, fs := range facts {
		if _, ok := f.hosts[fs.Host]; !ok {
			continue
		}
		if fs.CollectedAt.After(snapshot[fs.Host]) {
			snapshot[fs.Host] = fs.CollectedAt
			f.depth[fs.Host] = fs.Depth
			// The connections were read when the depth was: a
			// collection without depth carries an older one forward.
			f.latest[fs.Host] = fs.CollectedAt
			if fs.Depth != nil && !fs.Depth.CollectedAt.IsZero() {
				f.latest[fs.Host] = fs.Depth.CollectedAt
			}
		}
	}
	inventory := map[netip.Addr][]string{}
	listed := map[netip.Addr][]string{}
	claim := func(m map[netip.Addr][]string, a netip.Addr, host string) {
		if !slices.Contains(m[a], host) {
			m[a] = append(m[a], host)
		}
	}
	for _, h := range hosts {
		if a, ok := parseAddr(h.Address); ok {
			claim(inventory, a, h.Name)
		}
		if d := f.depth[h.Name]; d != nil {
			for _, s := range d.Addresses {
				if a, ok := parseAddr(s); ok {
					claim(listed, a, h.Name)
				}
			}
		}
	}
	for a, names := range inventory {
		if len(names) == 1 {
			f.owner[a] = names[0]
			f.byInventory[a] = names[0]
		} else {
			f.ambiguous[a] = names
		}
	}
	for a, names := range listed {
		if _, ok := inventory[a]; ok {
			continue
		}
		if len(names) == 1 {
			f.owner[a] = names[0]
		} else {
			f.ambiguous[a] = names
		}
	}
	return f
}

// inventoryOwner is the host whose inventory address addr is, "" when
// none (or several) is.
func (f *fleet) inventoryOwner(addr string) string {
	a, ok := parseAddr(addr)
	if !ok {
		return ""
	}
	return f.byInventory[a]
}

// withoutProcesses reports whether host's sockets were read without
// knowing their processes (not root): then all the sockets of its network
// namespace were kept.
func (f *fleet) withoutProcesses(host string) bool {
	d := f.depth[host]
	if d == nil {
		return false
	}
	for _, m := range d.Missing {
		if strings.HasPrefix(m, "sockets: ") && (strings.Contains(m, "not root") || strings.Contains(m, "not being root")) {
			return true
		}
	}
	return false
}

func loopbackAddr(s string) bool {
	a, ok := parseAddr(s)
	return ok && a.IsLoopback()
}

func mustAddr(s string) netip.Addr {
	a, _ := parseAddr(s)
	return a
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// host resolves a peer address to the fleet host it belongs to; "" when
// it is outside the fleet or ambiguous (noted).
func (f *fleet) host(peer string) string {
	a, ok := parseAddr(peer)
	if !ok {
		return ""
	}
	if names, ok := f.ambiguous[a]; ok {
		sorted := slices.Sorted(slices.Values(names))
		f.note("address %s is claimed by %s: connections to it are not resolved to a host", a, strings.Join(sorted, ", "))
		return ""
	}
	return f.owner[a]
}

// wildcard reports whether a listening address is every address of the
// host.
func wildcard(addr string) bool {
	if addr == "" || addr == "*" {
		return true
	}
	a, ok := parseAddr(addr)
	return ok && a.IsUnspecified()
}

// listens reports whether a socket answers at address:port; address ""
// matches any socket on the port.
func listens(s patchpilot.Socket, address string, port int) bool {
	if s.Port != port {
		return false
	}
	if address == "" || wildcard(s.Address) {
		return true
	}
	a, ok1 := parseAddr(s.Address)
	b, ok2 := parseAddr(address)
	return ok1 && ok2 && a == b
}

// service is the service of host that listens at address:port, or nil.
func (f *fleet) service(host, address string, port int) *patchpilot.ServiceDetail {
	d := f.depth[host]
	if d == nil {
		return nil
	}
	for i := range d.Services {
		for _, s := range d.Services[i].Listens {
			if listens(s, address, port) {
				return &d.Services[i]
			}
		}
	}
	return nil
}

// unit is the service of host with the given unit, or nil.
func (f *fleet) unit(host, unit string) *patchpilot.ServiceDetail {
	if d := f.depth[host]; d != nil && unit != "" {
		for i := range d.Services {
			if d.Services[i].Unit == unit {
				return &d.Services[i]
			}
		}
	}
	return nil
}

// end is a host's end of an edge: its service by unit, with the package
// and version when the service is known in depth.
func (f *fleet) end(host, unit string, port int) patchpilot.DependencyEnd {
	e := patchpilot.DependencyEnd{Host: host, Service: unit, Port: port}
	if s := f.unit(host, unit); s != nil {
		e.Package, e.Version = s.Package, s.Version
	}
	return e
}

// provider resolves the end a connection reached: the fleet host owning
// peer and its service listening on port, or the external address.
func (f *fleet) provider(peer string, port int) patchpilot.DependencyEnd {
	host := f.host(peer)
	if host == "" {
		return patchpilot.DependencyEnd{Address: peer, Port: port}
	}
	e := patchpilot.DependencyEnd{Host: host, Port: port}
	if s := f.service(host, peer, port); s != nil {
		e.Service, e.Package, e.Version = s.Unit, s.Package, s.Version
	}
	return e
}

// client resolves the end that opened a connection seen incoming: the
// fleet host owning peer (its service unknown from this side), or the
// external address.
func (f *fleet) client(peer string) patchpilot.DependencyEnd {
	if host := f.host(peer); host != "" {
		return patchpilot.DependencyEnd{Host: host}
	}
	return patchpilot.DependencyEnd{Address: peer}
}

// sshUnits are the units of the SSH daemon patchpilot itself connects to.
var sshUnits = []string{"ssh.service", "sshd.service"}

// management reports whether an incoming observation reached the host's
// SSH daemon: patchpilot's own sessions (and an administrator's) are
// management traffic, not a dependency. The unit is the observation's, or
// when it could not be told (collected without root) the one listening on
// the port at the local address, or port 22 when the host runs an SSH
// daemon whose sockets are unknown.
func (f *fleet) management(o patchpilot.ObservedConnection) bool {
	unit := o.Service
	if unit == "" {
		if s := f.service(o.Host, o.Local, o.Port); s != nil {
			unit = s.Unit
		} else if o.Port == sshPort && slices.ContainsFunc(sshUnits, func(u string) bool { return f.unit(o.Host, u) != nil }) {
			// Without root no socket names its service: port 22 of a
			// host running an SSH daemon is taken to be it.
			return true
		}
	}
	return slices.Contains(sshUnits, unit)
}

// sshPort is SSH's port, for a host whose sockets name no service.
const sshPort = 22

// declaresSSH reports whether client's depends_on names host's SSH: the
// port, or the ssh or sshd service.
func declaresSSH(hosts []patchpilot.Host, client, host string, port int) bool {
	if client == "" {
		return false
	}
	for _, h := range hosts {
		if h.Name != client {
			continue
		}
		decls, _ := ParseDependsOn(h.Labels[patchpilot.LabelDependsOn])
		for _, d := range decls {
			if d.Host == host && (d.Port == port || slices.Contains(sshUnits, d.Service)) {
				return true
			}
		}
	}
	return false
}

// edgeKey identifies an edge: the client (host and service, or address)
// and the provider (host or address) and port.
type edgeKey struct {
	fromHost, fromAddr, fromService string
	toHost, toAddr                  string
	toPort                          int
}

func keyOf(e patchpilot.DependencyEdge) edgeKey {
	return edgeKey{e.From.Host, e.From.Address, e.From.Service, e.To.Host, e.To.Address, e.To.Port}
}

// pairKey is a client host, a provider host and its port: the edges an
// incoming observation of a fleet client joins.
type pairKey struct {
	fromHost, toHost string
	toPort           int
}

// builder accumulates edges.
type builder struct {
	f     *fleet
	edges map[edgeKey]*patchpilot.DependencyEdge
	// pairs indexes the edges between two fleet hosts by pairKey.
	pairs map[pairKey][]edgeKey
}

// observe merges an observation into the edge it belongs to.
func (b *builder) observe(k edgeKey, from, to patchpilot.DependencyEnd, o patchpilot.ObservedConnection, live bool) {
	e, ok := b.edges[k]
	if !ok {
		e = &patchpilot.DependencyEdge{From: from, To: to, Sources: []string{patchpilot.EdgeObserved},
			State: patchpilot.EdgeStale, FirstSeen: o.FirstSeen, LastSeen: o.LastSeen, Seen: o.Seen}
		b.edges[k] = e
		if k.fromHost != "" && k.toHost != "" {
			p := pairKey{k.fromHost, k.toHost, k.toPort}
			b.pairs[p] = append(b.pairs[p], k)
		}
	} else {
		if o.FirstSeen.Before(e.FirstSeen) {
			e.FirstSeen = o.FirstSeen
		}
		if o.LastSeen.After(e.LastSeen) {
			e.LastSeen = o.LastSeen
		}
		// Both ends may have seen the same connection at the same
		// collections: the edge was seen by at least as many as either.
		e.Seen = max(e.Seen, o.Seen)
	}
	if e.To.Service == "" && to.Service != "" {
		e.To.Service, e.To.Package, e.To.Version = to.Service, to.Package, to.Version
	}
	if live {
		e.State = patchpilot.EdgeLive
	}
}

// Build returns the dependency map at now: the observations last seen
// within maxAge of now (0 means patchpilot.DefaultDependencyMaxAge),
// resolved to the hosts of the fleet and their services, merged with the
// dependencies the hosts' depends_on labels declare. facts are the hosts'
// latest facts (the latest per host is used when several are given).
func Build(hosts []patchpilot.Host, facts []patchpilot.Facts, obs []patchpilot.ObservedConnection,
	now time.Time, maxAge time.Duration) patchpilot.DependencyGraph {
	if maxAge <= 0 {
		maxAge = patchpilot.DefaultDependencyMaxAge
	}
	f := newFleet(hosts, facts)
	b := &builder{f: f, edges: map[edgeKey]*patchpilot.DependencyEdge{}, pairs: map[pairKey][]edgeKey{}}
	cutoff := now.Add(-maxAge)

	usable := make([]patchpilot.ObservedConnection, 0, len(obs))
	foreign, loopback := map[string]int{}, map[string]int{}
	for _, o := range obs {
		if _, ok := f.hosts[o.Host]; !ok || o.LastSeen.Before(cutoff) || o.Peer == "" || o.Port <= 0 {
			continue
		}
		// A host collected without root keeps every socket of its
		// network namespace: one whose local address is another host's
		// inventory address is that host's, not this one's.
		if other := f.inventoryOwner(o.Local); other != "" && other != o.Host {
			foreign[o.Host]++
			continue
		}
		// Nor is one from a loopback address to another host, seen by a
		// host that could not tell its own sockets: a loopback address
		// reaches only its own machine, so the socket is the machine's
		// (the controller's, another container's), not this host's.
		if f.withoutProcesses(o.Host) && loopbackAddr(o.Local) {
			if peer := f.owner[mustAddr(o.Peer)]; peer != "" && peer != o.Host {
				loopback[o.Host]++
				continue
			}
		}
		usable = append(usable, o)
	}
	for host, n := range foreign {
		f.note("%s: %d %s from other hosts' addresses set aside (collected without root: ss cannot tell whose sockets they are)",
			host, n, plural(n, "connection", "connections"))
	}
	for host, n := range loopback {
		f.note("%s: %d %s from a loopback address to other hosts set aside (collected without root: ss cannot tell whose sockets they are)",
			host, n, plural(n, "connection", "connections"))
	}
	live := func(o patchpilot.ObservedConnection) bool {
		latest, ok := f.latest[o.Host]
		return ok && !o.LastSeen.Before(latest)
	}

	// Outgoing observations name the client's service: they make the
	// edges first, and incoming ones of the same pair join them.
	for _, o := range usable {
		if o.Direction != patchpilot.DirectionOut {
			continue
		}
		from := f.end(o.Host, o.Service, 0)
		to := f.provider(o.Peer, o.Port)
		if to.Host == o.Host {
			continue // a host talking to itself is no dependency between hosts
		}
		e := patchpilot.DependencyEdge{From: from, To: to}
		b.observe(keyOf(e), from, to, o, live(o))
	}
	for _, o := range usable {
		if o.Direction != patchpilot.DirectionIn {
			continue
		}
		from := f.client(o.Peer)
		to := f.end(o.Host, o.Service, o.Port)
		if from.Host == o.Host {
			continue
		}
		if f.management(o) && !declaresSSH(hosts, from.Host, o.Host, o.Port) {
			continue
		}
		joined := false
		if from.Host != "" {
			for _, k := range b.pairs[pairKey{from.Host, to.Host, to.Port}] {
				b.observe(k, from, to, o, live(o))
				joined = true
			}
		}
		if !joined {
			e := patchpilot.DependencyEdge{From: from, To: to}
			b.observe(keyOf(e), from, to, o, live(o))
		}
	}

	b.declare(hosts)

	g := patchpilot.DependencyGraph{At: now, MaxAge: maxAge, Edges: make([]patchpilot.DependencyEdge, 0, len(b.edges)),
		Notes: make([]string, 0, len(f.notes))}
	for _, e := range b.edges {
		g.Edges = append(g.Edges, *e)
	}
	slices.SortFunc(g.Edges, compareEdges)
	for n := range f.notes {
		g.Notes = append(g.Notes, n)
	}
	slices.Sort(g.Notes)
	return g
}

// declare merges the dependencies the hosts' depends_on labels declare: a
// declaration matching observed edges (same hosts, and the declared port
// or service when given) marks them declared too; one matching none is an
// edge of its own, live while it is declared.
func (b *builder) declare(hosts []patchpilot.Host) {
	f := b.f
	byFrom := map[string][]*patchpilot.DependencyEdge{}
	for _, e := range b.edges {
		if e.From.Host != "" {
			byFrom[e.From.Host] = append(byFrom[e.From.Host], e)
		}
	}
	for _, h := range hosts {
		value, ok := h.Labels[patchpilot.LabelDependsOn]
		if !ok {
			continue
		}
		decls, errs := ParseDependsOn(value)
		for _, err := range errs {
			f.note("host %s: %v", h.Name, err)
		}
		for _, d := range decls {
			if _, ok := f.hosts[d.Host]; !ok {
				f.note("host %s: depends_on names %s, which is not a host of the inventory", h.Name, d.Host)
				continue
			}
			if d.Host == h.Name {
				f.note("host %s: depends_on names the host itself", h.Name)
				continue
			}
			matched := false
			for _, e := range byFrom[h.Name] {
				if e.To.Host != d.Host ||
					(d.Port != 0 && e.To.Port != d.Port) || (d.Service != "" && e.To.Service != d.Service) {
					continue
				}
				matched = true
				if !slices.Contains(e.Sources, patchpilot.EdgeDeclared) {
					e.Sources = append(e.Sources, patchpilot.EdgeDeclared)
				}
			}
			if matched {
				continue
			}
			to := patchpilot.DependencyEnd{Host: d.Host, Port: d.Port}
			switch {
			case d.Port != 0:
				if s := f.service(d.Host, "", d.Port); s != nil {
					to.Service, to.Package, to.Version = s.Unit, s.Package, s.Version
				}
			case d.Service != "":
				to = f.end(d.Host, d.Service, 0)
				if s := f.unit(d.Host, d.Service); s != nil && len(distinctPorts(s.Listens)) == 1 {
					to.Port = s.Listens[0].Port
				}
			}
			e := &patchpilot.DependencyEdge{From: patchpilot.DependencyEnd{Host: h.Name}, To: to,
				Sources: []string{patchpilot.EdgeDeclared}, State: patchpilot.EdgeLive}
			k := keyOf(*e)
			k.toAddr = "declared:" + to.Service // two declared services without ports stay apart
			if _, dup := b.edges[k]; !dup {
				b.edges[k] = e
				byFrom[h.Name] = append(byFrom[h.Name], e)
			}
		}
	}
}

func distinctPorts(socks []patchpilot.Socket) []int {
	var ports []int
	for _, s := range socks {
		if !slices.Contains(ports, s.Port) {
			ports = append(ports, s.Port)
		}
	}
	return ports
}

// compareEdges orders edges by client host, provider host and port, then
// by the services at either end.
func compareEdges(a, b patchpilot.DependencyEdge) int {
	return cmp.Or(
		cmp.Compare(a.From.Host, b.From.Host), cmp.Compare(a.From.Address, b.From.Address),
		cmp.Compare(a.To.Host, b.To.Host), cmp.Compare(a.To.Address, b.To.Address),
		cmp.Compare(a.To.Port, b.To.Port),
		cmp.Compare(a.From.Service, b.From.Service), cmp.Compare(a.To.Service, b.To.Service),
	)
}

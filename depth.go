package patchpilot

import (
	"context"
	"time"
)

// Label keys with meaning for the dependency map and compliance.
const (
	// LabelDependsOn declares what a host depends on, as a comma-separated
	// list of HOST, HOST:PORT or HOST:SERVICE (a unit name without
	// ".service"); an inventory sets it with the variable
	// patchpilot_depends_on or patchpilot_label_depends_on.
	LabelDependsOn = "depends_on"
	// LabelCompliance names the compliance regimes a host falls under, as
	// a comma-separated list ("pci", "pci,hipaa"); the policy's
	// compliance section gives each regime its deadlines and approval
	// rules.
	LabelCompliance = "compliance"
)

// HostDepth is what a collection learned of a host beyond its packages:
// what runs on it, what it talks to, and what was changed on it by hand.
// Facts.Depth is nil when the source could not tell (a fact cache, an
// older snapshot); Missing names the parts that could not be read on a
// host that was collected in depth.
type HostDepth struct {
	// CollectedAt is when this depth was read: the snapshot's time, or
	// an earlier one's when a collection without depth carried it
	// forward (zero in snapshots saved before it was recorded).
	CollectedAt time.Time `json:"collected_at,omitzero"`
	// Services are the running services in depth, ordered by unit.
	Services []ServiceDetail `json:"services,omitempty"`
	// Listeners are the host's listening TCP sockets.
	Listeners []Socket `json:"listeners,omitempty"`
	// Connections are the host's established TCP connections at the
	// time of the collection, ephemeral ports left out (see Connection).
	Connections []Connection `json:"connections,omitempty"`
	// Addresses are the host's own IP addresses (loopback excluded),
	// which resolve other hosts' connections to this host.
	Addresses []string `json:"addresses,omitempty"`
	// Modified are the files of installed packages that differ from what
	// the package shipped (dpkg --verify, rpm -Va).
	Modified []ModifiedFile `json:"modified,omitempty"`
	// Held are the packages held at their version (apt-mark hold, dnf
	// versionlock); Pinned those an apt preference pins.
	Held   []string `json:"held,omitempty"`
	Pinned []string `json:"pinned,omitempty"`
	// Foreign are installed packages whose installed version no
	// configured repository offers.
	Foreign []ForeignPackage `json:"foreign,omitempty"`
	// Missing names the parts that could not be read, with why ("sockets:
	// ss needs root to name the processes"); empty when all were read.
	Missing []string `json:"missing,omitempty"`
	// PolicyClock is the host's own clock (Unix seconds) when the
	// package manager's policy (Pinned, Foreign) was last read. The next
	// collection passes it back, and the host reads the policy again only
	// when its package database, package lists or package manager
	// configuration changed since; otherwise PolicyUnchanged is set and
	// the collector carries Pinned and Foreign over from the previous
	// depth. 0 when the policy was not read.
	PolicyClock     int64 `json:"policy_clock,omitempty"`
	PolicyUnchanged bool  `json:"-"`
}

// ServiceDetail is one running service: its unit, its main process, the
// package that owns its program, what it listens on and the packages
// whose files (libraries) it has mapped.
type ServiceDetail struct {
	Unit    string `json:"unit"` // "nginx.service"
	MainPID int    `json:"main_pid,omitempty"`
	Exe     string `json:"exe,omitempty"` // the main process's program
	// Package owns Exe; Version is its installed version. Both are empty
	// when no package owns the program.
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	// Listens are the service's listening sockets.
	Listens []Socket `json:"listens,omitempty"`
	// Libraries are the binary packages whose files the service's main
	// process maps, Package included, sorted: an update of any of them
	// touches the service.
	Libraries []string `json:"libraries,omitempty"`
}

// Socket is a TCP address: Address "" means every address of the host.
type Socket struct {
	Address string `json:"address,omitempty"`
	Port    int    `json:"port"`
}

// Connection directions: Out is a connection this host opened to a peer's
// port; In is one a peer opened to this host's listening port.
const (
	DirectionOut = "out"
	DirectionIn  = "in"
)

// Connection is an established TCP connection seen on a host, reduced to
// what identifies a dependency: the direction, the local service that owns
// the socket ("" when it could not be told), the peer's address and the
// service port (the peer's port for Out, the local port for In).
type Connection struct {
	Direction string `json:"direction"`
	Service   string `json:"service,omitempty"`
	Process   string `json:"process,omitempty"`
	Local     string `json:"local,omitempty"` // the local address used
	Peer      string `json:"peer"`
	Port      int    `json:"port"`
}

// ModifiedFile is a file of an installed package that differs from what
// the package shipped. Checks are the package manager's verify flags as it
// printed them ("??5??????" for dpkg, "S.5....T." for rpm).
type ModifiedFile struct {
	Package  string `json:"package,omitempty"`
	Path     string `json:"path"`
	Conffile bool   `json:"conffile,omitempty"`
	Missing  bool   `json:"missing,omitempty"`
	Checks   string `json:"checks,omitempty"`
}

// Relations of a foreign package's installed version to the candidate.
const (
	ForeignNoCandidate = "no_candidate" // no repository has the package at all
	ForeignNewer       = "newer"        // installed is newer than the candidate
	ForeignOlder       = "older"        // installed is older than the candidate
)

// ForeignPackage is an installed package at a version no configured
// repository offers.
type ForeignPackage struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Candidate string `json:"candidate,omitempty"`
	Relation  string `json:"relation"`
}

// ObservedConnection is the store's aggregate of one connection seen over
// time: the same host, direction, service, local address, peer and port
// across collections, with when it was first and last seen and how many
// collections saw it.
type ObservedConnection struct {
	Host      string `json:"host"`
	Direction string `json:"direction"`
	Service   string `json:"service,omitempty"`
	Process   string `json:"process,omitempty"`
	// Local is the host's address the connection used ("" when unknown).
	Local     string    `json:"local,omitempty"`
	Peer      string    `json:"peer"`
	Port      int       `json:"port"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Seen      int       `json:"seen"`
}

// ConnectionStore keeps the connections collections observed. SaveFacts
// merges a snapshot's Depth.Connections into it in the same transaction
// (first seen kept, last seen set to the snapshot's CollectedAt, seen
// counted once per snapshot), except a depth carried forward from an
// earlier collection (Depth.CollectedAt before the snapshot's
// CollectedAt), which was merged when it was read; a connection without a direction of out or
// in, a peer or a port 1-65535 makes SaveFacts EINVALID. Removing a host
// removes its observations.
type ConnectionStore interface {
	// Connections returns the observations last seen at or after since
	// (every one for a zero since), ordered by host, direction, service,
	// peer, port and local address.
	Connections(ctx context.Context, since time.Time) ([]ObservedConnection, error)
	// PruneConnections deletes the observations last seen before before
	// and returns how many it deleted; a zero before is EINVALID.
	PruneConnections(ctx context.Context, before time.Time) (int, error)
}

// Edge sources.
const (
	EdgeObserved = "observed"
	EdgeDeclared = "declared"
)

// Edge states: a live observed edge was seen at the client's (or the
// provider's) latest collection; a stale one was seen within the map's
// maximum age but not at the latest collection; a declared edge is live
// while its declaration stands.
const (
	EdgeLive  = "live"
	EdgeStale = "stale"
)

// DependencyEnd is one end of a dependency: a fleet host and its service,
// or an external address.
type DependencyEnd struct {
	Host    string `json:"host,omitempty"`    // "" for an address outside the fleet
	Address string `json:"address,omitempty"` // the peer address, for external ends
	Service string `json:"service,omitempty"` // the unit, "" when unknown
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Port    int    `json:"port,omitempty"` // the provider's port
}

// External reports whether the end is outside the fleet.
func (e DependencyEnd) External() bool { return e.Host == "" }

// DependencyEdge says that From depends on To: From's service connects to
// To's port. Sources lists where the edge came from (observed, declared);
// LastSeen is the newest observation (zero for a declared-only edge).
type DependencyEdge struct {
	From      DependencyEnd `json:"from"`
	To        DependencyEnd `json:"to"`
	Sources   []string      `json:"sources"`
	State     string        `json:"state"`
	FirstSeen time.Time     `json:"first_seen,omitzero"`
	LastSeen  time.Time     `json:"last_seen,omitzero"`
	// Seen counts the collections that observed it.
	Seen int `json:"seen,omitempty"`
}

// DependencyGraph is the fleet's dependency map at a time.
type DependencyGraph struct {
	At     time.Time        `json:"at"`
	MaxAge time.Duration    `json:"max_age"`
	Edges  []DependencyEdge `json:"edges"`
	// Notes explain what could not be resolved (an address two hosts
	// claim, a declared dependency naming no host).
	Notes []string `json:"notes"`
}

// DefaultDependencyMaxAge is how long an observed connection counts after
// it was last seen: long enough that a connection made now and then (a
// nightly job) stays on the map between collections.
const DefaultDependencyMaxAge = 7 * 24 * time.Hour

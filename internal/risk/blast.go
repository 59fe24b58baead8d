package risk

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// BlastRadius is how far an update on a host reaches through the
// dependency map: the other fleet hosts, and their services, that depend
// on the host through what the update touches. It is a fact shown beside
// the model's reasons, not a feature: the model's vectors (and so every
// stored model) are unchanged by it.
type BlastRadius struct {
	// Hosts counts the distinct dependent hosts; Services the distinct
	// dependent host:service pairs (a client whose service is unknown
	// counts as its host).
	Hosts    int `json:"hosts"`
	Services int `json:"services"`
	// Touched names what the update touches on the host: its services
	// (units), or "the host" when it reboots it.
	Touched []string `json:"touched"`
	// Edges word the dependencies, "lab01:pp-demo-client → pp-demo-web:8080".
	Edges []string `json:"edges"`
	// Reboot is true when the update reboots the host, so that every
	// dependent counts.
	Reboot bool `json:"reboot,omitempty"`
}

// Reason names. The blast radius is not one of FeatureNames: a reason with
// Direction DirectionContext has no effect on the probability.
const (
	ReasonBlastRadius = "blast_radius"
	DirectionContext  = "context"
	// ReasonSources is a patch's reason for changing several source
	// packages at once: each can fail on its own, so the patch's
	// probability is above its riskiest source's (AssessPatch).
	ReasonSources = "sources"
)

// BlastRadiusOf is the blast radius of an update of pkg (built from source,
// "" when unknown) on host, from the fleet's dependency map and the host's
// latest facts; nil when nothing depends on what it touches.
//
// A service is touched when pkg is its package or one of the packages its
// main process maps (ServiceDetail.Libraries); an edge counts when it
// names a touched service, a port a touched service listens on, or only
// the host (a declared "depends_on: HOST") while the update touches any
// service. An update that reboots the host touches all of it. A host
// collected without depth tells only its running units' names: a unit
// named after the package or its source is then the one touched, and edges
// that name only a port cannot be matched to it. A package no running
// service uses (a library nothing maps, a tool) touches no dependents.
//
// It scans every edge of g: a caller with many updates to measure over one
// map indexes it once with NewBlastIndex.
func BlastRadiusOf(g patchpilot.DependencyGraph, host string, f patchpilot.Facts, pkg, source string, reboot bool) *BlastRadius {
	var in []patchpilot.DependencyEdge
	for _, e := range g.Edges {
		if counts(e, host) {
			in = append(in, e)
		}
	}
	return blastRadius(in, host, f, pkg, source, reboot)
}

// counts reports whether an edge of the map can put a dependent in the
// blast radius of an update on host: another fleet host depends on host.
func counts(e patchpilot.DependencyEdge, host string) bool {
	return e.To.Host == host && !e.From.External() && e.From.Host != host
}

// BlastIndex is a dependency map's edges that can count in a blast radius
// (another fleet host depends on the edge's host), indexed by the host they
// lead to, in the map's order: one pass over the map, after which each
// update's blast radius reads only its host's edges.
type BlastIndex struct {
	in map[string][]patchpilot.DependencyEdge
}

// NewBlastIndex indexes g; nil when g is nil (no map known), whose blast
// radii are all nil.
func NewBlastIndex(g *patchpilot.DependencyGraph) *BlastIndex {
	if g == nil {
		return nil
	}
	x := &BlastIndex{in: map[string][]patchpilot.DependencyEdge{}}
	for _, e := range g.Edges {
		if counts(e, e.To.Host) {
			x.in[e.To.Host] = append(x.in[e.To.Host], e)
		}
	}
	return x
}

// Reaches reports whether another fleet host depends on host: elsewhere
// every blast radius is nil.
func (x *BlastIndex) Reaches(host string) bool { return x != nil && len(x.in[host]) > 0 }

// BlastRadiusOf is BlastRadiusOf over the indexed map: the same answer,
// reading only the edges that lead to host.
func (x *BlastIndex) BlastRadiusOf(host string, f patchpilot.Facts, pkg, source string, reboot bool) *BlastRadius {
	if x == nil {
		return nil
	}
	return blastRadius(x.in[host], host, f, pkg, source, reboot)
}

// blastRadius is BlastRadiusOf from the edges that lead to host from
// other fleet hosts, in the map's order.
func blastRadius(in []patchpilot.DependencyEdge, host string, f patchpilot.Facts, pkg, source string, reboot bool) *BlastRadius {
	if len(in) == 0 {
		return nil
	}
	b := &BlastRadius{Reboot: reboot}
	units := map[string]bool{}
	ports := map[int]bool{}
	if reboot {
		b.Touched = []string{"the host"}
	} else if f.Depth != nil && len(f.Depth.Services) > 0 {
		for _, s := range f.Depth.Services {
			if s.Package == pkg || slices.Contains(s.Libraries, pkg) {
				u := unitOf(s.Unit)
				units[u] = true
				b.Touched = append(b.Touched, u)
				for _, l := range s.Listens {
					ports[l.Port] = true
				}
			}
		}
	} else {
		for _, s := range f.Services {
			if u := unitOf(s); u == pkg || (source != "" && u == source) {
				units[u] = true
				b.Touched = append(b.Touched, u)
			}
		}
	}
	if len(b.Touched) == 0 {
		return nil
	}
	hosts, services := map[string]bool{}, map[string]bool{}
	for _, e := range in {
		to := unitOf(e.To.Service)
		hit := reboot
		switch {
		case hit:
		case to != "":
			hit = units[to]
		case e.To.Port > 0:
			hit = ports[e.To.Port]
		default:
			hit = true // the whole host
		}
		if !hit {
			continue
		}
		hosts[e.From.Host] = true
		from := e.From.Host
		if s := unitOf(e.From.Service); s != "" {
			from += ":" + s
		}
		services[from] = true
		b.Edges = append(b.Edges, from+" → "+toText(e.To, host))
	}
	if len(hosts) == 0 {
		return nil
	}
	b.Hosts, b.Services = len(hosts), len(services)
	sort.Strings(b.Touched)
	b.Touched = slices.Compact(b.Touched)
	sort.Strings(b.Edges)
	b.Edges = slices.Compact(b.Edges)
	return b
}

func unitOf(s string) string { return strings.TrimSuffix(s, ".service") }

// toText words the provider end without its host: "pp-demo-web:8080",
// "5432", or the host's name for an edge on the whole host.
func toText(e patchpilot.DependencyEnd, host string) string {
	s := unitOf(e.Service)
	if e.Port > 0 {
		if s != "" {
			s += ":"
		}
		s += strconv.Itoa(e.Port)
	}
	if s == "" {
		return host
	}
	return s
}

// maxBlastEdges is how many edges the blast radius's reason names.
const maxBlastEdges = 3

// Text words the blast radius as its reason: "2 hosts depend on services
// it touches: lab01:pp-demo-client → pp-demo-web:8080; ...".
func (b *BlastRadius) Text() string {
	who := fmt.Sprintf("%d hosts depend", b.Hosts)
	if b.Hosts == 1 {
		who = "1 host depends"
	}
	if b.Services != b.Hosts {
		who = strings.Replace(who, " depend", fmt.Sprintf(" (%d of their services) depend", b.Services), 1)
	}
	what := "on services it touches"
	if b.Reboot {
		what = "on this host, which the update reboots"
	}
	edges := b.Edges
	more := ""
	if len(edges) > maxBlastEdges {
		more = fmt.Sprintf("; and %d more", len(edges)-maxBlastEdges)
		edges = edges[:maxBlastEdges]
	}
	return who + " " + what + ": " + strings.Join(edges, "; ") + more
}

// Reason is the blast radius as a reason of an assessment: a fact with no
// effect on the probability.
func (b *BlastRadius) Reason() Reason {
	return Reason{Feature: ReasonBlastRadius, Text: b.Text(), Direction: DirectionContext}
}

// mergeBlast joins the blast radii of a patch's updates on one host: the
// union of what they touch and of the edges, counted again.
func mergeBlast(rs []Record) *BlastRadius {
	var out *BlastRadius
	hosts, services := map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		b := r.BlastRadius
		if b == nil {
			continue
		}
		if out == nil {
			out = &BlastRadius{}
		}
		out.Reboot = out.Reboot || b.Reboot
		out.Touched = append(out.Touched, b.Touched...)
		out.Edges = append(out.Edges, b.Edges...)
	}
	if out == nil {
		return nil
	}
	for _, e := range out.Edges {
		from, _, _ := strings.Cut(e, " → ")
		h, _, _ := strings.Cut(from, ":")
		hosts[h], services[from] = true, true
	}
	out.Hosts, out.Services = len(hosts), len(services)
	sort.Strings(out.Touched)
	out.Touched = slices.Compact(out.Touched)
	sort.Strings(out.Edges)
	out.Edges = slices.Compact(out.Edges)
	return out
}

package depmap

import (
	"slices"
	"strconv"

	"github.com/patchpilot/patchpilot"
)

// Neighbourhood is the part of the graph that touches host: the edges
// from it and to it. Notes are kept, since they may explain an edge that
// is missing.
func Neighbourhood(g patchpilot.DependencyGraph, host string) patchpilot.DependencyGraph {
	out := patchpilot.DependencyGraph{At: g.At, MaxAge: g.MaxAge, Notes: g.Notes, Edges: []patchpilot.DependencyEdge{}}
	for _, e := range g.Edges {
		if e.From.Host == host || e.To.Host == host {
			out.Edges = append(out.Edges, e)
		}
	}
	return out
}

// Related are the distinct hosts at the other end of a host's edges, and
// their services as "host:service" (the service's short name) where it is
// known, both sorted.
type Related struct {
	Hosts    []string `json:"hosts"`
	Services []string `json:"services"`
}

// Dependents are the fleet hosts that depend on host, live, stale or
// declared, with their services that do.
func Dependents(g patchpilot.DependencyGraph, host string) Related {
	var r Related
	for _, e := range g.Edges {
		if e.To.Host == host && e.From.Host != "" && e.From.Host != host {
			r.add(e.From.Host, e.From.Service, 0)
		}
	}
	return r.sorted()
}

// Providers are the fleet hosts host depends on, with their services
// ("host:service", or "host:port" when only the port is known).
func Providers(g patchpilot.DependencyGraph, host string) Related {
	var r Related
	for _, e := range g.Edges {
		if e.From.Host == host && e.To.Host != "" && e.To.Host != host {
			r.add(e.To.Host, e.To.Service, e.To.Port)
		}
	}
	return r.sorted()
}

func (r *Related) add(host, unit string, port int) {
	if !slices.Contains(r.Hosts, host) {
		r.Hosts = append(r.Hosts, host)
	}
	name := ""
	switch {
	case unit != "":
		name = host + ":" + ServiceName(unit)
	case port != 0:
		name = host + ":" + strconv.Itoa(port)
	default:
		return
	}
	if !slices.Contains(r.Services, name) {
		r.Services = append(r.Services, name)
	}
}

func (r Related) sorted() Related {
	if r.Hosts == nil {
		r.Hosts = []string{}
	}
	if r.Services == nil {
		r.Services = []string{}
	}
	slices.Sort(r.Hosts)
	slices.Sort(r.Services)
	return r
}

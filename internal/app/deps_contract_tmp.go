package app

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DepsOptions select the dependency map: one host's neighbourhood (Host)
// or the whole fleet, and how long an observed connection counts (MaxAge;
// 0 means patchpilot.DefaultDependencyMaxAge).
type DepsOptions struct {
	Host   string
	MaxAge time.Duration
}

// DependencyGraph builds the fleet's dependency map from the hosts'
// depends_on labels (declared edges). A HOST:SERVICE declaration takes the
// ports the service listens on from the provider's latest facts.
func (a *App) DependencyGraph(ctx context.Context, opts DepsOptions) (patchpilot.DependencyGraph, error) {
	maxAge := opts.MaxAge
	if maxAge == 0 {
		maxAge = patchpilot.DefaultDependencyMaxAge
	}
	g := patchpilot.DependencyGraph{At: a.now(), MaxAge: maxAge, Edges: []patchpilot.DependencyEdge{}}
	hosts, err := a.Store.Hosts(ctx)
	if err != nil {
		return g, err
	}
	known := map[string]bool{}
	for _, h := range hosts {
		known[h.Name] = true
	}
	for _, h := range hosts {
		decl := strings.TrimSpace(h.Labels[patchpilot.LabelDependsOn])
		if decl == "" {
			continue
		}
		for _, item := range strings.Split(decl, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, rest, _ := strings.Cut(item, ":")
			if !known[name] {
				g.Notes = append(g.Notes, fmt.Sprintf("%s: depends_on %q names no known host", h.Name, item))
				continue
			}
			from := patchpilot.DependencyEnd{Host: h.Name}
			to := []patchpilot.DependencyEnd{{Host: name}}
			if rest != "" {
				if port, err := strconv.Atoi(rest); err == nil {
					if port < 1 || port > 65535 {
						g.Notes = append(g.Notes, fmt.Sprintf("%s: depends_on %q: %d is not a TCP port", h.Name, item, port))
						continue
					}
					to[0].Port = port
				} else {
					to = a.serviceEnds(ctx, name, rest)
				}
			}
			for _, t := range to {
				if opts.Host != "" && opts.Host != h.Name && opts.Host != t.Host {
					continue
				}
				g.Edges = append(g.Edges, patchpilot.DependencyEdge{From: from, To: t,
					Sources: []string{patchpilot.EdgeDeclared}, State: patchpilot.EdgeLive})
			}
		}
	}
	sort.SliceStable(g.Edges, func(i, j int) bool {
		a, b := g.Edges[i], g.Edges[j]
		if a.From.Host != b.From.Host {
			return a.From.Host < b.From.Host
		}
		if a.To.Host != b.To.Host {
			return a.To.Host < b.To.Host
		}
		return a.To.Port < b.To.Port
	})
	return g, nil
}

// serviceEnds resolves HOST:SERVICE to the service's listening ports on
// the host's latest facts; one end without a port when they do not tell.
func (a *App) serviceEnds(ctx context.Context, host, service string) []patchpilot.DependencyEnd {
	unit := service
	if !strings.Contains(unit, ".") {
		unit += ".service"
	}
	end := patchpilot.DependencyEnd{Host: host, Service: unit}
	f, err := a.Store.LatestFacts(ctx, host)
	if err != nil || f.Depth == nil {
		return []patchpilot.DependencyEnd{end}
	}
	for _, s := range f.Depth.Services {
		if s.Unit != unit {
			continue
		}
		end.Package, end.Version = s.Package, s.Version
		var out []patchpilot.DependencyEnd
		seen := map[int]bool{}
		for _, l := range s.Listens {
			if !seen[l.Port] {
				seen[l.Port] = true
				e := end
				e.Port = l.Port
				out = append(out, e)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return []patchpilot.DependencyEnd{end}
}

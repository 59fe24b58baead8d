package app

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DepsOptions select the dependency map: one host's neighbourhood (Host)
// and how long an observed connection counts (MaxAge, 0 for
// patchpilot.DefaultDependencyMaxAge).
type DepsOptions struct {
	Host   string
	MaxAge time.Duration
}

// DependencyGraph builds the fleet's dependency map. This version reads the
// declared dependencies only (the depends_on label of each stored host):
// HOST, HOST:PORT or HOST:SERVICE, each a live declared edge.
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
		for _, item := range strings.Split(h.Labels[patchpilot.LabelDependsOn], ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, rest, _ := strings.Cut(item, ":")
			if !known[name] {
				g.Notes = append(g.Notes, h.Name+": depends_on names "+strconv.Quote(item)+", which is no known host")
				continue
			}
			to := patchpilot.DependencyEnd{Host: name}
			if port, err := strconv.Atoi(rest); err == nil {
				to.Port = port
			} else if rest != "" {
				to.Service = rest
			}
			e := patchpilot.DependencyEdge{From: patchpilot.DependencyEnd{Host: h.Name}, To: to,
				Sources: []string{patchpilot.EdgeDeclared}, State: patchpilot.EdgeLive}
			if opts.Host == "" || opts.Host == h.Name || opts.Host == name {
				g.Edges = append(g.Edges, e)
			}
		}
	}
	sort.SliceStable(g.Edges, func(i, j int) bool {
		x, y := g.Edges[i], g.Edges[j]
		if x.From.Host != y.From.Host {
			return x.From.Host < y.From.Host
		}
		return x.To.Host < y.To.Host
	})
	return g, nil
}

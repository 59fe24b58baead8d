package app

import (
	"context"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/depmap"
	"github.com/patchpilot/patchpilot/internal/policy"
)

// DepsOptions select the dependency map DependencyGraph returns.
type DepsOptions struct {
	// Host narrows the map to the edges from and to one host; "" is the
	// whole fleet.
	Host string
	// MaxAge is how long an observed connection counts after it was last
	// seen. 0 is the configured dependencies: max_age, or
	// patchpilot.DefaultDependencyMaxAge.
	MaxAge time.Duration
}

// Related are the hosts at the other end of a host's dependencies, and
// their services as "host:service".
type Related = depmap.Related

// DependencyMaxAge is the maximum age of the dependency map: the
// configured one, or patchpilot.DefaultDependencyMaxAge.
func (a *App) DependencyMaxAge() time.Duration {
	if a.Options.DependencyMaxAge > 0 {
		return a.Options.DependencyMaxAge
	}
	return patchpilot.DefaultDependencyMaxAge
}

// DependencyGraph builds the dependency map now from the stored hosts,
// their latest facts and the connections observed within the maximum age,
// merged with the dependencies the hosts' depends_on labels declare
// (docs/dependencies.md). A Host that is not in the inventory is
// ENOTFOUND.
func (a *App) DependencyGraph(ctx context.Context, o DepsOptions) (patchpilot.DependencyGraph, error) {
	if o.MaxAge < 0 {
		return patchpilot.DependencyGraph{}, patchpilot.Errorf(patchpilot.EINVALID,
			"dependency max age %s: expected a positive duration such as 7d or 36h", o.MaxAge)
	}
	maxAge := o.MaxAge
	if maxAge == 0 {
		maxAge = a.DependencyMaxAge()
	}
	hosts, err := a.Store.Hosts(ctx)
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	if o.Host != "" && !hasHost(hosts, o.Host) {
		return patchpilot.DependencyGraph{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q not found", o.Host).
			WithHint("list the known hosts with 'patchpilot hosts'")
	}
	facts, err := a.Store.FleetFacts(ctx)
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	now := a.now()
	obs, err := a.Store.Connections(ctx, now.Add(-maxAge))
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	g := depmap.Build(hosts, facts, obs, now, maxAge)
	if o.Host != "" {
		g = depmap.Neighbourhood(g, o.Host)
	}
	return g, nil
}

// Dependents are the fleet hosts (and their services) that depend on host
// in the graph: live, stale or declared.
func Dependents(g patchpilot.DependencyGraph, host string) Related { return depmap.Dependents(g, host) }

// Providers are the fleet hosts (and their services) host depends on in
// the graph.
func Providers(g patchpilot.DependencyGraph, host string) Related { return depmap.Providers(g, host) }

// ServiceName is a unit's short name: "nginx.service" is "nginx".
func ServiceName(unit string) string { return depmap.ServiceName(unit) }

func hasHost(hosts []patchpilot.Host, name string) bool {
	for _, h := range hosts {
		if h.Name == name {
			return true
		}
	}
	return false
}

// pruneConnections deletes the observed connections older than the
// dependency map's maximum age: they are no edges any more.
func (a *App) pruneConnections(ctx context.Context) error {
	if _, err := a.Store.PruneConnections(ctx, a.now().Add(-a.DependencyMaxAge())); err != nil {
		return fmt.Errorf("prune observed connections: %w", err)
	}
	return nil
}

// ParseMaxAge reads a dependency map's maximum age as the configuration
// writes it: whole days ("7d"), or Go's form ("36h", "90m"); it must be
// positive. what names the flag or parameter in the error.
func ParseMaxAge(what, s string) (time.Duration, error) {
	d, err := policy.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "%s %q: expected a positive duration such as 7d, 36h or 90m", what, s)
	}
	return d, nil
}

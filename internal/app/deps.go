package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/depmap"
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
	return a.dependencyGraph(ctx, o, nil)
}

// dependencyGraph is DependencyGraph with the hosts and their facts read
// through fr.
func (a *App) dependencyGraph(ctx context.Context, o DepsOptions, fr *fleetReads) (patchpilot.DependencyGraph, error) {
	if o.MaxAge < 0 {
		return patchpilot.DependencyGraph{}, patchpilot.Errorf(patchpilot.EINVALID,
			"dependency max age %s: expected a positive duration such as 7d or 36h", o.MaxAge)
	}
	maxAge := o.MaxAge
	if maxAge == 0 {
		maxAge = a.DependencyMaxAge()
	}
	hosts, err := a.fleetHosts(ctx, fr)
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	if o.Host != "" && !hasHost(hosts, o.Host) {
		return patchpilot.DependencyGraph{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q not found", o.Host).
			WithHint("list the known hosts with 'patchpilot hosts'")
	}
	facts, err := a.fleetFacts(ctx, fr)
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	g, err := a.buildDependencyGraph(ctx, hosts, facts, maxAge)
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	if o.Host != "" {
		g = depmap.Neighbourhood(g, o.Host)
	}
	return g, nil
}

// buildDependencyGraph builds the whole fleet's dependency map now from
// every stored host and its latest facts (FleetFacts, already read) and the
// connections observed within maxAge.
func (a *App) buildDependencyGraph(ctx context.Context, hosts []patchpilot.Host, facts []patchpilot.Facts, maxAge time.Duration) (patchpilot.DependencyGraph, error) {
	now := a.now()
	obs, err := a.Store.Connections(ctx, now.Add(-maxAge))
	if err != nil {
		return patchpilot.DependencyGraph{}, err
	}
	return depmap.Build(hosts, facts, obs, now, maxAge), nil
}

// HostDependencies is a host's part of the dependency map, as 'hosts show'
// and GET /hosts/{name} give it: its edges each way, the hosts (and
// services) at their other ends, and the map's notes that name it.
type HostDependencies struct {
	// At is when the map was built, for "last seen ... ago"; not in the
	// JSON, so that the same host reads the same at any time.
	At           time.Time                   `json:"-"`
	DependsOn    []patchpilot.DependencyEdge `json:"depends_on"`
	DependedOnBy []patchpilot.DependencyEdge `json:"depended_on_by"`
	Providers    Related                     `json:"providers"`
	Dependents   Related                     `json:"dependents"`
	Notes        []string                    `json:"notes"`
}

// HostDependencies builds the dependency map now and returns host's part
// of it; a host not in the inventory is ENOTFOUND.
func (a *App) HostDependencies(ctx context.Context, host string) (HostDependencies, error) {
	g, err := a.DependencyGraph(ctx, DepsOptions{Host: host})
	if err != nil {
		return HostDependencies{}, err
	}
	return HostDependenciesOf(g, host), nil
}

// HostDependenciesOf is host's part of the graph g.
func HostDependenciesOf(g patchpilot.DependencyGraph, host string) HostDependencies {
	d := HostDependencies{At: g.At, DependsOn: []patchpilot.DependencyEdge{}, DependedOnBy: []patchpilot.DependencyEdge{},
		Providers: Providers(g, host), Dependents: Dependents(g, host), Notes: []string{}}
	for _, e := range g.Edges {
		if e.From.Host == host {
			d.DependsOn = append(d.DependsOn, e)
		}
		if e.To.Host == host {
			d.DependedOnBy = append(d.DependedOnBy, e)
		}
	}
	for _, n := range g.Notes {
		if noteNames(n, host) {
			d.Notes = append(d.Notes, n)
		}
	}
	return d
}

// noteNames reports whether a note names host as a word (so that "lab1"
// does not pick up the notes of "lab10").
func noteNames(note, host string) bool {
	for i := 0; ; {
		j := strings.Index(note[i:], host)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(host)
		if (j == 0 || !nameByte(note[j-1])) && (end == len(note) || !nameByte(note[end])) {
			return true
		}
		i = j + 1
	}
}

func nameByte(c byte) bool {
	return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
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

// MaxDependencyMaxAge is the largest maximum age of the dependency map.
const MaxDependencyMaxAge = 3650 * 24 * time.Hour

// ParseMaxAge reads a dependency map's maximum age as the configuration
// and the --max-age flag write it: whole days ("7d"), Go's form ("36h",
// "1h30m"), or days followed by Go's form ("3d12h"). It must be positive
// and at most MaxDependencyMaxAge (3650d). what names the flag, parameter
// or key in the error.
func ParseMaxAge(what, s string) (time.Duration, error) {
	const want = "expected a positive duration such as 7d, 3d12h, 36h or 90m"
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "%s is empty: %s", what, want)
	}
	tooLarge := patchpilot.Errorf(patchpilot.EINVALID, "%s %q is too large: the maximum is %dd", what, s, int(MaxDependencyMaxAge/(24*time.Hour)))
	var d time.Duration
	rest := t
	if i := strings.IndexByte(t, 'd'); i > 0 && allDigits(t[:i]) {
		days, err := strconv.ParseUint(t[:i], 10, 64)
		if err != nil || days > uint64(MaxDependencyMaxAge/(24*time.Hour)) {
			return 0, tooLarge
		}
		d, rest = time.Duration(days)*24*time.Hour, t[i+1:]
	}
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil {
			if allDigits(strings.TrimRight(strings.TrimLeft(rest, "+"), "nsuµmh")) && len(rest) > 0 {
				return 0, tooLarge // digits and units that overflow
			}
			return 0, patchpilot.Errorf(patchpilot.EINVALID, "%s %q: %s", what, s, want)
		}
		if v < 0 {
			return 0, patchpilot.Errorf(patchpilot.EINVALID, "%s %q: %s", what, s, want)
		}
		if v > MaxDependencyMaxAge {
			return 0, tooLarge
		}
		d += v
	}
	if d <= 0 {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "%s %q: %s", what, s, want)
	}
	if d > MaxDependencyMaxAge {
		return 0, tooLarge
	}
	return d, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

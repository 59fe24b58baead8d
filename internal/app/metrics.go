package app

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// decodeMetrics decodes patchpilot.yaml's metrics: section, the metrics
// source default plans use: {prometheus: URL} or {datadog: INTEGRATION},
// with an optional window and step. Unknown keys and bad values are
// refused with the file and line.
func decodeMetrics(path string, n *yaml.Node) (patchpilot.HealthConfig, error) {
	var h patchpilot.HealthConfig
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return h, nil
	}
	if n.Kind != yaml.MappingNode {
		return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics: expected a mapping such as {prometheus: http://prometheus:9090}, got %s",
			path, n.Line, configValueText(n))
	}
	var window, step time.Duration
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics.%s: expected a single value, got %s", path, v.Line, k.Value, configValueText(v))
		}
		switch k.Value {
		case "prometheus":
			h.Prometheus.URL = v.Value
		case "datadog":
			h.Datadog.Integration = v.Value
		case "window", "step":
			d, err := time.ParseDuration(v.Value)
			if err != nil || d <= 0 {
				return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics.%s: expected a duration such as 2m or 15s, got %q", path, v.Line, k.Value, v.Value)
			}
			if k.Value == "window" {
				window = d
			} else {
				step = d
			}
		default:
			known := []string{"prometheus", "datadog", "window", "step"}
			return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics: unknown key %q%s; known keys: %s", path, k.Line, k.Value, didYouMean(k.Value, known), strings.Join(known, ", "))
		}
	}
	switch {
	case h.Prometheus.URL != "" && h.Datadog.Integration != "":
		return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics: name prometheus or datadog, not both", path, n.Line)
	case h.Prometheus.URL == "" && h.Datadog.Integration == "":
		return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics: name the source: prometheus: URL or datadog: INTEGRATION", path, n.Line)
	case h.Prometheus.URL != "":
		h.Prometheus.Window, h.Prometheus.Step = window, step
	default:
		h.Datadog.Window, h.Datadog.Step = window, step
	}
	if err := health.ValidateConfig(h); err != nil {
		return h, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: metrics: %w", path, n.Line, err)
	}
	return h, nil
}

// withMetricGates adds the built-in metric criteria to a default plan when
// patchpilot.yaml names a metrics source, and returns the header line that
// says so.
func (a *App) withMetricGates(p patchpilot.Plan) (patchpilot.Plan, []string) {
	m := a.Options.Metrics
	if m.Prometheus.URL == "" && m.Datadog.Integration == "" {
		return p, nil
	}
	src := "prometheus " + m.Prometheus.URL
	if m.Datadog.Integration != "" {
		src = "datadog integration " + m.Datadog.Integration
	}
	var names []string
	for _, c := range planner.MetricCriteria() {
		names = append(names, c.String())
	}
	return planner.WithMetrics(p, m), []string{fmt.Sprintf("metric gates from %s (patchpilot.yaml's metrics:), built-in queries: %s", src, joinFirst(names, 10))}
}

// ProvidersOf reads, for each of the hosts, the fleet hosts it depends on
// on the dependency map, with their addresses and the ports it uses:
// what network_connectivity connects to from the host. Providers the
// store does not know (no address) and edges without a port are left
// out.
func ProvidersOf(g patchpilot.DependencyGraph, hosts []string, address func(string) string) map[string][]patchpilot.HealthProvider {
	want := map[string]bool{}
	for _, h := range hosts {
		want[h] = true
	}
	type key struct{ host, provider string }
	ports := map[key][]int{}
	for _, e := range g.Edges {
		if !want[e.From.Host] || e.To.External() || e.To.Host == e.From.Host || e.To.Port == 0 {
			continue
		}
		k := key{e.From.Host, e.To.Host}
		if !slices.Contains(ports[k], e.To.Port) {
			ports[k] = append(ports[k], e.To.Port)
		}
	}
	out := map[string][]patchpilot.HealthProvider{}
	for k, ps := range ports {
		addr := address(k.provider)
		if addr == "" {
			continue
		}
		sort.Ints(ps)
		out[k.host] = append(out[k.host], patchpilot.HealthProvider{Host: k.provider, Address: addr, Ports: ps})
	}
	for h := range out {
		sort.Slice(out[h], func(i, j int) bool { return out[h][i].Host < out[h][j].Host })
	}
	return out
}

// resolveProviders writes into a plan about to become a rollout the
// providers and the dependents of each of its targets when one of its
// stages names network_connectivity, as resolveDependents does for
// dependents_reachable.
func (a *App) resolveProviders(ctx context.Context, p patchpilot.Plan, views []planner.HostView) (patchpilot.Plan, error) {
	if !namesCriterion(p, patchpilot.CriterionNetworkConnectivity) {
		return p, nil
	}
	sel, err := planner.SelectTargets(p.Targets, views)
	if err != nil {
		return p, err
	}
	targets := make([]string, 0, len(sel))
	for _, t := range sel {
		targets = append(targets, t.Name())
	}
	g, err := a.DependencyGraph(ctx, DepsOptions{})
	if err != nil {
		return p, err
	}
	hosts, err := a.Store.Hosts(ctx)
	if err != nil {
		return p, err
	}
	addrs := map[string]string{}
	for _, h := range hosts {
		addrs[h.Name] = h.Target()
	}
	provs := ProvidersOf(g, targets, func(name string) string { return addrs[name] })
	p.Health.Providers = nil
	if len(provs) > 0 {
		p.Health.Providers = provs
	}
	if p.Health.Dependents == nil {
		if deps, _ := DependentsOf(g, targets); len(deps) > 0 {
			p.Health.Dependents = deps
		}
	}
	return p, nil
}

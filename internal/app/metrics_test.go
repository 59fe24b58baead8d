package app

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

func TestLoadConfigMetrics(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, "metrics: {prometheus: \"http://prom:9090\", step: 5s}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Apply(Options{})
	if err != nil || o.Metrics.Prometheus.URL != "http://prom:9090" || o.Metrics.Prometheus.Step != 5*time.Second {
		t.Errorf("metrics = %+v, %v", o.Metrics, err)
	}
	for body, want := range map[string]string{
		"metrics: {prometheus: \"http://p:9090\", datadog: dd}\n":  ":1: metrics: name prometheus or datadog, not both",
		"metrics:\n  prometheus: \"http://p:9090\"\n  windw: 2m\n": `:3: metrics: unknown key "windw"`,
		"metrics: {step: 5s}\n":                                    ":1: metrics: name the source",
		"metrics: {prometheus: \"http://p:9090\", step: soon}\n":   `metrics.step: expected a duration such as 2m or 15s, got "soon"`,
		"metrics: {prometheus: \"ftp://p\"}\n":                     ":1: metrics:",
	} {
		if _, err := LoadConfig(writeConfig(t, body), false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// TestProposePlanWithMetrics: with patchpilot.yaml's metrics source, the
// default plan gates every stage on the built-in metric criteria beside
// the SSH probes, and says so; without one, on the SSH probes only.
func TestProposePlanWithMetrics(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	dependentsFleet(t, a)
	prop, err := a.ProposePlan(ctx, patchpilot.PatchSpec{SecurityAll: true}, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range prop.Plan.Stages {
		if slices.ContainsFunc(s.Criteria, func(c patchpilot.Criterion) bool { return c.Name == patchpilot.CriterionNetworkConnectivity }) {
			t.Errorf("stage %s has metric criteria without a metrics source: %v", s.Name, s.Criteria)
		}
	}
	a.Options.Metrics = patchpilot.HealthConfig{Prometheus: patchpilot.PrometheusConfig{URL: "http://prom:9090"}}
	prop, err = a.ProposePlan(ctx, patchpilot.PatchSpec{SecurityAll: true}, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range prop.Plan.Stages {
		for _, c := range planner.MetricCriteria() {
			if !slices.Contains(s.Criteria, c) {
				t.Errorf("stage %s lacks %s: %v", s.Name, c, s.Criteria)
			}
		}
	}
	if prop.Plan.Health.Prometheus.URL != "http://prom:9090" {
		t.Errorf("health = %+v", prop.Plan.Health)
	}
	if !slices.ContainsFunc(prop.Header, func(h string) bool { return strings.Contains(h, "metric gates from prometheus http://prom:9090") }) {
		t.Errorf("header %q does not say where the metric gates read", prop.Header)
	}
	src, err := planner.Marshal(prop.Plan)
	if err != nil || !strings.Contains(string(src), "mean_cpu_usage<baseline+15%") {
		t.Fatalf("written plan: %s (%v)", src, err)
	}
	p, err := planner.Parse(src, "proposed.yaml")
	if err != nil {
		t.Fatalf("the proposed plan does not read back: %v", err)
	}
	// Starting it stores each target's providers for network_connectivity.
	id, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), p, nil, StartOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Store.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]patchpilot.HealthProvider{
		"web1": {{Host: "db1", Address: "db1", Ports: []int{5432}}},
		"web2": {{Host: "db1", Address: "db1", Ports: []int{5432, 5433}}},
	}
	if !reflect.DeepEqual(r.Plan.Health.Providers, want) {
		t.Errorf("stored providers = %+v, want %+v", r.Plan.Health.Providers, want)
	}
}

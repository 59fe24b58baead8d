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

// dependentsFleet stores db1, which web1 and web2 declare they depend on,
// and web3, whose declaration names no known host.
func dependentsFleet(t *testing.T, a *App) {
	t.Helper()
	ctx := t.Context()
	hosts := []patchpilot.Host{
		{Name: "db1", Labels: map[string]string{"role": "db", "env": "test"}},
		{Name: "web1", Labels: map[string]string{"role": "web", "env": "test", patchpilot.LabelDependsOn: "db1:5432"}},
		{Name: "web2", Labels: map[string]string{"role": "web", "env": "test", patchpilot.LabelDependsOn: "db1:5432, db1:5433"}},
		{Name: "web3", Labels: map[string]string{"role": "web", "env": "test", patchpilot.LabelDependsOn: "db9"}},
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "web", Version: "1.0"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDependentsOf: dependents are grouped by provider with their ports
// and services; edges from outside the fleet, from the provider itself, and
// without a port are left out, the last with a note.
func TestDependentsOf(t *testing.T) {
	end := func(host string, port int) patchpilot.DependencyEnd {
		return patchpilot.DependencyEnd{Host: host, Port: port}
	}
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{
		{From: end("web1", 0), To: end("db1", 5432)},
		{From: end("web2", 0), To: end("db1", 5433)},
		{From: end("web2", 0), To: end("db1", 5432)},
		{From: end("web1", 0), To: end("cache1", 6379)},
		{From: patchpilot.DependencyEnd{Address: "203.0.113.9"}, To: patchpilot.DependencyEnd{Host: "db1", Port: 5432}},
		{From: patchpilot.DependencyEnd{Host: "web1", Service: "nginx.service"}, To: patchpilot.DependencyEnd{Host: "db1", Port: 6379}},
		{From: patchpilot.DependencyEnd{Host: "web3"}, To: patchpilot.DependencyEnd{Host: "db1"}},
		{From: patchpilot.DependencyEnd{Host: "db1"}, To: patchpilot.DependencyEnd{Host: "db1", Port: 22}},
	}}
	deps, notes := DependentsOf(g, []string{"db1", "web1"})
	want := map[string][]patchpilot.HealthDependent{"db1": {
		{Host: "web1", Ports: []int{5432, 6379}, Services: []string{"nginx.service"}},
		{Host: "web2", Ports: []int{5432, 5433}},
	}}
	if !reflect.DeepEqual(deps, want) {
		t.Errorf("dependents = %+v, want %+v", deps, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "web3 depends on db1, but the map names no port") {
		t.Errorf("notes = %q", notes)
	}
}

// TestStartRolloutStoresDependents: a rollout whose plan names
// dependents_reachable stores its targets' dependents with its plan; one
// that does not, stores none.
func TestStartRolloutStoresDependents(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	dependentsFleet(t, a)
	start := func(criteria string) patchpilot.Rollout {
		t.Helper()
		p, err := planner.Parse([]byte(`rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: all, targets: rest, criteria: [`+criteria+`]}
`), "plan.yaml")
		if err != nil {
			t.Fatal(err)
		}
		id, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), p, nil, StartOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.Store.Rollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := start("services_running, dependents_reachable")
	want := map[string][]patchpilot.HealthDependent{"db1": {{Host: "web1", Ports: []int{5432}}, {Host: "web2", Ports: []int{5432, 5433}}}}
	if !reflect.DeepEqual(r.Plan.Health.Dependents, want) {
		t.Errorf("stored dependents = %+v, want %+v", r.Plan.Health.Dependents, want)
	}
	if r := start("services_running"); r.Plan.Health.Dependents != nil {
		t.Errorf("a plan without the gate stored dependents %+v", r.Plan.Health.Dependents)
	}
}

// TestProposePlanAddsDependentsGate: the default plan of a provider gets
// dependents_reachable in every stage, and says so; one of hosts nothing
// depends on does not.
func TestProposePlanAddsDependentsGate(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	dependentsFleet(t, a)
	prop, err := a.ProposePlan(ctx, patchpilot.PatchSpec{SecurityAll: true}, "env=test")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range prop.Plan.Stages {
		if !slices.Contains(s.Criteria, patchpilot.Criterion{Name: patchpilot.CriterionDependentsReachable}) {
			t.Errorf("stage %s criteria %v lack dependents_reachable", s.Name, s.Criteria)
		}
	}
	if !slices.ContainsFunc(prop.Header, func(h string) bool { return strings.Contains(h, "other hosts depend on 1 of the targets (db1)") }) {
		t.Errorf("header %q does not explain the gate", prop.Header)
	}
	src, err := planner.Marshal(prop.Plan)
	if err != nil || !strings.Contains(string(src), "dependents_reachable") {
		t.Errorf("written plan lacks the gate: %s (%v)", src, err)
	}
	if _, err := planner.Parse(src, "proposed.yaml"); err != nil {
		t.Errorf("the proposed plan does not read back: %v", err)
	}
	prop, err = a.ProposePlan(ctx, patchpilot.PatchSpec{SecurityAll: true}, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range prop.Plan.Stages {
		if slices.Contains(s.Criteria, patchpilot.Criterion{Name: patchpilot.CriterionDependentsReachable}) {
			t.Errorf("stage %s of hosts without dependents has dependents_reachable", s.Name)
		}
	}
}

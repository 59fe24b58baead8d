package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// A budget per service holds the hosts serving it, whatever their labels:
// no two of them are in flight at once, while the other hosts go together.
func TestServiceBudget(t *testing.T) {
	e := newEnv(t, hostsNamed(8, "web"))
	ctx := context.Background()
	serving := map[string]bool{"h01": true, "h02": true, "h05": true, "h08": true}
	for h := range e.f.roles {
		// The fake groups in-flight hosts by this map, not by labels
		// (every host is role=web).
		e.f.roles[h] = "other"
		if serving[h] {
			e.f.roles[h] = "db"
			f, err := e.db.LatestFacts(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			f.CollectedAt = f.CollectedAt.Add(time.Hour)
			f.Services = append(f.Services, "postgresql.service")
			if err := e.db.SaveFacts(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
budgets: [{service: postgresql.service, max_unavailable: 1}]
stages:
  - {name: all, targets: rest, parallel: 8}
`)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s", got)
	}
	if n := e.f.maxInflight["db"]; n != 1 {
		t.Errorf("%d hosts serving postgresql were applying at once, the budget allows 1", n)
	}
	for h, s := range e.states(id) {
		if s != patchpilot.HostSucceeded {
			t.Errorf("%s: %s", h, s)
		}
	}
}

// budgetGroupOf covers the hosts a service budget names: by unit, by port
// (which needs the facts' depth), or both, within a selector and per group.
func TestBudgetGroupOfService(t *testing.T) {
	depth := &patchpilot.HostDepth{
		Services:  []patchpilot.ServiceDetail{{Unit: "postgresql.service", Listens: []patchpilot.Socket{{Port: 5432}}}},
		Listeners: []patchpilot.Socket{{Port: 5432}},
	}
	db := planner.HostView{Host: patchpilot.Host{Name: "db1", Labels: map[string]string{"dc": "fra", "env": "prod"}}, Depth: depth}
	web := planner.HostView{Host: patchpilot.Host{Name: "web1", Labels: map[string]string{"dc": "fra", "env": "prod"}},
		Depth: &patchpilot.HostDepth{Services: []patchpilot.ServiceDetail{{Unit: "nginx.service", Listens: []patchpilot.Socket{{Port: 443}}}}}}
	tests := []struct {
		budget    patchpilot.DisruptionBudget
		db, web   bool
		dbGroup   string
		whatCheck string
	}{
		{patchpilot.DisruptionBudget{Service: "db:5432"}, false, false, "", "another unit on the port"},
		{patchpilot.DisruptionBudget{Service: ":5432"}, true, false, "", "the port"},
		{patchpilot.DisruptionBudget{Service: "postgresql:5432"}, true, false, "", "unit and port"},
		{patchpilot.DisruptionBudget{Service: "postgresql", Group: "dc"}, true, false, "fra", "per group"},
		{patchpilot.DisruptionBudget{Service: "postgresql", Selector: "env=test"}, false, false, "", "outside the selector"},
	}
	for _, tt := range tests {
		g, in := budgetGroupOf(tt.budget, db)
		if in != tt.db || g != tt.dbGroup {
			t.Errorf("%s: db1 in %+v = %q, %v; want %q, %v", tt.whatCheck, tt.budget, g, in, tt.dbGroup, tt.db)
		}
		if _, in := budgetGroupOf(tt.budget, web); in != tt.web {
			t.Errorf("%s: web1 in %+v = %v, want %v", tt.whatCheck, tt.budget, in, tt.web)
		}
	}
}

// With a host serving the service down, the budget holds the other hosts
// serving it and lets the rest go.
func TestServiceBudgetAllows(t *testing.T) {
	rn := &run{r: patchpilot.Rollout{Plan: patchpilot.Plan{Budgets: []patchpilot.DisruptionBudget{
		{Service: ":5432", MaxUnavailable: patchpilot.LimitCount(1)},
	}}}, hosts: map[string]patchpilot.Host{}, facts: map[string]*patchpilot.Facts{}}
	for _, name := range []string{"pg1", "pg2", "web1", "web2"} {
		rn.hosts[name] = patchpilot.Host{Name: name}
		d := &patchpilot.HostDepth{Listeners: []patchpilot.Socket{{Port: 443}}}
		if name[:2] == "pg" {
			d.Listeners = append(d.Listeners, patchpilot.Socket{Port: 5432})
		}
		rn.facts[name] = &patchpilot.Facts{Host: name, Depth: d}
	}
	down := map[string]bool{"pg1": true, "web1": true}
	for host, want := range map[string]bool{"pg2": false, "web2": true} {
		if got := rn.budgetAllows(host, down); got != want {
			t.Errorf("budgetAllows(%s) with pg1 and web1 down = %v, want %v", host, got, want)
		}
	}
	if !rn.budgetAllows("pg2", map[string]bool{"web1": true, "web2": true}) {
		t.Error("pg2 is held while no host serving :5432 is down")
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// setStoredPlan overwrites the plan column of a rollout, as another
// version of patchpilot would have written it.
func setStoredPlan(t *testing.T, path, id, plan string) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE rollouts SET plan = ? WHERE id = ?`, plan, id); err != nil {
		t.Fatal(err)
	}
}

func storedPlan(t *testing.T, path, id string) string {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var plan string
	if err := raw.QueryRow(`SELECT plan FROM rollouts WHERE id = ?`, id).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestStoredPlanForms stores a plan in the versioned form, reads a plan
// stored by an older version (testdata/plan-unversioned.json, keyed by Go
// field names) back exactly, and refuses a version it does not know.
func TestStoredPlanForms(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	defer db.Close()
	r := patchpilot.Rollout{ID: "r-1", Plan: storetest.FullPlan(), State: patchpilot.RolloutRunning,
		Stages: []patchpilot.StageRun{{Index: 0, Name: "canary", Hosts: []string{"web-1"}}}}
	if err := db.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}

	var form map[string]any
	if err := json.Unmarshal([]byte(storedPlan(t, path, "r-1")), &form); err != nil {
		t.Fatal(err)
	}
	stages, _ := form["stages"].([]any)
	first, _ := stages[0].(map[string]any)
	if form["version"] != 1.0 || form["name"] != "demo-web" || first["on_failure"] != "rollback_wave_and_hold" || form["Name"] != nil {
		t.Errorf("stored plan %v: want the versioned form with JSON names (version 1, name, stages[].on_failure)", form)
	}

	old, err := os.ReadFile(filepath.Join("testdata", "plan-unversioned.json"))
	if err != nil {
		t.Fatal(err)
	}
	setStoredPlan(t, path, "r-1", string(old))
	got, err := db.Rollout(ctx, "r-1")
	if err != nil {
		t.Fatalf("a plan stored by an older version: %v", err)
	}
	// Older versions had no approvers or approval reasons: they read as
	// zero (one approver, no reason).
	want := storetest.FullPlan()
	for i := range want.Stages {
		want.Stages[i].Approvers, want.Stages[i].ApprovalReason, want.Stages[i].AutoApproveAt = 0, "", nil
	}
	// Nor Datadog, Alertmanager, Puppet, a playbook apply or hooks.
	want.Health.Datadog, want.Health.Alertmanager, want.Health.Puppet = patchpilot.DatadogConfig{}, patchpilot.AlertmanagerConfig{}, patchpilot.PuppetConfig{}
	want.Apply, want.Hooks = patchpilot.ApplyConfig{}, patchpilot.HookConfig{}
	// Nor budgets per service, a dependency order or the dependents the
	// dependents gate checks.
	want.Order = patchpilot.OrderConfig{}
	want.Health.Dependents = nil
	// Nor the providers network_connectivity checks, nor criteria over
	// a baseline (the fixture's mean_cpu_usage).
	want.Health.Providers = nil
	for i := range want.Stages {
		want.Stages[i].Criteria = slices.DeleteFunc(want.Stages[i].Criteria, func(c patchpilot.Criterion) bool {
			return c.Name == patchpilot.CriterionMeanCPUUsage
		})
		if len(want.Stages[i].Criteria) == 0 {
			want.Stages[i].Criteria = nil
		}
	}
	for i := range want.Budgets {
		want.Budgets[i].Service = ""
	}
	if !reflect.DeepEqual(got.Plan, want) {
		t.Errorf("plan stored by an older version read as\n%#v\nwant\n%#v", got.Plan, want)
	}

	setStoredPlan(t, path, "r-1", `{"version":2,"name":"x"}`)
	if _, err := db.Rollout(ctx, "r-1"); err == nil || !strings.Contains(err.Error(), "plan format version 2") {
		t.Errorf("a plan of an unknown version: %v, want an error naming the version", err)
	}
}

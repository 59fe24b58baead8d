package orchestrator

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// legacyPlanYAML is the plan of testdata/plan-unversioned.json.
const legacyPlanYAML = `rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1, criteria: [http_ok], bake: 2s}
    - {name: final, targets: rest, parallel: 2, approval: required, criteria: [http_ok, "error_rate_increase<0.05"], bake: 2s, max_failures: 1, on_failure: rollback_and_alert}
`

// TestResumeRolloutStoredByOlderVersion takes a rollout waiting for
// approval, replaces its stored plan with the plan as older versions
// stored it (keyed by Go field names, without a version), and approves
// and resumes it: the engine reads the old plan exactly and finishes the
// rollout.
func TestResumeRolloutStoredByOlderVersion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, hostsNamed(3))
	want, err := planner.Parse([]byte(legacyPlanYAML), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := e.db.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var views []planner.HostView
	for _, h := range hosts {
		f, _ := e.db.LatestFacts(ctx, h.Name)
		views = append(views, planner.NewHostView(h, &f))
	}
	id, err := e.e.Start(ctx, want, legacyPlanYAML, views, StartOptions{CreatedBy: "user:test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutWaitingApproval {
		t.Fatalf("rollout state = %s, want waiting_approval", got)
	}

	old, err := os.ReadFile(filepath.Join("testdata", "plan-unversioned.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", e.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE rollouts SET plan = ? WHERE id = ?`, string(old), id); err != nil {
		t.Fatal(err)
	}

	r, err := e.db.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Plan, want) {
		t.Fatalf("stored plan of an older version read as\n%#v\nwant\n%#v", r.Plan, want)
	}
	if _, err := e.e.Approve(ctx, id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	state, err := e.e.Resume(ctx, id, "user:ann")
	if err != nil || state != patchpilot.RolloutSucceeded {
		t.Fatalf("resume: %s, %v; want succeeded", state, err)
	}
	for h, s := range e.states(id) {
		if s != patchpilot.HostSucceeded || e.f.applies[h] != 1 {
			t.Errorf("%s: %s after %d applies, want succeeded after one", h, s, e.f.applies[h])
		}
	}
}

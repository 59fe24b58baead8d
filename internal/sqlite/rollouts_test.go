package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// testRollout is a small rollout: two stages, three hosts.
func testRollout(id string, at time.Time) patchpilot.Rollout {
	return patchpilot.Rollout{ID: id, CreatedAt: at, PlanSource: "name: t\n", Stages: []patchpilot.StageRun{
		{Index: 0, Name: "canary", Hosts: []string{"b"}},
		{Index: 1, Name: "rest", Hosts: []string{"c", "a"}},
	}}
}

// TestLeaseExpiryOnTheClock drives leases with the injected clock, to the
// nanosecond: a lease is held until its expiry instant and free at it.
func TestLeaseExpiryOnTheClock(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	now := t0
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path, sqlite.WithClock(func() time.Time { return now }))
	defer db.Close()
	if err := db.CreateRollout(ctx, testRollout("r", t0)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at          time.Duration
		owner       string
		ttl         time.Duration
		granted     bool
		holder      string
		wantExpires time.Duration // of the lease after the step
	}{
		{0, "a", time.Minute, true, "a", time.Minute},
		{30 * time.Second, "a", time.Minute, true, "a", 90 * time.Second}, // renewed from now
		{90*time.Second - 1, "b", time.Minute, false, "a", 90 * time.Second},
		{90 * time.Second, "b", time.Minute, true, "b", 150 * time.Second}, // free at its expiry
		{100 * time.Second, "a", time.Hour, false, "b", 150 * time.Second},
		{10 * time.Minute, "b", time.Second, true, "b", 10*time.Minute + time.Second}, // own expired lease
	}
	for _, s := range steps {
		now = t0.Add(s.at)
		granted, holder, err := db.AcquireLease(ctx, "r", s.owner, s.ttl)
		if err != nil {
			t.Fatalf("at +%s: AcquireLease(%s): %v", s.at, s.owner, err)
		}
		if granted != s.granted || holder != s.holder {
			t.Errorf("at +%s: AcquireLease(%s) = %v, %q; want %v, %q", s.at, s.owner, granted, holder, s.granted, s.holder)
		}
		want := t0.Add(s.wantExpires).Format("2006-01-02T15:04:05.000000000Z")
		if got := rawQuery(t, path, `SELECT expires_at FROM leases WHERE rollout = 'r'`); got != want {
			t.Errorf("at +%s: lease expires %s, want %s", s.at, got, want)
		}
	}
}

// TestCreateRolloutIsAtomic makes the last insert of a create fail and
// checks that nothing of the rollout remains.
func TestCreateRolloutIsAtomic(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	defer db.Close()
	if err := rawExec(t, path, `CREATE TRIGGER boom BEFORE INSERT ON host_runs WHEN NEW.host = 'a'
		BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	err := db.CreateRollout(ctx, testRollout("r", time.Now()))
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("CreateRollout = %v, want the trigger's failure", err)
	}
	for _, table := range []string{"rollouts", "stages", "host_runs"} {
		if n := rawQuery(t, path, "SELECT count(*) FROM "+table); n != "0" {
			t.Errorf("%s has %s rows after a failed create, want 0", table, n)
		}
	}
}

// TestRolloutStorage checks what the tables hold: times to the nanosecond,
// the plan source byte for byte, the plan as JSON, and one package row per
// package change of an outcome, in order.
func TestRolloutStorage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	defer db.Close()
	at := time.Date(2026, 5, 1, 8, 0, 0, 5, time.UTC)
	r := testRollout("r", at)
	r.PlanSource = "name: t  \r\n# ünïcode\n"
	r.Plan = patchpilot.Plan{Name: "t", Stages: []patchpilot.Stage{{Name: "canary", Bake: 3*time.Minute + 1}}}
	if err := db.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := db.Rollout(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt != at || got.PlanSource != r.PlanSource || !reflect.DeepEqual(got.Plan, r.Plan) {
		t.Errorf("Rollout = %+v, want times, plan source and plan exactly as given", got)
	}
	var plan struct{ Stages []struct{ Bake int64 } }
	if err := json.Unmarshal([]byte(rawQuery(t, path, `SELECT plan FROM rollouts`)), &plan); err != nil ||
		len(plan.Stages) != 1 || plan.Stages[0].Bake != int64(3*time.Minute+1) {
		t.Errorf("stored plan = %+v, %v; want JSON with the bake in nanoseconds", plan, err)
	}

	o := patchpilot.Outcome{Time: at, Rollout: "r", Host: "b", Outcome: patchpilot.OutcomeSucceeded,
		Packages: []patchpilot.PackageChange{
			{Name: "z", From: "1", To: "2", SourcePackage: "zsrc"}, {Name: "a", To: "1"}, {Name: "m", From: "3"},
		}}
	if err := db.RecordOutcome(ctx, o); err != nil {
		t.Fatal(err)
	}
	rows := rawQuery(t, path, `SELECT group_concat(name || ':' || source_package || ':' || from_version || ':' || to_version, ' ')
		FROM (SELECT * FROM outcome_packages ORDER BY seq)`)
	if want := "z:zsrc:1:2 a:::1 m::3:"; rows != want {
		t.Errorf("outcome_packages = %q, want %q", rows, want)
	}
	outs, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil || len(outs) != 1 || outs[0].Time != at || !reflect.DeepEqual(outs[0].Packages, o.Packages) {
		t.Errorf("Outcomes = %+v, %v; want the outcome exactly", outs, err)
	}
}

// TestRolloutQueriesUseIndexes checks that the history queries, which run
// over every outcome ever recorded, find their rows through indexes.
func TestRolloutQueriesUseIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	cases := []struct {
		name, query string
		want        []string
	}{
		{"outcomes by package", `SELECT o.id FROM outcomes o WHERE o.id IN (SELECT outcome_id FROM outcome_packages
			WHERE name = 'x' UNION SELECT outcome_id FROM outcome_packages WHERE source_package = 'x')
			ORDER BY o.time, o.id`, []string{"outcome_packages_name", "outcome_packages_source"}},
		{"outcomes by host", `SELECT o.id FROM outcomes o WHERE o.host = 'h' ORDER BY o.time, o.id`,
			[]string{"outcomes_host"}},
		{"outcomes since", `SELECT o.id FROM outcomes o WHERE o.time >= '2026' ORDER BY o.time, o.id`,
			[]string{"outcomes_time"}},
		{"host runs", `SELECT h.host FROM host_runs h JOIN stages s ON s.rollout = h.rollout AND s.idx = h.stage_idx
			WHERE h.rollout = 'r' ORDER BY h.stage_idx, h.pos`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			joined := sqlite.QueryPlan(t, raw, c.query)
			t.Logf("plan:\n%s", joined)
			if strings.Contains(joined, "SCAN o") || strings.Contains(joined, "SCAN h") || strings.Contains(joined, "SCAN outcome_packages") {
				t.Errorf("query plan scans a table:\n%s", joined)
			}
			for _, index := range c.want {
				if !strings.Contains(joined, index) {
					t.Errorf("query plan does not use %s:\n%s", index, joined)
				}
			}
		})
	}
}

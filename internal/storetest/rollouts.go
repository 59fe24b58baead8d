package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// runRollouts is the group for patchpilot.RolloutStore.
func (s suite) runRollouts(t *testing.T) {
	t.Run("PlanFixtureIsFull", testPlanFixtureIsFull)
	t.Run("RolloutRoundTrip", s.testRolloutRoundTrip)
	t.Run("RolloutPredictions", s.testRolloutPredictions)
	t.Run("RolloutDefaults", s.testRolloutDefaults)
	t.Run("RolloutInvalid", s.testRolloutInvalid)
	t.Run("RolloutConflict", s.testRolloutConflict)
	t.Run("HostsHeld", s.testHostsHeld)
	t.Run("HostsHeldStates", s.testHostsHeldStates)
	t.Run("HostsHeldRace", s.testHostsHeldRace)
	t.Run("RolloutsOnHosts", s.testRolloutsOnHosts)
	t.Run("RolloutsNewestFirst", s.testRolloutsNewestFirst)
	t.Run("RolloutState", s.testRolloutState)
	t.Run("Stages", s.testStages)
	t.Run("HostRuns", s.testHostRuns)
	t.Run("HostRunErrors", s.testHostRunErrors)
	t.Run("HostRunEvent", s.testHostRunEvent)
	t.Run("MoveHosts", s.testMoveHosts)
	t.Run("Incidents", s.testIncidents)
	t.Run("Outcomes", s.testOutcomes)
	t.Run("OutcomeFilter", s.testOutcomeFilter)
	t.Run("Leases", s.testLeases)
	t.Run("LeaseHolder", s.testLeaseHolder)
	t.Run("LeaseContention", s.testLeaseContention)
	t.Run("TakeOverLease", s.testTakeOverLease)
	t.Run("RolloutConcurrency", s.testRolloutConcurrency)
	t.Run("RolloutNotFound", s.testRolloutNotFound)
	t.Run("RolloutCanceled", s.testCanceledRollout)
}

// mustCreate stores a rollout or fails the test.
func mustCreate(t *testing.T, st patchpilot.Store, r patchpilot.Rollout) {
	t.Helper()
	if err := st.CreateRollout(context.Background(), r); err != nil {
		t.Fatalf("CreateRollout(%s): %v", r.ID, err)
	}
}

// mustRollout reads a rollout or fails the test.
func mustRollout(t *testing.T, st patchpilot.Store, id string) patchpilot.Rollout {
	t.Helper()
	r, err := st.Rollout(context.Background(), id)
	if err != nil {
		t.Fatalf("Rollout(%s): %v", id, err)
	}
	return r
}

// mustHostRuns lists a rollout's host runs or fails the test.
func mustHostRuns(t *testing.T, st patchpilot.Store, id string) []patchpilot.HostRun {
	t.Helper()
	runs, err := st.HostRuns(context.Background(), id)
	if err != nil {
		t.Fatalf("HostRuns(%s): %v", id, err)
	}
	return runs
}

// wantAbout fails unless got is in UTC and within a second of the interval
// [before, after]; a store may use its own, coarser clock.
func wantAbout(t *testing.T, what string, got, before, after time.Time) {
	t.Helper()
	if got.Before(before.Add(-time.Second)) || got.After(after.Add(time.Second)) {
		t.Errorf("%s = %v, want about now (%v)", what, got, before)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s = %v, want it in UTC", what, got)
	}
}

// testPlanFixtureIsFull guards the plan round trip: a field added to Plan
// must be set in the fixture, or the round trip would not cover it.
func testPlanFixtureIsFull(t *testing.T) {
	if unset := unsetFields(FullPlan()); len(unset) > 0 {
		t.Errorf("fullPlan leaves these fields zero everywhere: %v; set them so the round trip covers them", unset)
	}
}

func (s suite) testRolloutRoundTrip(t *testing.T) {
	st := s.store(t)
	r := fixtureRollout("r-1", baseTime)
	// The plan must come back exactly: the stored copy is what a
	// restarted controller executes.
	mustCreate(t, st, r)
	got := mustRollout(t, st, "r-1")
	if want := stored(r); !reflect.DeepEqual(got, want) {
		t.Errorf("Rollout =\n%+v\nwant\n%+v", got, want)
	}
	if !reflect.DeepEqual(got.Plan, FullPlan()) {
		t.Errorf("Plan =\n%#v\nwant\n%#v", got.Plan, FullPlan())
	}
	if got.PlanSource != planSource {
		t.Errorf("PlanSource = %q, want %q", got.PlanSource, planSource)
	}
	// A plan as the planner returns it (defaults filled in, empty lists
	// nil) and an empty one come back equal too.
	oneStage := patchpilot.Plan{Stages: []patchpilot.Stage{{Name: "all"}}}.WithDefaults()
	for i, p := range []patchpilot.Plan{FullPlan().WithDefaults(), {}, oneStage} {
		id := fmt.Sprintf("plan-%d", i)
		mustCreate(t, st, patchpilot.Rollout{ID: id, Plan: p, CreatedAt: baseTime})
		if got := mustRollout(t, st, id).Plan; !reflect.DeepEqual(got, p) {
			t.Errorf("plan %d = %#v, want %#v", i, got, p)
		}
	}
}

func (s suite) testRolloutDefaults(t *testing.T) {
	st := s.store(t)
	before := time.Now()
	mustCreate(t, st, patchpilot.Rollout{ID: "r", Stages: []patchpilot.StageRun{
		{Index: 0, Name: "only", Hosts: []string{"a"}},
	}})
	after := time.Now()
	got := mustRollout(t, st, "r")
	wantAbout(t, "CreatedAt", got.CreatedAt, before, after)
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
	if got.State != patchpilot.RolloutPending || len(got.Stages) != 1 || got.Stages[0].State != patchpilot.StagePending {
		t.Errorf("states = %q, %+v; want pending rollout and stage", got.State, got.Stages)
	}
	if got.DryRun || got.PlanSource != "" || got.CreatedBy != "" {
		t.Errorf("zero fields came back set: %+v", got)
	}
}

func (s suite) testRolloutInvalid(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	base := func() patchpilot.Rollout { return fixtureRollout("r", baseTime) }
	cases := []struct {
		name    string
		edit    func(r *patchpilot.Rollout)
		mention string
	}{
		{"empty id", func(r *patchpilot.Rollout) { r.ID = "" }, "id"},
		{"empty stage name", func(r *patchpilot.Rollout) { r.Stages[1].Name = "" }, "stages[1]"},
		{"duplicate stage name", func(r *patchpilot.Rollout) { r.Stages[2].Name = "canary" }, "canary"},
		{"index out of order", func(r *patchpilot.Rollout) { r.Stages[2].Index = 5 }, "stages[2]"},
		{"host in two stages", func(r *patchpilot.Rollout) { r.Stages[2].Hosts[1] = "web-1" }, "web-1"},
		{"host twice in a stage", func(r *patchpilot.Rollout) { r.Stages[1].Hosts[1] = "web-3" }, "web-3"},
		{"empty host", func(r *patchpilot.Rollout) { r.Stages[0].Hosts[0] = "" }, "hosts[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			c.edit(&r)
			wantCode(t, st.CreateRollout(ctx, r), patchpilot.EINVALID, c.mention)
		})
	}
	if got, err := st.Rollouts(ctx, patchpilot.RolloutFilter{}); err != nil || len(got) != 0 {
		t.Errorf("Rollouts after rejected creates = %v, %v; want none", got, err)
	}
	_, err := st.Rollouts(ctx, patchpilot.RolloutFilter{Limit: -1})
	wantCode(t, err, patchpilot.EINVALID, "limit")
}

func (s suite) testRolloutConflict(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	first := fixtureRollout("r", baseTime)
	mustCreate(t, st, first)
	second := patchpilot.Rollout{ID: "r", CreatedBy: "mallory", Stages: []patchpilot.StageRun{
		{Index: 0, Name: "other", Hosts: []string{"x", "y"}},
	}}
	wantCode(t, st.CreateRollout(ctx, second), patchpilot.ECONFLICT, `"r"`)
	if got := mustRollout(t, st, "r"); !reflect.DeepEqual(got, stored(first)) {
		t.Errorf("after a conflicting create, Rollout = %+v, want the first one", got)
	}
	if runs := mustHostRuns(t, st, "r"); len(runs) != len(fixtureHosts) {
		t.Errorf("after a conflicting create, %d host runs, want %d", len(runs), len(fixtureHosts))
	}
}

func (s suite) testRolloutsNewestFirst(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	// Created in neither time nor id order, so that neither insertion
	// order nor id order passes for time order.
	for _, c := range []struct {
		id    string
		at    time.Duration
		state patchpilot.RolloutState
	}{
		{"b", time.Minute, patchpilot.RolloutSucceeded},
		{"a", time.Minute + time.Microsecond, patchpilot.RolloutRunning},
		{"c", 0, patchpilot.RolloutRunning},
	} {
		r := fixtureRollout(c.id, baseTime.Add(c.at))
		r.State = c.state
		mustCreate(t, st, r)
	}
	cases := []struct {
		name   string
		filter patchpilot.RolloutFilter
		want   []string
	}{
		{"all", patchpilot.RolloutFilter{}, []string{"a", "b", "c"}},
		{"state", patchpilot.RolloutFilter{State: patchpilot.RolloutRunning}, []string{"a", "c"}},
		{"limit", patchpilot.RolloutFilter{Limit: 2}, []string{"a", "b"}},
		{"state and limit", patchpilot.RolloutFilter{State: patchpilot.RolloutRunning, Limit: 1}, []string{"a"}},
		{"no match", patchpilot.RolloutFilter{State: patchpilot.RolloutAborted}, nil},
		{"active", patchpilot.RolloutFilter{Active: true}, []string{"a", "c"}},
		{"active and limit", patchpilot.RolloutFilter{Active: true, Limit: 1}, []string{"a"}},
		{"active in a final state", patchpilot.RolloutFilter{Active: true, State: patchpilot.RolloutSucceeded}, nil},
		{"since, inclusive", patchpilot.RolloutFilter{Since: baseTime.Add(time.Minute).In(otherZone)}, []string{"a", "b"}},
		{"since a microsecond later", patchpilot.RolloutFilter{Since: baseTime.Add(time.Minute + time.Microsecond)}, []string{"a"}},
		{"since and state", patchpilot.RolloutFilter{Since: baseTime, State: patchpilot.RolloutRunning}, []string{"a", "c"}},
		{"since after all", patchpilot.RolloutFilter{Since: baseTime.Add(time.Hour)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := st.Rollouts(ctx, c.filter)
			if err != nil {
				t.Fatalf("Rollouts: %v", err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
				if want := stored(fixtureRollout(r.ID, r.CreatedAt)); !reflect.DeepEqual(r.Stages, want.Stages) ||
					!reflect.DeepEqual(r.Plan, want.Plan) {
					t.Errorf("rollout %s in the list lacks its stages or plan: %+v", r.ID, r)
				}
			}
			if !reflect.DeepEqual(ids, c.want) {
				t.Errorf("got %v, want %v", ids, c.want)
			}
		})
	}
}

func (s suite) testRolloutState(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	before := time.Now()
	if err := st.SetRolloutState(ctx, "r", patchpilot.RolloutHalted, "canary web-3: 2 gates breached"); err != nil {
		t.Fatalf("SetRolloutState: %v", err)
	}
	after := time.Now()
	got := mustRollout(t, st, "r")
	if got.State != patchpilot.RolloutHalted || got.Reason != "canary web-3: 2 gates breached" {
		t.Errorf("state, reason = %q, %q; want halted with the reason", got.State, got.Reason)
	}
	wantAbout(t, "UpdatedAt", got.UpdatedAt, before, after)
	if state, reason, err := st.RolloutState(ctx, "r"); err != nil || state != got.State || reason != got.Reason {
		t.Errorf("RolloutState = %q, %q, %v; want %q, %q as Rollout reads them", state, reason, err, got.State, got.Reason)
	}
	_, _, err := st.RolloutState(ctx, "nope")
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, _, err = st.RolloutState(ctx, "")
	wantCode(t, err, patchpilot.EINVALID, "")
	if !got.CreatedAt.Equal(baseTime) {
		t.Errorf("CreatedAt = %v, want %v unchanged", got.CreatedAt, baseTime)
	}
	wantCode(t, st.SetRolloutState(ctx, "nope", patchpilot.RolloutHalted, ""), patchpilot.ENOTFOUND, "nope")
	wantCode(t, st.SetRolloutState(ctx, "r", "", "x"), patchpilot.EINVALID, "state")
}

func (s suite) testStages(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	r := fixtureRollout("r", baseTime)
	mustCreate(t, st, r)

	at := baseTime.Add(time.Hour)
	canary := patchpilot.StageRun{Rollout: "r", Index: 1, Name: "canary", State: patchpilot.StageSucceeded,
		Hosts: []string{"web-3", "web-1"}, ApprovedBy: "bob", ApprovedAt: ptr(at.In(otherZone)),
		StartedAt: ptr(at.Add(time.Minute)), FinishedAt: ptr(at.Add(10*time.Minute + time.Microsecond)),
		Reason: "all hosts healthy"}
	if err := st.SaveStage(ctx, canary); err != nil {
		t.Fatalf("SaveStage: %v", err)
	}
	got := mustRollout(t, st, "r").Stages
	want := stored(r).Stages
	want[1] = storedStage(canary)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stages =\n%+v\nwant\n%+v", got, want)
	}

	// Nil hosts leave the assignment alone; nil times clear the times.
	wave := patchpilot.StageRun{Rollout: "r", Index: 2, Name: "wave-1", State: patchpilot.StageWaitingApproval}
	if err := st.SaveStage(ctx, wave); err != nil {
		t.Fatalf("SaveStage without hosts: %v", err)
	}
	canary.StartedAt, canary.FinishedAt, canary.ApprovedAt = nil, nil, nil
	if err := st.SaveStage(ctx, canary); err != nil {
		t.Fatalf("SaveStage clearing times: %v", err)
	}
	got = mustRollout(t, st, "r").Stages
	wave.Hosts = r.Stages[2].Hosts
	want[1], want[2] = canary, wave
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stages =\n%+v\nwant\n%+v", got, want)
	}

	bad := []struct {
		name    string
		stage   patchpilot.StageRun
		code    patchpilot.Code
		mention string
	}{
		{"unknown rollout", patchpilot.StageRun{Rollout: "nope", Index: 0, Name: "validation", State: "x"},
			patchpilot.ENOTFOUND, "nope"},
		{"unknown index", patchpilot.StageRun{Rollout: "r", Index: 9, Name: "validation", State: "x"},
			patchpilot.ENOTFOUND, "validation"},
		{"name does not match index", patchpilot.StageRun{Rollout: "r", Index: 0, Name: "canary", State: "x"},
			patchpilot.ENOTFOUND, "canary"},
		{"other hosts", patchpilot.StageRun{Rollout: "r", Index: 1, Name: "canary", State: "x", Hosts: []string{"web-1", "web-3"}},
			patchpilot.EINVALID, "hosts"},
		{"empty state", patchpilot.StageRun{Rollout: "r", Index: 1, Name: "canary"}, patchpilot.EINVALID, "state"},
		{"empty rollout", patchpilot.StageRun{Index: 1, Name: "canary", State: "x"}, patchpilot.EINVALID, "rollout"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, st.SaveStage(ctx, c.stage), c.code, c.mention)
		})
	}
	if got := mustRollout(t, st, "r").Stages; !reflect.DeepEqual(got, want) {
		t.Errorf("rejected saves changed the stages: %+v", got)
	}
}

func (s suite) testHostRuns(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	before := time.Now()
	mustCreate(t, st, fixtureRollout("r", baseTime))
	mustCreate(t, st, fixtureRollout("other", baseTime)) // same hosts, another rollout
	after := time.Now()

	// Every assigned host starts pending, listed by stage, then in
	// dispatch order.
	runs := mustHostRuns(t, st, "r")
	if len(runs) != len(fixtureHosts) {
		t.Fatalf("got %d host runs, want %d", len(runs), len(fixtureHosts))
	}
	for i, h := range runs {
		wantAbout(t, "UpdatedAt of "+h.Host, h.UpdatedAt, before, after)
		want := patchpilot.HostRun{Rollout: "r", Stage: fixtureHosts[i][0], Host: fixtureHosts[i][1],
			State: patchpilot.HostPending, UpdatedAt: h.UpdatedAt}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("host run %d = %+v, want %+v", i, h, want)
		}
	}

	// A full record round-trips; the store stamps UpdatedAt.
	full := fullHostRun("r", "canary", "web-1")
	before = time.Now()
	if err := st.SaveHostRun(ctx, full); err != nil {
		t.Fatalf("SaveHostRun: %v", err)
	}
	after = time.Now()
	runs = mustHostRuns(t, st, "r")
	got := runs[2]
	wantAbout(t, "UpdatedAt", got.UpdatedAt, before, after)
	want := storedHostRun(full)
	want.UpdatedAt = got.UpdatedAt
	if got, want := canonicalHostRun(t, got), canonicalHostRun(t, want); !reflect.DeepEqual(got, want) {
		t.Errorf("saved host run =\n%+v\nwant\n%+v", got, want)
	}
	// Saving did not move the host nor touch the other rollout.
	for i, h := range runs {
		if h.Host != fixtureHosts[i][1] || h.Stage != fixtureHosts[i][0] {
			t.Errorf("after a save, host run %d is %s in %s, want %s in %s", i, h.Host, h.Stage, fixtureHosts[i][1], fixtureHosts[i][0])
		}
	}
	if o := mustHostRuns(t, st, "other")[2]; o.State != patchpilot.HostPending || o.FromVersions != nil {
		t.Errorf("the same host in another rollout changed: %+v", o)
	}
	// HostRun reads one record exactly as HostRuns lists it.
	for _, h := range runs {
		one, err := st.HostRun(ctx, "r", h.Host)
		if err != nil {
			t.Fatalf("HostRun(r, %s): %v", h.Host, err)
		}
		if !reflect.DeepEqual(one, h) {
			t.Errorf("HostRun(r, %s) =\n%+v\nwant, as HostRuns lists it,\n%+v", h.Host, one, h)
		}
	}
	_, err := st.HostRun(ctx, "r", "nope")
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, err = st.HostRun(ctx, "nope", "web-1")
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, err = st.HostRun(ctx, "", "web-1")
	wantCode(t, err, patchpilot.EINVALID, "rollout")
	_, err = st.HostRun(ctx, "r", "")
	wantCode(t, err, patchpilot.EINVALID, "host")

	// A later save replaces the record, clearing what it leaves empty;
	// an empty Stage means the assigned one.
	next := patchpilot.HostRun{Rollout: "r", Host: "web-1", State: patchpilot.HostRolledBack, Order: 4,
		Reason: "rolled back: http_ok failed"}
	if err := st.SaveHostRun(ctx, next); err != nil {
		t.Fatalf("SaveHostRun replacing: %v", err)
	}
	got = mustHostRuns(t, st, "r")[2]
	next.Stage, next.UpdatedAt = "canary", got.UpdatedAt
	if !reflect.DeepEqual(got, next) {
		t.Errorf("replaced host run = %+v, want %+v", got, next)
	}
	if r := mustRollout(t, st, "r"); r.UpdatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("rollout UpdatedAt = %v, want it moved by the host's save", r.UpdatedAt)
	}

	// A rollout without hosts has no host runs, and that is not an error.
	mustCreate(t, st, patchpilot.Rollout{ID: "empty", CreatedAt: baseTime})
	if runs := mustHostRuns(t, st, "empty"); len(runs) != 0 {
		t.Errorf("HostRuns of a rollout without hosts = %+v, want none", runs)
	}
}

func (s suite) testHostRunErrors(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	cases := []struct {
		name    string
		run     patchpilot.HostRun
		code    patchpilot.Code
		mention string
	}{
		{"unknown rollout", patchpilot.HostRun{Rollout: "nope", Host: "web-1", State: patchpilot.HostApply},
			patchpilot.ENOTFOUND, "nope"},
		{"host not in the rollout", patchpilot.HostRun{Rollout: "r", Host: "web-9", State: patchpilot.HostApply},
			patchpilot.ENOTFOUND, "web-9"},
		{"another stage", patchpilot.HostRun{Rollout: "r", Stage: "wave-1", Host: "web-1", State: patchpilot.HostApply},
			patchpilot.EINVALID, "canary"},
		{"empty state", patchpilot.HostRun{Rollout: "r", Host: "web-1"}, patchpilot.EINVALID, "state"},
		{"empty host", patchpilot.HostRun{Rollout: "r", State: patchpilot.HostApply}, patchpilot.EINVALID, "host"},
		{"bad baseline", patchpilot.HostRun{Rollout: "r", Host: "web-1", State: patchpilot.HostApply,
			Baseline: patchpilot.HealthBaseline{"cpu": []byte("{nope")}}, patchpilot.EINVALID, "cpu"},
		{"bad evidence", patchpilot.HostRun{Rollout: "r", Host: "web-1", State: patchpilot.HostApply,
			Gates: []patchpilot.GateResult{{Gate: "http_ok", Evidence: []byte("[1,")}}}, patchpilot.EINVALID, "http_ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, st.SaveHostRun(ctx, c.run), c.code, c.mention)
		})
	}
	for _, h := range mustHostRuns(t, st, "r") {
		if h.State != patchpilot.HostPending {
			t.Errorf("a rejected save changed %s: %+v", h.Host, h)
		}
	}
}

// testRolloutConcurrency saves host runs of one rollout from many goroutines
// at once, as a stage with parallel hosts does, while others read.
func (s suite) testRolloutConcurrency(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	const n = 16
	var hosts []string
	for i := range n {
		hosts = append(hosts, fmt.Sprintf("h%02d", i))
	}
	mustCreate(t, st, patchpilot.Rollout{ID: "r", CreatedAt: baseTime,
		Stages: []patchpilot.StageRun{{Index: 0, Name: "all", Hosts: hosts}}})
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i, h := range hosts {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for _, state := range []patchpilot.HostState{patchpilot.HostPreflight, patchpilot.HostApply, patchpilot.HostSucceeded} {
				if err := st.SaveHostRun(ctx, patchpilot.HostRun{Rollout: "r", Host: h, State: state, Order: i + 1}); err != nil {
					errs <- fmt.Errorf("SaveHostRun(%s, %s): %w", h, state, err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := st.HostRuns(ctx, "r"); err != nil {
				errs <- fmt.Errorf("HostRuns: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, h := range mustHostRuns(t, st, "r") {
		if h.Host != hosts[i] || h.State != patchpilot.HostSucceeded || h.Order != i+1 {
			t.Errorf("host run %d = %s %s order %d, want %s succeeded order %d", i, h.Host, h.State, h.Order, hosts[i], i+1)
		}
	}
}

// testRolloutNotFound checks every method that names a rollout.
func (s suite) testRolloutNotFound(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	_, err := st.Rollout(ctx, "nope")
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, err = st.HostRuns(ctx, "nope")
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, err = st.Incidents(ctx, "nope")
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, err = st.AddIncident(ctx, patchpilot.Incident{Rollout: "nope", Reason: "x"})
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	_, _, err = st.AcquireLease(ctx, "nope", "ctl-1", time.Minute)
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
}

// testCanceledRollout checks that a canceled create stores nothing.
func (s suite) testCanceledRollout(t *testing.T) {
	st := s.store(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := st.CreateRollout(ctx, fixtureRollout("r", baseTime))
	if code := patchpilot.ErrorCode(err); code != patchpilot.ECANCELED {
		t.Errorf("CreateRollout with a canceled context: code %q (%v), want %s", code, err, patchpilot.ECANCELED)
	}
	_, err = st.Rollout(context.Background(), "r")
	wantCode(t, err, patchpilot.ENOTFOUND, "")
}

// SaveHostRunEvent stores the record and its event together, or neither.
func (s suite) testHostRunEvent(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	full := fullHostRun("r", "canary", "web-1")
	ev := patchpilot.Event{Actor: "controller", Kind: patchpilot.EventHostState, Rollout: "r", Host: "web-1", Message: "web-1 verify"}
	before := time.Now()
	record, stored, err := st.SaveHostRunEvent(ctx, full, ev)
	if err != nil {
		t.Fatalf("SaveHostRunEvent: %v", err)
	}
	after := time.Now()
	if stored.ID == 0 || stored.Message != ev.Message || stored.Kind != ev.Kind {
		t.Errorf("stored event = %+v, want %+v with an id", stored, ev)
	}
	wantAbout(t, "event time", stored.Time, before, after)
	got := mustHostRuns(t, st, "r")[2]
	want := storedHostRun(full)
	want.UpdatedAt = got.UpdatedAt
	if got, want := canonicalHostRun(t, got), canonicalHostRun(t, want); !reflect.DeepEqual(got, want) {
		t.Errorf("saved host run =\n%+v\nwant\n%+v", got, want)
	}
	if !reflect.DeepEqual(record, got) {
		t.Errorf("the record returned =\n%+v\nwant, as HostRuns lists it,\n%+v", record, got)
	}
	evs, err := st.Events(ctx, patchpilot.EventFilter{Rollout: "r", Kind: patchpilot.EventHostState})
	if err != nil || len(evs) != 1 || !reflect.DeepEqual(evs[0], stored) {
		t.Fatalf("events = %+v, %v; want the one stored %+v", evs, err, stored)
	}

	// A record the store refuses takes its event with it, and an event it
	// refuses its record.
	_, _, err = st.SaveHostRunEvent(ctx, patchpilot.HostRun{Rollout: "r", Host: "nope", State: patchpilot.HostFailed}, ev)
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")
	next := patchpilot.HostRun{Rollout: "r", Host: "web-1", State: patchpilot.HostSucceeded}
	_, _, err = st.SaveHostRunEvent(ctx, next, patchpilot.Event{Rollout: "r", Message: "no kind"})
	wantCode(t, err, patchpilot.EINVALID, "kind")
	if evs, _ := st.Events(ctx, patchpilot.EventFilter{Rollout: "r", Kind: patchpilot.EventHostState}); len(evs) != 1 {
		t.Errorf("after refused saves, %d host events, want the first only", len(evs))
	}
	if got := mustHostRuns(t, st, "r")[2]; got.State != full.State {
		t.Errorf("after a refused event, the record is %s, want %s unchanged", got.State, full.State)
	}
}

package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// A rollout started through the API runs in the server: it waits for an
// approval, is paused, resumed and approved through the API, and the
// server drives it on after each request. Every request is audited under
// the token that made it.
func TestRolloutLifecycle(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	st := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(approvalPlan)+`}`, http.StatusCreated))
	id := st.ID
	if id == "" || len(st.Stages) != 2 {
		t.Fatalf("started = %+v", st)
	}
	f.waitState(id, is(patchpilot.RolloutWaitingApproval))

	// An operator may not approve; an approver may.
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/approve", "", http.StatusForbidden)
	done := decode[RequestDone](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/pause", "", http.StatusOK))
	if done.State != string(patchpilot.RolloutPaused) || done.Request != "pause" {
		t.Errorf("pause = %+v", done)
	}
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/resume", "", http.StatusOK)
	f.waitState(id, is(patchpilot.RolloutWaitingApproval))
	done = decode[RequestDone](t, f.as(patchpilot.RoleApprover, "POST", "/api/v1/rollouts/"+id+"/approve", `{"stage": "first"}`, http.StatusOK))
	if done.Stage != "first" {
		t.Errorf("approve = %+v", done)
	}
	// The hosts cannot be reached: the first stage fails and the rollout
	// ends; the server drove it there.
	st = f.waitState(id, patchpilot.RolloutState.Final)
	if st.Stages[0].ApprovedBy != "token:approver" {
		t.Errorf("stage first approved by %q; want token:approver", st.Stages[0].ApprovedBy)
	}
	if h := st.Stages[0].Hosts[0]; h.State != patchpilot.HostUnreachable {
		t.Errorf("host %s is %s; want unreachable", h.Host, h.State)
	}
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/abort", "", http.StatusConflict).apiError(t); e.Code != patchpilot.ECONFLICT {
		t.Errorf("abort of an ended rollout: %+v", e)
	}
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/resume", "", http.StatusConflict)
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/r-nope/pause", "", http.StatusNotFound)

	list := decode[[]patchpilot.Rollout](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts?limit=5", "", http.StatusOK))
	if len(list) != 1 || list[0].ID != id {
		t.Errorf("rollouts = %+v", list)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts?state=sleeping", "", http.StatusBadRequest).apiError(t); e.Field != "state" {
		t.Errorf("state=sleeping: %+v", e)
	}
	evs := decode[[]patchpilot.Event](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts/"+id+"/events", "", http.StatusOK))
	if len(evs) < 4 || evs[0].Kind != patchpilot.EventRolloutCreated {
		t.Fatalf("events = %+v", evs)
	}
	mid := evs[len(evs)/2].ID
	after := decode[[]patchpilot.Event](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts/"+id+"/events?after="+strconv.FormatInt(mid, 10), "", http.StatusOK))
	if len(after) == 0 || after[0].ID <= mid || len(after) != len(evs)-len(evs)/2-1 {
		t.Errorf("events after %d: %d, first %+v; want the %d after it", mid, len(after), after, len(evs)-len(evs)/2-1)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts/"+id+"/events?after=x", "", http.StatusBadRequest).apiError(t); e.Field != "after" {
		t.Errorf("after=x: %+v", e)
	}
	hist := decode[[]app.HistoryRecord](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/history?rollout="+id, "", http.StatusOK))
	if len(hist) == 0 || hist[0].Outcome != patchpilot.OutcomeUnreachable {
		t.Errorf("history = %+v; want the unreachable host", hist)
	}

	var got []string
	for _, e := range f.people.entries() {
		got = append(got, e.Action+" "+e.Actor+" "+e.Outcome)
		if e.Rollout != id && e.Target != "r-nope" {
			t.Errorf("audit entry %+v does not name rollout %s", e, id)
		}
	}
	want := []string{
		"rollout.start token:operator ok",
		"rollout.approve token:operator forbidden",
		"rollout.pause token:operator ok",
		"rollout.resume token:operator ok",
		"rollout.approve token:approver ok",
		"rollout.abort token:operator conflict",
		"rollout.resume token:operator conflict",
		"rollout.pause token:operator not_found",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A stored plan starts a dry run by its id; a rollout can be aborted
// while it waits; hosts it changed are rolled back on request.
func TestRolloutFromStoredPlanAbortAndRollback(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	plan := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "targets": "env=test"}`, http.StatusCreated))
	st := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan_id": "`+plan.ID+`", "dry_run": true}`, http.StatusCreated))
	if !st.DryRun {
		t.Errorf("started = %+v; want a dry run", st)
	}
	f.waitState(st.ID, patchpilot.RolloutState.Final)
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan_id": "p-999"}`, http.StatusNotFound).apiError(t); e.Field != "plan_id" {
		t.Errorf("unknown plan id: %+v", e)
	}
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": "rollout: {nonsense: 1}"}`, http.StatusBadRequest).apiError(t); !strings.Contains(e.Message, "plan:1:") {
		t.Errorf("a bad plan: %+v; want plan:line:col", e)
	}

	id := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(approvalPlan)+`}`, http.StatusCreated)).ID
	f.waitState(id, is(patchpilot.RolloutWaitingApproval))
	if d := decode[RequestDone](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/abort", "", http.StatusOK)); d.State != string(patchpilot.RolloutAborted) {
		t.Errorf("abort = %+v", d)
	}
	// Nothing was changed: nothing to roll back.
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/rollback", "", http.StatusConflict)
	// As if web-1 had been patched before the abort.
	runs, err := f.app.Store.HostRuns(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h := runs[0]
	h.State, h.Order = patchpilot.HostSucceeded, 1
	h.FromVersions, h.ToVersions = map[string]string{"web": "1.0"}, map[string]string{"web": "1.1"}
	if err := f.app.Store.SaveHostRun(f.ctx, h); err != nil {
		t.Fatal(err)
	}
	d := decode[RequestDone](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/rollback", `{"hosts": ["`+h.Host+`"]}`, http.StatusOK))
	if !slices.Equal(d.Hosts, []string{h.Host}) {
		t.Errorf("rollback = %+v; want %s marked", d, h.Host)
	}
	// The server carries the rollback out: web-1 cannot be reached, so
	// its rollback fails, and a person must look.
	st = f.waitState(id, is(patchpilot.RolloutFailed, patchpilot.RolloutRolledBack, patchpilot.RolloutHalted, patchpilot.RolloutAborted))
	for _, s := range st.Stages {
		for _, hr := range s.Hosts {
			if hr.Host == h.Host && hr.State == patchpilot.HostSucceeded {
				t.Errorf("%s is still %s after the rollback request", hr.Host, hr.State)
			}
		}
	}
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/rollback", `{"hosts": [""]}`, http.StatusBadRequest).apiError(t); e.Field != "hosts[0]" {
		t.Errorf("an empty host name: %+v", e)
	}
}

// The rollout is started under the token that called, and an approval
// the app refuses (four-eyes) is answered 403 and audited as
// forbidden; another approver's goes through.
func TestFourEyesRefusalIsForbidden(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	made := decode[tokenCreated](t, f.as(patchpilot.RoleAdmin, "POST", "/api/v1/tokens", `{"name": "bob", "role": "approver"}`, http.StatusCreated))
	// No body names the actor: the token does.
	if e := f.as(patchpilot.RoleApprover, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(approvalPlan)+`, "actor": "token:bob"}`, http.StatusBadRequest).apiError(t); e.Field != "actor" {
		t.Errorf("a body naming an actor: %+v; want the field refused", e)
	}
	start := f.as(patchpilot.RoleApprover, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(approvalPlan)+`}`, http.StatusCreated)
	rid := decode[app.RolloutStatus](t, start).ID
	f.waitState(rid, is(patchpilot.RolloutWaitingApproval))
	e := f.as(patchpilot.RoleApprover, "POST", "/api/v1/rollouts/"+rid+"/approve", "", http.StatusForbidden).apiError(t)
	if e.Code != patchpilot.EFORBIDDEN || !strings.Contains(e.Message, "four-eyes") {
		t.Errorf("self-approval: %+v", e)
	}
	if r := f.do("POST", "/api/v1/rollouts/"+rid+"/approve", made.Secret, ""); r.status != http.StatusOK {
		t.Errorf("approval by another approver: %s", r)
	}
	var got []string
	for _, en := range f.people.entries() {
		if en.Rollout == rid {
			got = append(got, en.Action+" "+en.Actor+" "+en.Outcome)
		}
	}
	want := []string{"rollout.start token:approver ok", "rollout.approve token:approver forbidden", "rollout.approve token:bob ok"}
	if !slices.Equal(got, want) {
		t.Errorf("audit = %v; want %v", got, want)
	}
}

package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// clock is a settable clock for the app and the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// waitRuns waits until the schedule has a finished run, and returns it.
func (f *fixture) waitRun(name string) patchpilot.ScheduleRun {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := f.app.Store.ScheduleRuns(f.ctx, patchpilot.ScheduleRunFilter{Schedule: name})
		if err != nil {
			f.t.Fatal(err)
		}
		if len(runs) > 0 && runs[0].Outcome.Finished() {
			return runs[0]
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("schedule %s: runs %+v; want a finished one", name, runs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const nightlySchedule = `schedules:
  - name: nightly
    when: "0 22 * * *"
    hosts: env=test
    updates: {security: true}
`

// The server runs the schedules: in an autopilot group the scheduled plan
// is saved by the scheduler, started as the schedule's and driven by the
// server, and the run names the rollout; both are audited.
func TestServerRunsScheduleUnattended(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 22, 0, 30, 0, time.UTC)}
	f := newFixture(t, fixtureOptions{now: clk.now, schedules: true,
		config: nightlySchedule + "policy:\n  default: {level: autopilot}\n"})
	run := f.waitRun("nightly")
	if run.Outcome != patchpilot.ScheduleLaunched || run.Rollout == "" || !strings.Contains(run.Message, "started as rollout "+run.Rollout) {
		t.Fatalf("run = %+v; want launched, naming its rollout", run)
	}
	st := f.waitState(run.Rollout, patchpilot.RolloutState.Final)
	if st.CreatedBy != "schedule:nightly" || st.PlanID == "" {
		t.Errorf("rollout created by %q from plan %q; want schedule:nightly and the saved plan", st.CreatedBy, st.PlanID)
	}
	// The hosts cannot be reached: the server drove the rollout there.
	if h := st.Stages[0].Hosts[0]; h.State != patchpilot.HostUnreachable {
		t.Errorf("host %s is %s; want unreachable", h.Host, h.State)
	}
	rec, err := f.app.PlanRecord(f.ctx, st.PlanID)
	if err != nil || rec.CreatedBy != SchedulerActor || rec.Name != run.Plan {
		t.Errorf("saved plan %+v, %v; want plan %s by the scheduler", rec, err, run.Plan)
	}
	var got []string
	for _, e := range f.people.entries() {
		got = append(got, e.Action+" "+e.Actor+" "+e.Outcome+" "+e.Rollout)
	}
	want := []string{"plan.create scheduler ok ", "rollout.start schedule:nightly ok " + run.Rollout}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// In an advisor group (the default policy) the scheduled plan is saved
// for a person, and nothing starts.
func TestServerScheduleWaitsForAPerson(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 22, 0, 30, 0, time.UTC)}
	f := newFixture(t, fixtureOptions{now: clk.now, schedules: true, config: nightlySchedule})
	run := f.waitRun("nightly")
	if run.Outcome != patchpilot.ScheduleProposed || run.Rollout != "" || !strings.Contains(run.Message, "waits for a person to start it") ||
		!strings.Contains(run.Message, "advisor") {
		t.Fatalf("run = %+v; want proposed, waiting for a person (advisor)", run)
	}
	rs, err := f.app.Store.Rollouts(f.ctx, patchpilot.RolloutFilter{})
	if err != nil || len(rs) != 0 {
		t.Errorf("rollouts %+v, %v; want none", rs, err)
	}
	es := f.people.entries()
	if len(es) != 1 || es[0].Action != "plan.create" || es[0].Actor != SchedulerActor {
		t.Errorf("audit %+v; want the plan saved by the scheduler", es)
	}
}

// autoPlan holds its first stage for the policy's auto-approval delay.
const autoPlan = `rollout:
  name: web-1.1
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1}
    - {name: rest, targets: rest}
`

// A rollout held for an auto-approval delay is carried on by the server
// when the delay passes while it runs, and, for one whose delay passed
// while no server ran, when the server starts.
func TestServerCarriesOnAutoApprovals(t *testing.T) {
	t0 := time.Now().UTC()
	clk := &clock{t: t0}
	cfg := "policy:\n  default: {level: autopilot, auto_approve: [{classification: security, after: 7d}]}\n"
	f := newFixture(t, fixtureOptions{now: clk.now, config: cfg})
	started := func() string {
		st := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(autoPlan)+`}`, 201))
		f.waitState(st.ID, is(patchpilot.RolloutWaitingApproval))
		r, err := f.app.Store.Rollout(f.ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if at := autoApproveAt(r); at.IsZero() || at.Before(t0.Add(7*24*time.Hour-time.Minute)) {
			t.Fatalf("rollout %s auto-approves at %v; want 7 days on", st.ID, at)
		}
		return st.ID
	}
	approvedByPolicy := func(id string) {
		t.Helper()
		st := f.waitState(id, patchpilot.RolloutState.Final)
		if st.Stages[0].ApprovedBy != "policy:auto-approval" {
			t.Errorf("rollout %s: stage approved by %q; want the policy", id, st.Stages[0].ApprovedBy)
		}
	}

	id := started()
	clk.set(t0.Add(7*24*time.Hour + time.Minute))
	approvedByPolicy(id)

	// A rollout left waiting while no server runs.
	f.srv.Shutdown(f.ctx)
	clk.set(t0)
	c := f.app.Controller(app.EngineOptions{Dialer: downDialer{}, Actor: "controller"})
	p, err := app.ParsePlan([]byte(autoPlan), "plan")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := c.Start(f.ctx, p, []byte(autoPlan), app.StartOptions{Actor: "user:ann"})
	if err != nil {
		t.Fatal(err)
	}
	if state, err := c.Run(f.ctx, id2); err != nil || state != patchpilot.RolloutWaitingApproval {
		t.Fatalf("run: %s, %v; want waiting_approval", state, err)
	}
	clk.set(t0.Add(8 * 24 * time.Hour))
	srv, err := New(Options{App: f.app, People: f.app, Plans: f.app, Now: clk.now, AutoApprovalInterval: 10 * time.Millisecond,
		NewController: func(eo app.EngineOptions) Controller {
			eo.Dialer = downDialer{}
			return AppController{C: f.app.Controller(eo)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	if err := srv.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := f.app.Store.Rollout(f.ctx, id2)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Final() {
			if r.Stages[0].ApprovedBy != "policy:auto-approval" {
				t.Errorf("rollout %s: stage approved by %q; want the policy", id2, r.Stages[0].ApprovedBy)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s stays %s", id2, r.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

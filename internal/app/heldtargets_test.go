package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// holdHosts stores a rollout over hosts in the given state and reason,
// created at the given time, as another person's rollout would be.
func holdHosts(t *testing.T, ctx context.Context, a *App, id string, created time.Time, state patchpilot.RolloutState, reason string, dryRun bool, hosts ...string) {
	t.Helper()
	r := patchpilot.Rollout{ID: id, State: state, Reason: reason, CreatedAt: created, UpdatedAt: created, DryRun: dryRun,
		Stages: []patchpilot.StageRun{{Index: 0, Name: "all", State: patchpilot.StagePending, Hosts: hosts}}}
	if err := a.Store.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// startingLauncher starts each plan a schedule hands over as a rollout
// (not a dry run) through the controller, as a server does, so that a
// plan over held hosts is refused as the server's start refuses it.
func startingLauncher(a *App, started *[]string) LaunchFunc {
	return func(ctx context.Context, p patchpilot.Plan, source []byte, name string) (Launched, error) {
		id, err := a.Controller(EngineOptions{}).Start(ctx, p, source, StartOptions{Actor: "schedule:" + name})
		if err != nil {
			return Launched{}, err
		}
		*started = append(*started, id)
		return Launched{Rollout: id, Message: "started as rollout " + id}, nil
	}
}

// rolloutHosts lists a rollout's target hosts, sorted.
func rolloutHosts(t *testing.T, ctx context.Context, a *App, id string) []string {
	t.Helper()
	runs, err := a.Store.HostRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range runs {
		out = append(out, h.Host)
	}
	slices.Sort(out)
	return out
}

// lastFinished decodes the payload of the latest schedule.finished event.
func lastFinished(t *testing.T, ctx context.Context, a *App) (patchpilot.Event, patchpilot.ScheduleRunData) {
	t.Helper()
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventScheduleFinished})
	if err != nil || len(evs) == 0 {
		t.Fatalf("finished events: %v, %v", evs, err)
	}
	e := evs[len(evs)-1]
	var d patchpilot.ScheduleRunData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatal(err)
	}
	return e, d
}

// A scheduled patch run over targets some of which unfinished rollouts
// hold goes ahead on the free ones, leaves the held ones out and says so
// in its record and its event (which hosts, which rollout holds them);
// when they hold every target, the run starts nothing and is skipped, not
// failed, naming them. A dry run holds nothing; a finished rollout holds
// nothing either.
func TestScheduledRunLeavesOutHeldTargets(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 1, 22, 0, 30)}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "role=web",
		Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	created := at(2026, 3, 1, 12, 0, 0)
	holdHosts(t, ctx, a, "r-other", created, patchpilot.RolloutRunning, "", false, "web1", "db1")
	holdHosts(t, ctx, a, "r-dry", created.Add(time.Minute), patchpilot.RolloutRunning, "", true, "web2")
	var started []string
	s := newScheduler(t, a, SchedulerOptions{Launch: startingLauncher(a, &started)})

	// Day 1: web1 is held; web2 and web3 are patched.
	tick(t, ctx, s, clk, at(2026, 3, 1, 22, 0, 30))
	runs := runsOf(t, ctx, a, "nightly")
	if len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleLaunched || len(started) != 1 || runs[0].Rollout != started[0] {
		t.Fatalf("day 1: runs %+v, started %v; want one launched run", runs, started)
	}
	if got := rolloutHosts(t, ctx, a, started[0]); !slices.Equal(got, []string{"web2", "web3"}) {
		t.Errorf("day 1 rollout over %v; want web2 and web3", got)
	}
	wantNote := "left out 1 target that unfinished rollouts hold: host web1 is in rollout r-other (running), which has not finished"
	if !strings.Contains(runs[0].Message, wantNote) || !strings.Contains(runs[0].Message, "2 hosts") {
		t.Errorf("day 1 message %q; want it to say %q", runs[0].Message, wantNote)
	}
	e, d := lastFinished(t, ctx, a)
	if want := []patchpilot.HeldHostsData{{Rollout: "r-other", State: patchpilot.RolloutRunning, Hosts: []string{"web1"}}}; !reflect.DeepEqual(d.Held, want) ||
		d.Outcome != patchpilot.ScheduleLaunched || !strings.Contains(e.Message, wantNote) {
		t.Errorf("day 1 event %q, held %+v, outcome %s; want launched naming %+v", e.Message, d.Held, d.Outcome, want)
	}
	// The payload has the event's message without the held hosts.
	if e.Message != d.Brief+"; "+wantNote || strings.Contains(d.Brief, "web1") {
		t.Errorf("day 1 event %q, brief %q; want the message without %q", e.Message, d.Brief, wantNote)
	}
	// The run is told: it went ahead, leaving web1 out.
	if n, ok := ClassifyEvent(e, nil, ""); !ok || n.Level != patchpilot.LevelInfo ||
		!strings.HasSuffix(n.Summary, "started as rollout "+started[0]+"; left out hosts that unfinished rollouts hold: web1 in rollout r-other (running)") ||
		strings.Count(n.Summary, "web1") != 1 || strings.Count(n.Summary, started[0]) != 1 {
		t.Errorf("day 1 notification %v %+v", ok, n)
	}
	rollout, err := a.Store.Rollout(ctx, started[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rollout.PlanSource, "# 2 targets: web2, web3") || !strings.Contains(rollout.PlanSource, "warning: "+wantNote) {
		t.Errorf("day 1 plan source does not name its targets and the held host:\n%s", rollout.PlanSource)
	}

	// Day 2: r-other holds web1 (now held for a person), day 1's rollout
	// web2 and web3: nothing starts, the run is skipped naming both.
	if err := a.Store.SetRolloutState(ctx, "r-other", patchpilot.RolloutHalted, patchpilot.HeldReasonPrefix+": no maintenance window opens"); err != nil {
		t.Fatal(err)
	}
	tick(t, ctx, s, clk, at(2026, 3, 2, 22, 0, 30))
	runs = runsOf(t, ctx, a, "nightly")
	if len(runs) != 2 || runs[0].Outcome != patchpilot.ScheduleSkipped || runs[0].Rollout != "" || len(started) != 1 {
		t.Fatalf("day 2: runs %+v, started %v; want a skipped run and no rollout", runs, started)
	}
	want := "not started: unfinished rollouts hold every target: host web1 is in rollout r-other (held for a person), hosts web2 and web3 in rollout " +
		started[0] + " (pending); those rollouts have not finished; the next run plans them again"
	if runs[0].Message != want {
		t.Errorf("day 2 message %q; want %q", runs[0].Message, want)
	}
	if !runs[0].Outcome.Finished() {
		t.Errorf("a skipped run is not finished")
	}
	e, d = lastFinished(t, ctx, a)
	if len(d.Held) != 2 || d.Held[0].Rollout != "r-other" || d.Held[1].Rollout != started[0] || !slices.Equal(d.Held[1].Hosts, []string{"web2", "web3"}) ||
		d.Outcome != patchpilot.ScheduleSkipped || !strings.Contains(e.Message, "run due 2026-03-02 22:00 UTC skipped: not started") {
		t.Errorf("day 2 event %q, data %+v", e.Message, d)
	}
	if d.Brief != "schedule nightly: run due 2026-03-02 22:00 UTC skipped: not started" {
		t.Errorf("day 2 brief %q", d.Brief)
	}
	if n, ok := ClassifyEvent(e, nil, ""); !ok || n.Level != patchpilot.LevelWarning || n.Summary != "schedule nightly: run due 2026-03-02 22:00 UTC skipped: not started; "+
		"unfinished rollouts hold every target: web1 in rollout r-other (held for a person), web2, web3 in rollout "+started[0]+" (pending)" {
		t.Errorf("day 2 notification %v %+v", ok, n)
	}

	// Day 3: both are over; every target is patched, and nothing is said
	// of held hosts.
	for _, id := range []string{"r-other", started[0]} {
		if err := a.Store.SetRolloutState(ctx, id, patchpilot.RolloutAborted, "aborted by ann"); err != nil {
			t.Fatal(err)
		}
	}
	tick(t, ctx, s, clk, at(2026, 3, 3, 22, 0, 30))
	runs = runsOf(t, ctx, a, "nightly")
	if len(runs) != 3 || runs[0].Outcome != patchpilot.ScheduleLaunched || len(started) != 2 || strings.Contains(runs[0].Message, "unfinished") {
		t.Fatalf("day 3: runs %+v, started %v", runs, started)
	}
	if got := rolloutHosts(t, ctx, a, started[1]); !slices.Equal(got, []string{"web1", "web2", "web3"}) {
		t.Errorf("day 3 rollout over %v; want every web host", got)
	}
	e, d = lastFinished(t, ctx, a)
	if d.Held != nil {
		t.Errorf("day 3 event names held hosts: %+v", d.Held)
	}
	if n, ok := ClassifyEvent(e, nil, ""); ok {
		t.Errorf("day 3's launched run is told: %+v", n)
	}
}

// A scheduled run whose matching updates are pending only on held targets
// has nothing to do on the others, and says which are held.
func TestScheduledRunNothingToDoOnFreeTargets(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 1, 22, 0, 30)}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "env=prod",
		Updates: UpdateSelector{Packages: []string{"curl"}}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	f, err := a.Store.LatestFacts(ctx, "db1")
	if err != nil {
		t.Fatal(err)
	}
	f.CollectedAt = f.CollectedAt.Add(time.Hour)
	f.Updates = append(f.Updates, patchpilot.Update{Package: "curl", InstalledVersion: "7.88.1-10", CandidateVersion: "7.88.1-11"})
	if err := a.Store.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	holdHosts(t, ctx, a, "r-db", at(2026, 3, 1, 12, 0, 0), patchpilot.RolloutPaused, "paused by ann", false, "db1")
	var started []string
	s := newScheduler(t, a, SchedulerOptions{Launch: startingLauncher(a, &started)})
	tick(t, ctx, s, clk, at(2026, 3, 1, 22, 0, 30))
	runs := runsOf(t, ctx, a, "nightly")
	want := "no pending update on the targets no unfinished rollout holds matches updates (curl); " +
		"left out 1 target that unfinished rollouts hold: host db1 is in rollout r-db (paused), which has not finished"
	if len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleNothingToDo || runs[0].Message != want || len(started) != 0 {
		t.Fatalf("runs %+v, started %v; want nothing to do: %q", runs, started, want)
	}
}

// A proposed plan (as 'plan' and the API make it) keeps targets that
// unfinished rollouts hold and warns, naming them and the rollout; with
// LeaveOutHeld (a scheduled run) they are left out with their reason, and
// a proposal whose every target is held is refused with the ECONFLICT a
// start would meet. Dry runs and finished rollouts hold nothing.
func TestProposePlanAndHeldTargets(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	seedFleet(t, ctx, a)
	patch := patchpilot.PatchSpec{SecurityAll: true}
	created := at(2026, 3, 1, 12, 0, 0)
	holdHosts(t, ctx, a, "r-done", created, patchpilot.RolloutSucceeded, "done", false, "web1", "web2", "web3")
	holdHosts(t, ctx, a, "r-dry", created.Add(time.Minute), patchpilot.RolloutRunning, "", true, "web1", "web2", "web3")
	holdHosts(t, ctx, a, "r-db", created.Add(2*time.Minute), patchpilot.RolloutRunning, "", false, "db1")

	prop, err := a.ProposePlan(ctx, patch, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	if len(prop.Held) != 0 || len(prop.HeldOut) != 0 || strings.Contains(strings.Join(prop.Warnings, "\n"), "rollout") {
		t.Errorf("no target held: held %+v, left out %+v, warnings %q", prop.Held, prop.HeldOut, prop.Warnings)
	}

	holdHosts(t, ctx, a, "r-web", created.Add(3*time.Minute), patchpilot.RolloutWaitingApproval, "", false, "web2", "web3", "app9")
	prop, err = a.ProposePlan(ctx, patch, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	warn := "hosts web2 and web3 are in rollout r-web (waiting_approval), which has not finished: one rollout at a time changes a host, " +
		"so starting this plan is refused until then; finish it first ('patchpilot rollout status r-web' shows what it waits for and how to end it), " +
		"or leave those hosts out of the targets"
	if !slices.Equal(prop.Targets, []string{"web1", "web2", "web3"}) || !slices.Contains(prop.Warnings, warn) ||
		!slices.Contains(prop.Header, "warning: "+warn) || len(prop.AllLeftOut()) != 0 {
		t.Errorf("plan with held targets: targets %v, warnings %q, header %q, left out %+v; want all kept and the warning %q",
			prop.Targets, prop.Warnings, prop.Header, prop.AllLeftOut(), warn)
	}
	if want := []patchpilot.HostsHolder{{Rollout: "r-web", State: patchpilot.RolloutWaitingApproval, Hosts: []string{"web2", "web3"}}}; !reflect.DeepEqual(prop.Held, want) {
		t.Errorf("Held = %+v; want %+v", prop.Held, want)
	}
	// Starting it is refused, as the warning said.
	if _, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), prop.Plan, nil, StartOptions{}); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Errorf("start of the plan over held targets: %v; want ECONFLICT", err)
	}

	prop, err = a.ProposePlanWith(ctx, patch, "role=web", ProposeOptions{LeaveOutHeld: true})
	if err != nil {
		t.Fatal(err)
	}
	note := "left out 2 targets that unfinished rollouts hold: hosts web2 and web3 are in rollout r-web (waiting_approval), which has not finished"
	if !slices.Equal(prop.Targets, []string{"web1"}) || !slices.Equal(prop.Plan.Targets.Hosts, []string{"web1"}) || !slices.Contains(prop.Warnings, note) || len(prop.Held) != 0 {
		t.Errorf("leaving held targets out: targets %v (plan %+v), warnings %q, held %+v", prop.Targets, prop.Plan.Targets, prop.Warnings, prop.Held)
	}
	wantOut := []LeftOutHost{{Host: "web2", Reason: "in rollout r-web (waiting_approval), which has not finished"},
		{Host: "web3", Reason: "in rollout r-web (waiting_approval), which has not finished"}}
	if got := prop.AllLeftOut(); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("AllLeftOut = %+v; want %+v", got, wantOut)
	}
	if _, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), prop.Plan, nil, StartOptions{DryRun: true}); err != nil {
		t.Errorf("the plan without held targets does not start: %v", err)
	}

	_, err = a.ProposePlanWith(ctx, patch, "role=db", ProposeOptions{LeaveOutHeld: true})
	var all *TargetsHeldError
	if !errors.As(err, &all) || patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || len(all.Holders) != 1 || all.Holders[0].Rollout != "r-db" ||
		err.Error() != "host db1 is in rollout r-db (running), which has not finished: one rollout at a time changes a host" {
		t.Errorf("every target held: %v (%T); want a TargetsHeldError naming r-db", err, err)
	}
}

// heldTargets reads the same holders whether it names the targets to the
// store or, over many targets, asks for every held host and keeps the
// targets itself.
func TestHeldTargetsBothWays(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	created := at(2026, 3, 1, 12, 0, 0)
	holdHosts(t, ctx, a, "r-1", created, patchpilot.RolloutRunning, "", false, "web1", "db1", "other")
	holdHosts(t, ctx, a, "r-2", created, patchpilot.RolloutHalted, patchpilot.HeldReasonPrefix+": no room in the budget", false, "web2")
	holdHosts(t, ctx, a, "r-0", created.Add(time.Second), patchpilot.RolloutPaused, "", false, "web3", "web4")
	holdHosts(t, ctx, a, "r-3", created, patchpilot.RolloutHalted, "stage all failed", false, "web5")
	holdHosts(t, ctx, a, "r-4", created, patchpilot.RolloutRunning, "", true, "web6")
	for _, targets := range [][]string{{"web1"}, {"web2", "web1", "web3"}, {"web5", "web6"}, {"nowhere"}, {"db1", "web4", "web2", "web5"}} {
		few, err := a.heldTargets(ctx, targets)
		if err != nil {
			t.Fatal(err)
		}
		many := slices.Clone(targets)
		for i := len(many); i <= heldAskMax; i++ {
			many = append(many, fmt.Sprintf("pad-%d", i))
		}
		all, err := a.heldTargets(ctx, many)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(few, all) {
			t.Errorf("heldTargets(%v) = %+v named, %+v over every held host", targets, few, all)
		}
	}
	got, err := a.heldTargets(ctx, []string{"db1", "web4", "web2", "web5"})
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.HostsHolder{
		{Rollout: "r-1", State: patchpilot.RolloutRunning, Hosts: []string{"db1"}},
		{Rollout: "r-2", State: patchpilot.RolloutHalted, Reason: patchpilot.HeldReasonPrefix + ": no room in the budget", Hosts: []string{"web2"}},
		{Rollout: "r-0", State: patchpilot.RolloutPaused, Hosts: []string{"web4"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("heldTargets = %+v; want %+v", got, want)
	}
}

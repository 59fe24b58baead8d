package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Set moves the test clock (people_test.go) to t.
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// launched records the plans a scheduler hands over.
type launched struct {
	mu    sync.Mutex
	plans []patchpilot.Plan
	srcs  [][]byte
	names []string
	err   error
}

func (l *launched) Launch(_ context.Context, p patchpilot.Plan, source []byte, name string) (Launched, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return Launched{}, l.err
	}
	l.plans, l.srcs, l.names = append(l.plans, p), append(l.srcs, source), append(l.names, name)
	return Launched{}, nil
}

func (l *launched) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.plans)
}

// schedulerApp opens an app on a fresh store, with prod hosts web1-web3
// and db1 that each have a pending security update of openssl (high) and a
// non-security update of tzdata, on the given clock.
func schedulerApp(t *testing.T, clk *testClock, schedules ...Schedule) (context.Context, *App, string) {
	t.Helper()
	ctx, a, dir := openTestApp(t)
	a.Options.Now = clk.Now
	ss, err := CheckSchedules(schedules)
	if err != nil {
		t.Fatal(err)
	}
	a.Options.Schedules = ss
	seedFleet(t, ctx, a)
	return ctx, a, dir
}

func seedFleet(t *testing.T, ctx context.Context, a *App) {
	t.Helper()
	var hosts []patchpilot.Host
	for _, n := range []string{"web1", "web2", "web3", "db1"} {
		role := "web"
		if strings.HasPrefix(n, "db") {
			role = "db"
		}
		hosts = append(hosts, patchpilot.Host{Name: n, Labels: map[string]string{"role": role, "env": "prod"}})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Updates: []patchpilot.Update{
				{Package: "openssl", InstalledVersion: "3.0.14-1", CandidateVersion: "3.0.15-1", Security: true,
					Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-1", Severity: "high"}}},
				{Package: "tzdata", InstalledVersion: "2025a-0", CandidateVersion: "2025b-0"},
			}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

func newScheduler(t *testing.T, a *App, o SchedulerOptions) *Scheduler {
	t.Helper()
	s, err := a.NewScheduler(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tick(t *testing.T, ctx context.Context, s *Scheduler, clk *testClock, at time.Time) {
	t.Helper()
	clk.Set(at)
	if err := s.Tick(ctx); err != nil {
		t.Fatalf("Tick at %s: %v", at, err)
	}
}

func runsOf(t *testing.T, ctx context.Context, a *App, name string) []patchpilot.ScheduleRun {
	t.Helper()
	runs, err := a.Store.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: name})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func at(y int, m time.Month, d, h, min, sec int) time.Time {
	return time.Date(y, m, d, h, min, sec, 0, time.UTC)
}

// TestSchedulerLaunchesDueRunOnce: a Patch-Tuesday schedule launches its
// plan once at its time, and neither another tick nor a restart of the
// app and scheduler on the same database launches it again.
func TestSchedulerLaunchesDueRunOnce(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 12, 20, 0, 0)}
	monthly := Schedule{Name: "monthly", Kind: patchpilot.SchedulePatch, When: "patch-tuesday +2d 22:00",
		Timezone: "Europe/Berlin", Hosts: "role=web", Updates: UpdateSelector{Security: true}}
	ctx, a, dir := schedulerApp(t, clk, monthly)
	l := &launched{}
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch})

	// 21:00 CET on 12 March: an hour early.
	tick(t, ctx, s, clk, at(2026, 3, 12, 20, 0, 0))
	if l.count() != 0 || len(runsOf(t, ctx, a, "monthly")) != 0 {
		t.Fatalf("before its time: %d launches, runs %+v", l.count(), runsOf(t, ctx, a, "monthly"))
	}
	due := at(2026, 3, 12, 21, 0, 0) // 22:00 CET
	if wake, err := s.NextWake(ctx); err != nil || !wake.Equal(due) {
		t.Errorf("NextWake = %s, %v; want %s", wake, err, due)
	}
	tick(t, ctx, s, clk, due.Add(20*time.Second))
	tick(t, ctx, s, clk, due.Add(40*time.Second))
	if l.count() != 1 {
		t.Fatalf("%d launches at the due time, want 1", l.count())
	}
	p := l.plans[0]
	if l.names[0] != "monthly" || p.Name != "monthly-2026-03-12" || !p.Patch.SecurityAll || p.Targets.Selector != "role=web" || len(p.Stages) == 0 {
		t.Errorf("launched %q: plan %q patch %+v targets %+v, %d stages", l.names[0], p.Name, p.Patch, p.Targets, len(p.Stages))
	}
	if src := string(l.srcs[0]); !strings.Contains(src, "# proposed by schedule monthly") || !strings.Contains(src, "web1, web2, web3") {
		t.Errorf("plan source:\n%s", src)
	}
	runs := runsOf(t, ctx, a, "monthly")
	if len(runs) != 1 || !runs[0].Due.Equal(due) || runs[0].Outcome != patchpilot.ScheduleLaunched || runs[0].Plan != "monthly-2026-03-12" ||
		!runs[0].Started.Equal(due.Add(20*time.Second)) || runs[0].Finished.IsZero() {
		t.Fatalf("runs = %+v; want one launched run due %s", runs, due)
	}

	// A restart: a new app and scheduler on the same database.
	a2, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: a.Options.Env, Now: clk.Now, Schedules: a.Options.Schedules})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	s2 := newScheduler(t, a2, SchedulerOptions{Launch: l.Launch})
	tick(t, ctx, s2, clk, due.Add(5*time.Minute))
	if l.count() != 1 || len(runsOf(t, ctx, a2, "monthly")) != 1 {
		t.Errorf("after a restart: %d launches, runs %+v; want the one run", l.count(), runsOf(t, ctx, a2, "monthly"))
	}
	// The next run is April's: Patch Tuesday the 14th, +2d, 22:00 CEST.
	if wake, err := s2.NextWake(ctx); err != nil || !wake.Equal(at(2026, 4, 16, 20, 0, 0)) {
		t.Errorf("NextWake after the run = %s, %v; want 16 April 20:00 UTC", wake, err)
	}

	// The events tell the story in the root vocabulary.
	evs, err := a2.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventScheduleFinished})
	if err != nil || len(evs) != 1 {
		t.Fatalf("finished events = %+v, %v", evs, err)
	}
	var d patchpilot.ScheduleRunData
	if err := json.Unmarshal(evs[0].Data, &d); err != nil || d.Schedule != "monthly" || d.Outcome != patchpilot.ScheduleLaunched ||
		!d.Due.Equal(due) || d.Plan != "monthly-2026-03-12" || evs[0].Actor != "scheduler" {
		t.Errorf("finished event %+v, data %+v (%v)", evs[0], d, err)
	}
}

// TestSchedulerGraceAndMissed: a run missed by less than the grace period
// still runs when a scheduler starts; older ones are recorded as missed.
func TestSchedulerGraceAndMissed(t *testing.T) {
	clk := &testClock{}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "env=prod",
		Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	l := &launched{}
	start := func(when time.Time) {
		t.Helper()
		tick(t, ctx, newScheduler(t, a, SchedulerOptions{Launch: l.Launch}), clk, when)
	}
	// Down from before 22:00 until 22:30: the run is 30 minutes late.
	start(at(2026, 3, 1, 22, 30, 0))
	if l.count() != 1 {
		t.Fatalf("a run 30 minutes late: %d launches, want 1", l.count())
	}
	// Down until 22:40 on the 4th: the 2nd and 3rd are missed, the 4th runs.
	start(at(2026, 3, 4, 22, 40, 0))
	runs := runsOf(t, ctx, a, "nightly")
	if l.count() != 2 || len(runs) != 3 {
		t.Fatalf("after three days down: %d launches, runs %+v", l.count(), runs)
	}
	if r := runs[1]; r.Outcome != patchpilot.ScheduleMissed || !r.Due.Equal(at(2026, 3, 3, 22, 0, 0)) ||
		!strings.Contains(r.Message, "missed 2 runs due from 2026-03-02 22:00 UTC to 2026-03-03 22:00 UTC") {
		t.Errorf("missed record = %+v", r)
	}
	if r := runs[0]; r.Outcome != patchpilot.ScheduleLaunched || !r.Due.Equal(at(2026, 3, 4, 22, 0, 0)) {
		t.Errorf("latest run = %+v", r)
	}
	// Down until 23:30 on the 6th: the run of the 6th is 90 minutes old.
	start(at(2026, 3, 6, 23, 30, 0))
	runs = runsOf(t, ctx, a, "nightly")
	if l.count() != 2 || len(runs) != 4 || runs[0].Outcome != patchpilot.ScheduleMissed || !runs[0].Due.Equal(at(2026, 3, 6, 22, 0, 0)) {
		t.Errorf("after a run 90 minutes late: %d launches, runs %+v; want none launched and one missed record", l.count(), runs)
	}
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventScheduleMissed})
	if err != nil || len(evs) != 2 {
		t.Fatalf("missed events = %+v, %v", evs, err)
	}
	var d patchpilot.ScheduleRunData
	if err := json.Unmarshal(evs[1].Data, &d); err != nil || d.Missed != 2 || d.Outcome != patchpilot.ScheduleMissed {
		t.Errorf("missed event data %+v (%v), want 2 missed", d, err)
	}
	// Both are told, as warnings, by their message.
	for _, e := range evs {
		if n, ok := ClassifyEvent(e, nil, ""); !ok || n.Topic != patchpilot.TopicScheduleRun || n.Level != patchpilot.LevelWarning || n.Summary != e.Message {
			t.Errorf("missed event %q told %v as %+v", e.Message, ok, n)
		}
	}
	// A larger grace runs a late run that the default would miss.
	clk.Set(at(2026, 3, 7, 23, 30, 0))
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch, Grace: 2 * time.Hour})
	if err := s.Tick(ctx); err != nil || l.count() != 3 {
		t.Errorf("grace 2h, 90 minutes late: %d launches (%v), want 3", l.count(), err)
	}
}

// TestSchedulerWaitsForWindow: a run due outside its window waits, across
// a restart, and launches once when the window opens, with the window in
// its plan.
func TestSchedulerWaitsForWindow(t *testing.T) {
	clk := &testClock{}
	win := &patchpilot.MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: 22 * 60, End: 4 * 60, TZ: "America/New_York"}
	weekly := Schedule{Name: "weekly", Kind: patchpilot.SchedulePatch, When: "0 12 * * mon", Timezone: "America/New_York",
		Hosts: "env=prod", Updates: UpdateSelector{MinSeverity: patchpilot.SeverityHigh}, Window: win}
	ctx, a, _ := schedulerApp(t, clk, weekly)
	l := &launched{}
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch})
	due := at(2026, 3, 2, 17, 0, 0)  // Monday 12:00 EST
	opens := at(2026, 3, 8, 3, 0, 0) // Saturday 22:00 EST
	tick(t, ctx, s, clk, due.Add(time.Second))
	runs := runsOf(t, ctx, a, "weekly")
	if l.count() != 0 || len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleWaiting || !runs[0].Started.IsZero() ||
		!strings.Contains(runs[0].Message, "opens 2026-03-07 22:00 EST") {
		t.Fatalf("outside the window: %d launches, runs %+v; want one waiting run", l.count(), runs)
	}
	if wake, err := s.NextWake(ctx); err != nil || !wake.Equal(opens) {
		t.Errorf("NextWake = %s, %v; want the window's opening %s", wake, err, opens)
	}
	tick(t, ctx, s, clk, opens.Add(-time.Minute))
	// A restart while the run waits: it is not interrupted, it still waits.
	s = newScheduler(t, a, SchedulerOptions{Launch: l.Launch})
	tick(t, ctx, s, clk, opens.Add(-30*time.Second))
	if l.count() != 0 || runsOf(t, ctx, a, "weekly")[0].Outcome != patchpilot.ScheduleWaiting {
		t.Fatalf("before the window: %d launches, runs %+v", l.count(), runsOf(t, ctx, a, "weekly"))
	}
	tick(t, ctx, s, clk, opens.Add(30*time.Second))
	tick(t, ctx, s, clk, opens.Add(time.Hour))
	runs = runsOf(t, ctx, a, "weekly")
	if l.count() != 1 || len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleLaunched || !runs[0].Started.Equal(opens.Add(30*time.Second)) {
		t.Fatalf("in the window: %d launches, runs %+v; want one launched run", l.count(), runs)
	}
	p := l.plans[0]
	// high and above: openssl alone, pinned to its candidate; tzdata has
	// no advisory.
	if len(p.Patch.Packages) != 1 || p.Patch.Packages[0] != (patchpilot.PackagePin{Name: "openssl", Version: "3.0.15-1"}) || p.Patch.SecurityAll {
		t.Errorf("patch = %+v, want openssl=3.0.15-1", p.Patch)
	}
	if len(p.Windows) != 1 || p.Windows[0].Start != win.Start || p.Windows[0].TZ != win.TZ || p.Name != "weekly-2026-03-02" {
		t.Errorf("plan %q windows = %+v, want the schedule's", p.Name, p.Windows)
	}
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventScheduleWaiting})
	var d patchpilot.ScheduleRunData
	if err != nil || len(evs) != 1 || json.Unmarshal(evs[0].Data, &d) != nil || !d.WindowOpens.Equal(opens) {
		t.Errorf("waiting events %+v (%v), data %+v; want one naming %s", evs, err, d, opens)
	}
}

// TestSchedulerWaitingRunSuperseded: a run still waiting for its window
// when the next falls due is recorded as missed, and only the newer runs.
func TestSchedulerWaitingRunSuperseded(t *testing.T) {
	clk := &testClock{}
	win := &patchpilot.MaintenanceWindow{Days: []time.Weekday{time.Sunday}, Start: 1 * 60, End: 3 * 60}
	daily := Schedule{Name: "daily", Kind: patchpilot.SchedulePatch, When: "0 12 * * *", Hosts: "env=prod",
		Updates: UpdateSelector{Security: true}, Window: win}
	ctx, a, _ := schedulerApp(t, clk, daily)
	l := &launched{}
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch})
	tick(t, ctx, s, clk, at(2026, 3, 6, 12, 0, 0)) // Friday
	tick(t, ctx, s, clk, at(2026, 3, 7, 12, 0, 0)) // Saturday
	tick(t, ctx, s, clk, at(2026, 3, 8, 1, 0, 0))  // Sunday 01:00: the window opens
	runs := runsOf(t, ctx, a, "daily")
	if l.count() != 1 || len(runs) != 2 || runs[0].Outcome != patchpilot.ScheduleLaunched || runs[1].Outcome != patchpilot.ScheduleMissed ||
		!strings.Contains(runs[1].Message, "superseded") || l.plans[0].Name != "daily-2026-03-07" {
		t.Errorf("%d launches, runs %+v; want Saturday's launched and Friday's superseded", l.count(), runs)
	}
}

// TestSchedulerInterruptedAndFailed: of the runs a scheduler that stopped
// left running, one that had handed its plan over is not repeated, one
// that had not runs again within the grace period, and an older one is
// recorded as interrupted; a launch that fails and a selector that
// matches no update are recorded as such.
func TestSchedulerInterruptedAndFailed(t *testing.T) {
	clk := &testClock{}
	sel := Schedule{Name: "pkgs", Kind: patchpilot.SchedulePatch, When: "0 * * * *", Hosts: "env=prod",
		Updates: UpdateSelector{Packages: []string{"nosuch"}}}
	all := Schedule{Name: "all", Kind: patchpilot.SchedulePatch, When: "30 * * * *", Hosts: "role=db",
		Updates: UpdateSelector{}}
	old := Schedule{Name: "old", Kind: patchpilot.SchedulePatch, When: "0 7 * * *", Hosts: "role=db",
		Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, sel, all, old)
	for _, r := range []patchpilot.ScheduleRun{
		{Schedule: "pkgs", Due: at(2026, 3, 1, 10, 0, 0), Plan: "pkgs-2026-03-01"},
		{Schedule: "all", Due: at(2026, 3, 1, 9, 30, 0)},
		{Schedule: "old", Due: at(2026, 3, 1, 7, 0, 0)},
	} {
		r.Kind, r.Started, r.Outcome = patchpilot.SchedulePatch, r.Due, patchpilot.ScheduleRunning
		if _, _, err := a.Store.AddScheduleRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	l := &launched{err: patchpilot.Errorf(patchpilot.EFORBIDDEN, "policy: advisor: a person starts this plan")}
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch})
	restart := at(2026, 3, 1, 10, 10, 0)
	tick(t, ctx, s, clk, restart)
	runs := runsOf(t, ctx, a, "pkgs")
	if len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleInterrupted || !runs[0].Finished.Equal(restart) ||
		!strings.Contains(runs[0].Message, "may have started a rollout of plan pkgs-2026-03-01") {
		t.Fatalf("runs of pkgs = %+v; want the handed-over run interrupted, not repeated", runs)
	}
	runs = runsOf(t, ctx, a, "old")
	if len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleInterrupted || !strings.Contains(runs[0].Message, "did not start again within 1h0m0s") {
		t.Fatalf("runs of old = %+v; want the run of 07:00 interrupted", runs)
	}
	runs = runsOf(t, ctx, a, "all")
	if len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleFailed || !runs[0].Started.Equal(restart) ||
		!strings.Contains(runs[0].Message, "policy: advisor") || runs[0].Plan != "all-2026-03-01" {
		t.Fatalf("runs of all = %+v; want the run of 09:30 run again, its launch refused", runs)
	}
	// The interrupted runs and the refused one are each told, as
	// warnings; the interrupted run that had handed its plan over names it.
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventScheduleFinished})
	if err != nil {
		t.Fatal(err)
	}
	told := map[string]bool{}
	for _, e := range evs {
		n, ok := ClassifyEvent(e, nil, "")
		if !ok || n.Level != patchpilot.LevelWarning || n.Summary != e.Message {
			t.Errorf("event %q told %v as %+v", e.Message, ok, n)
		}
		for _, w := range []string{"pkgs: run due 2026-03-01 10:00 UTC interrupted: ", "old: run due 2026-03-01 07:00 UTC interrupted", "all: run due 2026-03-01 09:30 UTC failed"} {
			if strings.Contains(n.Summary, w) {
				told[w] = true
			}
		}
	}
	if len(told) != 3 {
		t.Errorf("told %v of %d finished events, want the two interrupted runs and the failed one", told, len(evs))
	}
	tick(t, ctx, s, clk, at(2026, 3, 1, 11, 0, 5))
	if runs = runsOf(t, ctx, a, "pkgs"); len(runs) != 2 || runs[0].Outcome != patchpilot.ScheduleNothingToDo ||
		!strings.Contains(runs[0].Message, "nosuch") {
		t.Errorf("runs of pkgs = %+v; want nothing to do at 11:00", runs)
	}
	tick(t, ctx, s, clk, at(2026, 3, 1, 11, 30, 5))
	// Every run of "all" (09:30 again, 10:30 and 11:30) was refused.
	if runs = runsOf(t, ctx, a, "all"); len(runs) != 3 || runs[0].Outcome != patchpilot.ScheduleFailed || runs[1].Outcome != patchpilot.ScheduleFailed {
		t.Errorf("runs of all = %+v; want three refused launches", runs)
	}
}

// TestSchedulerStoppedMidRun: a scheduler stopped while it collects for a
// run leaves the run running, and the next one runs it again.
func TestSchedulerStoppedMidRun(t *testing.T) {
	clk := &testClock{}
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(inv, []byte("[web]\nedge1 ansible_host=10.9.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "env=prod",
		Inventory: inv, Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	l := &launched{}
	due := at(2026, 3, 1, 22, 0, 0)
	clk.Set(due)
	stopCtx, stop := context.WithCancel(ctx)
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch, Dialer: dialFunc(func(h patchpilot.Host) error {
		stop() // the scheduler is stopped while it collects
		return patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s: connection refused", h.Name)
	})})
	if err := s.Tick(stopCtx); err == nil {
		t.Fatal("Tick of a stopped scheduler: no error")
	}
	runs := runsOf(t, ctx, a, "nightly")
	if l.count() != 0 || len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleRunning {
		t.Fatalf("after the stop: %d launches, runs %+v; want the run left running", l.count(), runs)
	}
	s = newScheduler(t, a, SchedulerOptions{Launch: l.Launch, Dialer: &failDialer{}})
	tick(t, ctx, s, clk, due.Add(20*time.Minute))
	runs = runsOf(t, ctx, a, "nightly")
	if l.count() != 1 || len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleLaunched ||
		!strings.Contains(runs[0].Message, "collected 0 of 1 hosts; failed: edge1") {
		t.Errorf("after the restart: %d launches, runs %+v; want the run done once, noting the failed collection", l.count(), runs)
	}
}

// dialFunc is a dialer that calls a function and reaches no host.
type dialFunc func(h patchpilot.Host) error

func (f dialFunc) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	return nil, f(h)
}

// TestSchedulerRun: Run ticks on its own and launches a due run once.
func TestSchedulerRun(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 1, 22, 0, 30)}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "env=prod",
		Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	got := make(chan string, 10)
	s := newScheduler(t, a, SchedulerOptions{Launch: func(_ context.Context, p patchpilot.Plan, _ []byte, name string) (Launched, error) {
		got <- name + " " + p.Name
		return Launched{}, nil
	}})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.Run(runCtx) }()
	if name := <-got; name != "nightly nightly-2026-03-01" {
		t.Errorf("launched %q", name)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("%d more launches", len(got))
	}
	if runs := runsOf(t, ctx, a, "nightly"); len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleLaunched {
		t.Errorf("runs = %+v", runs)
	}
}

// failDialer reaches no host.
type failDialer struct {
	mu    sync.Mutex
	dials []string
}

func (d *failDialer) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials = append(d.dials, h.Name)
	return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s: connection refused", h.Name)
}

// TestSchedulerInventoryEvery: an inventory schedule collects its
// inventory at start and then every 6 hours, once per due time.
func TestSchedulerInventoryEvery(t *testing.T) {
	clk := &testClock{}
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(inv, []byte("[web]\nedge1 ansible_host=10.9.0.1\nedge2 ansible_host=10.9.0.2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	facts := Schedule{Name: "facts", Kind: patchpilot.ScheduleInventory, Inventory: inv, Every: 6 * time.Hour}
	ctx, a, _ := schedulerApp(t, clk, facts)
	d := &failDialer{}
	s := newScheduler(t, a, SchedulerOptions{Dialer: d})
	t0 := at(2026, 3, 1, 9, 15, 0)
	for _, when := range []time.Time{t0, t0.Add(time.Minute), t0.Add(5 * time.Hour), t0.Add(6 * time.Hour),
		t0.Add(6*time.Hour + time.Minute), t0.Add(12*time.Hour + 30*time.Minute)} {
		tick(t, ctx, s, clk, when)
	}
	runs := runsOf(t, ctx, a, "facts")
	if len(runs) != 3 || len(d.dials) != 6 {
		t.Fatalf("runs %+v, dials %v; want 3 runs of 2 hosts", runs, d.dials)
	}
	for i, want := range []time.Time{t0.Add(12 * time.Hour), t0.Add(6 * time.Hour), t0} {
		r := runs[i]
		if !r.Due.Equal(want) || r.Outcome != patchpilot.ScheduleFailed || r.Kind != patchpilot.ScheduleInventory ||
			!strings.Contains(r.Message, "collected 0 of 2 hosts; failed: edge1, edge2") {
			t.Errorf("run %d = %+v, want due %s, failed collecting edge1 and edge2", i, r, want)
		}
	}
	// The inventory's hosts are stored, as 'inventory collect' stores them,
	// and the failures are in the log, by the scheduler.
	if _, err := a.Store.Host(ctx, "edge1"); err != nil {
		t.Errorf("edge1 not stored: %v", err)
	}
	if evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventCollectFailed, Host: "edge2"}); err != nil ||
		len(evs) != 3 || evs[0].Actor != "scheduler" {
		t.Errorf("collect_failed events of edge2 = %+v, %v; want 3 by the scheduler", evs, err)
	}
	if wake, err := s.NextWake(ctx); err != nil || !wake.Equal(t0.Add(18*time.Hour)) {
		t.Errorf("NextWake = %s, %v; want %s", wake, err, t0.Add(18*time.Hour))
	}
	// The listing shows the next runs on the same grid and the last run.
	views, err := a.Schedules(ctx)
	if err != nil || len(views) != 1 || views[0].Last == nil || !views[0].Last.Due.Equal(t0.Add(12*time.Hour)) ||
		len(views[0].Next) != ScheduleListRuns || !views[0].Next[0].Equal(t0.Add(18*time.Hour)) || views[0].EveryText != "6h" {
		t.Errorf("Schedules = %+v, %v", views, err)
	}
}

func TestNewSchedulerChecks(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 1, 0, 0, 0)}
	_, a, dir := schedulerApp(t, clk, Schedule{Name: "p", Kind: patchpilot.SchedulePatch, When: "@daily", Hosts: "env=prod"})
	if _, err := a.NewScheduler(SchedulerOptions{}); err == nil || !strings.Contains(err.Error(), `"p"`) {
		t.Errorf("a patch schedule without a launcher: %v", err)
	}
	ss, err := CheckSchedules([]Schedule{{Name: "i", Kind: patchpilot.ScheduleInventory, Inventory: filepath.Join(dir, "none.ini"), Every: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	a.Options.Schedules = ss
	if _, err := a.NewScheduler(SchedulerOptions{}); err == nil || !strings.Contains(err.Error(), "none.ini") || !strings.Contains(err.Error(), `"i"`) {
		t.Errorf("a missing inventory file: %v", err)
	}
}

// TestSchedulerAcrossMonthsAndDST ticks a Berlin schedule hourly through
// four months, and a nightly one every quarter hour across both
// daylight-saving changes: each run is launched once, at its time.
func TestSchedulerAcrossMonthsAndDST(t *testing.T) {
	clk := &testClock{}
	monthly := Schedule{Name: "monthly", Kind: patchpilot.SchedulePatch, When: "patch-tuesday +2d 22:00",
		Timezone: "Europe/Berlin", Hosts: "env=prod", Updates: UpdateSelector{Security: true}}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "30 2 * * *",
		Timezone: "Europe/Berlin", Hosts: "env=prod", Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, monthly)
	l := &launched{}
	s := newScheduler(t, a, SchedulerOptions{Launch: l.Launch})
	for now := at(2026, 1, 1, 0, 0, 0); now.Before(at(2026, 5, 1, 0, 0, 0)); now = now.Add(time.Hour) {
		tick(t, ctx, s, clk, now)
	}
	var names []string
	for _, p := range l.plans {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "monthly-2026-01-15 monthly-2026-02-12 monthly-2026-03-12 monthly-2026-04-16" {
		t.Errorf("monthly launches: %s", got)
	}
	var dues []string
	for _, r := range runsOf(t, ctx, a, "monthly") {
		dues = append(dues, r.Due.UTC().Format("01-02 15:04"))
	}
	// 22:00 CET is 21:00 UTC; 22:00 CEST (April) is 20:00 UTC.
	if got := strings.Join(dues, " "); got != "04-16 20:00 03-12 21:00 02-12 21:00 01-15 21:00" {
		t.Errorf("monthly runs due (latest first): %s", got)
	}

	ss, err := CheckSchedules([]Schedule{nightly})
	if err != nil {
		t.Fatal(err)
	}
	a.Options.Schedules = ss
	for _, span := range []struct {
		from, to time.Time
		want     string
	}{
		// 29 March: 02:30 does not exist; the run starts at 03:00 CEST.
		{at(2026, 3, 28, 22, 0, 0), at(2026, 3, 30, 3, 0, 0), "03-29 01:00 03-30 00:30"},
		// 25 October: 02:30 happens twice; the run starts once, at the first.
		{at(2026, 10, 24, 22, 0, 0), at(2026, 10, 26, 3, 0, 0), "10-25 00:30 10-26 01:30"},
	} {
		l = &launched{}
		s = newScheduler(t, a, SchedulerOptions{Launch: l.Launch})
		var dues []string
		for now := span.from; now.Before(span.to); now = now.Add(15 * time.Minute) {
			tick(t, ctx, s, clk, now)
		}
		for _, r := range runsOf(t, ctx, a, "nightly") {
			if !r.Due.Before(span.from) && r.Outcome == patchpilot.ScheduleLaunched {
				dues = append([]string{r.Due.UTC().Format("01-02 15:04")}, dues...)
			}
		}
		if got := strings.Join(dues, " "); got != span.want || l.count() != 2 {
			t.Errorf("nightly from %s: %d launches, due %s; want 2, due %s", span.from, l.count(), got, span.want)
		}
	}
}

// TestScheduledPlanStarts hands a scheduled plan to a launcher that saves
// it and starts a dry run through the controller, as a server does: the
// plan and its source agree, and the rollout covers the schedule's hosts.
func TestScheduledPlanStarts(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 1, 22, 0, 30)}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "role=web",
		Updates: UpdateSelector{Security: true, MinSeverity: patchpilot.SeverityHigh}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	var rollout string
	launch := func(ctx context.Context, p patchpilot.Plan, source []byte, name string) (Launched, error) {
		rec, err := a.SavePlan(ctx, p, source, "scheduler:"+name)
		if err != nil {
			return Launched{}, err
		}
		rollout, err = a.Controller(EngineOptions{}).Start(ctx, p, source, StartOptions{DryRun: true, Actor: "scheduler:" + name, PlanID: rec.ID})
		return Launched{Rollout: rollout, Message: "started as rollout " + rollout}, err
	}
	s := newScheduler(t, a, SchedulerOptions{Launch: launch})
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs := runsOf(t, ctx, a, "nightly")
	if len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleLaunched || rollout == "" || runs[0].Rollout != rollout ||
		!strings.Contains(runs[0].Message, "started as rollout "+rollout) {
		t.Fatalf("runs %+v, rollout %q; want one launched run naming it", runs, rollout)
	}
	st, err := a.RolloutStatus(ctx, rollout)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, stage := range st.Stages {
		for _, h := range stage.Hosts {
			hosts = append(hosts, h.Host)
		}
	}
	slices.Sort(hosts)
	if strings.Join(hosts, ",") != "web1,web2,web3" || !st.DryRun || !strings.Contains(st.Plan, "proposed by schedule nightly") {
		t.Errorf("rollout %s over %v (dry run %v), plan:\n%s", rollout, hosts, st.DryRun, st.Plan)
	}
}

// TestSchedulePlanTemplate: a schedule naming a plan template proposes
// plans with the template's stages and health checks, and the schedule's
// name, patch and targets; a template that does not read is refused when
// the configuration loads, naming the file and line.
func TestSchedulePlanTemplate(t *testing.T) {
	dir := t.TempDir()
	tpl := `rollout:
  name: template
  patch: {security: all}
  targets: {selector: "role=none"}
  health:
    http: [{name: demo, url: "http://{{.Address}}:8080/health"}]
  stages:
    - {name: first, targets: 1, criteria: [http_ok], bake: 1s}
    - {name: others, targets: rest, parallel: 2, criteria: [http_ok], bake: 2s}
`
	if err := os.WriteFile(filepath.Join(dir, "short.yaml"), []byte(tpl), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "patchpilot.yaml")
	write := func(template string) {
		t.Helper()
		body := "schedules:\n  - name: nightly\n    when: \"0 22 * * *\"\n    hosts: role=web\n    updates: {security: true}\n    plan_template: " + template + "\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("short.yaml")
	c, err := LoadConfig(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 1 || c.Schedules[0].PlanTemplate != filepath.Join(dir, "short.yaml") {
		t.Fatalf("schedules = %+v; want the template relative to the configuration", c.Schedules)
	}
	clk := &testClock{t: at(2026, 3, 1, 22, 0, 30)}
	ctx, a, _ := schedulerApp(t, clk)
	a.Options.Schedules = c.Schedules
	l := &launched{}
	if err := newScheduler(t, a, SchedulerOptions{Launch: l.Launch}).Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if l.count() != 1 {
		t.Fatalf("runs %+v; want one launch", runsOf(t, ctx, a, "nightly"))
	}
	p := l.plans[0]
	if len(p.Stages) != 2 || p.Stages[0].Name != "first" || p.Stages[1].Bake != 2*time.Second || len(p.Health.HTTP) != 1 ||
		p.Name != "nightly-2026-03-01" || p.Targets.Selector != "role=web" || !p.Patch.SecurityAll {
		t.Errorf("plan = %+v; want the template's stages and health, the schedule's name, targets and patch", p)
	}
	if !strings.Contains(string(l.srcs[0]), "the stages of "+filepath.Join(dir, "short.yaml")) {
		t.Errorf("plan source does not name its template:\n%s", l.srcs[0])
	}
	// The stages the comments explain are the template's.
	if src := string(l.srcs[0]); !strings.Contains(src, "\n# stage first: ") || !strings.Contains(src, "\n# stage others: ") || strings.Contains(src, "# stage validation") {
		t.Errorf("plan source does not explain the template's stages:\n%s", src)
	}

	write("missing.yaml")
	if _, err := LoadConfig(cfg, false); err == nil || !strings.Contains(err.Error(), "patchpilot.yaml:6") ||
		!strings.Contains(err.Error(), "plan_template") || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing template: %v; want the file, line and key named", err)
	}
}

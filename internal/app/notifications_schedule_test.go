package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/webhook"
)

func scheduleEvent(t *testing.T, kind, rollout, msg string, d patchpilot.ScheduleRunData) patchpilot.Event {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return patchpilot.Event{ID: 7, Kind: kind, Actor: schedulerActor, Rollout: rollout, Message: msg, Data: b}
}

// Each end of a scheduled run is told, or not, at its level, with a
// summary naming the schedule, the outcome and message, what it started
// or proposed, and a few of the held hosts.
func TestClassifyScheduleRun(t *testing.T) {
	manyHosts := []string{"db-1", "db-2", "db-3", "db-4", "db-5"}
	held := []patchpilot.HeldHostsData{
		{Rollout: "r-1", State: patchpilot.RolloutHalted, Hosts: []string{"web-1", "web-2"}},
		{Rollout: "r-2", State: patchpilot.RolloutRunning, Hosts: manyHosts},
		{Rollout: "r-3", State: patchpilot.RolloutPaused, Hosts: []string{"app-1"}},
		{Rollout: "r-4", State: patchpilot.RolloutRunning, Hosts: []string{"app-2"}},
		{Rollout: "r-5", State: patchpilot.RolloutRunning, Hosts: []string{"app-3"}},
	}
	fullHeld := patchpilot.HeldHostsText([]patchpilot.HostsHolder{{Rollout: "r-1", State: patchpilot.RolloutHalted, Hosts: []string{"web-1", "web-2"}},
		{Rollout: "r-2", State: patchpilot.RolloutRunning, Hosts: manyHosts}, {Rollout: "r-3", State: patchpilot.RolloutPaused, Hosts: []string{"app-1"}},
		{Rollout: "r-4", State: patchpilot.RolloutRunning, Hosts: []string{"app-2"}}, {Rollout: "r-5", State: patchpilot.RolloutRunning, Hosts: []string{"app-3"}}})
	heldPart := "web-1, web-2 in rollout r-1 (halted), db-1, db-2, db-3 and 2 more in rollout r-2 (running), app-1 in rollout r-3 (paused), and 2 more rollouts"
	head := "schedule nightly: run due 2026-03-01 02:00 UTC "
	cases := []struct {
		name, kind, rollout, msg string
		d                        patchpilot.ScheduleRunData
		told                     bool
		level                    patchpilot.Level
		summary                  string
		url                      string
	}{
		{name: "failed", kind: patchpilot.EventScheduleFinished, msg: head + "failed: propose a plan: database is locked",
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Kind: patchpilot.SchedulePatch, Outcome: patchpilot.ScheduleFailed}, told: true,
			level: patchpilot.LevelWarning, summary: head + "failed: propose a plan: database is locked"},
		{name: "inventory failed", kind: patchpilot.EventScheduleFinished, msg: "schedule inv: run due 2026-03-01 02:00 UTC failed: 2 of 9 hosts not collected",
			d: patchpilot.ScheduleRunData{Schedule: "inv", Kind: patchpilot.ScheduleInventory, Outcome: patchpilot.ScheduleFailed}, told: true,
			level: patchpilot.LevelWarning, summary: "schedule inv: run due 2026-03-01 02:00 UTC failed: 2 of 9 hosts not collected"},
		{name: "interrupted with plan", kind: patchpilot.EventScheduleFinished, msg: head + "interrupted: the scheduler stopped while handing the plan over",
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleInterrupted, Plan: "nightly-2026-03-01"}, told: true,
			level: patchpilot.LevelWarning, summary: head + "interrupted: the scheduler stopped while handing the plan over; plan nightly-2026-03-01"},
		{name: "missed", kind: patchpilot.EventScheduleMissed, msg: "schedule nightly: missed 3 runs due from a to b: no scheduler was running within 6h0m0s of them",
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleMissed, Missed: 3}, told: true,
			level: patchpilot.LevelWarning, summary: "schedule nightly: missed 3 runs due from a to b: no scheduler was running within 6h0m0s of them"},
		{name: "missed without payload", kind: patchpilot.EventScheduleMissed, msg: "schedule nightly: missed the run", told: true,
			level: patchpilot.LevelWarning, summary: "schedule nightly: missed the run"},
		{name: "skipped", kind: patchpilot.EventScheduleFinished,
			msg: head + "skipped: not started: unfinished rollouts hold every target: " + fullHeld + "; the next run plans them again",
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleSkipped, Held: held,
				Brief: head + "skipped: not started"}, told: true,
			level: patchpilot.LevelWarning, summary: head + "skipped: not started; unfinished rollouts hold every target: " + heldPart},
		{name: "launched with held", kind: patchpilot.EventScheduleFinished, rollout: "r-9",
			msg: head + "launched: plan nightly-2026-03-01 over 4 hosts (low risk) handed over to start; left out 9 targets that unfinished rollouts hold: " + fullHeld,
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleLaunched, Plan: "nightly-2026-03-01", Held: held,
				Brief: head + "launched: plan nightly-2026-03-01 over 4 hosts (low risk) handed over to start"}, told: true,
			level:   patchpilot.LevelInfo,
			summary: head + "launched: plan nightly-2026-03-01 over 4 hosts (low risk) handed over to start; started rollout r-9; left out hosts that unfinished rollouts hold: " + heldPart,
			url:     "https://pp.example.com/ui/rollouts/r-9"},
		{name: "proposed with held", kind: patchpilot.EventScheduleFinished,
			msg: head + "proposed: plan nightly-2026-03-01 over 4 hosts (high risk) proposed; left out 2 targets that unfinished rollouts hold: hosts web-1 and web-2 are in rollout r-1 (halted), which has not finished",
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleProposed, Plan: "nightly-2026-03-01", Held: held[:1],
				Brief: head + "proposed: plan nightly-2026-03-01 over 4 hosts (high risk) proposed"}, told: true,
			level:   patchpilot.LevelInfo,
			summary: head + "proposed: plan nightly-2026-03-01 over 4 hosts (high risk) proposed; left out hosts that unfinished rollouts hold: web-1, web-2 in rollout r-1 (halted)"},
		// The summary takes the run's words from the payload, whatever
		// they say: a launcher's message that says "left out" too is
		// kept whole.
		{name: "launched with held, left out in the launcher's words", kind: patchpilot.EventScheduleFinished, rollout: "r-9",
			msg: head + "launched: plan p over 4 hosts (low risk) handed over to start: the policy left out nothing; left out 2 targets that unfinished rollouts hold: " +
				"hosts web-1 and web-2 are in rollout r-1 (halted), which has not finished",
			d: patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleLaunched, Plan: "p", Held: held[:1],
				Brief: head + "launched: plan p over 4 hosts (low risk) handed over to start: the policy left out nothing"}, told: true,
			level: patchpilot.LevelInfo,
			summary: head + "launched: plan p over 4 hosts (low risk) handed over to start: the policy left out nothing; started rollout r-9; " +
				"left out hosts that unfinished rollouts hold: web-1, web-2 in rollout r-1 (halted)",
			url: "https://pp.example.com/ui/rollouts/r-9"},
		// An event written before the payload had the message without
		// the held hosts is told by its message, which names them all,
		// once.
		{name: "held, recorded without a brief", kind: patchpilot.EventScheduleFinished,
			msg: head + "proposed: plan p over 4 hosts (high risk) proposed; left out 2 targets that unfinished rollouts hold: hosts web-1 and web-2 are in rollout r-1 (halted), which has not finished",
			d:   patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleProposed, Plan: "p", Held: held[:1]}, told: true,
			level:   patchpilot.LevelInfo,
			summary: head + "proposed: plan p over 4 hosts (high risk) proposed; left out 2 targets that unfinished rollouts hold: hosts web-1 and web-2 are in rollout r-1 (halted), which has not finished"},
		{name: "launched", kind: patchpilot.EventScheduleFinished, rollout: "r-9", msg: head + "launched",
			d: patchpilot.ScheduleRunData{Outcome: patchpilot.ScheduleLaunched, Plan: "p"}},
		{name: "proposed", kind: patchpilot.EventScheduleFinished, msg: head + "proposed",
			d: patchpilot.ScheduleRunData{Outcome: patchpilot.ScheduleProposed, Plan: "p"}},
		{name: "succeeded", kind: patchpilot.EventScheduleFinished, msg: head + "succeeded",
			d: patchpilot.ScheduleRunData{Kind: patchpilot.ScheduleInventory, Outcome: patchpilot.ScheduleSucceeded}},
		{name: "nothing to do", kind: patchpilot.EventScheduleFinished, msg: head + "nothing to do",
			d: patchpilot.ScheduleRunData{Outcome: patchpilot.ScheduleNothingToDo}},
		{name: "waiting", kind: patchpilot.EventScheduleWaiting, msg: head + "waiting",
			d: patchpilot.ScheduleRunData{Outcome: patchpilot.ScheduleWaiting}},
		{name: "started", kind: patchpilot.EventScheduleStarted, msg: head + "started",
			d: patchpilot.ScheduleRunData{Outcome: patchpilot.ScheduleRunning}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := scheduleEvent(t, c.kind, c.rollout, c.msg, c.d)
			if c.name == "missed without payload" {
				e.Data = nil
			}
			var r *patchpilot.Rollout
			if c.rollout != "" {
				r = &patchpilot.Rollout{ID: c.rollout, State: patchpilot.RolloutRunning}
			}
			n, ok := ClassifyEvent(e, r, "https://pp.example.com")
			if ok != c.told {
				t.Fatalf("told = %v, want %v (%+v)", ok, c.told, n)
			}
			if !ok {
				return
			}
			if n.Topic != patchpilot.TopicScheduleRun || n.Level != c.level || n.Summary != c.summary || n.URL != c.url {
				t.Errorf("got topic %s level %s url %q\nsummary %q\nwant    %q", n.Topic, n.Level, n.URL, n.Summary, c.summary)
			}
		})
	}
}

// A scheduled run that fails (its plan's start is refused) reaches a
// webhook as schedule_run, without a rollout, and a min_level: critical
// integration is not told of it.
func TestDispatcherTellsFailedScheduledRunToWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []webhook.Payload
	var topics []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("payload %s: %v", body, err)
		}
		mu.Lock()
		got, topics = append(got, p), append(topics, r.Header.Get(webhook.HeaderTopic)+" "+r.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	var doc yaml.Node
	src := "services:\n  - {name: hook, type: webhook, url: " + srv.URL + "/all, secret: {env: WH_SECRET}}\n" +
		"  - {name: pager, type: webhook, url: " + srv.URL + "/critical, secret: {env: WH_SECRET}, min_level: critical}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	ic, err := integrations.Decode("patchpilot.yaml", doc.Content[0], IntegrationTypes())
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: at(2026, 3, 1, 21, 0, 0)}
	nightly := Schedule{Name: "nightly", Kind: patchpilot.SchedulePatch, When: "0 22 * * *", Hosts: "role=web",
		Updates: UpdateSelector{Security: true}}
	ctx, a, _ := schedulerApp(t, clk, nightly)
	a.Options.Integrations, a.Options.Env = ic, append(a.Options.Env, "WH_SECRET=s3cret")
	d, err := a.NewDispatcher(DispatcherOptions{Attempts: 1, BaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx); err != nil { // the cursors start at the end of the log
		t.Fatal(err)
	}
	s := newScheduler(t, a, SchedulerOptions{Launch: func(context.Context, patchpilot.Plan, []byte, string) (Launched, error) {
		return Launched{}, patchpilot.Errorf(patchpilot.ECONFLICT, "the policy refused the start")
	}})
	tick(t, ctx, s, clk, at(2026, 3, 1, 22, 0, 30))
	if runs := runsOf(t, ctx, a, "nightly"); len(runs) != 1 || runs[0].Outcome != patchpilot.ScheduleFailed {
		t.Fatalf("runs %+v, want one failed", runs)
	}
	if err := d.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d notifications (%v), want the failed run's only", len(got), topics)
	}
	p := got[0]
	if topics[0] != "schedule_run /all" || p.Topic != patchpilot.TopicScheduleRun || p.Level != patchpilot.LevelWarning || p.Rollout != nil ||
		p.Event.Kind != patchpilot.EventScheduleFinished || !strings.HasPrefix(p.Summary, "schedule nightly: run due 2026-03-01 22:00 UTC failed: ") ||
		!strings.Contains(p.Summary, "the policy refused the start") {
		t.Errorf("got %v %+v", topics, p)
	}
}

// Jira and ServiceNow change requests keep one record per rollout: their
// default topics are every rollout topic, without schedule_run; the
// others hear of every topic.
func TestChangeRecordTypesLeaveScheduleRunsOut(t *testing.T) {
	c := integrationsOf(t, `
services:
  - {name: j, type: jira, url: "https://example.atlassian.net", user: a@example.com, token: {env: T}, project: OPS}
  - {name: s, type: servicenow, url: "https://example.service-now.com", user: pp, password: {env: P}}
  - {name: h, type: webhook, url: "https://example.com/x", secret: {env: X}}
`)
	for _, s := range c.Items[:2] {
		got := IntegrationTopics(s)
		if !slices.Equal(got, integrations.RolloutTopics()) || slices.Contains(got, patchpilot.TopicScheduleRun) {
			t.Errorf("%s default topics %v", s.Type, got)
		}
	}
	if got := IntegrationTopics(c.Items[2]); got != nil {
		t.Errorf("webhook topics %v, want every topic", got)
	}
	if !slices.Contains(integrations.Topics(), patchpilot.TopicScheduleRun) || len(integrations.RolloutTopics()) != len(integrations.Topics())-1 {
		t.Errorf("topics %v, rollout topics %v", integrations.Topics(), integrations.RolloutTopics())
	}
}

// A plan's left-out reason and a schedule_run summary name a holder's
// state alike: held for a person when it waits for one, its state (in
// words) otherwise.
func TestHeldReasonAndSummaryNameTheHolderAlike(t *testing.T) {
	for _, c := range []struct {
		h     patchpilot.HostsHolder
		state string
	}{
		{patchpilot.HostsHolder{Rollout: "r-1", State: patchpilot.RolloutHalted, Reason: patchpilot.HeldReasonPrefix + ": no maintenance window opens", Hosts: []string{"web-1"}},
			"held for a person"},
		{patchpilot.HostsHolder{Rollout: "r-1", State: patchpilot.RolloutWaitingApproval, Hosts: []string{"web-1"}}, "waiting_approval"},
	} {
		if got, want := heldReason(c.h), "in rollout r-1 ("+c.state+"), which has not finished"; got != want {
			t.Errorf("heldReason = %q, want %q", got, want)
		}
		d := patchpilot.ScheduleRunData{Schedule: "nightly", Outcome: patchpilot.ScheduleSkipped, Brief: "schedule nightly: run skipped: not started",
			Held: heldData([]patchpilot.HostsHolder{c.h})}
		if got, want := scheduleSummary(patchpilot.Event{}, d), d.Brief+"; unfinished rollouts hold every target: web-1 in rollout r-1 ("+words(c.state)+")"; got != want {
			t.Errorf("summary %q, want %q", got, want)
		}
	}
}

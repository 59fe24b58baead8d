package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/webhook"
	"github.com/patchpilot/patchpilot/internal/storetest/seed"
)

// backlogHosts is the size of the rollout whose events fill the log of
// BenchmarkDispatcherBacklog.
const backlogHosts = 2000

// backlog is a store holding the event log of one finished rollout, with
// the cursors of the integrations at its start, kept as a file that each
// timed pass copies.
type backlog struct {
	dir      string
	template string
	now      time.Time
	events   int   // events after the cursors
	last     int64 // the last event's ID
	// notes are the notifications of the log, as the dispatcher makes
	// them (classified with the rollout as stored, with its details).
	notes []patchpilot.Notification
}

// backlogStages are the rollout's stages and their sizes.
var backlogStages = []struct {
	name  string
	hosts int
}{{"canary", 20}, {"wave-1", 180}, {"wave-2", 800}, {"wave-3", backlogHosts - 1000}}

// newBacklog writes the log of a rollout of backlogHosts hosts as the
// controller writes it: the rollout's creation, its lease and states, each
// stage's start and end (wave-2 waits for an approval), per host its
// pipeline (preflight, snapshot, apply, verify, two gate verdicts with
// their health report, succeeded), two incidents in wave-1 that halt the
// rollout and its recovery, and its success. About 7 events per host, of
// which the integrations are told of 11 in all.
func newBacklog(b *testing.B, cursors ...string) *backlog {
	b.Helper()
	ctx := context.Background()
	bl := &backlog{dir: b.TempDir(), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	bl.template = filepath.Join(bl.dir, "template.db")
	a, err := New(ctx, Options{DBPath: bl.template, Env: []string{"HOME=" + bl.dir}, Now: func() time.Time { return bl.now }})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	st := a.Store
	// The cursors start before the rollout: its whole log is the backlog.
	for _, c := range cursors {
		if _, err := st.StartDeliveryCursor(ctx, c); err != nil {
			b.Fatal(err)
		}
	}

	const id = "r-20260301-0800-bench"
	r := patchpilot.Rollout{ID: id, Plan: patchpilot.Plan{Name: "monthly-security"}, PlanSource: "name: monthly-security\n",
		State: patchpilot.RolloutSucceeded, CreatedBy: "ann", CreatedAt: bl.now.Add(-24 * time.Hour), UpdatedAt: bl.now}
	var hosts []patchpilot.Host
	created := patchpilot.RolloutCreatedData{Plan: r.Plan.Name, Notes: []string{}}
	n := 0
	for i, s := range backlogStages {
		sr := patchpilot.StageRun{Index: i, Name: s.name, State: patchpilot.StageSucceeded}
		for range s.hosts {
			h := fmt.Sprintf("web-%04d", n)
			n++
			sr.Hosts = append(sr.Hosts, h)
			hosts = append(hosts, patchpilot.Host{Name: h, Address: h + ".example.com", Groups: []string{"web"}})
		}
		r.Stages = append(r.Stages, sr)
		created.Stages = append(created.Stages, fmt.Sprintf("%s: %d hosts", s.name, s.hosts))
	}
	if err := st.UpsertHosts(ctx, hosts); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateRollout(ctx, r); err != nil {
		b.Fatal(err)
	}

	var evs []patchpilot.Event
	t := r.CreatedAt
	add := func(actor, kind, host, msg string, data any) {
		t = t.Add(time.Second)
		e := patchpilot.Event{Time: t, Actor: actor, Kind: kind, Host: host, Rollout: id, Message: msg}
		if data != nil {
			raw, err := json.Marshal(data)
			if err != nil {
				b.Fatal(err)
			}
			e.Data = raw
		}
		evs = append(evs, e)
	}
	ctl := "controller"
	state := func(s, prev patchpilot.RolloutState, reason string) {
		add(ctl, patchpilot.EventRolloutState, "", "rollout "+string(s), patchpilot.RolloutStateData{State: s, Previous: prev, Reason: reason})
	}
	stage := func(name string, s patchpilot.StageState) {
		add(ctl, patchpilot.EventStageState, "", "stage "+name+" "+string(s), patchpilot.StageStateData{Stage: name, State: s})
	}
	add("ann", patchpilot.EventRolloutCreated, "", "rollout "+id+" created from plan "+r.Plan.Name, created)
	add(ctl, patchpilot.EventLease, "", "lease acquired by controller@bench", nil)
	state(patchpilot.RolloutRunning, patchpilot.RolloutPending, "")
	for _, s := range r.Stages {
		if s.Name == "wave-2" {
			stage(s.Name, patchpilot.StageWaitingApproval)
			add("bob", patchpilot.EventApproval, "", "stage "+s.Name+" approved by bob",
				patchpilot.ApprovalData{Stage: s.Name, Approver: "bob", Approvers: []string{"bob"}, Required: 1})
		}
		stage(s.Name, patchpilot.StageRunning)
		for i, h := range s.Hosts {
			for _, hs := range []patchpilot.HostState{patchpilot.HostPreflight, patchpilot.HostSnapshot, patchpilot.HostApply, patchpilot.HostVerify} {
				add(ctl, patchpilot.EventHostState, h, h+" "+string(hs), nil)
			}
			for range 2 {
				rep := patchpilot.HealthReport{Verdict: patchpilot.Healthy, Reason: "", Results: []patchpilot.GateResult{
					{Gate: "services_running", Outcome: patchpilot.GatePass, Reason: "all 6 services that ran before still run", Time: t},
					{Gate: "http_check", Outcome: patchpilot.GatePass, Reason: "GET http://localhost/health answered 200", Time: t},
					{Gate: "error_rate", Outcome: patchpilot.GatePass, Reason: "error rate 0.1% within 1%", Time: t},
				}}
				add(ctl, patchpilot.EventGateVerdict, h, h+" gates healthy", rep)
			}
			if s.Name == "wave-1" && i < 2 {
				add(ctl, patchpilot.EventHostState, h, h+" rolling_back: http_check failed", nil)
				add(ctl, patchpilot.EventHostState, h, h+" rolled_back: http_check failed", nil)
				inc, err := st.AddIncident(ctx, patchpilot.Incident{Rollout: id, Time: t, Stage: s.Name, Reason: "http_check failed", Hosts: []string{h}})
				if err != nil {
					b.Fatal(err)
				}
				add(ctl, patchpilot.EventIncident, "", fmt.Sprintf("incident %d in stage %s: 1 host failed", inc, s.Name),
					patchpilot.IncidentData{ID: inc, Hosts: []patchpilot.IncidentHost{{Host: h, State: patchpilot.HostRolledBack}}})
				if i == 0 {
					state(patchpilot.RolloutHalted, patchpilot.RolloutRunning, "stage wave-1: 1 host failed")
					state(patchpilot.RolloutRunning, patchpilot.RolloutHalted, "resumed by ann")
				}
				continue
			}
			add(ctl, patchpilot.EventHostState, h, h+" succeeded", nil)
		}
		stage(s.Name, patchpilot.StageSucceeded)
	}
	state(patchpilot.RolloutSucceeded, patchpilot.RolloutRunning, "")
	for len(evs) > 0 {
		k := min(len(evs), 1000)
		if _, err := st.AppendEvents(ctx, evs[:k]); err != nil {
			b.Fatal(err)
		}
		evs = evs[k:]
	}

	// The notifications, made as the dispatcher makes them.
	d := &Dispatcher{a: a}
	for at := int64(0); ; {
		page, err := st.Events(ctx, patchpilot.EventFilter{AfterID: at, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range page {
			bl.events++
			bl.last = e.ID
			n, ok, err := d.classify(ctx, e)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				continue
			}
			if err := a.addRolloutDetails(ctx, &n); err != nil {
				b.Fatal(err)
			}
			bl.notes = append(bl.notes, n)
		}
		if len(page) < 1000 {
			break
		}
		at = page[len(page)-1].ID
	}
	if bl.events < backlogHosts*7 || len(bl.notes) != 11 {
		b.Fatalf("the backlog has %d events and %d notifications, want at least %d and 11", bl.events, len(bl.notes), backlogHosts*7)
	}
	return bl
}

// open copies the backlog's store and opens an app on the copy with the
// integrations of yml (a services: list).
func (bl *backlog) open(b *testing.B, yml string) *App {
	b.Helper()
	path := filepath.Join(bl.dir, "run.db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
	}
	if err := seed.Copy(bl.template, path); err != nil {
		b.Fatal(err)
	}
	a, err := New(context.Background(), Options{DBPath: path, Env: []string{"HOME=" + bl.dir, "HOOK_SECRET=s3cret"},
		Now: func() time.Time { return bl.now }, Integrations: benchIntegrations(b, yml)})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func benchIntegrations(b *testing.B, yml string) integrations.Config {
	b.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(yml), &doc); err != nil {
		b.Fatal(err)
	}
	c, err := integrations.Decode("patchpilot.yaml", doc.Content[0], IntegrationTypes())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// hookServer is a webhook receiver on loopback that reads each request
// and answers 204, counting them.
func hookServer(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil || r.Method != http.MethodPost || r.Header.Get(webhook.HeaderSignature) == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv, &got
}

// BenchmarkDispatcherBacklog measures the notification outbox: a
// dispatcher bringing a webhook integration's cursor from the start to the
// end of the log of a rollout of 2,000 hosts (14,020 events, of
// which 11 are notified). One op is one such catch-up; the store is a
// fresh copy each time (not timed).
//
//   - outbox: the dispatcher reads the log, classifies each event, routes
//     it, sends the 11 notifications to a receiver on loopback that
//     answers 204, and moves the cursor in SQLite.
//   - baseline: the same 11 notifications sent with the webhook
//     notifier's Notify in a loop, with no store and no classification.
//     outbox/baseline is the outbox's overhead.
//   - routed-none: the outbox with an integration whose routing takes
//     nothing here (topics: [rollback_failed], a topic this log has no event of): the cost of reading and classifying the
//     log alone.
//
// The parent logs the ratios of the last runs of the three.
func BenchmarkDispatcherBacklog(b *testing.B) {
	bl := newBacklog(b, "hook")
	srv, got := hookServer(b)
	ctx := context.Background()
	perOp := map[string]float64{}

	outbox := func(yml string, want int) func(b *testing.B) {
		return func(b *testing.B) {
			got.Store(0)
			for b.Loop() {
				b.StopTimer()
				a := bl.open(b, yml)
				d, err := a.NewDispatcher(DispatcherOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := d.Deliver(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c, err := a.Store.StartDeliveryCursor(ctx, "hook")
				if err != nil {
					b.Fatal(err)
				}
				if c.EventID != bl.last {
					b.Fatalf("the cursor is at event %d, want the last one, %d", c.EventID, bl.last)
				}
				a.Close()
				b.StartTimer()
			}
			if n := got.Load(); n != int64(want*b.N) {
				b.Fatalf("the receiver got %d notifications in %d passes, want %d each", n, b.N, want)
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(bl.events*b.N)/s, "events/s")
			b.ReportMetric(float64(want*b.N)/s, "notifications/s")
			perOp[b.Name()] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		}
	}
	hook := fmt.Sprintf("services:\n  - {name: hook, type: webhook, url: %q, secret: {env: HOOK_SECRET}}\n", srv.URL)
	b.Run("outbox", outbox(hook, len(bl.notes)))

	b.Run("baseline", func(b *testing.B) {
		spec := benchIntegrations(b, hook).Items[0]
		n, err := webhook.New(spec, func(k string) string { return map[string]string{"HOOK_SECRET": "s3cret"}[k] }, func() time.Time { return bl.now })
		if err != nil {
			b.Fatal(err)
		}
		got.Store(0)
		for b.Loop() {
			for _, note := range bl.notes {
				if err := n.Notify(ctx, note); err != nil {
					b.Fatal(err)
				}
			}
		}
		if n := got.Load(); n != int64(len(bl.notes)*b.N) {
			b.Fatalf("the receiver got %d notifications in %d passes, want %d each", n, b.N, len(bl.notes))
		}
		s := b.Elapsed().Seconds()
		b.ReportMetric(float64(len(bl.notes)*b.N)/s, "notifications/s")
		perOp[b.Name()] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})

	none := fmt.Sprintf("services:\n  - {name: hook, type: webhook, url: %q, secret: {env: HOOK_SECRET}, topics: [rollback_failed]}\n", srv.URL)
	b.Run("routed-none", outbox(none, 0))

	base := perOp[b.Name()+"/baseline"]
	if base > 0 {
		b.Logf("%d events, %d notifications: outbox/baseline %.1f, routed-none/baseline %.1f, outbox per event %.1f µs",
			bl.events, len(bl.notes), perOp[b.Name()+"/outbox"]/base, perOp[b.Name()+"/routed-none"]/base,
			perOp[b.Name()+"/outbox"]/float64(bl.events)/1e3)
	}
}

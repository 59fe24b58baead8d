package orchestrator

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// wantViewIsStore fails unless the run's view of the host records is what
// the store lists now.
func wantViewIsStore(t *testing.T, rn *run, e *env, id, when string) {
	t.Helper()
	got, _, err := rn.hostRuns(context.Background(), -1)
	if err != nil {
		t.Fatalf("%s: hostRuns: %v", when, err)
	}
	want, err := e.db.HostRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: the run's host records =\n%+v\nwant, as the store lists them,\n%+v", when, got, want)
	}
}

func newTestRun(t *testing.T, e *env, id string) *run {
	t.Helper()
	r, err := e.e.load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := e.e.newRun(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

// The run's own writes keep its view equal to the store's records,
// including what the store makes of them (its clock's UpdatedAt, times in
// UTC without a monotonic reading, empty maps as nil), without listing
// them again.
func TestHostRunViewFollowsOwnWrites(t *testing.T) {
	e := newEnv(t, hostsNamed(4))
	id := e.start(threeStages)
	rn := newTestRun(t, e, id)
	ctx := context.Background()
	wantViewIsStore(t, rn, e, id, "at the start")

	all, _, _ := rn.hostRuns(ctx, -1)
	h := all[1]
	zone := time.FixedZone("CET", 3600)
	started := time.Now().In(zone) // a monotonic reading, and not UTC
	h.State, h.Reason, h.StartedAt, h.UpdatedAt = patchpilot.HostSnapshot, "snapshot", &started, started
	h.FromVersions, h.ToVersions = map[string]string{}, map[string]string{"web": "1.1"}
	h.Artifacts = map[string]string{"web": "/var/cache/web_1.0.deb"}
	h.Gates = []patchpilot.GateResult{{Gate: "http", Outcome: patchpilot.GatePass, Reason: "200", Time: started, Evidence: []byte(`{ "a" : 1 }`)}}
	if err := rn.saveHostRun(ctx, h); err != nil {
		t.Fatal(err)
	}
	wantViewIsStore(t, rn, e, id, "after the run's own write")
	// The same with the record's event, in one transaction.
	later := started.Add(time.Minute)
	h.State, h.Reason, h.AppliedAt, h.UpdatedAt = patchpilot.HostApply, "apply", &later, later
	h.Baseline = patchpilot.HealthBaseline{"http": []byte(`{ "status" : 200 }`)}
	if err := rn.saveHostRunNoting(ctx, h, h.Host+" apply"); err != nil {
		t.Fatal(err)
	}
	wantViewIsStore(t, rn, e, id, "after the run's own write with its event")
	if rn.records.reads != 1 {
		t.Errorf("the run listed the records %d times, want once (at its start)", rn.records.reads)
	}

	// A write the store refuses drops the view: the next read lists the
	// records again.
	bad := all[2]
	bad.Stage = "no-such-stage"
	if err := rn.saveHostRun(ctx, bad); err == nil {
		t.Fatal("saving a host in another stage was accepted")
	}
	wantViewIsStore(t, rn, e, id, "after a refused write")
	if rn.records.reads != 2 {
		t.Errorf("after a refused write the run listed the records %d times in all, want 2", rn.records.reads)
	}

	// The run's own change of the rollout's state keeps the view.
	if err := rn.setRollout(ctx, patchpilot.RolloutRunning, "stage validation"); err != nil {
		t.Fatal(err)
	}
	if _, err := rn.current(ctx); err != nil {
		t.Fatal(err)
	}
	wantViewIsStore(t, rn, e, id, "after the run's own state change")
	if rn.records.reads != 2 {
		t.Errorf("the run's own state change made it list the records again (%d reads)", rn.records.reads)
	}
}

// A control request of another process (a rollback marks hosts, then
// changes the rollout's state) is seen at the run's next look at the
// rollout: the view is read again then.
func TestHostRunViewSeesControlRequests(t *testing.T) {
	e := newEnv(t, hostsNamed(4))
	id := e.start(threeStages)
	rn := newTestRun(t, e, id)
	ctx := context.Background()
	if err := rn.setRollout(ctx, patchpilot.RolloutRunning, "stage validation"); err != nil {
		t.Fatal(err)
	}
	all, _, _ := rn.hostRuns(ctx, -1)
	h := all[0]
	h.State, h.Order, h.Reason = patchpilot.HostSucceeded, 1, "healthy"
	if err := rn.saveHostRun(ctx, h); err != nil {
		t.Fatal(err)
	}

	// Another process: RequestRollback of that host.
	other := *e.e
	if _, err := other.RequestRollback(ctx, id, []string{h.Host}, "user:alice"); err != nil {
		t.Fatal(err)
	}
	cur, err := rn.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.State != patchpilot.RolloutRollingBack {
		t.Fatalf("rollout state = %s, want rolling_back", cur.State)
	}
	wantViewIsStore(t, rn, e, id, "after another process's rollback request")
	got, _, _ := rn.hostRuns(ctx, -1)
	if got[0].State != patchpilot.HostRollingBack {
		t.Errorf("host %s is %s in the run's view, want rolling_back as requested", got[0].Host, got[0].State)
	}

	// A pause by another process is a change too.
	before := rn.records.reads
	if err := other.Pause(ctx, id, "user:bob"); err != nil && patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Fatal(err)
	}
	if err := e.db.SetRolloutState(ctx, id, patchpilot.RolloutPaused, "paused by user:bob"); err != nil {
		t.Fatal(err)
	}
	// (the dispatch loop's lighter look at the rollout)
	if state, _, err := rn.currentState(ctx); err != nil || state != patchpilot.RolloutPaused {
		t.Fatalf("currentState = %s, %v; want paused", state, err)
	}
	wantViewIsStore(t, rn, e, id, "after a pause")
	if rn.records.reads != before+1 {
		t.Errorf("after a pause the run listed the records %d more times, want once", rn.records.reads-before)
	}
}

// countingStore counts the full listings of host records.
type countingStore struct {
	patchpilot.Store
	mu       sync.Mutex
	hostRuns int
}

func (s *countingStore) HostRuns(ctx context.Context, id string) ([]patchpilot.HostRun, error) {
	s.mu.Lock()
	s.hostRuns++
	s.mu.Unlock()
	return s.Store.HostRuns(ctx, id)
}

// A rollout lists its host records once per stage and at its ends, not at
// every dispatch, and ends as it did when it listed them every time.
func TestRolloutListsHostRecordsPerStage(t *testing.T) {
	e := newEnv(t, hostsNamed(12))
	cs := &countingStore{Store: e.db}
	e.e.Store = cs
	id := e.start(threeStages)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	for h, s := range e.states(id) {
		if s != patchpilot.HostSucceeded {
			t.Errorf("%s: %s, want succeeded", h, s)
		}
	}
	// newRun, then each of the three stages once.
	if cs.hostRuns > 4 {
		t.Errorf("a rollout of 12 hosts in 3 stages listed its host records %d times, want at most 4", cs.hostRuns)
	}
}

// pairRefusingStore refuses to store a record together with its event.
type pairRefusingStore struct{ patchpilot.Store }

func (pairRefusingStore) SaveHostRunEvent(context.Context, patchpilot.HostRun, patchpilot.Event) (patchpilot.HostRun, patchpilot.Event, error) {
	return patchpilot.HostRun{}, patchpilot.Event{}, patchpilot.Errorf(patchpilot.EINTERNAL, "refused")
}

// A host's record and the event announcing it go in one transaction; when
// the store refuses the pair, they are stored one after the other, and
// the rollout and its log are the same.
func TestHostRecordAndEventStoredTogetherOrApart(t *testing.T) {
	hostEvents := func(e *env, id string) []string {
		t.Helper()
		evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventHostState})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			out = append(out, ev.Message)
		}
		return out
	}
	var logs [2][]string
	for i, refuse := range []bool{false, true} {
		e := newEnv(t, hostsNamed(3))
		if refuse {
			e.e.Store = pairRefusingStore{e.db}
		}
		var shown []string
		e.e.OnEvent = func(ev patchpilot.Event) {
			if ev.Kind == patchpilot.EventHostState {
				shown = append(shown, ev.Message)
			}
		}
		id := e.start(`
name: demo
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, criteria: [http_ok], bake: 5s, max_failures: 0, on_failure: rollback_and_alert}
`)
		// The second host fails: it is rolled back, the third skipped.
		e.f.applyFails[e.stageHosts(id, "all")[1]] = true
		e.run(id)
		logs[i] = hostEvents(e, id)
		if len(logs[i]) == 0 || !reflect.DeepEqual(shown, logs[i]) {
			t.Errorf("refuse=%v: OnEvent saw %q, the log holds %q; want the same, not empty", refuse, shown, logs[i])
		}
	}
	if all := strings.Join(logs[0], "\n"); !strings.Contains(all, " skipped: ") || !strings.Contains(all, " rolled_back: ") {
		t.Errorf("want a skipped and a rolled back host among the events, got\n%s", all)
	}
	if !reflect.DeepEqual(logs[0], logs[1]) {
		t.Errorf("host events stored together:\n%q\napart:\n%q", logs[0], logs[1])
	}
}

package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// preparingPM is the fake package manager with PreflightInputs: a host's
// fingerprint is its installed versions and an input counter a test bumps
// (an apt update, say). It logs "preflight h", "snapshot h" and "applied
// h" (after the transaction) in the fleet's log, and calls beforeApply
// before a transaction starts.
type preparingPM struct {
	fakePM
	inputs      map[string]int
	beforeApply func(host string)
}

// lost fails a call on a connection the test marked lost.
func (p *preparingPM) lost(r patchpilot.Runner) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	if r.(*fakeRunner).lost {
		return patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: connection lost", hostOf(r))
	}
	return nil
}

func (p *preparingPM) PreflightInputs(_ context.Context, r patchpilot.Runner) (string, int64, error) {
	if err := p.lost(r); err != nil {
		return "", 0, err
	}
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	h := hostOf(r)
	return fmt.Sprint(p.f.installed[h], p.inputs[h]), 1 << 30, nil
}

func (p *preparingPM) Preflight(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, o patchpilot.PreflightOptions) (patchpilot.PreflightReport, error) {
	if err := p.lost(r); err != nil {
		return patchpilot.PreflightReport{}, err
	}
	p.f.record("preflight " + hostOf(r))
	return p.fakePM.Preflight(ctx, r, pins, o)
}

func (p *preparingPM) Snapshot(ctx context.Context, r patchpilot.Runner, plan patchpilot.PreflightReport) (patchpilot.PackageSnapshot, error) {
	if err := p.lost(r); err != nil {
		return patchpilot.PackageSnapshot{}, err
	}
	p.f.record("snapshot " + hostOf(r))
	return p.fakePM.Snapshot(ctx, r, plan)
}

func (p *preparingPM) Apply(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, o patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	if err := p.lost(r); err != nil {
		return patchpilot.ApplyReport{}, err
	}
	if p.beforeApply != nil {
		p.beforeApply(hostOf(r))
	}
	rep, err := p.fakePM.Apply(ctx, r, pins, o)
	p.f.record("applied " + hostOf(r))
	return rep, err
}

const twoWaves = `
name: waves
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: wave_1, targets: 1, criteria: [http_ok], bake: 10s, on_failure: rollback_and_alert}
  - {name: wave_2, targets: rest, parallel: 4, criteria: [http_ok], bake: 0s, on_failure: rollback_and_alert}
`

// preparingEnv is an engine whose package manager prepares hosts ahead of
// their stage. The first wave's transaction waits until every host of the
// second wave has had its preflight (failing the test after a minute), so
// that the preparation surely overlaps the first wave's change.
func preparingEnv(t *testing.T, n int) (*env, *preparingPM, string) {
	return preparingEnvOf(t, n, twoWaves)
}

// preparingEnvOf is preparingEnv with another plan of two waves.
func preparingEnvOf(t *testing.T, n int, plan string) (*env, *preparingPM, string) {
	e := newEnv(t, hostsNamed(n))
	pm := &preparingPM{fakePM: fakePM{e.f}, inputs: map[string]int{}}
	e.e.PackageManagers = func(patchpilot.OSFamily) (patchpilot.PackageManager, error) { return pm, nil }
	id := e.start(plan)
	first := e.stageHosts(id, "wave_1")[0]
	later := e.stageHosts(id, "wave_2")
	var once sync.Once
	pm.beforeApply = func(h string) {
		if h != first {
			return
		}
		once.Do(func() {
			deadline := time.Now().Add(time.Minute)
			for {
				prepared := 0
				for _, p := range e.f.entries("preflight ") {
					if slices.Contains(later, p) {
						prepared++
					}
				}
				if prepared == len(later) {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("the second wave's hosts had %d preflights while the first wave applied, want %d", prepared, len(later))
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	return e, pm, id
}

// indexOf returns the position of an entry in the fleet's log, or -1.
func (f *fleet) indexOf(entry string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Index(f.log, entry)
}

// A later wave's preflight runs while the first wave changes its host, is
// not run again at the host's turn (its inputs did not change), and no
// host of the later wave is snapshotted or changed before the first wave
// has finished.
func TestPreflightRunsAheadOfItsStage(t *testing.T) {
	e, _, id := preparingEnv(t, 5)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	first := e.stageHosts(id, "wave_1")[0]
	firstDone := e.f.indexOf("applied " + first)
	if firstDone < 0 {
		t.Fatalf("the first wave's host was never applied: %v", e.f.log)
	}
	for _, h := range e.stageHosts(id, "wave_2") {
		if n := len(slices.DeleteFunc(e.f.entries("preflight "), func(s string) bool { return s != h })); n != 1 {
			t.Errorf("%s: %d preflights, want 1 (run ahead, and standing at its turn)", h, n)
		}
		if pre := e.f.indexOf("preflight " + h); pre > firstDone {
			t.Errorf("%s: preflight at %d, after the first wave's change ended at %d: it did not run ahead", h, pre, firstDone)
		}
		for _, step := range []string{"snapshot ", "apply "} {
			if i := e.f.indexOf(step + h); i < firstDone {
				t.Errorf("%s: %sat %d, before the first wave's change ended at %d", h, step, i, firstDone)
			}
		}
		evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id, Host: h, Kind: patchpilot.EventHostState})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(evs, func(ev patchpilot.Event) bool {
			return ev.Message == h+" preflight: the dry run ran ahead of the stage and its inputs are unchanged"
		}) {
			t.Errorf("%s: no preflight event saying its dry run ran ahead: %v", h, evs)
		}
		if e.states(id)[h] != patchpilot.HostSucceeded || e.f.installed[h]["web"] != "1.1" {
			t.Errorf("%s: %s at web %s, want succeeded at 1.1", h, e.states(id)[h], e.f.installed[h]["web"])
		}
	}
}

// A prepared host whose stage never comes (the first wave fails its gates
// and the rollout halts) is left exactly as it was: never snapshotted,
// never changed, skipped.
func TestHaltLeavesPreparedHostsUnchanged(t *testing.T) {
	e, _, id := preparingEnv(t, 5)
	first := e.stageHosts(id, "wave_1")[0]
	e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
		if h == first {
			return patchpilot.Unhealthy
		}
		return patchpilot.Healthy
	}
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("rollout state = %s, want halted", got)
	}
	if s := e.states(id)[first]; s != patchpilot.HostRolledBack {
		t.Errorf("first wave's host %s: %s, want rolled_back", first, s)
	}
	for _, h := range e.stageHosts(id, "wave_2") {
		if e.f.indexOf("preflight "+h) < 0 {
			t.Errorf("%s: no preflight: the test did not prepare it", h)
		}
		if e.f.indexOf("snapshot "+h) >= 0 || e.f.applies[h] != 0 || e.f.installed[h]["web"] != "1.0" {
			t.Errorf("%s: snapshotted %v, applied %d times, web %s; want untouched at 1.0", h, e.f.indexOf("snapshot "+h) >= 0, e.f.applies[h], e.f.installed[h]["web"])
		}
		if s := e.states(id)[h]; s != patchpilot.HostSkipped {
			t.Errorf("%s: %s, want skipped", h, s)
		}
	}
	if _, open := e.f.connections(); len(open) > 0 {
		t.Errorf("connections left open to %v: the prepared hosts' kept connections must close when the rollout halts", open)
	}
}

// A prepared host whose dry run's inputs change before its turn (an apt
// update, another transaction) has its preflight run again at its turn.
func TestPreparedPreflightRunsAgainWhenItsInputsChange(t *testing.T) {
	e, pm, id := preparingEnv(t, 4)
	later := e.stageHosts(id, "wave_2")
	changed := later[1]
	wait := pm.beforeApply
	pm.beforeApply = func(h string) {
		wait(h)
		if h == e.stageHosts(id, "wave_1")[0] {
			e.f.mu.Lock()
			pm.inputs[changed]++
			e.f.mu.Unlock()
		}
	}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	for _, h := range later {
		want := 1
		if h == changed {
			want = 2
		}
		if n := len(slices.DeleteFunc(e.f.entries("preflight "), func(s string) bool { return s != h })); n != want {
			t.Errorf("%s: %d preflights, want %d", h, n, want)
		}
	}
}

// connections returns how many connections each host had and whether any
// was left open.
func (f *fleet) connections() (dials map[string]int, open []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dials = map[string]int{}
	for h, rs := range f.dialed {
		dials[h] = len(rs)
		for _, r := range rs {
			if !r.closed {
				open = append(open, h)
			}
		}
	}
	return dials, open
}

// A prepared host's turn runs on the connection its preparation kept
// open: one connection per host in all, each closed at the end.
func TestPreparedConnectionServesTheHostsTurn(t *testing.T) {
	e, _, id := preparingEnv(t, 5)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	dials, open := e.f.connections()
	for _, h := range e.stageHosts(id, "wave_2") {
		if dials[h] != 1 {
			t.Errorf("%s: %d connections, want 1 (the preparation's, kept for its turn)", h, dials[h])
		}
		if e.states(id)[h] != patchpilot.HostSucceeded {
			t.Errorf("%s: %s, want succeeded", h, e.states(id)[h])
		}
	}
	if len(open) > 0 {
		t.Errorf("connections left open to %v", open)
	}
}

// At most the stage's parallel connections are kept open ahead of it:
// the other prepared hosts connect again at their turn.
func TestPreparedConnectionsAreBoundedByTheStagesParallel(t *testing.T) {
	plan := strings.Replace(twoWaves, "parallel: 4", "parallel: 2", 1)
	e, _, id := preparingEnvOf(t, 5, plan)
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	dials, open := e.f.connections()
	once := 0
	for _, h := range e.stageHosts(id, "wave_2") {
		switch dials[h] {
		case 1:
			once++
		case 2:
		default:
			t.Errorf("%s: %d connections, want 1 or 2", h, dials[h])
		}
	}
	if once != 2 {
		t.Errorf("%d hosts served by their preparation's connection, want 2 (the stage's parallel): %v", once, dials)
	}
	if len(open) > 0 {
		t.Errorf("connections left open to %v", open)
	}
}

// A kept connection lost before the host's turn is replaced by a new one:
// the host is not taken for unreachable, its preflight runs again (the
// fingerprint could not be read) and it succeeds.
func TestLostPreparedConnectionIsReplaced(t *testing.T) {
	e, pm, id := preparingEnv(t, 4)
	later := e.stageHosts(id, "wave_2")
	lost := later[0]
	wait := pm.beforeApply
	pm.beforeApply = func(h string) {
		wait(h)
		if h == e.stageHosts(id, "wave_1")[0] {
			e.f.mu.Lock()
			for _, r := range e.f.dialed[lost] {
				r.lost = true
			}
			e.f.mu.Unlock()
		}
	}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded", got)
	}
	dials, open := e.f.connections()
	if dials[lost] != 2 || e.states(id)[lost] != patchpilot.HostSucceeded {
		t.Errorf("%s: %d connections, %s; want 2 (the lost one replaced) and succeeded", lost, dials[lost], e.states(id)[lost])
	}
	if n := len(slices.DeleteFunc(e.f.entries("preflight "), func(s string) bool { return s != lost })); n != 2 {
		t.Errorf("%s: %d preflights, want 2 (ahead, and again on the new connection)", lost, n)
	}
	if len(open) > 0 {
		t.Errorf("connections left open to %v", open)
	}
}

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

// onePlan is a one-stage plan of every test host to web version v.
func onePlan(v string) string {
	return `
patch: {packages: ["web=` + v + `"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest}
`
}

// A rollback restores the versions a host had before its rollout: asked
// of an old rollout on a host a later rollout holds or has changed since,
// it is refused (ECONFLICT) before anything is marked, naming the later
// rollout and what to do first. Once the later rollout has rolled the
// host back itself, the old one may. A dry run changes nothing and is no
// obstacle.
func TestRollbackRefusedOverLaterRollouts(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	ctx := context.Background()
	old := e.start(onePlan("1.1"))
	if got := e.run(old); got != patchpilot.RolloutSucceeded {
		t.Fatalf("old rollout = %s", got)
	}
	if got := e.run(e.startRollout(onePlan("1.2"), true)); got != patchpilot.RolloutSucceeded {
		t.Fatalf("the dry run = %s", got)
	}
	newer := e.start(onePlan("1.2"))

	unchanged := func() {
		t.Helper()
		r, err := e.db.Rollout(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != patchpilot.RolloutSucceeded {
			t.Errorf("a refused rollback changed the old rollout: %s (%s)", r.State, r.Reason)
		}
		for h, st := range e.states(old) {
			if st != patchpilot.HostSucceeded {
				t.Errorf("a refused rollback marked %s %s", h, st)
			}
		}
	}
	// The later rollout has not run yet: it holds the hosts.
	_, err := e.e.RequestRollback(ctx, old, nil, "user:bob")
	if patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || !strings.Contains(err.Error(), "hosts h01 and h02 are in rollout "+newer+" (pending)") ||
		!strings.Contains(patchpilot.ErrorHint(err), "'patchpilot rollout status "+newer+"'") {
		t.Errorf("rollback of the old rollout while a later one holds its hosts: %v (hint %q)", err, patchpilot.ErrorHint(err))
	}
	unchanged()

	// The later rollout changed both hosts.
	if got := e.run(newer); got != patchpilot.RolloutSucceeded {
		t.Fatalf("later rollout = %s", got)
	}
	_, err = e.e.RequestRollback(ctx, old, []string{"h01"}, "user:bob")
	if want := "rolling back rollout " + old + " would undo later changes: rollout " + newer + " changed h01 after it"; patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || err.Error() != want {
		t.Errorf("rollback of the old rollout on a host changed since: %v; want ECONFLICT %q", err, want)
	}
	if hint := patchpilot.ErrorHint(err); !strings.Contains(hint, "'patchpilot rollout rollback "+newer+" --hosts h01'") {
		t.Errorf("hint %q does not name the later rollout's rollback", hint)
	}
	unchanged()
	if v := e.f.installed["h01"]["web"]; v != "1.2" {
		t.Errorf("h01 has web %s after the refusal; want the later rollout's 1.2", v)
	}

	// The later rollout rolls h01 back: h01 is as the old rollout left
	// it, and the old rollout may roll it back; h02 stays refused.
	if _, err := e.e.RequestRollback(ctx, newer, []string{"h01"}, "user:bob"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(newer); !got.Final() {
		t.Fatalf("the later rollout's rollback = %s", got)
	}
	if _, err := e.e.RequestRollback(ctx, old, nil, "user:bob"); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || !strings.Contains(err.Error(), "changed h02 after it") ||
		strings.Contains(err.Error(), "h01") {
		t.Errorf("rollback of every changed host of the old rollout: %v; want h02 refused alone", err)
	}
	if _, err := e.e.RequestRollback(ctx, old, []string{"h01"}, "user:bob"); err != nil {
		t.Fatalf("rollback of the old rollout on a host the later one rolled back: %v", err)
	}
	e.run(old)
	if a, b := e.f.installed["h01"]["web"], e.f.installed["h02"]["web"]; a != "1.0" || b != "1.2" {
		t.Errorf("after the rollbacks h01 has web %s and h02 %s; want 1.0 and 1.2", a, b)
	}
}

// Two rollouts created at the same instant are ordered by id: a rollback
// of the first is refused over the second's change, and the second's
// rollback is not refused over the first, which is not later than it.
func TestRollbackOrderOfRolloutsCreatedAtOneInstant(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	ctx := context.Background()
	created := e.clock.Now()
	x := e.start(onePlan("1.1"))
	if got := e.run(x); got != patchpilot.RolloutSucceeded {
		t.Fatalf("first rollout = %s", got)
	}
	e.clock.mu.Lock()
	e.clock.now = created
	e.clock.mu.Unlock()
	y := e.start(onePlan("1.2"))
	if got := e.run(y); got != patchpilot.RolloutSucceeded {
		t.Fatalf("second rollout = %s", got)
	}
	for _, id := range []string{x, y} {
		r, err := e.db.Rollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !r.CreatedAt.Equal(created) {
			t.Fatalf("rollout %s created at %s; want %s", id, r.CreatedAt, created)
		}
	}
	first, second := min(x, y), max(x, y)
	_, err := e.e.RequestRollback(ctx, first, nil, "user:bob")
	if want := "rolling back rollout " + first + " would undo later changes: rollout " + second + " changed h01 after it"; patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || err.Error() != want {
		t.Errorf("rollback of %s: %v; want ECONFLICT %q", first, err, want)
	}
	if _, err := e.e.RequestRollback(ctx, second, nil, "user:bob"); err != nil {
		t.Errorf("rollback of %s, created at the same instant as %s and after it by id: %v", second, first, err)
	}
}

// startsDuringSave starts a rollout (once) when the first host record is
// saved: a rollout started by someone else between RequestRollback's check
// and its state change.
type startsDuringSave struct {
	patchpilot.Store
	once  sync.Once
	start func()
}

func (s *startsDuringSave) SaveHostRun(ctx context.Context, h patchpilot.HostRun) error {
	s.once.Do(s.start)
	return s.Store.SaveHostRun(ctx, h)
}

// A rollout started over the hosts while a rollback of an older one is
// being requested: the request finds it once the old rollout holds its
// hosts again, and is undone (the old rollout and its hosts as they were)
// and refused; the new rollout goes on.
func TestRollbackRequestUndoneWhenARolloutStartsMeanwhile(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	ctx := context.Background()
	old := e.start(onePlan("1.1"))
	if got := e.run(old); got != patchpilot.RolloutSucceeded {
		t.Fatalf("old rollout = %s", got)
	}
	before, err := e.db.HostRuns(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	var newer string
	e.e.Store = &startsDuringSave{Store: e.db, start: func() { newer = e.start(onePlan("1.2")) }}
	_, err = e.e.RequestRollback(ctx, old, nil, "user:bob")
	if newer == "" {
		t.Fatal("no rollout was started during the request")
	}
	if patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || !strings.Contains(err.Error(), "rollout "+newer+" (pending)") {
		t.Errorf("rollback while a rollout started over its hosts: %v; want ECONFLICT naming %s", err, newer)
	}
	r, rerr := e.db.Rollout(ctx, old)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if r.State != patchpilot.RolloutSucceeded {
		t.Errorf("the undone request left the old rollout %s (%s); want succeeded", r.State, r.Reason)
	}
	after, err := e.db.HostRuns(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	// The store stamps each save; all else is as it was.
	for i := range after {
		after[i].UpdatedAt = time.Time{}
	}
	for i := range before {
		before[i].UpdatedAt = time.Time{}
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("the undone request left the old rollout's hosts\n%+v\nwant\n%+v", after, before)
	}
	if got := e.run(newer); got != patchpilot.RolloutSucceeded || e.f.installed["h01"]["web"] != "1.2" {
		t.Errorf("the new rollout = %s, h01 at web %s; want succeeded at 1.2", got, e.f.installed["h01"]["web"])
	}
	if n := len(e.f.entries("rollback ")); n != 0 {
		t.Errorf("%d rollbacks ran; want none", n)
	}
}

package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// holdingPM is the fake package manager with an apply that waits to be
// released, and remembers whether its context had ended by then.
type holdingPM struct {
	fakePM
	applying chan string
	release  chan struct{}
	cut      chan error
}

func (p holdingPM) Apply(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, o patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	p.applying <- hostOf(r)
	select {
	case <-p.release:
		p.cut <- nil
	case <-ctx.Done():
		p.cut <- ctx.Err()
	}
	return p.fakePM.Apply(ctx, r, pins, o)
}

// Drain stops a controller without cutting a host's step off: the apply
// in flight runs to its end and is stored, no other host is dispatched,
// the lease is released, and the next controller finishes the rollout
// with every host patched exactly once.
func TestDrainLetsTheStepInFlightFinish(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	pm := holdingPM{fakePM: fakePM{e.f}, applying: make(chan string, 3), release: make(chan struct{}), cut: make(chan error, 3)}
	e.e.PackageManagers = func(patchpilot.OSFamily) (patchpilot.PackageManager, error) { return pm, nil }
	drain := make(chan struct{})
	e.e.Drain = drain
	stopping := make(chan string, 1)
	e.e.OnEvent = func(ev patchpilot.Event) {
		if ev.Kind == patchpilot.EventLease {
			stopping <- ev.Message
		}
	}
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, bake: 1s}
`)
	type result struct {
		state patchpilot.RolloutState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		state, err := e.e.Run(context.Background(), id)
		done <- result{state, err}
	}()
	first := <-pm.applying
	close(drain)
	<-stopping // the controller is draining: the apply goes on
	close(pm.release)
	if err := <-pm.cut; err != nil {
		t.Errorf("the apply in flight saw its context end (%v): drain must not cut a step off", err)
	}
	res := <-done
	if patchpilot.ErrorCode(res.err) != patchpilot.ECANCELED {
		t.Fatalf("Run after drain: %s, %v; want ECANCELED", res.state, res.err)
	}
	if got := e.f.entries("apply "); len(got) != 1 || got[0] != first {
		t.Errorf("applies after drain = %v; want only %s", got, first)
	}
	states := e.states(id)
	for h, s := range states {
		if h != first && s != patchpilot.HostPending {
			t.Errorf("%s is %s; want pending: nothing is dispatched while draining", h, s)
		}
	}
	if s := states[first]; !s.Changed() {
		t.Errorf("%s is %s after its apply; want a stored state of a changed host", first, s)
	}
	if granted, holder, err := e.db.AcquireLease(context.Background(), id, "next-controller", time.Minute); err != nil || !granted {
		t.Fatalf("lease after drain: granted %v, holder %q, %v; want it released", granted, holder, err)
	}
	if err := e.db.ReleaseLease(context.Background(), id, "next-controller"); err != nil {
		t.Fatal(err)
	}

	// The next controller carries on from the stored steps.
	e.e.Drain = nil
	e.e.PackageManagers = func(patchpilot.OSFamily) (patchpilot.PackageManager, error) { return fakePM{e.f}, nil }
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout after the next controller: %s", got)
	}
	for h, n := range e.f.applies {
		if n != 1 {
			t.Errorf("%s was patched %d times; want once", h, n)
		}
	}
}

package app

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/orchestrator"
)

// waitCount waits until the launcher has launched n plans.
func waitCount(t *testing.T, l *launched, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d launches; want %d", l.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSchedulerLease: two schedulers on one database (two servers) run
// the schedules one at a time: the one holding the scheduler lease
// launches every due run; the other takes over when the first stops, and
// at once from one of this machine whose process is gone.
func TestSchedulerLease(t *testing.T) {
	clk := &testClock{t: at(2026, 3, 1, 22, 0, 30)}
	nightly := Schedule{Name: "nightly", Kind: "patch", When: "0 22 * * *", Hosts: "role=web", Updates: UpdateSelector{Security: true}}
	ctx, a, dir := schedulerApp(t, clk, nightly)
	a2, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: a.Options.Env, Now: clk.Now, Schedules: a.Options.Schedules})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()

	l1, l2 := &launched{}, &launched{}
	// The first renews its lease every 2s; the second looks for the
	// lease every 100ms.
	s1 := newScheduler(t, a, SchedulerOptions{Launch: l1.Launch, Owner: "server-1", LeaseTTL: 6 * time.Second})
	s2 := newScheduler(t, a2, SchedulerOptions{Launch: l2.Launch, Owner: "server-2", LeaseTTL: 300 * time.Millisecond})
	run := func(s *Scheduler) (stop func()) {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- s.Run(runCtx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	stop1 := run(s1)
	waitCount(t, l1, 1)
	stop2 := run(s2)
	defer func() { stop2() }()
	if granted, holder, err := a2.Store.AcquireSchedulerLease(ctx, "server-3", time.Minute); err != nil || granted || holder != "server-1" {
		t.Fatalf("the lease while server-1 runs: %v, %q, %v; want held by server-1", granted, holder, err)
	}
	// The next night, still server-1's.
	clk.Set(at(2026, 3, 2, 22, 0, 30))
	waitCount(t, l1, 2)
	if l2.count() != 0 {
		t.Fatalf("server-2 launched %d runs while server-1 held the lease", l2.count())
	}
	// server-1 stops and releases the lease: server-2 runs the next night.
	stop1()
	clk.Set(at(2026, 3, 3, 22, 0, 30))
	waitCount(t, l2, 1)
	if l1.count() != 2 || len(runsOf(t, ctx, a, "nightly")) != 3 {
		t.Errorf("launches %d + %d, runs %+v; want each night once", l1.count(), l2.count(), runsOf(t, ctx, a, "nightly"))
	}

	// A lease left by a process of this machine that is gone is taken
	// over at once, unexpired.
	m, err := orchestrator.LocalMachine()
	if err != nil {
		t.Skipf("no machine identity: %v", err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := orchestrator.LeaseOwner{Host: m.Host, PID: gone.Process.Pid, BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: "abc"}.String()
	stop2()
	stop2 = func() {}
	if granted, _, err := a.Store.AcquireSchedulerLease(ctx, dead, time.Hour); err != nil || !granted {
		t.Fatalf("lease for the dead owner: %v, %v", granted, err)
	}
	s3 := newScheduler(t, a, SchedulerOptions{Launch: l1.Launch, LeaseTTL: time.Hour})
	if granted, holder, err := s3.lease(ctx); err != nil || !granted || holder != s3.o.Owner {
		t.Errorf("lease from a dead holder: %v, %q, %v; want taken over", granted, holder, err)
	}
	// One held by another machine is not.
	other := orchestrator.LeaseOwner{Host: m.Host + "-elsewhere", PID: gone.Process.Pid, BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: "abc"}.String()
	if _, _, err := a.Store.TakeOverSchedulerLease(ctx, s3.o.Owner, other, time.Hour); err != nil {
		t.Fatal(err)
	}
	s4 := newScheduler(t, a, SchedulerOptions{Launch: l1.Launch, LeaseTTL: time.Hour})
	if granted, holder, err := s4.lease(ctx); err != nil || granted || holder != other {
		t.Errorf("lease held by another machine: %v, %q, %v; want refused", granted, holder, err)
	}
}

package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// runSchedules is the group for patchpilot.ScheduleStore.
func (s suite) runSchedules(t *testing.T) {
	t.Run("ScheduleRuns", s.testScheduleRuns)
	t.Run("ScheduleRunOnce", s.testScheduleRunOnce)
	t.Run("ScheduleRunInvalid", s.testScheduleRunInvalid)
	t.Run("SchedulerLease", s.testSchedulerLease)
}

func (s suite) testScheduleRuns(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if got, err := st.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("ScheduleRuns of an empty store = %+v, %v; want none", got, err)
	}
	add := func(r patchpilot.ScheduleRun) patchpilot.ScheduleRun {
		t.Helper()
		got, added, err := st.AddScheduleRun(ctx, r)
		if err != nil || !added {
			t.Fatalf("AddScheduleRun(%+v) = %v, %v; want added", r, added, err)
		}
		if got.ID == 0 {
			t.Fatalf("AddScheduleRun returned no ID: %+v", got)
		}
		return got
	}
	missed := add(patchpilot.ScheduleRun{Schedule: "monthly", Kind: patchpilot.SchedulePatch, Due: baseTime.In(otherZone),
		Outcome: patchpilot.ScheduleMissed, Message: "missed while stopped"})
	waiting := add(patchpilot.ScheduleRun{Schedule: "monthly", Kind: patchpilot.SchedulePatch, Due: baseTime.Add(24 * time.Hour),
		Started: baseTime.Add(24*time.Hour + time.Second), Outcome: patchpilot.ScheduleWaiting})
	inv := add(patchpilot.ScheduleRun{Schedule: "inv", Kind: patchpilot.ScheduleInventory, Due: baseTime.Add(time.Hour),
		Started: baseTime.Add(time.Hour), Outcome: patchpilot.ScheduleRunning})

	if !missed.Due.Equal(baseTime) || missed.Due.Location() != time.UTC || !missed.Started.IsZero() || !missed.Finished.IsZero() ||
		missed.Message != "missed while stopped" || missed.Outcome != patchpilot.ScheduleMissed {
		t.Errorf("stored missed run = %+v; want due %s in UTC, no start or finish, the message kept", missed, baseTime)
	}

	// Finish the inventory run.
	inv.Finished, inv.Outcome, inv.Message = baseTime.Add(2*time.Hour), patchpilot.ScheduleSucceeded, "collected 3 hosts"
	if err := st.UpdateScheduleRun(ctx, inv); err != nil {
		t.Fatalf("UpdateScheduleRun: %v", err)
	}
	waiting.Outcome, waiting.Plan, waiting.Rollout = patchpilot.ScheduleLaunched, "security-updates", "r-9"
	waiting.Finished = baseTime.Add(25 * time.Hour)
	if err := st.UpdateScheduleRun(ctx, waiting); err != nil {
		t.Fatalf("UpdateScheduleRun: %v", err)
	}

	all, err := st.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != waiting.ID || all[1].ID != inv.ID || all[2].ID != missed.ID {
		t.Fatalf("ScheduleRuns = %+v; want 3, latest due first", all)
	}
	if got := all[0]; got.Plan != "security-updates" || got.Rollout != "r-9" || got.Outcome != patchpilot.ScheduleLaunched ||
		!got.Finished.Equal(baseTime.Add(25*time.Hour)) || !got.Started.Equal(baseTime.Add(24*time.Hour+time.Second)) {
		t.Errorf("updated run = %+v", got)
	}
	if got := all[1]; got.Message != "collected 3 hosts" || got.Kind != patchpilot.ScheduleInventory || !got.Finished.Equal(baseTime.Add(2*time.Hour)) {
		t.Errorf("updated inventory run = %+v", got)
	}
	mine, err := st.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: "monthly", Limit: 1})
	if err != nil || len(mine) != 1 || mine[0].ID != waiting.ID {
		t.Errorf("last run of monthly = %+v, %v; want run %d", mine, err, waiting.ID)
	}

	// Unfinished: only runs without a finish time.
	open := add(patchpilot.ScheduleRun{Schedule: "monthly", Kind: patchpilot.SchedulePatch, Due: baseTime.Add(48 * time.Hour),
		Outcome: patchpilot.ScheduleWaiting})
	unf, err := st.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Unfinished: true})
	if err != nil || len(unf) != 1 || unf[0].ID != open.ID {
		t.Errorf("unfinished runs = %+v, %v; want only run %d", unf, err, open.ID)
	}

	if err := st.UpdateScheduleRun(ctx, patchpilot.ScheduleRun{ID: 999, Schedule: "x", Kind: patchpilot.SchedulePatch,
		Due: baseTime, Outcome: patchpilot.ScheduleFailed}); err == nil {
		t.Error("UpdateScheduleRun of an unknown ID: no error")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "999")
	}
}

// testScheduleRunOnce records the same due time from many goroutines:
// exactly one is told it added the run, and all get the same stored run.
func (s suite) testScheduleRunOnce(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	const n = 8
	var wg sync.WaitGroup
	ids := make([]int64, n)
	added := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, ok, err := st.AddScheduleRun(ctx, patchpilot.ScheduleRun{Schedule: "nightly", Kind: patchpilot.SchedulePatch,
				Due: baseTime, Started: baseTime, Outcome: patchpilot.ScheduleRunning, Message: "runner"})
			ids[i], added[i], errs[i] = r.ID, ok, err
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("AddScheduleRun %d: %v", i, errs[i])
		}
		if added[i] {
			winners++
		}
		if ids[i] != ids[0] {
			t.Errorf("AddScheduleRun %d returned run %d, another %d", i, ids[i], ids[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d callers added the run, want exactly 1", winners)
	}
	// The same due time in another zone is the same instant.
	if _, ok, err := st.AddScheduleRun(ctx, patchpilot.ScheduleRun{Schedule: "nightly", Kind: patchpilot.SchedulePatch,
		Due: baseTime.In(otherZone), Outcome: patchpilot.ScheduleMissed}); err != nil || ok {
		t.Errorf("AddScheduleRun of the same instant in another zone = %v, %v; want not added", ok, err)
	}
	if runs, err := st.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: "nightly"}); err != nil || len(runs) != 1 ||
		runs[0].Outcome != patchpilot.ScheduleRunning {
		t.Errorf("runs of nightly = %+v, %v; want the one first recorded", runs, err)
	}
}

func (s suite) testScheduleRunInvalid(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	for _, c := range []struct {
		r       patchpilot.ScheduleRun
		mention string
	}{
		{patchpilot.ScheduleRun{Kind: patchpilot.SchedulePatch, Due: baseTime, Outcome: patchpilot.ScheduleMissed}, "schedule name"},
		{patchpilot.ScheduleRun{Schedule: "a", Kind: "weekly", Due: baseTime, Outcome: patchpilot.ScheduleMissed}, "kind"},
		{patchpilot.ScheduleRun{Schedule: "a", Kind: patchpilot.SchedulePatch, Outcome: patchpilot.ScheduleMissed}, "due"},
		{patchpilot.ScheduleRun{Schedule: "a", Kind: patchpilot.SchedulePatch, Due: baseTime}, "outcome"},
	} {
		_, _, err := st.AddScheduleRun(ctx, c.r)
		if err == nil {
			t.Errorf("AddScheduleRun(%+v): no error", c.r)
			continue
		}
		wantCode(t, err, patchpilot.EINVALID, c.mention)
	}
	if _, err := st.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Limit: -1}); err == nil {
		t.Error("ScheduleRuns with a negative limit: no error")
	}
}

// testSchedulerLease checks the scheduler's lease: one holder at a time,
// renewal, expiry, release and the compare-and-swap take-over.
func (s suite) testSchedulerLease(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	acquire := func(owner string, ttl time.Duration, wantGranted bool, wantHolder string) {
		t.Helper()
		granted, holder, err := st.AcquireSchedulerLease(ctx, owner, ttl)
		if err != nil {
			t.Fatalf("AcquireSchedulerLease(%s): %v", owner, err)
		}
		if granted != wantGranted || holder != wantHolder {
			t.Errorf("AcquireSchedulerLease(%s) = %v, %q; want %v, %q", owner, granted, holder, wantGranted, wantHolder)
		}
	}
	release := func(owner string) {
		t.Helper()
		if err := st.ReleaseSchedulerLease(ctx, owner); err != nil {
			t.Fatalf("ReleaseSchedulerLease(%s): %v", owner, err)
		}
	}
	take := func(from, owner string, wantGranted bool, wantHolder string) {
		t.Helper()
		granted, holder, err := st.TakeOverSchedulerLease(ctx, from, owner, longLease)
		if err != nil {
			t.Fatalf("TakeOverSchedulerLease(%s → %s): %v", from, owner, err)
		}
		if granted != wantGranted || holder != wantHolder {
			t.Errorf("TakeOverSchedulerLease(%s → %s) = %v, %q; want %v, %q", from, owner, granted, holder, wantGranted, wantHolder)
		}
	}

	take("srv-dead", "srv-a", false, "")        // no lease to take over
	acquire("srv-a", longLease, true, "srv-a")  // free
	acquire("srv-b", longLease, false, "srv-a") // held
	acquire("srv-a", longLease, true, "srv-a")  // renewed

	// Renewing to a short lease lets it expire; then another takes it.
	acquire("srv-a", shortLease, true, "srv-a")
	time.Sleep(leasePause)
	acquire("srv-b", longLease, true, "srv-b")
	acquire("srv-a", longLease, false, "srv-b")

	// Releasing someone else's lease does nothing; one's own frees it.
	release("srv-a")
	acquire("srv-c", longLease, false, "srv-b")
	release("srv-b")
	release("srv-b")
	acquire("srv-c", longLease, true, "srv-c")

	// A holder known to be dead is taken over once.
	take("srv-other", "srv-d", false, "srv-c")
	take("srv-c", "srv-d", true, "srv-d")
	take("srv-c", "srv-e", false, "srv-d")
	acquire("srv-c", longLease, false, "srv-d")

	_, _, err := st.AcquireSchedulerLease(ctx, "", longLease)
	wantCode(t, err, patchpilot.EINVALID, "owner")
	_, _, err = st.AcquireSchedulerLease(ctx, "srv-f", 0)
	wantCode(t, err, patchpilot.EINVALID, "ttl")
	_, _, err = st.TakeOverSchedulerLease(ctx, "", "srv-f", longLease)
	wantCode(t, err, patchpilot.EINVALID, "holder")
	wantCode(t, st.ReleaseSchedulerLease(ctx, ""), patchpilot.EINVALID, "owner")
	acquire("srv-f", longLease, false, "srv-d") // the rejected calls changed nothing
}

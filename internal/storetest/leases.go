package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Lease lengths. The suite runs on the store's own clock, so expiry uses a
// lease far shorter than the pause after it, and refusals a lease far
// longer than the test.
const (
	longLease  = time.Hour
	shortLease = time.Millisecond
	leasePause = 20 * time.Millisecond
)

func (s suite) testLeases(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	mustCreate(t, st, fixtureRollout("r2", baseTime))
	acquire := func(owner string, ttl time.Duration, wantGranted bool, wantHolder string) {
		t.Helper()
		granted, holder, err := st.AcquireLease(ctx, "r", owner, ttl)
		if err != nil {
			t.Fatalf("AcquireLease(%s): %v", owner, err)
		}
		if granted != wantGranted || holder != wantHolder {
			t.Errorf("AcquireLease(%s) = %v, %q; want %v, %q", owner, granted, holder, wantGranted, wantHolder)
		}
	}
	release := func(owner string) {
		t.Helper()
		if err := st.ReleaseLease(ctx, "r", owner); err != nil {
			t.Fatalf("ReleaseLease(%s): %v", owner, err)
		}
	}

	acquire("ctl-a", longLease, true, "ctl-a")  // free
	acquire("ctl-b", longLease, false, "ctl-a") // held
	acquire("ctl-a", longLease, true, "ctl-a")  // renewed
	if granted, _, err := st.AcquireLease(ctx, "r2", "ctl-b", longLease); err != nil || !granted {
		t.Errorf("a lease on another rollout = %v, %v; want granted", granted, err)
	}

	// Renewing to a short lease lets it expire; then another takes it.
	acquire("ctl-a", shortLease, true, "ctl-a")
	time.Sleep(leasePause)
	acquire("ctl-b", longLease, true, "ctl-b") // expired
	acquire("ctl-a", longLease, false, "ctl-b")

	// Releasing someone else's lease does nothing; releasing one's own
	// frees it; releasing again is harmless.
	release("ctl-a")
	acquire("ctl-c", longLease, false, "ctl-b")
	release("ctl-b")
	release("ctl-b")
	acquire("ctl-c", longLease, true, "ctl-c")

	_, _, err := st.AcquireLease(ctx, "r", "", longLease)
	wantCode(t, err, patchpilot.EINVALID, "owner")
	_, _, err = st.AcquireLease(ctx, "r", "ctl-d", 0)
	wantCode(t, err, patchpilot.EINVALID, "ttl")
	_, _, err = st.AcquireLease(ctx, "r", "ctl-d", -time.Second)
	wantCode(t, err, patchpilot.EINVALID, "ttl")
	acquire("ctl-d", longLease, false, "ctl-c") // the rejected calls changed nothing
}

// testLeaseHolder: LeaseHolder reads who holds a rollout's lease, expired
// or not, as the lease methods leave it, and "" when nobody does; it
// changes nothing.
func (s suite) testLeaseHolder(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	mustCreate(t, st, fixtureRollout("r2", baseTime))
	holder := func(rollout, want string) {
		t.Helper()
		got, err := st.LeaseHolder(ctx, rollout)
		if err != nil {
			t.Fatalf("LeaseHolder(%s): %v", rollout, err)
		}
		if got != want {
			t.Errorf("LeaseHolder(%s) = %q; want %q", rollout, got, want)
		}
	}
	holder("r", "")
	holder("nope", "")
	if granted, _, err := st.AcquireLease(ctx, "r", "ctl-a", shortLease); err != nil || !granted {
		t.Fatalf("AcquireLease: %v, %v", granted, err)
	}
	holder("r", "ctl-a")
	holder("r2", "")
	// An expired lease is still its holder's until another takes it.
	time.Sleep(leasePause)
	holder("r", "ctl-a")
	holder("r", "ctl-a") // reading changed nothing
	if granted, _, err := st.TakeOverLease(ctx, "r", "ctl-a", "ctl-b", longLease); err != nil || !granted {
		t.Fatalf("TakeOverLease: %v, %v", granted, err)
	}
	holder("r", "ctl-b")
	if err := st.ReleaseLease(ctx, "r", "ctl-a"); err != nil {
		t.Fatal(err)
	}
	holder("r", "ctl-b") // not ctl-a's to release
	if err := st.ReleaseLease(ctx, "r", "ctl-b"); err != nil {
		t.Fatal(err)
	}
	holder("r", "")
	_, err := st.LeaseHolder(ctx, "")
	wantCode(t, err, patchpilot.EINVALID, "")
}

// testTakeOverLease checks the compare-and-swap that lets a controller
// take the unexpired lease of one it knows to be dead.
func (s suite) testTakeOverLease(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	take := func(from, owner string, wantGranted bool, wantHolder string) {
		t.Helper()
		granted, holder, err := st.TakeOverLease(ctx, "r", from, owner, longLease)
		if err != nil {
			t.Fatalf("TakeOverLease(%s → %s): %v", from, owner, err)
		}
		if granted != wantGranted || holder != wantHolder {
			t.Errorf("TakeOverLease(%s → %s) = %v, %q; want %v, %q", from, owner, granted, holder, wantGranted, wantHolder)
		}
	}
	take("ctl-dead", "ctl-a", false, "") // no lease to take over
	if granted, _, err := st.AcquireLease(ctx, "r", "ctl-dead", longLease); err != nil || !granted {
		t.Fatalf("AcquireLease: %v, %v", granted, err)
	}
	take("ctl-other", "ctl-a", false, "ctl-dead") // not that holder's
	take("ctl-dead", "ctl-a", true, "ctl-a")      // unexpired, taken over
	take("ctl-dead", "ctl-b", false, "ctl-a")     // the second taker loses
	if granted, holder, err := st.AcquireLease(ctx, "r", "ctl-dead", longLease); err != nil || granted || holder != "ctl-a" {
		t.Errorf("the old holder acquiring again = %v, %q, %v; want refused, held by ctl-a", granted, holder, err)
	}
	if granted, _, err := st.AcquireLease(ctx, "r", "ctl-a", longLease); err != nil || !granted {
		t.Errorf("the new holder renewing = %v, %v; want granted", granted, err)
	}
	_, _, err := st.TakeOverLease(ctx, "r", "ctl-a", "ctl-c", 0)
	wantCode(t, err, patchpilot.EINVALID, "ttl")
	_, _, err = st.TakeOverLease(ctx, "r", "", "ctl-c", longLease)
	wantCode(t, err, patchpilot.EINVALID, "")
	_, _, err = st.TakeOverLease(ctx, "nope", "ctl-a", "ctl-c", longLease)
	wantCode(t, err, patchpilot.ENOTFOUND, "")
}

// testLeaseContention starts many controllers on one rollout at once:
// exactly one gets the lease, and every other is told who has it.
func (s suite) testLeaseContention(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))
	const n = 12
	type result struct {
		owner, holder string
		granted       bool
		err           error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("ctl-%02d", i)
			granted, holder, err := st.AcquireLease(ctx, "r", owner, longLease)
			results[i] = result{owner, holder, granted, err}
		}()
	}
	wg.Wait()
	var winners []string
	for _, r := range results {
		if r.err != nil {
			t.Errorf("AcquireLease(%s): %v", r.owner, r.err)
		}
		if r.granted {
			winners = append(winners, r.owner)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("granted to %v, want exactly one controller", winners)
	}
	for _, r := range results {
		if !r.granted && r.holder != winners[0] {
			t.Errorf("%s was told the holder is %q, want %q", r.owner, r.holder, winners[0])
		}
	}
}

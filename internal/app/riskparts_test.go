package app

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// partsStore fails the read of the fleet's pending updates from the
// failAt'th call on.
type partsStore struct {
	patchpilot.Store
	calls  atomic.Int32
	failAt int32
}

var errPartRead = errors.New("the part's read failed")

func (s *partsStore) PendingUpdates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	if s.calls.Add(1) >= s.failAt {
		return nil, errPartRead
	}
	return s.Store.PendingUpdates(ctx, f)
}

// The fleet's assessment reads its parts while it scores: a part whose
// read fails fails the assessment with that error, and the reads stop.
func TestAssessFleetPartReadFails(t *testing.T) {
	ctx, a := variedFleet(t)
	defer func(n int) { fleetPartHosts = n }(fleetPartHosts)
	fleetPartHosts = 3
	st := &partsStore{Store: a.Store, failAt: 3}
	a.Store = st
	if _, err := a.assess(ctx, AssessQuery{}); !errors.Is(err, errPartRead) {
		t.Fatalf("assess = %v, want the part's read error", err)
	}
	if n := st.calls.Load(); n != 3 {
		t.Errorf("%d parts read, want the reads to stop at the failing third", n)
	}
	// A context canceled before the assessment: it fails as canceled.
	st.failAt = 1 << 30
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.assess(canceled, AssessQuery{}); err == nil {
		t.Errorf("assess with a canceled context succeeded")
	}
}

// The reads of the fleet's parts run ahead of the scoring by the first
// parts only: each later part n is read once the scoring took parts 0 to
// n-2, however far ahead the first ones were.
func TestReadPacer(t *testing.T) {
	p := newReadPacer(3, 10)
	for n := range 3 {
		if !p.ready(n) {
			t.Fatalf("part %d of the first 3 waits for the scoring", n)
		}
	}
	if p.ready(3) {
		t.Fatal("part 3 is read before the scoring took parts 0 and 1")
	}
	p.take()
	if p.ready(3) {
		t.Fatal("part 3 is read after the scoring took part 0 alone")
	}
	p.take()
	if !p.ready(3) {
		t.Fatal("part 3 waits after the scoring took parts 0 and 1")
	}
	if p.ready(4) {
		t.Fatal("part 4 is read before the scoring took part 2")
	}
	p.take()
	p.take()
	if !p.ready(4) || !p.ready(5) || p.ready(6) {
		t.Fatal("after 4 parts taken: parts 4 and 5 may be read, part 6 not")
	}
	// One ahead, as a single buffered part: part 1 at once, part 2 once
	// part 0 is taken.
	one := newReadPacer(0, 4)
	if !one.ready(0) || !one.ready(1) || one.ready(2) {
		t.Fatal("one part ahead: parts 0 and 1 at once, part 2 after part 0 is taken")
	}
	one.take()
	if !one.ready(2) {
		t.Fatal("one part ahead: part 2 waits after part 0 was taken")
	}
	// A canceled wait returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if one.wait(ctx, 3) {
		t.Fatal("a canceled wait for part 3 reported it may be read")
	}
	for range 10 {
		p.take() // the scoring never waits to say it took a part
	}
}

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

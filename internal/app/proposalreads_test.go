package app

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// readCountStore counts the store's fleet-wide reads a proposal makes and
// fails the one named by fail (the method's name) with a clear error.
type readCountStore struct {
	patchpilot.Store
	mu    sync.Mutex
	reads map[string]int
	fail  string
}

func (s *readCountStore) read(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[name]++
	if s.fail == name {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s: the disk went away", name)
	}
	return nil
}

func (s *readCountStore) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.reads {
		out[k] = v
	}
	return out
}

func (s *readCountStore) FleetInventory(ctx context.Context) (patchpilot.FleetInventory, error) {
	if err := s.read("FleetInventory"); err != nil {
		return patchpilot.FleetInventory{}, err
	}
	return s.Store.FleetInventory(ctx)
}

func (s *readCountStore) LatestPackagesOf(ctx context.Context, names []string) (map[string][]patchpilot.Package, error) {
	if err := s.read("LatestPackagesOf"); err != nil {
		return nil, err
	}
	return s.Store.LatestPackagesOf(ctx, names)
}

func (s *readCountStore) PendingUpdates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	name := "PendingUpdates"
	if f.Host != "" {
		name = "PendingUpdates of a host"
	}
	if err := s.read(name); err != nil {
		return nil, err
	}
	return s.Store.PendingUpdates(ctx, f)
}

func (s *readCountStore) Outcomes(ctx context.Context, f patchpilot.OutcomeFilter) ([]patchpilot.Outcome, error) {
	name := "Outcomes"
	if f.Package != "" {
		name = "Outcomes of a package"
	}
	if err := s.read(name); err != nil {
		return nil, err
	}
	return s.Store.Outcomes(ctx, f)
}

func (s *readCountStore) Connections(ctx context.Context, since time.Time) ([]patchpilot.ObservedConnection, error) {
	if err := s.read("Connections"); err != nil {
		return nil, err
	}
	return s.Store.Connections(ctx, since)
}

func (s *readCountStore) QuarantineClearances(ctx context.Context) ([]patchpilot.QuarantineClearance, error) {
	if err := s.read("QuarantineClearances"); err != nil {
		return nil, err
	}
	return s.Store.QuarantineClearances(ctx)
}

func (s *readCountStore) ActiveModel(ctx context.Context) ([]byte, patchpilot.ModelInfo, error) {
	if err := s.read("ActiveModel"); err != nil {
		return nil, patchpilot.ModelInfo{}, err
	}
	return s.Store.ActiveModel(ctx)
}

// TestReadAheadProposesAsSequential checks that a proposal whose
// independent fleet-wide reads are made at the same time equals the one
// whose steps read one after the other, on the fleet-wide and the
// host-by-host paths, cold and with the inventory's reads kept, over a
// fleet with other systems, held packages, never-collected hosts,
// declared dependencies, a history and quarantines; and that the
// fleet-wide path reads each of them once.
func TestReadAheadProposesAsSequential(t *testing.T) {
	ctx, a, _, cat := variedPlanFleet(t)
	patches := variedPlanPatches(t, cat)
	options := []ProposeOptions{{}, {AllowQuarantined: true}, {LeaveOutHeld: true}}
	savedFrom, savedAhead := fleetReadFrom, readAhead
	t.Cleanup(func() { fleetReadFrom, readAhead = savedFrom, savedAhead })
	st := &readCountStore{Store: a.Store, reads: map[string]int{}}
	a.Store = st
	warm := coldApp(a) // keeps the inventory's reads between its proposals
	proposals := 0
	for _, from := range []int{200, 1 << 30} {
		fleetReadFrom = from
		for i, patch := range patches {
			selectors := []string{"", "role=web", "role=nosuch"}
			if from > 200 && i > 2 {
				selectors = selectors[:1] // host by host is slow: fewer
			}
			for _, selector := range selectors {
				o := options[i%len(options)]
				readAhead = false
				want, wantErr := coldApp(a).ProposePlanWith(ctx, patch, selector, o)
				readAhead = true
				st.reads = map[string]int{}
				got, gotErr := coldApp(a).ProposePlanWith(ctx, patch, selector, o)
				reads := st.counts()
				again, againErr := warm.ProposePlanWith(ctx, patch, selector, o)
				if errString(gotErr) != errString(wantErr) || !reflect.DeepEqual(got, want) {
					t.Errorf("fleet-wide from %d, patch %d %+v %q: the proposal read ahead differs:\n got %v %q\nwant %v %q",
						from, i, patch, selector, gotErr, got.Header, wantErr, want.Header)
				}
				if errString(againErr) != errString(wantErr) || !reflect.DeepEqual(again, want) {
					t.Errorf("fleet-wide from %d, patch %d %+v %q: the proposal read ahead with kept reads differs:\n got %v %q\nwant %v %q",
						from, i, patch, selector, againErr, again.Header, wantErr, want.Header)
				}
				if wantErr != nil {
					continue
				}
				proposals++
				// Each fleet-wide read once, outcomes for the model and
				// the quarantines together.
				once := []string{"FleetInventory", "Outcomes", "QuarantineClearances", "ActiveModel"}
				if from == 200 {
					// (HostViews builds its own map on the other path.)
					once = append(once, "Connections")
					if !patch.SecurityAll {
						once = append(once, "LatestPackagesOf")
					}
					if selector == "" {
						once = append(once, "PendingUpdates")
					}
				}
				for _, name := range once {
					if reads[name] != 1 {
						t.Errorf("fleet-wide from %d, patch %d %+v %q: %d reads of %s, want 1 (%v)", from, i, patch, selector, reads[name], name, reads)
					}
				}
			}
		}
	}
	if proposals < 20 {
		t.Errorf("%d proposals compared, want at least 20", proposals)
	}
}

// TestReadAheadFailsAsSequential checks that a proposal read ahead fails
// with the error the steps reading one after the other give, whichever
// fleet-wide read fails, also when a step before that read fails first.
func TestReadAheadFailsAsSequential(t *testing.T) {
	ctx, a, _, cat := variedPlanFleet(t)
	savedFrom, savedAhead := fleetReadFrom, readAhead
	t.Cleanup(func() { fleetReadFrom, readAhead = savedFrom, savedAhead })
	fleetReadFrom = 200
	st := &readCountStore{Store: a.Store, reads: map[string]int{}}
	a.Store = st
	// A pin of an unknown version and a selector of no host fail before
	// some of the reads made ahead: those must not fail the proposal.
	patches := []patchpilot.PatchSpec{
		{Packages: []patchpilot.PackagePin{{Name: cat[0].Package, Version: cat[0].New}}},
		{SecurityAll: true},
		{Packages: []patchpilot.PackagePin{{Name: "bash", Version: "9.9-1"}}},
	}
	for _, fail := range []string{"FleetInventory", "LatestPackagesOf", "PendingUpdates", "Outcomes", "Outcomes of a package",
		"Connections", "QuarantineClearances", "ActiveModel"} {
		for _, patch := range patches {
			for _, selector := range []string{"", "role=web", "role=nosuch"} {
				st.fail = fail
				readAhead = false
				_, wantErr := coldApp(a).ProposePlan(ctx, patch, selector)
				readAhead = true
				_, gotErr := coldApp(a).ProposePlan(ctx, patch, selector)
				st.fail = ""
				if wantErr == nil {
					// A read the proposal does not make (the packages of a
					// patch of every security update).
					if gotErr != nil {
						t.Errorf("%s failing, %+v %q: read ahead: %v, want no error", fail, patch, selector, gotErr)
					}
					continue
				}
				if errString(gotErr) != errString(wantErr) ||
					patchpilot.ErrorCode(gotErr) != patchpilot.ErrorCode(wantErr) {
					t.Errorf("%s failing, %+v %q: read ahead: %v, want %v", fail, patch, selector, gotErr, wantErr)
				}
			}
		}
	}
}

package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// concurrentHosts is how many goroutines write at once; a collection run
// saves facts for many hosts in parallel.
const concurrentHosts = 20

func (s suite) testConcurrency(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	var hosts []patchpilot.Host
	for i := range concurrentHosts {
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("host-%02d", i)})
	}
	mustUpsert(t, st, hosts...)

	var wg sync.WaitGroup
	errs := make(chan error, 3*concurrentHosts)
	for i, h := range hosts {
		wg.Add(3)
		go func() { // a writer of facts
			defer wg.Done()
			if err := st.SaveFacts(ctx, Facts(h.Name, baseTime.Add(time.Duration(i)*time.Second), 300+i, i)); err != nil {
				errs <- fmt.Errorf("SaveFacts(%s): %w", h.Name, err)
			}
		}()
		go func() { // a writer of events
			defer wg.Done()
			if _, err := st.AppendEvent(ctx, patchpilot.Event{Kind: patchpilot.EventFactsCollected, Host: h.Name}); err != nil {
				errs <- fmt.Errorf("AppendEvent(%s): %w", h.Name, err)
			}
		}()
		go func() { // a reader while others write
			defer wg.Done()
			if _, err := st.HostSummaries(ctx); err != nil {
				errs <- fmt.Errorf("HostSummaries: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	sums, err := st.HostSummaries(ctx)
	if err != nil {
		t.Fatalf("HostSummaries: %v", err)
	}
	if len(sums) != concurrentHosts {
		t.Fatalf("got %d summaries, want %d", len(sums), concurrentHosts)
	}
	for i, sum := range sums {
		if sum.PackageCount != 300+i || sum.PendingUpdateCount != i || sum.CollectedAt == nil {
			t.Errorf("%s: %d packages, %d updates, collected %v; want %d, %d, set",
				sum.Name, sum.PackageCount, sum.PendingUpdateCount, sum.CollectedAt, 300+i, i)
		}
	}
	events, err := st.Events(ctx, patchpilot.EventFilter{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	seen := map[int64]bool{}
	for i, e := range events {
		if seen[e.ID] || (i > 0 && e.ID <= events[i-1].ID) {
			t.Errorf("event ids not distinct and increasing at %d: %d", i, e.ID)
		}
		seen[e.ID] = true
	}
	if len(events) != concurrentHosts {
		t.Errorf("got %d events, want %d", len(events), concurrentHosts)
	}
}

// testCanceled checks that a canceled context stops an operation and that
// the error says so, rather than passing for a database failure.
func (s suite) testCanceled(t *testing.T) {
	st := s.store(t)
	mustUpsert(t, st, patchpilot.Host{Name: "h"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := st.SaveFacts(ctx, Facts("h", baseTime, 10, 1))
	if code := patchpilot.ErrorCode(err); code != patchpilot.ECANCELED {
		t.Errorf("SaveFacts with a canceled context: code %q (%v), want %s", code, err, patchpilot.ECANCELED)
	}
	hist, err := st.FactHistory(context.Background(), "h", 0)
	if err != nil || len(hist) != 0 {
		t.Errorf("FactHistory after a canceled save = %v, %v; want nothing stored", hist, err)
	}
}

// Package storetest is the conformance suite for patchpilot.Store. Every
// implementation (SQLite now, PostgreSQL later) runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) patchpilot.Store { ... })
//	}
//
// The suite states the behaviour that callers rely on and that the Store
// interface's comments describe: round trips are exact, the latest snapshot
// wins, advisories are replaced only by newer records, the event log is
// ordered and filterable, concurrent writers all succeed, and missing or
// invalid input comes back as ENOTFOUND or EINVALID. Times must survive to
// the microsecond and come back in UTC; JSON data must come back equal as
// JSON, not necessarily byte for byte.
package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call; Run closes every store it opens when its subtest ends.
func Run(t *testing.T, open func(t *testing.T) patchpilot.Store) {
	s := suite{open: open}
	t.Run("Hosts", s.testHosts)
	t.Run("Facts", s.testFacts)
	t.Run("FactHistory", s.testFactHistory)
	t.Run("FactsBatch", s.testFactsBatch)
	t.Run("LatestPackagesOf", s.testLatestPackagesOf)
	t.Run("PackagesVaried", s.testPackagesVaried)
	t.Run("PruneFacts", s.testPruneFacts)
	t.Run("RemoveHosts", s.testRemoveHosts)
	t.Run("HostSummaries", s.testHostSummaries)
	t.Run("FleetInventory", s.testFleetInventory)
	t.Run("RestartsNeeded", s.testRestartsNeeded)
	t.Run("PendingUpdates", s.testPendingUpdates)
	t.Run("PendingUpdatesVaried", s.testPendingUpdatesVaried)
	t.Run("FirstSeen", s.testFirstSeen)
	t.Run("DataVersions", s.testDataVersions)
	t.Run("Advisories", s.testAdvisories)
	t.Run("Events", s.testEvents)
	t.Run("EventsUntil", s.testEventsUntil)
	t.Run("LastCollectFailures", s.testLastCollectFailures)
	t.Run("SLAExposures", s.testSLAExposures)
	t.Run("Concurrency", s.testConcurrency)
	t.Run("Canceled", s.testCanceled)
	t.Run("ChangeRecords", s.testChangeRecords)
	t.Run("Connections", s.testConnections)
	t.Run("QuarantineClearances", s.testQuarantineClearances)
	s.runRollouts(t)
	s.runModels(t)
	s.runPeople(t)
	s.runSchedules(t)
	s.runDeliveries(t)
}

type suite struct {
	open func(t *testing.T) patchpilot.Store
}

// store opens a fresh store that is closed when the test ends.
func (s suite) store(t *testing.T) patchpilot.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// baseTime is the collection time fixtures start from. It has microseconds
// so that a store that truncates times to seconds or milliseconds fails the
// round trips; microseconds are the finest precision the suite demands,
// because they are the finest PostgreSQL's timestamptz keeps.
var baseTime = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// wantCode fails the test unless err carries the given code and, when
// mention is not empty, its message mentions it.
func wantCode(t *testing.T, err error, code patchpilot.Code, mention string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := patchpilot.ErrorCode(err); got != code {
		t.Fatalf("got error code %s (%v), want %s", got, err, code)
	}
	var perr *patchpilot.Error
	if !errors.As(err, &perr) {
		t.Fatalf("got %T (%v), want a *patchpilot.Error", err, err)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q does not mention %q", err, mention)
	}
}

// mustUpsert adds hosts or fails the test.
func mustUpsert(t *testing.T, st patchpilot.Store, hosts ...patchpilot.Host) {
	t.Helper()
	if err := st.UpsertHosts(context.Background(), hosts); err != nil {
		t.Fatalf("UpsertHosts: %v", err)
	}
}

// mustSave stores facts or fails the test.
func mustSave(t *testing.T, st patchpilot.Store, f patchpilot.Facts) {
	t.Helper()
	if err := st.SaveFacts(context.Background(), f); err != nil {
		t.Fatalf("SaveFacts(%s at %s): %v", f.Host, f.CollectedAt, err)
	}
}

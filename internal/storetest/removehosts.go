package storetest

import (
	"context"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// testRemoveHosts states what RemoveHosts keeps and what it deletes: the
// hosts and their facts go, all or none; events and outcomes, which name
// hosts by name, stay.
func (s suite) testRemoveHosts(t *testing.T) {
	ctx := context.Background()
	names := func(t *testing.T, st patchpilot.Store) []string {
		t.Helper()
		hosts, err := st.Hosts(ctx)
		if err != nil {
			t.Fatalf("Hosts: %v", err)
		}
		var out []string
		for _, h := range hosts {
			out = append(out, h.Name)
		}
		return out
	}
	fleet := func(t *testing.T) patchpilot.Store {
		t.Helper()
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"}, patchpilot.Host{Name: "web-2"}, patchpilot.Host{Name: "db-1"})
		for _, h := range []string{"web-1", "web-2", "db-1"} {
			mustSave(t, st, Facts(h, baseTime, 3, 1))
		}
		return st
	}

	t.Run("HostsAndFactsGoHistoryStays", func(t *testing.T) {
		st := fleet(t)
		if _, err := st.AppendEvent(ctx, patchpilot.Event{Kind: patchpilot.EventFactsCollected, Host: "web-1", Message: "collected"}); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		if err := st.RecordOutcome(ctx, fixtureOutcome("r1", "web-1", baseTime, patchpilot.OutcomeSucceeded)); err != nil {
			t.Fatalf("RecordOutcome: %v", err)
		}
		if err := st.RemoveHosts(ctx, []string{"web-1", "db-1", "web-1"}); err != nil {
			t.Fatalf("RemoveHosts: %v", err)
		}
		if got := names(t, st); len(got) != 1 || got[0] != "web-2" {
			t.Errorf("after removing web-1 and db-1, Hosts = %v, want [web-2]", got)
		}
		_, err := st.Host(ctx, "web-1")
		wantCode(t, err, patchpilot.ENOTFOUND, "web-1")
		_, err = st.LatestFacts(ctx, "db-1")
		wantCode(t, err, patchpilot.ENOTFOUND, "db-1")
		sums, err := st.HostSummaries(ctx)
		if err != nil || len(sums) != 1 || sums[0].Name != "web-2" {
			t.Errorf("HostSummaries = %+v, %v; want web-2 only", sums, err)
		}
		ups, err := st.PendingUpdates(ctx, patchpilot.UpdateFilter{})
		if err != nil {
			t.Fatalf("PendingUpdates: %v", err)
		}
		for _, u := range ups {
			if u.Host != "web-2" {
				t.Errorf("a pending update of removed host %s is still listed", u.Host)
			}
		}
		evs, err := st.Events(ctx, patchpilot.EventFilter{Host: "web-1"})
		if err != nil || len(evs) != 1 {
			t.Errorf("events of the removed host: %d, %v; want the 1 kept", len(evs), err)
		}
		outs, err := st.Outcomes(ctx, patchpilot.OutcomeFilter{Host: "web-1"})
		if err != nil || len(outs) != 1 {
			t.Errorf("outcomes of the removed host: %d, %v; want the 1 kept", len(outs), err)
		}

		// Added again, the host starts without facts.
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
		_, err = st.LatestFacts(ctx, "web-1")
		wantCode(t, err, patchpilot.ENOTFOUND, "web-1")
		if hist, err := st.FactHistory(ctx, "web-1", 0); err != nil || len(hist) != 0 {
			t.Errorf("FactHistory of the host added again = %d snapshots, %v; want none", len(hist), err)
		}
	})

	t.Run("UnknownNameRemovesNothing", func(t *testing.T) {
		st := fleet(t)
		err := st.RemoveHosts(ctx, []string{"web-1", "nosuch", "db-1"})
		wantCode(t, err, patchpilot.ENOTFOUND, "nosuch")
		if got := names(t, st); len(got) != 3 {
			t.Errorf("after a failed RemoveHosts, Hosts = %v, want all 3", got)
		}
		if _, err := st.LatestFacts(ctx, "web-1"); err != nil {
			t.Errorf("web-1 lost its facts in a failed RemoveHosts: %v", err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		st := fleet(t)
		wantCode(t, st.RemoveHosts(ctx, nil), patchpilot.EINVALID, "")
		wantCode(t, st.RemoveHosts(ctx, []string{"web-1", ""}), patchpilot.EINVALID, "")
		if got := names(t, st); len(got) != 3 {
			t.Errorf("after invalid RemoveHosts calls, Hosts = %v, want all 3", got)
		}
	})
}

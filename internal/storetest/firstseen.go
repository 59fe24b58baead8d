package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testFirstSeen(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustUpsert(t, st, patchpilot.Host{Name: "a"}, patchpilot.Host{Name: "b"})
	snap := func(host string, at time.Time, ups ...patchpilot.Update) {
		f := Facts(host, at, 0, 0)
		f.Updates = ups
		mustSave(t, st, f)
	}
	ssl := func(v string) patchpilot.Update {
		return patchpilot.Update{Package: "openssl", InstalledVersion: "3.0.1", CandidateVersion: v, Security: true}
	}
	// Saved out of time order: the earliest collection wins, not the
	// first saved.
	snap("b", baseTime.Add(2*time.Hour), ssl("3.0.2"))
	snap("a", baseTime.Add(time.Hour), ssl("3.0.2"), patchpilot.Update{Package: "curl", CandidateVersion: "8.0"})
	snap("a", baseTime.Add(3*time.Hour), ssl("3.0.3"))
	snap("b", baseTime, patchpilot.Update{Package: "zlib", CandidateVersion: "1.3"})

	got, err := st.FirstSeen(ctx, []string{"openssl", "zlib", "nothing"})
	if err != nil {
		t.Fatalf("FirstSeen: %v", err)
	}
	want := []patchpilot.UpdateSighting{
		{Package: "openssl", Version: "3.0.2", Host: "a", FirstSeen: baseTime.Add(time.Hour)},
		{Package: "openssl", Version: "3.0.3", Host: "a", FirstSeen: baseTime.Add(3 * time.Hour)},
		{Package: "zlib", Version: "1.3", Host: "b", FirstSeen: baseTime},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FirstSeen:\n got %s\nwant %s", jsonString(t, got), jsonString(t, want))
	}
	if got, err := st.FirstSeen(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("FirstSeen of no packages = %v, %v; want none", got, err)
	}
	// A first sighting is history: it stays when the snapshots that made
	// it are pruned or their host removed, and a later snapshot does not
	// move it.
	if _, err := st.PruneFacts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveHosts(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	snap("b", baseTime.Add(5*time.Hour), ssl("3.0.2"))
	got, err = st.FirstSeen(ctx, []string{"openssl"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("after pruning, removing a and a later snapshot:\n got %s\nwant %s", jsonString(t, got), jsonString(t, want[:2]))
	}
}

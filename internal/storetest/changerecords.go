package storetest

import (
	"context"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// testChangeRecords: a record round-trips, a second save of the same
// integration and rollout replaces it, records of other integrations or
// rollouts are apart, a missing one is ENOTFOUND and a record without its
// keys is EINVALID.
func (s suite) testChangeRecords(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	if _, err := st.ChangeRecord(ctx, "jira", "r-1"); err == nil {
		t.Fatal("ChangeRecord of an empty store: no error")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "r-1")
	}
	rec := patchpilot.ChangeRecord{Integration: "jira", Rollout: "r-1", ExternalID: "10042", Key: "OPS-7",
		State: patchpilot.ChangeRecordOpen, UpdatedAt: baseTime}
	if err := st.SaveChangeRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	other := patchpilot.ChangeRecord{Integration: "snow", Rollout: "r-1", ExternalID: "a1b2", Key: "CHG0030001",
		State: patchpilot.ChangeRecordOpen, UpdatedAt: baseTime}
	if err := st.SaveChangeRecord(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := st.ChangeRecord(ctx, "jira", "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if got != rec {
		t.Fatalf("round trip: got %+v, want %+v", got, rec)
	}
	rec.State, rec.UpdatedAt = patchpilot.ChangeRecordClosed, baseTime.Add(1e9)
	if err := st.SaveChangeRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, err = st.ChangeRecord(ctx, "jira", "r-1"); err != nil || got != rec {
		t.Fatalf("after replace: got %+v, %v; want %+v", got, err, rec)
	}
	if got, err = st.ChangeRecord(ctx, "snow", "r-1"); err != nil || got != other {
		t.Fatalf("other integration: got %+v, %v; want %+v", got, err, other)
	}
	if _, err := st.ChangeRecord(ctx, "jira", "r-2"); err == nil {
		t.Fatal("ChangeRecord of another rollout: no error")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "")
	}
	for _, bad := range []patchpilot.ChangeRecord{
		{Rollout: "r-1", ExternalID: "1"},
		{Integration: "jira", ExternalID: "1"},
		{Integration: "jira", Rollout: "r-3"},
	} {
		err := st.SaveChangeRecord(ctx, bad)
		if err == nil {
			t.Fatalf("SaveChangeRecord(%+v): no error", bad)
		}
		wantCode(t, err, patchpilot.EINVALID, "")
	}
}

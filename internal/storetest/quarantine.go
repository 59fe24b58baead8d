package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// testRolloutPredictions: the predictions a rollout is created with come
// back with it, from Rollout and Rollouts; a probability outside [0, 1] is
// EINVALID; a rollout without predictions reads none.
func (s suite) testRolloutPredictions(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	r := fixtureRollout("r-pred", baseTime)
	r.Predictions = map[string]patchpilot.Prediction{
		"web-1": {Probability: 0.125, ModelVersion: "m-20260301"},
		"web-2": {Probability: 0, ModelVersion: "cold-start"},
	}
	mustCreate(t, st, r)
	got := mustRollout(t, st, r.ID)
	if !reflect.DeepEqual(got.Predictions, r.Predictions) {
		t.Fatalf("Rollout predictions = %+v, want %+v", got.Predictions, r.Predictions)
	}
	list, err := st.Rollouts(ctx, patchpilot.RolloutFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0].Predictions, r.Predictions) {
		t.Fatalf("Rollouts = %+v, want the predictions %+v", list, r.Predictions)
	}
	plain := fixtureRollout("r-plain", baseTime)
	mustCreate(t, st, plain)
	if got := mustRollout(t, st, plain.ID); len(got.Predictions) != 0 {
		t.Fatalf("rollout without predictions reads %+v", got.Predictions)
	}
	bad := fixtureRollout("r-bad", baseTime)
	bad.Predictions = map[string]patchpilot.Prediction{"web-1": {Probability: 1.5}}
	err = st.CreateRollout(ctx, bad)
	wantCode(t, err, patchpilot.EINVALID, "web-1")
}

// testQuarantineClearances: clearances round-trip with their ids in order,
// oldest first; a clearance without package, version or who cleared it
// is EINVALID and not stored.
func (s suite) testQuarantineClearances(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	list, err := st.QuarantineClearances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("empty store lists %+v", list)
	}
	later := patchpilot.QuarantineClearance{Package: "pp-demo-web", Version: "1.1.3", Class: "debian:12/web",
		Reason: "fixed upstream config", ClearedBy: "user:alice", ClearedAt: baseTime.Add(3600e9)}
	earlier := patchpilot.QuarantineClearance{Package: "openssl", Version: "3.0.15-1~deb12u1",
		ClearedBy: "token:ops", ClearedAt: baseTime}
	a, err := st.ClearQuarantine(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.ClearQuarantine(ctx, earlier)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || b.ID == 0 || a.ID == b.ID {
		t.Fatalf("ids %d and %d, want two distinct non-zero ids", a.ID, b.ID)
	}
	later.ID, earlier.ID = a.ID, b.ID
	list, err = st.QuarantineClearances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.QuarantineClearance{earlier, later}
	if len(list) != 2 {
		t.Fatalf("listed %+v, want %+v", list, want)
	}
	for i := range want {
		if !list[i].ClearedAt.Equal(want[i].ClearedAt) {
			t.Errorf("[%d] cleared_at %v, want %v", i, list[i].ClearedAt, want[i].ClearedAt)
		}
		list[i].ClearedAt = want[i].ClearedAt
		if list[i] != want[i] {
			t.Errorf("[%d] = %+v, want %+v", i, list[i], want[i])
		}
	}
	for _, c := range []struct {
		c       patchpilot.QuarantineClearance
		mention string
	}{
		{patchpilot.QuarantineClearance{Version: "1", ClearedBy: "user:a"}, "package"},
		{patchpilot.QuarantineClearance{Package: "p", ClearedBy: "user:a"}, "version"},
		{patchpilot.QuarantineClearance{Package: "p", Version: "1"}, "cleared_by"},
	} {
		_, err := st.ClearQuarantine(ctx, c.c)
		wantCode(t, err, patchpilot.EINVALID, c.mention)
	}
	if list, _ := st.QuarantineClearances(ctx); len(list) != 2 {
		t.Fatalf("refused clearances were stored: %+v", list)
	}
	stamped, err := st.ClearQuarantine(ctx, patchpilot.QuarantineClearance{Package: "p", Version: "1", ClearedBy: "user:a"})
	if err != nil {
		t.Fatal(err)
	}
	if stamped.ClearedAt.IsZero() {
		t.Fatal("a clearance without a time was not given one")
	}
}

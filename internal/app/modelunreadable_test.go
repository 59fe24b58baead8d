package app

import (
	"context"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// An active model this version cannot read is the stored data's fault,
// not the caller's: model status still lists the stored models and names
// one to make active, and assess fails with the same hint instead of
// scoring with another model.
func TestUnreadableActiveModel(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	good, err := a.TrainModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SaveModel(ctx, "rm-damaged", testNow, []byte(`{"records":3}`), []byte(`{"features":`)); err != nil {
		t.Fatal(err)
	}
	st, err := a.ModelStatus(ctx)
	if patchpilot.ErrorCode(err) != patchpilot.EINTERNAL || patchpilot.ExitCode(err) == patchpilot.ExitUsage {
		t.Fatalf("status of an unreadable model: %v (%s), want an internal error", err, patchpilot.ErrorCode(err))
	}
	hint := "patchpilot model use " + good.ModelVersion
	if h := patchpilot.ErrorHint(err); !strings.Contains(h, hint) {
		t.Errorf("hint %q, want it to name %q", h, hint)
	}
	if st.ModelVersion != "rm-damaged" || st.Unreadable == "" || len(st.StoredModels) != 2 || st.Models != 2 {
		t.Errorf("status %+v: want the damaged model named unreadable and both stored models listed", st)
	}
	_, err = a.Assess(ctx, AssessQuery{})
	if patchpilot.ErrorCode(err) != patchpilot.EINTERNAL || !strings.Contains(patchpilot.ErrorHint(err), hint) {
		t.Errorf("assess with an unreadable model: %v (hint %q), want an internal error naming %q", err, patchpilot.ErrorHint(err), hint)
	}
	// Making the readable model active again mends it.
	if st, err := a.UseModel(ctx, good.ModelVersion, "ann"); err != nil || st.Unreadable != "" {
		t.Errorf("model use %s: %+v, %v", good.ModelVersion, st, err)
	}
}

// The cold-start model of a store without one was never trained: its
// status has no training time, as the table says "never".
func TestColdStartStatusHasNoTrainingTime(t *testing.T) {
	a := newTestApp(t)
	st, err := a.ModelStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stored || st.TrainedAt != nil {
		t.Errorf("cold-start status: stored %v, trained_at %v; want no training time", st.Stored, st.TrainedAt)
	}
}

// Training twice on the same outcomes gives the same version: the second
// training stores no copy and says the model is unchanged. The training is
// recorded with who trained. model use of an empty version is bad input.
func TestTrainTwiceStoresOneModel(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	if _, err := a.ImportHistory(ctx, "testdata/history-test.jsonl"); err != nil {
		t.Fatal(err)
	}
	first, err := a.TrainModelBy(ctx, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.TrainModelBy(ctx, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	if first.Unchanged || !second.Unchanged || second.ModelVersion != first.ModelVersion || second.Models != 1 {
		t.Errorf("second training: version %s unchanged %v, %d models stored; want %s unchanged and 1 model",
			second.ModelVersion, second.Unchanged, second.Models, first.ModelVersion)
	}
	events, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventModelTrained})
	if err != nil || len(events) != 1 || events[0].Actor != "user:ann" {
		t.Errorf("model.trained events %+v, %v; want one by user:ann", events, err)
	}
	if _, err := a.UseModel(ctx, "", "user:ann"); patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "a version is required") {
		t.Errorf("model use of an empty version: %v, want invalid", err)
	}
}

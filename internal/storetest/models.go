package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// runModels is the group for patchpilot.ModelStore, history import and the
// dry-run removals of a fact snapshot, which the risk model reads.
func (s suite) runModels(t *testing.T) {
	t.Run("Models", s.testModels)
	t.Run("ModelInvalid", s.testModelInvalid)
	t.Run("UseModel", s.testUseModel)
	t.Run("ImportOutcomes", s.testImportOutcomes)
	t.Run("FactRemovals", s.testFactRemovals)
}

func (s suite) testModels(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if _, _, err := st.ActiveModel(ctx); err == nil {
		t.Fatal("ActiveModel of an empty store: got no error, want not_found")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "model")
	}
	if got, err := st.Models(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Models of an empty store = %+v, %v; want none", got, err)
	}

	blob1 := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000) // binary-safe, not only JSON text
	blob2 := []byte(`{"model_version":"rm-2"}`)
	info := json.RawMessage(`{"records": 120, "failures": 7, "source": "store"}`)
	save := func(version string, at time.Time, info json.RawMessage, blob []byte) {
		t.Helper()
		if err := st.SaveModel(ctx, version, at, info, blob); err != nil {
			t.Fatalf("SaveModel(%s): %v", version, err)
		}
	}
	before := time.Now()
	save("rm-1", baseTime.In(otherZone), info, blob1)
	// A later save is active even when it was trained earlier, and the
	// same version may be saved again (retrained on the same data).
	save("rm-2", baseTime.Add(-time.Hour), nil, blob2)
	save("rm-1", baseTime.Add(time.Hour), info, blob1)
	after := time.Now()

	blob, active, err := st.ActiveModel(ctx)
	if err != nil {
		t.Fatalf("ActiveModel: %v", err)
	}
	if active.Version != "rm-1" || !active.TrainedAt.Equal(baseTime.Add(time.Hour)) || !active.Active ||
		active.Size != len(blob1) || !bytes.Equal(blob, blob1) {
		t.Errorf("ActiveModel = %d bytes, %+v; want rm-1 trained %s, %d bytes", len(blob), active,
			baseTime.Add(time.Hour), len(blob1))
	}
	wantAbout(t, "SavedAt", active.SavedAt, before, after)

	list, err := st.Models(ctx)
	if err != nil {
		t.Fatalf("Models: %v", err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.Version)
		if m.TrainedAt.Location() != time.UTC {
			t.Errorf("model %s trained_at location %v, want UTC", m.Version, m.TrainedAt.Location())
		}
	}
	if want := []string{"rm-1", "rm-2", "rm-1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Models versions = %v, want newest first %v", got, want)
	}
	if !list[0].Active || list[1].Active || list[2].Active {
		t.Errorf("Models active flags = %v, %v, %v; want only the newest", list[0].Active, list[1].Active, list[2].Active)
	}
	if list[0].ID != active.ID || list[0].ID <= list[1].ID || list[1].ID <= list[2].ID {
		t.Errorf("Models ids %d, %d, %d (active %d): want decreasing, newest active", list[0].ID, list[1].ID, list[2].ID, active.ID)
	}
	if got, want := string(canonicalJSON(t, list[2].Info)), string(canonicalJSON(t, info)); got != want {
		t.Errorf("Models info = %s, want %s", got, want)
	}
	if got := string(canonicalJSON(t, list[1].Info)); got != "{}" {
		t.Errorf("Models info of a model saved without = %s, want {}", got)
	}
	if !list[2].TrainedAt.Equal(baseTime) || list[1].Size != len(blob2) {
		t.Errorf("Models[2] trained %s, Models[1] size %d; want %s and %d", list[2].TrainedAt, list[1].Size, baseTime, len(blob2))
	}
}

func (s suite) testUseModel(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if _, err := st.UseModel(ctx, "rm-1"); err == nil {
		t.Fatal("UseModel on an empty store: got no error, want not_found")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "rm-1")
	}
	for i, v := range []string{"rm-1", "rm-2", "rm-1", "rm-3"} {
		if err := st.SaveModel(ctx, v, baseTime.Add(time.Duration(i)*time.Hour), nil, []byte(v+"-"+string(rune('a'+i)))); err != nil {
			t.Fatalf("SaveModel(%s): %v", v, err)
		}
	}
	active := func() (string, []byte) {
		t.Helper()
		blob, info, err := st.ActiveModel(ctx)
		if err != nil {
			t.Fatalf("ActiveModel: %v", err)
		}
		return info.Version, blob
	}
	if v, _ := active(); v != "rm-3" {
		t.Fatalf("active after saves = %s, want rm-3 (saved last)", v)
	}
	// Using a version saved twice picks its newest row.
	got, err := st.UseModel(ctx, "rm-1")
	if err != nil {
		t.Fatalf("UseModel(rm-1): %v", err)
	}
	if v, blob := active(); v != "rm-1" || string(blob) != "rm-1-c" || !got.Active || got.Version != "rm-1" {
		t.Errorf("after UseModel(rm-1): active %s %q, returned %+v; want rm-1's newest row (rm-1-c)", v, blob, got)
	}
	list, err := st.Models(ctx)
	if err != nil {
		t.Fatalf("Models: %v", err)
	}
	var flags []bool
	for _, m := range list {
		flags = append(flags, m.Active)
	}
	if len(list) != 4 || !reflect.DeepEqual(flags, []bool{false, true, false, false}) || list[1].ID != got.ID {
		t.Errorf("Models active flags %v (ids %+v), want every row kept, the second newest active", flags, list)
	}
	if _, err := st.UseModel(ctx, "rm-2"); err != nil {
		t.Fatalf("UseModel(rm-2): %v", err)
	}
	if v, _ := active(); v != "rm-2" {
		t.Errorf("after UseModel(rm-2) active = %s", v)
	}
	// A new save is active again, over any model made active before.
	if err := st.SaveModel(ctx, "rm-4", baseTime, nil, []byte("rm-4")); err != nil {
		t.Fatalf("SaveModel(rm-4): %v", err)
	}
	if v, _ := active(); v != "rm-4" {
		t.Errorf("after saving rm-4 active = %s", v)
	}
	if _, err := st.UseModel(ctx, ""); err == nil {
		t.Error("UseModel(\"\"): got no error")
	} else {
		wantCode(t, err, patchpilot.EINVALID, "version")
	}
}

func (s suite) testModelInvalid(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	tests := []struct {
		name    string
		version string
		at      time.Time
		info    json.RawMessage
		blob    []byte
		mention string
	}{
		{"no version", "", baseTime, nil, []byte("x"), "version"},
		{"no data", "rm-1", baseTime, nil, nil, "rm-1"},
		{"no time", "rm-1", time.Time{}, nil, []byte("x"), "trained_at"},
		{"bad info", "rm-1", baseTime, json.RawMessage(`{`), []byte("x"), "info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, st.SaveModel(ctx, tt.version, tt.at, tt.info, tt.blob), patchpilot.EINVALID, tt.mention)
		})
	}
	if got, err := st.Models(ctx); err != nil || len(got) != 0 {
		t.Errorf("after invalid saves, Models = %+v, %v; want none", got, err)
	}
}

func (s suite) testImportOutcomes(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	a := fixtureOutcome("import:a.jsonl:1", "web-1", baseTime, patchpilot.OutcomeSucceeded)
	b := fixtureOutcome("import:a.jsonl:2", "web-1", baseTime.Add(time.Minute), patchpilot.OutcomeRolledBack)
	c := fixtureOutcome("import:a.jsonl:3", "db-1", baseTime.Add(-time.Minute), patchpilot.OutcomeFailed)
	n, err := st.ImportOutcomes(ctx, []patchpilot.Outcome{a, b, c})
	if err != nil || n != 3 {
		t.Fatalf("ImportOutcomes = %d, %v; want 3", n, err)
	}
	list := func() []patchpilot.Outcome {
		t.Helper()
		got, err := st.Outcomes(ctx, patchpilot.OutcomeFilter{})
		if err != nil {
			t.Fatalf("Outcomes: %v", err)
		}
		for i := range got {
			got[i].GateResults = canonicalGates(t, got[i].GateResults)
			got[i].Features = canonicalJSON(t, got[i].Features)
		}
		return got
	}
	want := []patchpilot.Outcome{storedOutcome(t, c), storedOutcome(t, a), storedOutcome(t, b)}
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after import, Outcomes =\n%+v\nwant\n%+v", got, want)
	}

	// Importing the same outcomes again writes nothing, and says so.
	if n, err := st.ImportOutcomes(ctx, []patchpilot.Outcome{a, b, c}); err != nil || n != 0 {
		t.Fatalf("ImportOutcomes of stored outcomes = %d, %v; want 0 written", n, err)
	}
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after importing the same outcomes, Outcomes =\n%+v\nwant\n%+v", got, want)
	}

	// Importing the same rollout and host again replaces, as RecordOutcome does.
	a2 := a
	a2.Outcome, a2.Reason = patchpilot.OutcomeFailed, "reimported"
	if n, err := st.ImportOutcomes(ctx, []patchpilot.Outcome{a2, b}); err != nil || n != 1 {
		t.Fatalf("ImportOutcomes again = %d, %v; want 1 written (a changed, b the same)", n, err)
	}
	want[1] = storedOutcome(t, a2)
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reimport, Outcomes =\n%+v\nwant\n%+v", got, want)
	}

	// One bad outcome rejects the whole batch.
	bad := patchpilot.Outcome{Rollout: "import:b.jsonl:2", Host: "", Outcome: patchpilot.OutcomeSucceeded}
	good := fixtureOutcome("import:b.jsonl:1", "web-2", baseTime, patchpilot.OutcomeSucceeded)
	n, err = st.ImportOutcomes(ctx, []patchpilot.Outcome{good, bad})
	wantCode(t, err, patchpilot.EINVALID, "host")
	if n != 0 {
		t.Errorf("ImportOutcomes with a bad outcome wrote %d, want 0", n)
	}
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Errorf("a rejected import changed the outcomes:\n%+v", got)
	}
	if n, err := st.ImportOutcomes(ctx, nil); err != nil || n != 0 {
		t.Errorf("ImportOutcomes(nil) = %d, %v; want 0, nil", n, err)
	}
}

func (s suite) testFactRemovals(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
	want := richFacts("web-1", baseTime)
	want.Removals = []patchpilot.PackageChange{{Name: "pp-agent-legacy", From: "1.0.0"},
		{Name: "olddaemon", From: "1.2-1", SourcePackage: "olddaemon-src"}}
	mustSave(t, st, want)
	got, err := st.LatestFacts(ctx, "web-1")
	if err != nil {
		t.Fatalf("LatestFacts: %v", err)
	}
	if !reflect.DeepEqual(got.Removals, want.Removals) {
		t.Errorf("Removals = %+v, want %+v", got.Removals, want.Removals)
	}
	// A later snapshot without removals has none.
	later := richFacts("web-1", baseTime.Add(time.Hour))
	mustSave(t, st, later)
	if got, err := st.LatestFacts(ctx, "web-1"); err != nil || got.Removals != nil {
		t.Errorf("LatestFacts of a snapshot without removals: %+v, %v; want none", got.Removals, err)
	}
	bad := richFacts("web-1", baseTime.Add(2*time.Hour))
	bad.Removals = []patchpilot.PackageChange{{From: "1"}}
	wantCode(t, st.SaveFacts(ctx, bad), patchpilot.EINVALID, "removals[0]")
}

package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// testDataVersions checks that each kind's counter changes with every
// change to its data, and only then.
func (s suite) testDataVersions(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	read := func() patchpilot.DataVersions {
		t.Helper()
		v, err := st.DataVersions(ctx)
		if err != nil {
			t.Fatalf("DataVersions: %v", err)
		}
		return v
	}
	last := read()
	// step checks that a change moved exactly the counters named.
	step := func(what string, inventory, outcomes, models bool) {
		t.Helper()
		v := read()
		for _, c := range []struct {
			name        string
			before, now int64
			want        bool
		}{{"inventory", last.Inventory, v.Inventory, inventory}, {"outcomes", last.Outcomes, v.Outcomes, outcomes},
			{"models", last.Models, v.Models, models}} {
			switch {
			case c.want && c.now <= c.before:
				t.Errorf("after %s: %s version %d, want above %d", what, c.name, c.now, c.before)
			case !c.want && c.now != c.before:
				t.Errorf("after %s: %s version moved from %d to %d", what, c.name, c.before, c.now)
			}
		}
		last = v
	}
	step("nothing", false, false, false)
	mustUpsert(t, st, patchpilot.Host{Name: "a"}, patchpilot.Host{Name: "b"})
	step("adding hosts", true, false, false)
	mustUpsert(t, st, patchpilot.Host{Name: "a", Labels: map[string]string{"env": "prod"}})
	step("relabelling a host", true, false, false)
	f := Facts("a", baseTime, 3, 0)
	f.Updates = []patchpilot.Update{{Package: "openssl", InstalledVersion: "3.0.1", CandidateVersion: "3.0.2"}}
	mustSave(t, st, f)
	step("saving facts", true, false, false)
	if _, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{advisory("DSA-1", baseTime, "openssl fix")}); err != nil {
		t.Fatalf("SaveAdvisories: %v", err)
	}
	step("saving an advisory", true, false, false)
	if err := st.SaveSLAExposures(ctx, []patchpilot.SLAExposure{{Host: "a", CollectedAt: baseTime,
		Oldest: map[patchpilot.Severity]time.Time{patchpilot.SeverityCritical: baseTime}}}); err != nil {
		t.Fatalf("SaveSLAExposures: %v", err)
	}
	step("saving an SLA exposure", true, false, false)
	if _, err := st.ImportOutcomes(ctx, []patchpilot.Outcome{fixtureOutcome("r1", "a", baseTime, patchpilot.OutcomeSucceeded)}); err != nil {
		t.Fatalf("ImportOutcomes: %v", err)
	}
	step("importing an outcome", false, true, false)
	if err := st.SaveModel(ctx, "v1", baseTime, json.RawMessage(`{}`), []byte("model")); err != nil {
		t.Fatalf("SaveModel: %v", err)
	}
	step("saving a model", false, false, true)
	mustSave(t, st, Facts("b", baseTime.Add(time.Hour), 2, 0))
	if _, err := st.PruneFacts(ctx, 1); err != nil {
		t.Fatalf("PruneFacts: %v", err)
	}
	step("saving and pruning facts", true, false, false)
	if err := st.RemoveHosts(ctx, []string{"b"}); err != nil {
		t.Fatalf("RemoveHosts: %v", err)
	}
	step("removing a host", true, false, false)
	if _, err := st.Events(ctx, patchpilot.EventFilter{}); err != nil {
		t.Fatalf("Events: %v", err)
	}
	step("reading", false, false, false)
}

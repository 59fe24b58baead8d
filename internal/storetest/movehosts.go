package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// stageAssignment lists each stage's hosts as the store reports them, from
// the stages and from the host runs, which must agree.
func stageAssignment(t *testing.T, st patchpilot.Store, id string) map[string][]string {
	t.Helper()
	fromStages := map[string][]string{}
	for _, s := range mustRollout(t, st, id).Stages {
		fromStages[s.Name] = append([]string{}, s.Hosts...)
	}
	fromRuns := map[string][]string{}
	for _, s := range mustRollout(t, st, id).Stages {
		fromRuns[s.Name] = []string{}
	}
	for _, h := range mustHostRuns(t, st, id) {
		fromRuns[h.Stage] = append(fromRuns[h.Stage], h.Host)
	}
	if !reflect.DeepEqual(fromStages, fromRuns) {
		t.Fatalf("stages say %v but host runs say %v", fromStages, fromRuns)
	}
	return fromStages
}

func (s suite) testMoveHosts(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r", baseTime))

	// Forward into a later (empty) stage: the moved hosts go first there
	// and keep their order, so the overall dispatch order is unchanged.
	if err := st.MoveHosts(ctx, "r", "wave-1", "final", []string{"app-10", "app-9"}); err != nil {
		t.Fatalf("MoveHosts to a later stage: %v", err)
	}
	want := map[string][]string{"validation": {"zeta"}, "canary": {"web-3", "web-1"}, "wave-1": {"db-2"}, "final": {"app-9", "app-10"}}
	if got := stageAssignment(t, st, "r"); !reflect.DeepEqual(got, want) {
		t.Errorf("after moving to final: %v, want %v", got, want)
	}
	// Back into an earlier stage: the moved hosts go last there.
	if err := st.MoveHosts(ctx, "r", "final", "wave-1", []string{"app-9"}); err != nil {
		t.Fatalf("MoveHosts to an earlier stage: %v", err)
	}
	want = map[string][]string{"validation": {"zeta"}, "canary": {"web-3", "web-1"}, "wave-1": {"db-2", "app-9"}, "final": {"app-10"}}
	if got := stageAssignment(t, st, "r"); !reflect.DeepEqual(got, want) {
		t.Errorf("after moving back: %v, want %v", got, want)
	}
	// A moved host keeps its pipeline record and can be saved under its
	// new stage.
	h := patchpilot.HostRun{Rollout: "r", Stage: "wave-1", Host: "app-9", State: patchpilot.HostPreflight, Reason: "started"}
	if err := st.SaveHostRun(ctx, h); err != nil {
		t.Fatalf("SaveHostRun of a moved host: %v", err)
	}

	// Refusals change nothing.
	bad := []struct {
		name, from, to string
		hosts          []string
		code           patchpilot.Code
		mention        string
	}{
		{"not pending", "wave-1", "final", []string{"db-2", "app-9"}, patchpilot.ECONFLICT, "app-9"},
		{"not in the stage", "wave-1", "final", []string{"web-1"}, patchpilot.EINVALID, "web-1"},
		{"unknown stage", "wave-1", "wave-9", []string{"db-2"}, patchpilot.ENOTFOUND, "wave-9"},
		{"unknown rollout", "wave-1", "final", []string{"db-2"}, patchpilot.ENOTFOUND, "nope"},
		{"same stage", "wave-1", "wave-1", []string{"db-2"}, patchpilot.EINVALID, "wave-1"},
		{"no hosts", "wave-1", "final", nil, patchpilot.EINVALID, "no hosts"},
		{"twice", "wave-1", "final", []string{"db-2", "db-2"}, patchpilot.EINVALID, "db-2"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			id := "r"
			if c.name == "unknown rollout" {
				id = "nope"
			}
			wantCode(t, st.MoveHosts(ctx, id, c.from, c.to, c.hosts), c.code, c.mention)
		})
	}
	if got := stageAssignment(t, st, "r"); !reflect.DeepEqual(got, want) {
		t.Errorf("refused moves changed the stages: %v, want %v", got, want)
	}
}

package collect

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/local"
)

// countingRunner counts the simulations of the pending updates it runs.
type countingRunner struct {
	patchpilot.Runner
	mu          sync.Mutex
	simulations int
}

func (r *countingRunner) Run(ctx context.Context, c patchpilot.Command) (patchpilot.Result, error) {
	if len(c.Args) > 0 && c.Args[0] == "apt-get" && slices.Contains(c.Args, "-s") {
		r.mu.Lock()
		r.simulations++
		r.mu.Unlock()
	}
	return r.Runner.Run(ctx, c)
}

func updateKeys(us []patchpilot.Update) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Package+" "+u.InstalledVersion+" "+u.CandidateVersion)
	}
	return out
}

// TestSimulationRunsOncePerState collects this machine as several hosts:
// the second host of a state shares the first's simulation, a host whose
// previous facts have its state reuses them, and one whose previous facts
// have another state runs its own. Each simulation costs seconds on a
// machine with full indexes, so the test runs two.
func TestSimulationRunsOncePerState(t *testing.T) {
	needDebian(t)
	ctx := context.Background()
	shared := NewShared()
	first := &countingRunner{Runner: local.New()}
	a, err := Host(ctx, first, "a", Options{SkipDepth: true, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	second := &countingRunner{Runner: local.New()}
	b, err := Host(ctx, second, "b", Options{SkipDepth: true, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	if a.PackageState == "" || a.PackageState != b.PackageState {
		t.Fatalf("package states %q and %q, want one non-empty state for one machine", a.PackageState, b.PackageState)
	}
	if first.simulations != 1 || second.simulations != 0 {
		t.Errorf("simulations: first host %d, second %d; want 1 and 0 (the second shares the first's)", first.simulations, second.simulations)
	}
	if !b.UpdatesKnown || !slices.Equal(updateKeys(a.Updates), updateKeys(b.Updates)) {
		t.Errorf("shared updates: %v, want the first host's %v", updateKeys(b.Updates), updateKeys(a.Updates))
	}

	// A previous collection in the same state, with updates this test
	// can recognise: they must come back as they were stored.
	prev := patchpilot.Facts{Host: "h", PackageState: a.PackageState, UpdatesKnown: true,
		Updates:  []patchpilot.Update{{Package: "stored-marker", InstalledVersion: "1", CandidateVersion: "2", Arch: "all"}},
		Removals: []patchpilot.PackageChange{{Name: "stored-removal", From: "1"}}}
	var asked []string
	previous := func(_ context.Context, host, state string) (patchpilot.Facts, bool) {
		asked = append(asked, host+" "+state)
		return prev, state == prev.PackageState
	}
	r := &countingRunner{Runner: local.New()}
	g, err := Host(ctx, r, "h", Options{SkipDepth: true, PreviousUpdates: previous})
	if err != nil {
		t.Fatal(err)
	}
	if r.simulations != 0 || !g.UpdatesKnown || len(g.Updates) != 1 || g.Updates[0].Package != "stored-marker" ||
		len(g.Removals) != 1 || g.Removals[0].Name != "stored-removal" || g.PackageState != a.PackageState {
		t.Errorf("same state: %d simulations, updates %v, removals %v, state %q; want the stored ones and no simulation",
			r.simulations, updateKeys(g.Updates), g.Removals, g.PackageState)
	}
	if len(asked) != 1 || asked[0] != "h "+a.PackageState {
		t.Errorf("asked %q, want once for h in its state", asked)
	}
	// Another state: the stored answer is not used.
	prev.PackageState = "apt:00000000000000000000000000000000"
	r = &countingRunner{Runner: local.New()}
	g, err = Host(ctx, r, "h", Options{SkipDepth: true, PreviousUpdates: previous})
	if err != nil {
		t.Fatal(err)
	}
	if r.simulations != 1 || slices.Contains(updateKeys(g.Updates), "stored-marker 1 2") {
		t.Errorf("other state: %d simulations, updates %v; want a simulation of its own", r.simulations, updateKeys(g.Updates))
	}
}

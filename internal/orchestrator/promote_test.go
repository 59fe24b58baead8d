package orchestrator

import (
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestPromoteEarlyEndsTheBake: when the gates say the evidence is already
// within the margins, a host's bake ends at that check instead of running
// to the end (the canary stage bakes 30 s, checked every few seconds).
func TestPromoteEarlyEndsTheBake(t *testing.T) {
	tests := []struct {
		name      string
		promoteAt int
		maxChecks int // per canary host
		minChecks int
	}{
		// Not promoted: more checks than a promotion at the third would
		// allow. How many more depends on the machine's load: the next
		// stage's preflights wait on the same test clock meanwhile,
		// moving it on.
		{"no promotion bakes in full", 0, 1000, 4},
		{"promotion at the third check", 3, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(6))
			e.f.promoteAt = tt.promoteAt
			id := e.start(threeStages)
			if got := e.run(id); got != patchpilot.RolloutSucceeded {
				t.Fatalf("rollout state = %s, want succeeded", got)
			}
			for _, h := range e.stageHosts(id, "canary") {
				if n := e.f.checks[h]; n < tt.minChecks || n > tt.maxChecks {
					t.Errorf("%s: %d checks, want %d to %d", h, n, tt.minChecks, tt.maxChecks)
				}
			}
		})
	}
}

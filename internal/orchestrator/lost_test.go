package orchestrator

import (
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestHostLostAfterItsChangeIsRolledBack: a host that stops answering
// after its change began is not left at the new versions unnoticed: the
// stage rolls it back with its failed hosts. When it answers again by
// then, it is rolled back; when it still does not, its rollback fails,
// which the rollout's state and the host's reason say.
func TestHostLostAfterItsChangeIsRolledBack(t *testing.T) {
	const plan = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: canary, targets: 1, criteria: [http_ok], bake: 10s, max_failures: MAX, on_failure: rollback_and_alert}
  - {name: rest, targets: rest, criteria: [http_ok], bake: 5s}
`
	for _, tt := range []struct {
		name       string
		max        string                      // the canary stage's max_failures
		gone       func(f *fleet, host string) // called once, at the host's first check
		want       patchpilot.HostState
		wantReason string
		version    string // the lost host's version at the end
	}{
		{"answers again by its rollback", "0", func(f *fleet, h string) { f.drops[h] = 1 }, patchpilot.HostRolledBack, "after its change began", "1.0"},
		{"still does not answer", "0", func(f *fleet, h string) { f.unreachable[h] = true }, patchpilot.HostRollbackFailed, "rollback failed", "1.1"},
		// A failure the stage tolerates still has its host rolled back,
		// as a host that failed after its change is.
		{"within max_failures", "1", func(f *fleet, h string) { f.drops[h] = 1 }, patchpilot.HostRolledBack, "after its change began", "1.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(3))
			id := e.start(strings.Replace(plan, "MAX", tt.max, 1))
			canary := e.stageHosts(id, "canary")[0]
			e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
				if h != canary || n != 1 {
					return patchpilot.Healthy
				}
				tt.gone(e.f, h)
				return patchpilot.Unhealthy
			}
			state := e.run(id)
			runs := e.states(id)
			if runs[canary] != tt.want {
				t.Errorf("canary %s: %s, want %s (rollout %s, states %v)", canary, runs[canary], tt.want, state, runs)
			}
			if tt.max == "0" {
				if state == patchpilot.RolloutSucceeded {
					t.Errorf("rollout state = %s, want it stopped at the canary", state)
				}
				for h, st := range runs {
					if h != canary && st != patchpilot.HostSkipped {
						t.Errorf("%s: %s, want skipped", h, st)
					}
				}
			}
			all, err := e.db.HostRuns(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			for _, hr := range all {
				if hr.Host == canary && !strings.Contains(hr.Reason, tt.wantReason) {
					t.Errorf("canary's reason %q lacks %q", hr.Reason, tt.wantReason)
				}
			}
			e.f.mu.Lock()
			got := e.f.installed[canary]["web"]
			e.f.mu.Unlock()
			if got != tt.version {
				t.Errorf("canary runs web %s, want %s", got, tt.version)
			}
			if rb := e.f.entries("rollback "); len(rb) == 0 && tt.want == patchpilot.HostRolledBack {
				t.Error("no rollback ran on the canary")
			}
		})
	}
}

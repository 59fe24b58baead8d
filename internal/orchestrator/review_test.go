package orchestrator

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// A host under review at the end of its bake gets more time: one
// extension by default, or up to the canary section's max_bake, by which
// the canary judge has given its final verdict.
func TestUnderReviewExtendsTheBake(t *testing.T) {
	const plain = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, criteria: [http_ok], bake: 10s, on_failure: rollback_and_alert}
`
	const canary = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
health:
  prometheus: {url: "http://127.0.0.1:9090", step: 5s}
canary:
  max_bake: 60s
  metrics:
    - {name: latency, query: 'latency{host="{{.Host}}"}', direction: higher_is_worse, margin: 10%}
stages:
  - {name: all, targets: rest, parallel: 1, criteria: [http_ok], bake: 10s, on_failure: rollback_and_alert}
`
	tests := []struct {
		name   string
		plan   string
		review time.Duration // how long after the change the gates stay under review
		want   patchpilot.HostState
	}{
		{"healthy within one extension", plain, 15 * time.Second, patchpilot.HostSucceeded},
		{"under review past one extension", plain, 25 * time.Second, patchpilot.HostRolledBack},
		{"canary max_bake allows more", canary, 45 * time.Second, patchpilot.HostSucceeded},
		{"under review past max_bake", canary, 90 * time.Second, patchpilot.HostRolledBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(1))
			// The review is timed from the host's first check, right
			// after its change: the steps before it may wait on the
			// shared test clock a number of times that depends on the
			// machine's load.
			var start time.Time
			e.f.verdict = func(string, int) patchpilot.HealthVerdict {
				if start.IsZero() {
					start = e.clock.Now()
				}
				if e.clock.Now().Sub(start) < tt.review {
					return patchpilot.UnderReview
				}
				return patchpilot.Healthy
			}
			id := e.start(tt.plan)
			e.run(id)
			h := e.stageHosts(id, "all")[0]
			if got := e.states(id)[h]; got != tt.want {
				t.Errorf("%s: %s, want %s", h, got, tt.want)
			}
		})
	}
}

package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// A stage gets the canary gate when the plan has a canary section, unless
// it says canary: false.
func TestStageCheckerHonoursCanaryOptOut(t *testing.T) {
	p, err := planner.Parse([]byte(`rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  health:
    prometheus: {url: "http://127.0.0.1:9090", step: 5s}
  canary:
    metrics:
      - {name: latency, query: 'latency{host="{{.Host}}"}', direction: higher_is_worse, margin: 10%}
  stages:
    - {name: validation, targets: 1, bake: 1m, canary: false}
    - {name: canary, targets: 2, bake: 1m}
    - {name: rest, targets: rest}
`), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := &App{}
	now := func() time.Time { return time.Now() }
	for i, wantCanary := range []bool{false, true, true} {
		s := p.Stages[i]
		hc, err := a.stageChecker(p, s, now, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("stage %s: %v", s.Name, err)
		}
		_, isCanary := hc.(*canary.Checker)
		if isCanary != wantCanary {
			t.Errorf("stage %s: checker %T, want the canary gate %v", s.Name, hc, wantCanary)
		}
		if !wantCanary && hc != (patchpilot.HealthChecker)(nil) {
			t.Errorf("stage %s has no criteria, but a checker %T", s.Name, hc)
		}
	}
}

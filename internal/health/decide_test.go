package health_test

import (
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
)

func TestDecide(t *testing.T) {
	const (
		P = patchpilot.GatePass
		B = patchpilot.GateBreach
		C = patchpilot.GateCritical
		E = patchpilot.GateError
		I = patchpilot.GateInconclusive
	)
	tests := []struct {
		name     string
		outcomes []patchpilot.GateOutcome
		want     patchpilot.HealthVerdict
	}{
		{"no gates", nil, patchpilot.Healthy},
		{"all pass", []patchpilot.GateOutcome{P, P, P}, patchpilot.Healthy},
		{"one breach", []patchpilot.GateOutcome{P, B, P}, patchpilot.UnderReview},
		{"two breaches", []patchpilot.GateOutcome{B, P, B}, patchpilot.Unhealthy},
		{"one critical", []patchpilot.GateOutcome{P, C}, patchpilot.Unhealthy},
		{"one error fails closed", []patchpilot.GateOutcome{P, E}, patchpilot.Unhealthy},
		{"inconclusive bakes longer", []patchpilot.GateOutcome{P, I}, patchpilot.UnderReview},
		{"breach and inconclusive", []patchpilot.GateOutcome{B, I}, patchpilot.UnderReview},
		{"unknown outcome fails closed", []patchpilot.GateOutcome{"weird"}, patchpilot.Unhealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []patchpilot.GateResult
			for i, o := range tt.outcomes {
				rs = append(rs, patchpilot.GateResult{Gate: string(rune('a' + i)), Outcome: o})
			}
			got, reason := health.Decide(rs)
			if got != tt.want {
				t.Errorf("got %s (%s), want %s", got, reason, tt.want)
			}
			if reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

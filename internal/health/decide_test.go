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

// A healthy check's reason counts its gates in words that agree with the
// number, and names a lone gate.
func TestDecideHealthyReasonCounts(t *testing.T) {
	pass := func(names ...string) []patchpilot.GateResult {
		var rs []patchpilot.GateResult
		for _, n := range names {
			rs = append(rs, patchpilot.GateResult{Gate: n, Outcome: patchpilot.GatePass})
		}
		return rs
	}
	for _, tt := range []struct {
		results []patchpilot.GateResult
		want    string
	}{
		{nil, "no gate to check"},
		{pass("services_running"), "its one gate passed: services_running"},
		{pass("services_running", "http_ok"), "all 2 gates passed"},
	} {
		if _, reason := health.Decide(tt.results); reason != tt.want {
			t.Errorf("Decide of %d passing gates: reason %q, want %q", len(tt.results), reason, tt.want)
		}
	}
}

package patchpilot

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// GateOutcome is the result of one health gate on one host.
type GateOutcome string

// Gate outcomes. Error means the gate could not be evaluated (no data, a
// failed probe, unparsable output); it fails closed like a breach.
const (
	GatePass         GateOutcome = "pass"
	GateBreach       GateOutcome = "breach"
	GateCritical     GateOutcome = "critical" // a breach that alone means rollback
	GateInconclusive GateOutcome = "inconclusive"
	GateError        GateOutcome = "error"
)

// GateResult is one gate's verdict with the evidence that produced it.
type GateResult struct {
	Gate      string          `json:"gate"` // the criterion as written: "cpu_increase<25%"
	Outcome   GateOutcome     `json:"outcome"`
	Reason    string          `json:"reason"`
	Value     *float64        `json:"value,omitempty"`
	Baseline  *float64        `json:"baseline,omitempty"`
	Threshold *float64        `json:"threshold,omitempty"`
	Time      time.Time       `json:"time"`
	Evidence  json.RawMessage `json:"evidence,omitempty"`
	// Phase says which check of a host's pipeline the result is from:
	// empty for the check whose verdict decided the pipeline (the bake's
	// last, or a dry run's), GateAfterRollback for the check that
	// verified the host after its rollback.
	Phase GatePhase `json:"phase,omitempty"`
}

// GatePhase is the check of a host's pipeline a gate result comes from.
type GatePhase string

// GateAfterRollback marks the results of the check that verifies a host
// once it is rolled back. A host's record keeps them next to, not instead
// of, the results that decided the rollback.
const GateAfterRollback GatePhase = "after_rollback"

// HealthVerdict is the decision over all gates of a host at one check.
type HealthVerdict string

// Health verdicts (docs/architecture.md, "Health gates"): none breached means healthy; one
// breach means under review (extend the bake); two or more, one critical,
// or a gate that cannot be evaluated means rollback.
const (
	Healthy     HealthVerdict = "healthy"
	UnderReview HealthVerdict = "under_review"
	Unhealthy   HealthVerdict = "rollback"
)

// HealthTarget is what the gates of one host look at.
type HealthTarget struct {
	Host   Host
	Runner Runner
	// Since is when the change was applied: journal errors and failed
	// units are counted from then.
	Since time.Time
	// Rollout is the rollout changing the host, empty outside one; gates
	// that compare the host with the rest of its rollout (canary analysis)
	// read the rollout's other hosts by it.
	Rollout string
	// Dependents are the hosts that depend on Host, for the
	// dependents_reachable gate: the caller fills them from the plan's
	// Health.Dependents and marks those it must not check (Skip).
	Dependents []HealthDependent
	// Dial connects to another host by name (a dependent); nil means
	// the caller gives no way to, and gates that need one fail closed.
	// The caller owns the runners it returns and closes them.
	Dial func(ctx context.Context, host string) (Runner, error)
}

// HealthDependent is a host that depends on the host under check: the
// dependents_reachable gate checks from it, over its own connection, that
// the host's Ports answer. Skip, set by the caller of Check, says why the
// dependent is not checked this time (it is itself being changed).
type HealthDependent struct {
	Host  string `json:"host"`
	Ports []int  `json:"ports"`
	// Services are the dependent's services that use the ports, when the
	// dependency map knows them ("nginx.service").
	Services []string `json:"services,omitempty"`
	Skip     string   `json:"skip,omitempty"`
}

// HealthBaseline is what gates sampled on a host before its change, by
// gate, for comparison afterwards. It is stored with the host's pipeline so
// that a restarted controller compares against the same baseline.
type HealthBaseline map[string]json.RawMessage

// HealthReport is one check of all gates of a host.
type HealthReport struct {
	Verdict HealthVerdict `json:"verdict"`
	Results []GateResult  `json:"results"`
	Reason  string        `json:"reason"`
	// Promote is set, with a Healthy verdict, when the evidence already
	// shows the change is within its margins (a canary judge's Pass, valid
	// at any look): the bake may end early.
	Promote bool `json:"promote,omitempty"`
}

// HealthChecker evaluates a stage's criteria on a host. Baseline is called
// before the change, Check repeatedly during the bake.
type HealthChecker interface {
	Baseline(ctx context.Context, t HealthTarget) (HealthBaseline, error)
	Check(ctx context.Context, t HealthTarget, base HealthBaseline) (HealthReport, error)
}

// VerdictOf reads the verdict of a gate verdict event's data (a
// HealthReport) without decoding its evidence when the verdict
// comes first, as HealthReport's encoding puts it; "" when it has none.
func VerdictOf(data []byte) HealthVerdict {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		if key, _ := t.(string); key == "verdict" {
			var v HealthVerdict
			if dec.Decode(&v) != nil {
				return ""
			}
			return v
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

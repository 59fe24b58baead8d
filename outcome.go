package patchpilot

import (
	"encoding/json"
	"strings"
	"time"
)

// OutcomeKind is how a host's patch ended.
type OutcomeKind string

// Outcome kinds, as recorded in history.
const (
	OutcomeSucceeded      OutcomeKind = "succeeded"
	OutcomeFailed         OutcomeKind = "failed"
	OutcomeRolledBack     OutcomeKind = "rolled_back"
	OutcomeRollbackFailed OutcomeKind = "rollback_failed"
	OutcomeUnreachable    OutcomeKind = "unreachable"
)

// PackageChange is one package's version change in a transaction. From is
// "" for a package newly installed, To is "" for one removed.
type PackageChange struct {
	Name          string `json:"name"`
	From          string `json:"from"`
	To            string `json:"to"`
	SourcePackage string `json:"source_package,omitempty"`
}

// Outcome is the final result of one host in one rollout, with the features
// the risk model learns from. History export flattens it to one line per
// package.
type Outcome struct {
	Time        time.Time         `json:"time"`
	Rollout     string            `json:"rollout"`
	Host        string            `json:"host"`
	OS          string            `json:"os,omitempty"` // "debian:12"
	Labels      map[string]string `json:"labels,omitempty"`
	Packages    []PackageChange   `json:"packages"`
	Outcome     OutcomeKind       `json:"outcome"`
	Reason      string            `json:"reason"`
	GateResults []GateResult      `json:"gate_results"`
	// Features are the inputs the risk model sees for this host and patch
	// (categories, advisories, reboot, transaction size, removals, role,
	// services), as a JSON object.
	Features json.RawMessage `json:"features,omitempty"`
	// Unrelated, on a failed outcome, says why the failure is not the
	// patch's (the host was unreachable before the apply, a fault was
	// injected, a person aborted the rollout): such an outcome is kept in
	// history but not counted against the patch by the risk model, its
	// calibration or quarantine. Empty means the failure is the patch's.
	Unrelated string `json:"unrelated,omitempty"`
	// Predicted is the risk model's probability that this host's patch
	// fails, as assessed when the rollout started, and PredictedBy the
	// model version that assessed it; nil when no assessment was stored
	// (imported history, rollouts older than assessments).
	Predicted   *float64 `json:"predicted,omitempty"`
	PredictedBy string   `json:"predicted_by,omitempty"`
}

// UnrelatedBeforeChange begins the Unrelated of a failed outcome whose
// host failed before anything was changed on it (a preflight that failed,
// a host whose facts were never collected).
const UnrelatedBeforeChange = "the host failed before any change"

// FailedBeforeChange reports whether the outcome is a failure that came
// before anything was changed on the host: no change was made, so it is
// no failed change.
func (o Outcome) FailedBeforeChange() bool {
	return o.Outcome == OutcomeFailed && strings.HasPrefix(o.Unrelated, UnrelatedBeforeChange)
}

// CountsAgainstPatch reports whether the outcome is a failure the risk
// model learns as the patch's: a failed outcome not labelled Unrelated.
func (o Outcome) CountsAgainstPatch() bool {
	return o.Outcome != OutcomeSucceeded && o.Unrelated == ""
}

// OutcomeFilter selects outcomes. Zero fields match everything.
type OutcomeFilter struct {
	Host    string
	Rollout string
	Package string
	Since   time.Time
	// Until, when set, keeps outcomes at or before it.
	Until time.Time
	Limit int
	// Newest, with Limit, keeps the newest Limit outcomes instead of the
	// oldest (still listed oldest first).
	Newest bool
	// NoGateResults leaves each outcome's GateResults empty, for readers
	// that do not need them (they are most of an outcome's size).
	NoGateResults bool
}

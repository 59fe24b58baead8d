package orchestrator

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// outcomeKind maps a terminal host state to its history outcome; false
// for states that are no outcome (skipped, or not terminal).
func outcomeKind(s patchpilot.HostState) (patchpilot.OutcomeKind, bool) {
	switch s {
	case patchpilot.HostSucceeded:
		return patchpilot.OutcomeSucceeded, true
	case patchpilot.HostFailed:
		return patchpilot.OutcomeFailed, true
	case patchpilot.HostRolledBack:
		return patchpilot.OutcomeRolledBack, true
	case patchpilot.HostRollbackFailed:
		return patchpilot.OutcomeRollbackFailed, true
	case patchpilot.HostUnreachable:
		return patchpilot.OutcomeUnreachable, true
	}
	return "", false
}

// outcomeFeatures builds what the risk model learns from for one host and
// one patch, in the one shape the model reads (risk.OutcomeFeatures): the
// categories of the changed packages, reboot, the dry run's transaction
// size, removals and held packages, the host's role and running services,
// and the stage. pre is the host's dry run, nil when preflight never ran.
func outcomeFeatures(hr patchpilot.HostRun, h patchpilot.Host, f *patchpilot.Facts, pre *patchpilot.PreflightReport, rebooted bool) risk.OutcomeFeatures {
	sources := map[string]string{}
	if f != nil {
		for _, p := range f.Packages {
			sources[p.Name] = p.SourceName
		}
	}
	feat := risk.OutcomeFeatures{
		Categories:      map[string]string{},
		Role:            h.Labels[patchpilot.LabelRole],
		Stage:           hr.Stage,
		TransactionSize: len(hr.ToVersions),
		RebootRequired:  rebooted || hr.BootIDAfter != "",
	}
	for name := range hr.ToVersions {
		feat.Categories[name] = risk.Categorize(sources[name], name)
	}
	if f != nil {
		feat.Services = append([]string(nil), f.Services...)
	}
	if pre != nil {
		feat.RebootRequired = feat.RebootRequired || pre.RebootRequired
		feat.TransactionSize = max(feat.TransactionSize, len(pre.Changes))
		feat.Removals = append([]string(nil), pre.Removals...)
		feat.Conflicts = len(pre.Held) > 0
	}
	return feat
}

// unrelatedCause says why a host's failure is not its patch's, or "" when
// it may be (patchpilot.Outcome.Unrelated; docs/risk.md, Unrelated
// outcomes): a fault injected into the host on purpose (its
// injected_fault label); the host unreachable, or failing, before any
// change was made (no apply step started: the connection, preflight or
// snapshot failed), unless the dry run found that the patch itself would
// remove packages; the run interrupted before the host's pipeline ended; a
// rollback a person requested, or its stage made, on a host whose own
// checks had passed.
func unrelatedCause(kind patchpilot.OutcomeKind, hr patchpilot.HostRun, labels map[string]string, pre *patchpilot.PreflightReport) string {
	if kind == patchpilot.OutcomeSucceeded {
		return ""
	}
	changed := hr.AppliedAt != nil || hr.Order > 0
	switch {
	case labels[patchpilot.LabelInjectedFault] != "":
		return "fault injected: " + labels[patchpilot.LabelInjectedFault]
	case !changed && kind == patchpilot.OutcomeUnreachable:
		return "the host was unreachable before any change"
	case !changed && (pre == nil || len(pre.Removals) == 0):
		return patchpilot.UnrelatedBeforeChange + ": " + hr.Reason
	case !changed:
		return ""
	case strings.HasPrefix(hr.Reason, "interrupted:"):
		return "the run was interrupted: " + hr.Reason
	case strings.Contains(hr.Reason, "rollback requested by ") && !gatesFailed(hr.Gates):
		return "rolled back on a person's request; the host's own checks had passed"
	case kind == patchpilot.OutcomeRolledBack && strings.HasPrefix(hr.Reason, "rolled back: stage ") && !gatesFailed(hr.Gates):
		// rollbackHosts gives a host the stage's reason only when the
		// host did not fail itself (its own failure keeps its reason).
		return "rolled back with its stage; the host's own checks had passed"
	}
	return ""
}

// gatesFailed reports whether a decisive gate result of the host breached.
func gatesFailed(gates []patchpilot.GateResult) bool {
	for _, g := range gates {
		if g.Phase == "" && (g.Outcome == patchpilot.GateBreach || g.Outcome == patchpilot.GateCritical) {
			return true
		}
	}
	return false
}

// recordOutcome stores a host's final outcome with its features. Failing
// to store it is logged: the pipeline has already ended.
func (rn *run) recordOutcome(ctx context.Context, hr patchpilot.HostRun, pre *patchpilot.PreflightReport) {
	kind, ok := outcomeKind(hr.State)
	if !ok || rn.r.DryRun {
		return
	}
	if isHostKeyRefusal(hr) {
		// The patch never reached the host: the risk model must not
		// learn a failure of the patch from it.
		kind = patchpilot.OutcomeUnreachable
	}
	f := rn.facts[hr.Host]
	h := rn.hosts[hr.Host]
	rn.mu.Lock()
	if pre == nil {
		if p, found := rn.pre[hr.Host]; found {
			pre = &p
		}
	}
	rebooted := rn.reboot[hr.Host]
	rn.mu.Unlock()
	sources := map[string]string{}
	if f != nil {
		for _, p := range f.Packages {
			sources[p.Name] = p.SourceName
		}
	}
	o := patchpilot.Outcome{Time: rn.e.now(), Rollout: rn.r.ID, Host: hr.Host, Labels: h.Labels,
		Outcome: kind, Reason: hr.Reason, GateResults: hr.Gates, Packages: []patchpilot.PackageChange{}}
	if f != nil {
		o.OS = f.OSName + ":" + f.OSVersion
	}
	if p, ok := rn.r.Predictions[hr.Host]; ok {
		prob := p.Probability
		o.Predicted, o.PredictedBy = &prob, p.ModelVersion
	}
	to, from := hr.ToVersions, hr.FromVersions
	if len(to) == 0 && pre != nil {
		// Preflight refused the host before its versions were recorded:
		// the outcome still names what the patch would have installed, so
		// that the history knows which update failed here.
		to, from = map[string]string{}, map[string]string{}
		for _, p := range pre.Pins {
			to[p.Name] = p.Version
		}
		for _, c := range pre.Changes {
			if _, ok := to[c.Name]; ok {
				from[c.Name] = c.From
			}
		}
		hr.ToVersions = to
	}
	for _, name := range sortedKeys(to) {
		o.Packages = append(o.Packages, patchpilot.PackageChange{Name: name, From: from[name],
			To: to[name], SourcePackage: sources[name]})
	}
	o.Features, _ = json.Marshal(outcomeFeatures(hr, h, f, pre, rebooted))
	if o.GateResults == nil {
		o.GateResults = []patchpilot.GateResult{}
	}
	o.Unrelated = unrelatedCause(kind, hr, h.Labels, pre)
	if err := rn.e.Store.RecordOutcome(context.WithoutCancel(ctx), o); err != nil {
		rn.e.logger().Warn("store outcome", "host", hr.Host, "err", err)
	}
}

package app

import (
	"context"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// heldAskMax is how many targets heldTargets names to the store; over
// more it asks for every held host and keeps the targets itself, which
// reads nothing when no rollout holds hosts.
const heldAskMax = 1000

// heldTargets returns the rollouts (dry runs aside) that hold some of the
// targets (patchpilot.HoldsHosts), oldest first, each with the targets it
// holds, sorted.
func (a *App) heldTargets(ctx context.Context, targets []string) ([]patchpilot.HostsHolder, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	f := patchpilot.HostsRolloutFilter{Holding: true}
	if len(targets) <= heldAskMax {
		f.Hosts = targets
	}
	rs, err := a.Store.RolloutsOnHosts(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	var out []patchpilot.HostsHolder
	for _, r := range rs {
		h := patchpilot.HostsHolder{Rollout: r.Rollout, State: r.State, Reason: r.Reason}
		for _, x := range r.Hosts {
			if want[x.Host] {
				h.Hosts = append(h.Hosts, x.Host)
			}
		}
		if len(h.Hosts) > 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// heldHosts is the set of hosts the holders hold.
func heldHosts(holders []patchpilot.HostsHolder) map[string]bool {
	out := map[string]bool{}
	for _, h := range holders {
		for _, n := range h.Hosts {
			out[n] = true
		}
	}
	return out
}

// heldWarning says that some targets of a plan are in unfinished
// rollouts, so that starting it is refused until those finish.
func heldWarning(holders []patchpilot.HostsHolder) string {
	return patchpilot.HeldHostsText(holders) + ": one rollout at a time changes a host, so starting this plan is refused until then; " +
		patchpilot.HostsHeldHint(holders)
}

// heldLeftOut says which targets were left out of a plan because
// unfinished rollouts hold them.
func heldLeftOut(holders []patchpilot.HostsHolder) string {
	n := 0
	for _, h := range holders {
		n += len(h.Hosts)
	}
	return "left out " + counted(n, "target", "targets") + " that unfinished rollouts hold: " + patchpilot.HeldHostsText(holders)
}

// heldReason is why a target that h holds was left out of a plan.
func heldReason(h patchpilot.HostsHolder) string {
	return fmt.Sprintf("in rollout %s (%s), which has not finished", h.Rollout, patchpilot.HolderState(h.State, h.Reason))
}

// heldData is the holders as an event payload names them.
func heldData(holders []patchpilot.HostsHolder) []patchpilot.HeldHostsData {
	var out []patchpilot.HeldHostsData
	for _, h := range holders {
		out = append(out, patchpilot.HeldHostsData{Rollout: h.Rollout, State: h.State, Reason: h.Reason, Hosts: h.Hosts})
	}
	return out
}

// TargetsHeldError is ProposePlanWith's refusal, with LeaveOutHeld, when
// unfinished rollouts hold every target: no plan is left to propose. It is
// the ECONFLICT a start over those hosts would meet (HostsHeldError).
type TargetsHeldError struct {
	Holders []patchpilot.HostsHolder
	err     *patchpilot.Error
}

func newTargetsHeldError(holders []patchpilot.HostsHolder) *TargetsHeldError {
	return &TargetsHeldError{Holders: holders, err: patchpilot.HostsHeldError(holders)}
}

func (e *TargetsHeldError) Error() string { return e.err.Error() }

// Unwrap gives the *patchpilot.Error, for its code and hint.
func (e *TargetsHeldError) Unwrap() error { return e.err }

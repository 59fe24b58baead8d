package orchestrator

import (
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// RollbackCandidates returns the hosts of a rollout that RequestRollback
// rolls back when no host is named: those whose change began (they have a
// deployment order) and that are not in flight or already rolled back,
// including those that stopped answering after it began (their rollback
// fails while they still do not answer).
func RollbackCandidates(runs []patchpilot.HostRun) []string {
	var hosts []string
	for _, h := range runs {
		if h.Order > 0 && (h.State == patchpilot.HostSucceeded || h.State == patchpilot.HostFailed ||
			h.State == patchpilot.HostRollbackFailed || h.State == patchpilot.HostUnreachable) {
			hosts = append(hosts, h.Host)
		}
	}
	return hosts
}

// Held reports a rollout halted for a person (patchpilot.Held): unlike
// other halts, it can be resumed or aborted.
func Held(state patchpilot.RolloutState, reason string) bool {
	return patchpilot.Held(state, reason)
}

// NextStep is the hint for a person looking at a rollout in this state:
// only commands that work on it now. A rollout that changed no host is
// never sent to 'rollback', and a finished one never to 'resume' or
// 'abort'.
func NextStep(id string, state patchpilot.RolloutState, reason string, runs []patchpilot.HostRun) string {
	h := nextStep(id, state, reason, runs)
	if lost := lostHosts(runs); len(lost) > 0 {
		// A rollback, asked for or automatic, leaves out a host that
		// does not answer: the hint must not let it pass for unchanged.
		h += fmt.Sprintf("; %s stopped answering after its change began and may still be changed: once it answers, roll it back with 'patchpilot rollout rollback %s --hosts %s'",
			fewHosts(lost), id, strings.Join(lost, ","))
	}
	return h
}

// lostHosts are the hosts that stopped answering after their change began
// (they have a deployment order): no rollback without named hosts
// reaches them.
func lostHosts(runs []patchpilot.HostRun) []string {
	var hosts []string
	for _, h := range runs {
		if h.Order > 0 && h.State == patchpilot.HostUnreachable {
			hosts = append(hosts, h.Host)
		}
	}
	return hosts
}

func nextStep(id string, state patchpilot.RolloutState, reason string, runs []patchpilot.HostRun) string {
	changed := RollbackCandidates(runs)
	rollback := fmt.Sprintf("roll its changed hosts (%s) back with 'patchpilot rollout rollback %s'", fewHosts(changed), id)
	switch {
	case state == patchpilot.RolloutWaitingApproval:
		return fmt.Sprintf("approve with 'patchpilot rollout approve %s', or end it with 'patchpilot rollout abort %[1]s'", id)
	case state == patchpilot.RolloutPaused:
		return fmt.Sprintf("resume with 'patchpilot rollout resume %s', or end it with 'patchpilot rollout abort %[1]s'", id)
	case Held(state, reason):
		h := fmt.Sprintf("resume with 'patchpilot rollout resume %s', end it with 'patchpilot rollout abort %[1]s'", id)
		if len(changed) > 0 {
			h += ", or " + rollback
		}
		return h
	case !state.Final():
		return fmt.Sprintf("see 'patchpilot rollout status %s'; if its controller died, carry it on with 'patchpilot rollout resume %[1]s'", id)
	case len(changed) > 0:
		return fmt.Sprintf("see 'patchpilot rollout status %s'; %s", id, rollback)
	case state == patchpilot.RolloutRolledBack && len(lostHosts(runs)) == 0:
		return fmt.Sprintf("see 'patchpilot rollout events %s'; no host is left changed", id)
	case state == patchpilot.RolloutRolledBack:
		return fmt.Sprintf("see 'patchpilot rollout events %s'", id)
	}
	what := "no host was changed"
	for _, h := range runs {
		if h.Order > 0 {
			what = "every changed host was rolled back"
			break
		}
	}
	if len(lostHosts(runs)) > 0 {
		what = "every changed host that answers was rolled back"
	}
	return fmt.Sprintf("%s: see why in 'patchpilot rollout status %s', then start a new rollout with 'patchpilot rollout start PLAN'", what, id)
}

// maxNamedHosts bounds the hosts a hint names: a hint is one line.
const maxNamedHosts = 3

// fewHosts names a few hosts, or counts the rest.
func fewHosts(hosts []string) string {
	if len(hosts) > maxNamedHosts {
		return fmt.Sprintf("%s and %d more", strings.Join(hosts[:maxNamedHosts], ", "), len(hosts)-maxNamedHosts)
	}
	return strings.Join(hosts, ", ")
}

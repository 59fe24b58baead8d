package orchestrator

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// decision is what the plan says to do once a stage's hosts have run.
type decision struct {
	Failures int
	Exceeded bool
	// Rollback lists the hosts to roll back, in reverse order of
	// deployment.
	Rollback []string
	// Skip lists the stage's hosts that were never dispatched.
	Skip  []string
	Stage patchpilot.StageState
	// Rollout is the state the rollout ends in; "" means go on.
	Rollout patchpilot.RolloutState
	Reason  string
}

// decide applies a stage's max_failures and on_failure to the host
// records: stage holds the stage's hosts, all every host of the rollout.
// Hosts that failed after their change and wait in rolling_back are always
// rolled back; when failures exceed the limit the action decides which
// other changed hosts join them and what becomes of the rollout.
func decide(stage patchpilot.Stage, stageHosts, all []patchpilot.HostRun) decision {
	d := decision{Failures: countFailures(stageHosts), Stage: patchpilot.StageSucceeded}
	d.Exceeded = stage.MaxFailures.Exceeded(d.Failures, len(stageHosts))
	pick := map[string]patchpilot.HostRun{}
	for _, h := range stageHosts {
		if h.State == patchpilot.HostRollingBack {
			pick[h.Host] = h
		}
		if h.State == patchpilot.HostPending {
			d.Skip = append(d.Skip, h.Host)
		}
	}
	if !d.Exceeded {
		d.Rollback = reverseOrder(pick)
		if d.Failures > 0 {
			d.Reason = fmt.Sprintf("%d of %d hosts failed, within max_failures %s", d.Failures, len(stageHosts), stage.MaxFailures)
		}
		return d
	}
	d.Reason = fmt.Sprintf("%d of %d hosts failed, more than max_failures %s allows", d.Failures, len(stageHosts), stage.MaxFailures)
	switch stage.OnFailure {
	case patchpilot.RollbackAndAlert, patchpilot.RollbackWaveAndHold:
		for _, h := range stageHosts {
			if rollbackCandidate(h) {
				pick[h.Host] = h
			}
		}
	case patchpilot.RollbackAll:
		for _, h := range all {
			if rollbackCandidate(h) {
				pick[h.Host] = h
			}
		}
	}
	d.Rollback = reverseOrder(pick)
	switch stage.OnFailure {
	case patchpilot.HaltAndAlert:
		d.Stage, d.Rollout = patchpilot.StageFailed, patchpilot.RolloutHalted
		d.Reason += "; halted (halt_and_alert)"
	case patchpilot.RollbackAndAlert:
		d.Stage, d.Rollout = patchpilot.StageRolledBack, patchpilot.RolloutHalted
		d.Reason += "; stage rolled back and halted (rollback_and_alert)"
	case patchpilot.RollbackWaveAndHold:
		d.Stage, d.Rollout = patchpilot.StageRolledBack, patchpilot.RolloutHalted
		d.Reason = "held: " + d.Reason + "; stage rolled back (rollback_wave_and_hold), waiting for a person to resume or abort"
	case patchpilot.RollbackAll:
		d.Stage, d.Rollout = patchpilot.StageRolledBack, patchpilot.RolloutRolledBack
		d.Reason += "; every changed host rolled back (rollback_all)"
	}
	return d
}

// rollbackCandidate reports whether a host was changed by the rollout and
// is not back at its old versions.
func rollbackCandidate(h patchpilot.HostRun) bool {
	if h.Order == 0 {
		return false
	}
	switch h.State {
	case patchpilot.HostRolledBack, patchpilot.HostPending, patchpilot.HostSkipped:
		return false
	}
	// An unreachable host with an order stopped answering after its
	// change began: it is tried, and fails its rollback while it still
	// does not answer, rather than passing for unchanged.
	return true
}

// reverseOrder lists hosts by deployment order, last deployed first.
func reverseOrder(hosts map[string]patchpilot.HostRun) []string {
	list := make([]patchpilot.HostRun, 0, len(hosts))
	for _, h := range hosts {
		list = append(list, h)
	}
	sort.Slice(list, func(a, b int) bool {
		if list[a].Order != list[b].Order {
			return list[a].Order > list[b].Order
		}
		return list[a].Host < list[b].Host
	})
	var out []string
	for _, h := range list {
		out = append(out, h.Host)
	}
	return out
}

// conclude decides stage i's fate and carries it out: rollbacks (one host
// after another, a failed one never stopping the rest), stage and rollout
// states, skipped hosts and the incident.
func (rn *run) conclude(ctx context.Context, i int) (patchpilot.RolloutState, bool, error) {
	stage := rn.r.Plan.Stages[i]
	all, runs, err := rn.hostRuns(ctx, i)
	if err != nil {
		return "", true, err
	}
	d := decide(stage, runs, all)
	adaptiveHalt := false
	if why := rn.adaptiveHalted(); why != "" && d.Rollout == "" {
		// The adaptive planner stopped dispatching: the stage's own limit
		// held, but the rollout's failure budget would not.
		d.Stage, d.Rollout, d.Reason, adaptiveHalt = patchpilot.StageFailed, patchpilot.RolloutHalted, why, true
	}
	rolledBack, failedBack := rn.rollbackHosts(ctx, all, d.Rollback, "stage "+stage.Name+": "+d.Reason)
	// A rollback the stage made while it ran (for a disruption budget)
	// that failed counts as much as one made now.
	for _, h := range runs {
		if h.State == patchpilot.HostRollbackFailed && !contains(failedBack, h.Host) {
			failedBack = append(failedBack, h.Host)
		}
	}
	for _, name := range d.Skip {
		if err := rn.skipHost(ctx, all, name, "not dispatched: "+d.Reason); err != nil {
			return "", true, err
		}
	}
	if len(failedBack) > 0 {
		d.Rollout = patchpilot.RolloutFailed
		d.Reason += "; rollback failed on " + strings.Join(failedBack, ", ")
	}
	// Every automatic rollback opens an incident, one for the decision;
	// when the adaptive planner halts the rollout right after this stage,
	// its incident names these hosts and their rules instead.
	always := d.Exceeded || adaptiveHalt
	if always || d.Rollout != "" || !rn.adaptiveHaltsAfter(ctx, i) {
		rn.stageIncident(ctx, i, d.Reason, all, d.Rollback, always)
	}
	if err := rn.saveStage(ctx, i, d.Stage, d.Reason); err != nil {
		return "", true, err
	}
	if d.Stage == patchpilot.StageRolledBack {
		rn.markStagesRolledBack(ctx, i, rolledBack)
	}
	if d.Rollout == "" {
		return rn.r.State, false, nil
	}
	if !strings.HasPrefix(d.Reason, "held:") {
		// The rollout ends here: the later stages never run.
		for k := i + 1; k < len(rn.r.Stages); k++ {
			for _, name := range rn.r.Stages[k].Hosts {
				if err := rn.skipHost(ctx, all, name, "stage not run: rollout "+string(d.Rollout)); err != nil {
					return "", true, err
				}
			}
			if err := rn.saveStage(ctx, k, patchpilot.StageSkipped, "rollout "+string(d.Rollout)); err != nil {
				return "", true, err
			}
		}
	}
	return d.Rollout, true, rn.setRollout(ctx, d.Rollout, d.Reason)
}

// markStagesRolledBack marks earlier stages whose hosts were rolled back.
func (rn *run) markStagesRolledBack(ctx context.Context, upto int, hosts []string) {
	in := map[string]bool{}
	for _, h := range hosts {
		in[h] = true
	}
	for k := 0; k < upto; k++ {
		for _, h := range rn.r.Stages[k].Hosts {
			if in[h] {
				_ = rn.saveStage(ctx, k, patchpilot.StageRolledBack, "rolled back with the rollout")
				break
			}
		}
	}
}

func (rn *run) skipHost(ctx context.Context, all []patchpilot.HostRun, name, reason string) error {
	for _, h := range all {
		if h.Host == name && h.State == patchpilot.HostPending {
			now := rn.e.now()
			h.State, h.Reason, h.FinishedAt, h.UpdatedAt = patchpilot.HostSkipped, reason, &now, now
			if err := rn.saveHostRunNoting(ctx, h, name+" skipped: "+reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// incident records why the rollout stopped, the hosts concerned and the
// gate results that were the evidence.
func (rn *run) incident(ctx context.Context, stage, reason string, all []patchpilot.HostRun, rolledBack []string) {
	var hosts []string
	var ev []patchpilot.IncidentHost
	for _, h := range all {
		if h.Stage != stage && !contains(rolledBack, h.Host) {
			continue
		}
		if isFailure(h.State) || contains(rolledBack, h.Host) {
			hosts = append(hosts, h.Host)
			ev = append(ev, incidentHost(h))
		}
	}
	rn.openIncident(ctx, stage, reason, hosts, patchpilot.IncidentData{Hosts: ev, RolledBack: rolledBack})
}

// aborted ends an aborted rollout: hosts never dispatched are skipped.
func (rn *run) aborted(ctx context.Context) (patchpilot.RolloutState, bool, error) {
	rn.invalidate()
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return "", true, err
	}
	for _, h := range all {
		if err := rn.skipHost(ctx, all, h.Host, "rollout aborted"); err != nil {
			return "", true, err
		}
	}
	for k, s := range rn.r.Stages {
		if s.State == patchpilot.StagePending || s.State == patchpilot.StageWaitingApproval || s.State == patchpilot.StageRunning {
			_ = rn.saveStage(ctx, k, patchpilot.StageSkipped, "rollout aborted")
		}
	}
	cur, err := rn.current(ctx)
	if err != nil {
		return "", true, err
	}
	rn.r.State, rn.r.Reason = cur.State, cur.Reason
	return patchpilot.RolloutAborted, true, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// budgetGroupOf returns the group a host falls in under a budget, and
// false when the budget does not cover the host (planner.BudgetGroup).
func budgetGroupOf(b patchpilot.DisruptionBudget, v planner.HostView) (string, bool) {
	return planner.BudgetGroup(b, v)
}

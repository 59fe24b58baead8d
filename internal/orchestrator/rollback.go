package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// rollbackHosts rolls the named hosts back one after another, in the order
// given (reverse order of deployment). A host whose rollback fails is
// reported and the others go on. why, when set, replaces the reason of
// hosts not already waiting in rolling_back.
func (rn *run) rollbackHosts(ctx context.Context, all []patchpilot.HostRun, names []string, why string) (ok, failedBack []string) {
	byName := map[string]patchpilot.HostRun{}
	for _, h := range all {
		byName[h.Host] = h
	}
	for _, name := range names {
		hr, found := byName[name]
		if !found {
			continue
		}
		if hr.State != patchpilot.HostRollingBack {
			switch {
			case why != "":
				hr.Reason = why
			case hr.State != patchpilot.HostFailed || hr.Reason == "":
				hr.Reason = "stage " + hr.Stage + " rolled back"
			}
		}
		out := rn.rollbackHost(ctx, hr)
		if out.State == patchpilot.HostRolledBack {
			ok = append(ok, name)
		} else {
			failedBack = append(failedBack, name)
		}
	}
	return ok, failedBack
}

// rollbackHost restores one host's recorded versions from its artifacts,
// reboots it when that needs a reboot and the plan allows, and verifies
// the versions and the health (against the host's own pre-change
// baseline, waiting up to RollbackSettle for it to settle).
func (rn *run) rollbackHost(ctx context.Context, hr patchpilot.HostRun) patchpilot.HostRun {
	stage := rn.planStage(hr.Stage)
	j, err := rn.newJob(ctx, hr, stage)
	cause := hr.Reason
	if err := j.saveNoting(ctx, patchpilot.HostRollingBack, cause, "rollback started: "+cause); err != nil {
		rn.e.logger().Warn("store host state", "host", hr.Host, "err", err)
	}
	end := func(err error) patchpilot.HostRun {
		if err != nil && ctx.Err() != nil {
			// Interrupted: the host stays in rolling_back for the next
			// controller, which rolls it back again (idempotently).
			return j.hr
		}
		if err == nil {
			return j.finish(ctx, patchpilot.HostRolledBack, "rolled back: "+cause)
		}
		return j.finish(ctx, patchpilot.HostRollbackFailed, fmt.Sprintf("rollback failed: %s (after: %s)", err, cause))
	}
	if err != nil {
		return end(err)
	}
	if err := j.dial(ctx); err != nil {
		return end(err)
	}
	defer j.close()
	snap := patchpilot.PackageSnapshot{Versions: hr.FromVersions, Artifacts: hr.Artifacts, Transaction: hr.Transaction}
	// The rollback transaction runs to its end when the controller drains.
	rep, err := j.pm.Rollback(stepContext(ctx), j.runner, snap, patchpilot.ApplyOptions{
		Timeout: stage.Timeout, LockWait: rn.e.lockWait(), Unit: UnitName(rn.r.ID, hr.Host, "rollback"),
	})
	if err != nil {
		return end(classify("rollback", err))
	}
	if rep.ExitCode != 0 {
		return end(failed("the package manager exited with status %d: %s", rep.ExitCode, tail(rep.Output, 300)))
	}
	if rep.RebootRequired && rn.r.Plan.Policy.AllowReboot {
		if id, err := readBootID(ctx, j.runner); err == nil {
			j.hr.BootIDBefore = id
		}
		if err := j.rebootAndWait(ctx); err != nil {
			return end(err)
		}
	}
	if err := j.checkVersions(ctx, hr.FromVersions); err != nil {
		return end(err)
	}
	return end(j.settle(ctx))
}

// settle waits for a rolled-back host's gates to stop saying rollback:
// the check that verifies the rollback. Its results are kept with the
// host's, marked GateAfterRollback, next to the results that decided the
// host's pipeline (why it was rolled back), which stay as they were.
func (j *job) settle(ctx context.Context) error {
	if j.hc == nil {
		return nil
	}
	j.since = j.rn.e.now()
	deadline := j.since.Add(j.rn.e.settle())
	for {
		rep, err := j.hc.Check(ctx, j.target(ctx), j.hr.Baseline)
		if err != nil {
			rep = patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "the gates could not be evaluated: " + err.Error()}
		}
		rep.Results = inPhase(rep.Results, patchpilot.GateAfterRollback)
		j.recordVerdict(ctx, rep, patchpilot.GateAfterRollback)
		j.hr.Gates = withPhase(j.hr.Gates, patchpilot.GateAfterRollback, rep.Results)
		if rep.Verdict != patchpilot.Unhealthy {
			return nil
		}
		if !j.rn.e.now().Before(deadline) {
			return errors.New("still unhealthy after the rollback: " + rep.Reason)
		}
		if err := j.rn.e.sleep(ctx, j.rn.e.checkInterval()); err != nil {
			return err
		}
	}
}

// inPhase returns a copy of results marked as results of phase.
func inPhase(results []patchpilot.GateResult, phase patchpilot.GatePhase) []patchpilot.GateResult {
	out := make([]patchpilot.GateResult, len(results))
	for i, g := range results {
		g.Phase = phase
		out[i] = g
	}
	return out
}

// withPhase returns gates with the results of phase replaced by results,
// the others (those of other checks) kept in their order.
func withPhase(gates []patchpilot.GateResult, phase patchpilot.GatePhase, results []patchpilot.GateResult) []patchpilot.GateResult {
	out := make([]patchpilot.GateResult, 0, len(gates)+len(results))
	for _, g := range gates {
		if g.Phase != phase {
			out = append(out, g)
		}
	}
	return append(out, results...)
}

func (rn *run) planStage(name string) patchpilot.Stage {
	for i, s := range rn.r.Stages {
		if s.Name == name {
			return rn.r.Plan.Stages[i]
		}
	}
	return patchpilot.Stage{Name: name, Timeout: patchpilot.DefaultStageTimeout}
}

// rollbackRequested carries out the rollbacks a person asked for (hosts
// waiting in rolling_back), after the hosts in flight have finished, and
// ends the rollout rolled back (or failed when a rollback failed). A
// paused or held rollout with work left goes back to waiting for its
// person instead (see backToHold).
func (rn *run) rollbackRequested(ctx context.Context) (patchpilot.RolloutState, error) {
	if rn.r.State != patchpilot.RolloutRollingBack {
		if err := rn.setRollout(ctx, patchpilot.RolloutRollingBack, rn.r.Reason); err != nil {
			return "", err
		}
	}
	// The hosts a person marked are read from the store.
	rn.invalidate()
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return "", err
	}
	pick := map[string]patchpilot.HostRun{}
	for _, h := range all {
		if h.State == patchpilot.HostRollingBack {
			pick[h.Host] = h
		}
	}
	order := reverseOrder(pick)
	okHosts, failedBack := rn.rollbackHosts(ctx, all, order, "")
	if state, ok, err := rn.backToHold(ctx, okHosts, failedBack); err != nil || ok {
		return state, err
	}
	for _, name := range all {
		if name.State == patchpilot.HostPending {
			_ = rn.skipHost(ctx, all, name.Host, "rollout rolled back")
		}
	}
	for k, s := range rn.r.Stages {
		switch s.State {
		case patchpilot.StagePending, patchpilot.StageWaitingApproval:
			_ = rn.saveStage(ctx, k, patchpilot.StageSkipped, "rollout rolled back")
		}
	}
	rn.markStagesRolledBack(ctx, len(rn.r.Stages), okHosts)
	reason := fmt.Sprintf("rolled back %s on request", strings.Join(okHosts, ", "))
	if len(okHosts) == 0 {
		reason = "nothing was rolled back"
	}
	state := patchpilot.RolloutRolledBack
	if len(failedBack) > 0 {
		state = patchpilot.RolloutFailed
		reason += "; rollback failed on " + strings.Join(failedBack, ", ")
		rn.incident(ctx, "", reason, all, order)
	}
	return state, rn.setRollout(ctx, state, reason)
}

// backToHold ends a person's rollback of some hosts of a paused or held
// rollout: when every asked rollback succeeded and other hosts it changed
// are not rolled back, it goes back to the state it was in (paused, or
// halted and held), its reason saying what was rolled back, so that the
// rest can still be resumed, aborted or rolled back. Its stages and
// pending hosts are left as they are. ok is false when the rollout ends as
// a whole instead: a rollback of every changed host rolls the rollout
// back, and one that failed fails it.
func (rn *run) backToHold(ctx context.Context, okHosts, failedBack []string) (patchpilot.RolloutState, bool, error) {
	if len(failedBack) > 0 || len(okHosts) == 0 {
		return "", false, nil
	}
	prev, why, err := rn.stateBeforeRollback(ctx)
	if err != nil || !(prev == patchpilot.RolloutPaused || Held(prev, why)) {
		return "", false, err
	}
	rn.invalidate()
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return "", false, err
	}
	left := false
	for _, h := range all {
		if rollbackCandidate(h) {
			left = true
			break
		}
	}
	if !left {
		return "", false, nil
	}
	reason := why + "; then rolled back " + strings.Join(okHosts, ", ") + " on request"
	return prev, true, rn.setRollout(ctx, prev, reason)
}

// stateBeforeRollback returns the state and reason the rollout had when
// it went to rolling_back, as its rollout.state events recorded them;
// empty when they do not say (older events without a payload).
func (rn *run) stateBeforeRollback(ctx context.Context) (patchpilot.RolloutState, string, error) {
	evs, err := rn.e.Store.Events(ctx, patchpilot.EventFilter{Rollout: rn.r.ID, Kind: patchpilot.EventRolloutState})
	if err != nil {
		return "", "", err
	}
	var prev patchpilot.RolloutState
	for i := len(evs) - 1; i >= 0; i-- {
		var d patchpilot.RolloutStateData
		if json.Unmarshal(evs[i].Data, &d) != nil || d.State == "" {
			continue
		}
		switch {
		case prev == "" && d.State == patchpilot.RolloutRollingBack && d.Previous != patchpilot.RolloutRollingBack:
			if prev = d.Previous; prev == "" {
				return "", "", nil
			}
		case prev != "" && d.State == prev:
			return prev, d.Reason, nil
		}
	}
	return "", "", nil
}

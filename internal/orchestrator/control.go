package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// waitApproval puts stage i in waiting_approval and waits up to
// ApprovalWait for a person to approve it. It returns approved false with
// the rollout's state when the wait ends without one (or the rollout was
// paused or aborted meanwhile).
func (rn *run) waitApproval(ctx context.Context, i int) (patchpilot.RolloutState, bool, error) {
	st := rn.r.Stages[i]
	ps := rn.r.Plan.Stages[i]
	needs := "needs approval"
	if ps.Approvers > 1 {
		needs = fmt.Sprintf("needs %d distinct approvers", ps.Approvers)
	}
	if ps.ApprovalReason != "" {
		needs += " (" + ps.ApprovalReason + ")"
	}
	if ps.AutoApproveAt != nil {
		needs += ", or the policy approves it at " + ps.AutoApproveAt.UTC().Format(time.RFC3339)
	}
	if st.State != patchpilot.StageWaitingApproval {
		if err := rn.saveStage(ctx, i, patchpilot.StageWaitingApproval, needs+": patchpilot rollout approve "+rn.r.ID+" --stage "+st.Name); err != nil {
			return "", false, err
		}
	}
	if rn.r.State != patchpilot.RolloutWaitingApproval {
		if err := rn.setRollout(ctx, patchpilot.RolloutWaitingApproval, "stage "+st.Name+" "+needs); err != nil {
			return "", false, err
		}
	}
	deadline := rn.e.now().Add(rn.e.ApprovalWait)
	for {
		cur, err := rn.current(ctx)
		if err != nil {
			return "", false, err
		}
		if cur.Stages[i].ApprovedBy != "" {
			rn.r.Stages[i] = cur.Stages[i]
			rn.r.State, rn.r.Reason = cur.State, cur.Reason
			return cur.State, true, nil
		}
		if at := ps.AutoApproveAt; at != nil && !rn.e.now().Before(*at) && cur.State == patchpilot.RolloutWaitingApproval {
			if _, err := rn.e.Approve(ctx, rn.r.ID, st.Name, AutoApprover); err != nil {
				return "", false, err
			}
			continue // read the approval back
		}
		if cur.State != patchpilot.RolloutWaitingApproval {
			if cur.State == patchpilot.RolloutAborted {
				state, _, err := rn.aborted(ctx)
				return state, false, err
			}
			return cur.State, false, nil
		}
		if !rn.e.now().Before(deadline) {
			return patchpilot.RolloutWaitingApproval, false, nil
		}
		if err := rn.e.sleep(ctx, min(rn.e.pollInterval(), deadline.Sub(rn.e.now()))); err != nil {
			return patchpilot.RolloutWaitingApproval, false, err
		}
	}
}

// AutoApprover is the actor of the approvals the policy gives by itself,
// once the auto-approval delays that held a stage have passed.
const AutoApprover = "policy:auto-approval"

func (e *Engine) request(ctx context.Context, id, actor, msg string) {
	e.event(ctx, id, "", patchpilot.EventRequest, msg+" by "+actor, nil)
}

// notActive refuses a request on a rollout that is over, with a hint to
// what can still be done with it.
func (e *Engine) notActive(ctx context.Context, r patchpilot.Rollout, what string) error {
	err := patchpilot.Errorf(patchpilot.ECONFLICT, "rollout %s is %s: nothing to %s", r.ID, r.State, what)
	runs, rerr := e.Store.HostRuns(ctx, r.ID)
	if rerr != nil {
		return err
	}
	return err.WithHint(NextStep(r.ID, r.State, r.Reason, runs))
}

// Approve records a person's approval of a stage: the named one, or the
// first stage that waits for approval (or will need one) when stage is "".
// A controller waiting for it goes on; otherwise Run or Resume carries on.
func (e *Engine) Approve(ctx context.Context, id, stage, actor string) (string, error) {
	r, err := e.load(ctx, id)
	if err != nil {
		return "", err
	}
	if r.State.Final() {
		return "", e.notActive(ctx, r, "approve")
	}
	idx := -1
	for i, s := range r.Stages {
		if stage != "" && s.Name == stage {
			idx = i
			break
		}
		if stage == "" && s.ApprovedBy == "" && (s.State == patchpilot.StageWaitingApproval ||
			(s.State == patchpilot.StagePending && r.Plan.Stages[i].Approval == patchpilot.ApprovalRequired)) {
			idx = i
			break
		}
	}
	if idx < 0 {
		if stage != "" {
			return "", patchpilot.Errorf(patchpilot.ENOTFOUND, "rollout %s has no stage %q", id, stage).WithHint("see 'patchpilot rollout status " + id + "' for its stages")
		}
		return "", patchpilot.Errorf(patchpilot.ECONFLICT, "rollout %s has no stage waiting for approval", id)
	}
	s := r.Stages[idx]
	if s.ApprovedBy != "" {
		return s.Name, nil
	}
	need := max(r.Plan.Stages[idx].Approvers, 1)
	approvers := []string{actor}
	if need > 1 {
		if approvers, err = e.countApproval(ctx, id, s.Name, actor, need); err != nil {
			return "", err
		}
		if len(approvers) < need {
			return s.Name, nil
		}
	}
	now := e.now()
	s.ApprovedBy, s.ApprovedAt = strings.Join(approvers, ", "), &now
	if err := e.Store.SaveStage(ctx, s); err != nil {
		return "", err
	}
	if r.State == patchpilot.RolloutWaitingApproval {
		if err := e.setRolloutState(ctx, id, r.State, patchpilot.RolloutRunning, "stage "+s.Name+" approved by "+s.ApprovedBy); err != nil {
			return "", err
		}
	}
	if need == 1 {
		data, _ := json.Marshal(patchpilot.ApprovalData{Stage: s.Name, Approver: actor, Approvers: approvers, Required: 1})
		e.event(ctx, id, "", patchpilot.EventApproval, fmt.Sprintf("stage %s approved by %s", s.Name, actor), data)
	}
	return s.Name, nil
}

// countApproval records actor's approval of a stage that needs several
// distinct approvers, and returns the distinct approvers so far. Each
// approval is an event of the append-only log, so none can be lost or
// rewritten; the approval is stored before the approvers are counted, so
// that of two people approving at once, the later count sees both. The
// same actor approving twice counts once and is refused.
func (e *Engine) countApproval(ctx context.Context, id, stage, actor string, need int) ([]string, error) {
	before, err := e.stageApprovers(ctx, id, stage)
	if err != nil {
		return nil, err
	}
	if slices.Contains(before, actor) {
		return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "%s has already approved stage %s of rollout %s; it needs %d distinct approvers (%d so far)",
			actor, stage, id, need, len(before)).WithHint("another person must approve it")
	}
	data, _ := json.Marshal(patchpilot.ApprovalData{Stage: stage, Approver: actor, Approvers: append(before, actor), Required: need})
	ev := patchpilot.Event{Actor: actor, Kind: patchpilot.EventApproval, Rollout: id,
		Message: fmt.Sprintf("stage %s approved by %s (%d of %d distinct approvers)", stage, actor, len(before)+1, need), Data: data}
	stored, err := e.Store.AppendEvent(ctx, ev)
	if err != nil {
		return nil, err
	}
	if e.OnEvent != nil {
		e.OnEvent(stored)
	}
	return e.stageApprovers(ctx, id, stage)
}

// stageApprovers lists the distinct approvers of a stage recorded in the
// rollout's approval events, in the order they approved.
func (e *Engine) stageApprovers(ctx context.Context, id, stage string) ([]string, error) {
	evs, err := e.Store.Events(ctx, patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventApproval})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range evs {
		var d patchpilot.ApprovalData
		if len(ev.Data) == 0 || json.Unmarshal(ev.Data, &d) != nil || d.Stage != stage || d.Approver == "" {
			continue
		}
		if !slices.Contains(out, d.Approver) {
			out = append(out, d.Approver)
		}
	}
	return out, nil
}

// Pause asks the controller to stop dispatching hosts; hosts in flight
// finish. Resume carries on.
func (e *Engine) Pause(ctx context.Context, id, actor string) error {
	r, err := e.Store.Rollout(ctx, id)
	if err != nil {
		return err
	}
	if r.State.Final() || r.State == patchpilot.RolloutRollingBack {
		return e.notActive(ctx, r, "pause")
	}
	if r.State == patchpilot.RolloutPaused {
		return nil
	}
	if err := e.setRolloutState(ctx, id, r.State, patchpilot.RolloutPaused, "paused by "+actor); err != nil {
		return err
	}
	e.request(ctx, id, actor, "pause requested")
	return nil
}

// Abort ends a rollout, a running or a held one: no more hosts are
// dispatched and hosts never dispatched are skipped; hosts in flight finish. Changed hosts stay as
// they are (roll them back with RequestRollback).
func (e *Engine) Abort(ctx context.Context, id, actor string) error {
	r, err := e.Store.Rollout(ctx, id)
	if err != nil {
		return err
	}
	// A held rollout waits for a person to resume or end it.
	if r.State.Final() && !Held(r.State, r.Reason) {
		return e.notActive(ctx, r, "abort")
	}
	if err := e.setRolloutState(ctx, id, r.State, patchpilot.RolloutAborted, "aborted by "+actor); err != nil {
		return err
	}
	e.request(ctx, id, actor, "abort requested")
	// With no controller running, the skips are done here.
	owner := e.owner()
	if granted, _, err := e.acquireLease(ctx, id, owner); err == nil && granted {
		defer e.Store.ReleaseLease(context.WithoutCancel(ctx), id, owner)
		if r, err = e.load(ctx, id); err != nil {
			return err
		}
		rn, err := e.newRun(ctx, r)
		if err != nil {
			return err
		}
		_, _, err = rn.aborted(ctx)
		return err
	}
	return nil
}

// Resume carries on a paused or held rollout, or one whose controller
// died, and drives it like Run.
func (e *Engine) Resume(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	if state, err := e.MarkResumed(ctx, id, actor); err != nil {
		return state, err
	}
	return e.Run(ctx, id)
}

// MarkResumed records a person's resume of a paused or held rollout (its
// state back to running, and a request event) without driving it, for a
// caller that answers the person before a controller picks the rollout up:
// the request is on record when the answer is given. A rollout already
// running or waiting for approval is left as it is (the request is
// recorded all the same); one that is over is refused (ECONFLICT) with its
// state.
func (e *Engine) MarkResumed(ctx context.Context, id, actor string) (patchpilot.RolloutState, error) {
	r, err := e.Store.Rollout(ctx, id)
	if err != nil {
		return "", err
	}
	switch {
	case r.State == patchpilot.RolloutPaused || Held(r.State, r.Reason):
		if err := e.setRolloutState(ctx, id, r.State, patchpilot.RolloutRunning, "resumed by "+actor); err != nil {
			return "", err
		}
		e.request(ctx, id, actor, "resume requested")
		return patchpilot.RolloutRunning, nil
	case r.State.Final():
		runs, err := e.Store.HostRuns(ctx, id)
		if err != nil {
			return "", err
		}
		return r.State, patchpilot.Errorf(patchpilot.ECONFLICT, "rollout %s is %s and cannot be resumed", id, r.State).
			WithHint(NextStep(id, r.State, r.Reason, runs))
	}
	// Not paused (a pause the controller overtook, a resume sent twice):
	// the request is still recorded, so that whoever follows the rollout
	// after asking sees that it arrived.
	e.request(ctx, id, actor, "resume requested (the rollout was already "+string(r.State)+")")
	return r.State, nil
}

// RequestRollback marks hosts of a rollout for rollback: the named ones,
// or every changed host when hosts is empty. Hosts in the middle of their
// pipeline cannot be rolled back until the rollout is paused and they have
// finished. The controller (a running one, or Run called next) rolls them
// back in reverse order of deployment.
func (e *Engine) RequestRollback(ctx context.Context, id string, hosts []string, actor string) ([]string, error) {
	r, err := e.Store.Rollout(ctx, id)
	if err != nil {
		return nil, err
	}
	runs, err := e.Store.HostRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	byName := map[string]patchpilot.HostRun{}
	for _, h := range runs {
		byName[h.Host] = h
	}
	if len(hosts) == 0 {
		if hosts = RollbackCandidates(runs); len(hosts) == 0 {
			return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "rollout %s has no changed host to roll back", id).
				WithHint(NextStep(id, r.State, r.Reason, runs))
		}
	}
	var marked []patchpilot.HostRun
	for _, name := range hosts {
		h, ok := byName[name]
		switch {
		case !ok:
			return nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "host %s is not part of rollout %s", name, id)
		case h.Order == 0 || h.State == patchpilot.HostRolledBack:
			return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "host %s was not changed by rollout %s (state %s)", name, id, h.State)
		case !h.State.Terminal() && h.State != patchpilot.HostRollingBack:
			return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "host %s is in flight (%s)", name, h.State).
				WithHint("pause the rollout, wait for the host to finish its pipeline, then ask again")
		}
		marked = append(marked, h)
	}
	if err := e.laterRollouts(ctx, r, hosts); err != nil {
		return nil, err
	}
	now := e.now()
	for _, h := range marked {
		h.State, h.Reason, h.UpdatedAt, h.FinishedAt = patchpilot.HostRollingBack, "rollback requested by "+actor, now, nil
		if err := e.Store.SaveHostRun(ctx, h); err != nil {
			return nil, err
		}
	}
	if err := e.setRolloutState(ctx, id, r.State, patchpilot.RolloutRollingBack, "rollback of "+strings.Join(hosts, ", ")+" requested by "+actor); err != nil {
		return nil, err
	}
	// From here the rollout holds its hosts and a new rollout over them is
	// refused; one created since the check above is found now, and the
	// request is undone before any controller acts on it (only a rollout
	// that held no hosts before, one that is over, can meet one, and no
	// controller drives it).
	if err := e.laterRollouts(ctx, r, hosts); err != nil {
		undo := context.WithoutCancel(ctx)
		for _, h := range marked {
			if serr := e.Store.SaveHostRun(undo, h); serr != nil {
				return nil, errors.Join(err, serr)
			}
		}
		if serr := e.setRolloutState(undo, id, patchpilot.RolloutRollingBack, r.State, r.Reason); serr != nil {
			return nil, errors.Join(err, serr)
		}
		return nil, err
	}
	e.request(ctx, id, actor, "rollback of "+strings.Join(hosts, ", ")+" requested")
	return hosts, nil
}

// dryRun runs every host's preflight and its stage's health gates once,
// and changes nothing: each host ends skipped with what it would install,
// or failed with the problems found.
func (rn *run) dryRun(ctx context.Context) (patchpilot.RolloutState, error) {
	if rn.r.State == patchpilot.RolloutPending {
		if err := rn.setRollout(ctx, patchpilot.RolloutRunning, "dry run"); err != nil {
			return "", err
		}
	}
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return "", err
	}
	var problems, idle []string
	for _, hr := range all {
		if hr.State.Terminal() {
			continue
		}
		j, err := rn.newJob(ctx, hr, rn.planStage(hr.Stage))
		if err == nil {
			err = j.dial(ctx)
		}
		if err == nil {
			err = j.preflight(ctx)
		}
		if err == nil {
			err = j.gatesBeforeChange(ctx)
		}
		if err != nil && ctx.Err() != nil {
			// The host is no failure: its checks were cut short. It is
			// left skipped, not in the middle of a preflight that no
			// controller will carry on.
			if serr := j.save(context.WithoutCancel(ctx), patchpilot.HostSkipped, "dry run interrupted before its checks ended"); serr != nil {
				rn.e.logger().Warn("store host state", "host", hr.Host, "err", serr)
			}
			j.close()
			return "", rn.dryRunInterrupted(ctx)
		}
		if se := (*stepError)(nil); errors.As(err, &se) && se.state == patchpilot.HostSkipped {
			// Nothing to install: skipped, as the real run skips it.
			idle = append(idle, hr.Host)
			j.fail(ctx, err)
			j.close()
			continue
		}
		if err != nil {
			problems = append(problems, hr.Host)
			j.fail(ctx, err)
			j.close()
			continue
		}
		j.close()
		var parts []string
		for _, c := range j.pre.Changes {
			parts = append(parts, fmt.Sprintf("%s %s→%s", c.Name, orDefault(c.From, "none"), orDefault(c.To, "removed")))
		}
		if j.pre.RebootRequired {
			parts = append(parts, "then reboot")
		}
		j.finish(ctx, patchpilot.HostSkipped, "dry run: would install "+strings.Join(parts, ", "))
	}
	for k := range rn.r.Stages {
		_ = rn.saveStage(ctx, k, patchpilot.StageSkipped, "dry run")
	}
	if len(problems) > 0 {
		return patchpilot.RolloutHalted, rn.setRollout(ctx, patchpilot.RolloutHalted, "dry run: preflight or health gates failed on "+strings.Join(problems, ", "))
	}
	if len(idle) > 0 && len(idle) == len(all) {
		return patchpilot.RolloutSucceeded, rn.setRollout(ctx, patchpilot.RolloutSucceeded, "dry run: nothing to install on "+fewHosts(idle))
	}
	reason := fmt.Sprintf("dry run: preflight passed on %d hosts", len(all)-len(idle))
	if len(idle) > 0 {
		reason += "; nothing to install on " + fewHosts(idle)
	}
	return patchpilot.RolloutSucceeded, rn.setRollout(ctx, patchpilot.RolloutSucceeded, reason)
}

// gatesBeforeChange takes the stage's health baseline and checks the gates
// once against it on the unchanged host, for a dry run. A gate that cannot
// pass before the change (systemctl on a machine without systemd, an
// http_ok URL nothing answers) fails after it as well, so the real run
// would patch the host only to roll it back: the dry run says so instead.
func (j *job) gatesBeforeChange(ctx context.Context) error {
	if j.hc == nil {
		return nil
	}
	j.since = j.rn.e.now()
	t := j.target(ctx)
	base, err := j.hc.Baseline(ctx, t)
	if err != nil {
		return classify("health baseline", err)
	}
	rep, err := j.hc.Check(ctx, t, base)
	if err != nil {
		return classify("health check", err)
	}
	// The check is the dry run's verdict: kept on the host's record, as
	// a bake's last check is, so that the rollout's status and page show
	// each gate's result. It is no gate-verdict event: an unhealthy host
	// before any change is no downtime a patch caused (the KPIs read
	// those events).
	j.hr.Gates = rep.Results
	if rep.Verdict != patchpilot.Unhealthy {
		return nil
	}
	// The verdict's reason names the gates; each gate's own reason says
	// why (the command's error), which is what a person fixes.
	var why []string
	for _, r := range rep.Results {
		if r.Outcome != patchpilot.GatePass && r.Reason != "" {
			why = append(why, r.Gate+": "+r.Reason)
		}
	}
	if len(why) == 0 {
		why = []string{rep.Reason}
	}
	return failed("health gates fail before any change, so the rollout would roll this host back: %s", strings.Join(why, "; "))
}

// dryRunInterrupted ends a dry run whose controller was interrupted (the
// host it was checking is left skipped, no failure). A dry run
// changed nothing and has nothing to resume, so it ends aborted rather
// than staying running, where it would hold its hosts against 'hosts rm';
// the store is written with a context that outlives the interruption.
func (rn *run) dryRunInterrupted(ctx context.Context) error {
	store := context.WithoutCancel(ctx)
	for k := range rn.r.Stages {
		_ = rn.saveStage(store, k, patchpilot.StageSkipped, "dry run interrupted")
	}
	if err := rn.setRollout(store, patchpilot.RolloutAborted, "dry run interrupted: nothing was changed"); err != nil {
		return err
	}
	return patchpilot.Errorf(patchpilot.ECANCELED, "dry run of rollout %s interrupted: nothing was changed", rn.r.ID).
		WithHint("run it again with 'patchpilot rollout start PLAN --dry-run'")
}

// laterRollouts refuses a rollback of rollout r on hosts that a later
// rollout (not a dry run) holds or has changed since. A rollback restores
// the versions a host had before r: over a later rollout's change it would
// undo that change behind its back, and over a rollout still running it
// would act on the host at the same time. A later rollout that rolled the
// host back itself left it as r did, so r may roll it back then.
func (e *Engine) laterRollouts(ctx context.Context, r patchpilot.Rollout, hosts []string) error {
	if len(hosts) == 0 {
		return nil
	}
	// Oldest first, as a refusal of a start names its holders; "later"
	// is the store's order of creation, in which of two rollouts created
	// at one instant only one is later than the other.
	later, err := e.Store.RolloutsOnHosts(ctx, patchpilot.HostsRolloutFilter{Hosts: hosts, After: r.ID})
	if err != nil {
		return err
	}
	var holders []patchpilot.HostsHolder
	var changed, first []string
	for _, y := range later {
		if patchpilot.HoldsHosts(y.State, y.Reason) {
			holders = append(holders, y.Holder())
			continue
		}
		var theirs []string
		for _, h := range y.Hosts {
			if h.Order > 0 && h.State != patchpilot.HostRolledBack {
				theirs = append(theirs, h.Host)
			}
		}
		if len(theirs) > 0 {
			changed = append(changed, fmt.Sprintf("rollout %s changed %s after it", y.Rollout, strings.Join(theirs, ", ")))
			first = append(first, fmt.Sprintf("'patchpilot rollout rollback %s --hosts %s'", y.Rollout, strings.Join(theirs, ",")))
		}
	}
	if len(holders) > 0 {
		return patchpilot.HostsHeldError(holders)
	}
	if len(changed) > 0 {
		slices.Reverse(first)
		return patchpilot.Errorf(patchpilot.ECONFLICT, "rolling back rollout %s would undo later changes: %s", r.ID, strings.Join(changed, "; ")).
			WithHint("a rollback restores the versions a host had before its rollout: roll the later changes back first (" +
				strings.Join(first, ", then ") + "), or patch the hosts forward with a new rollout")
	}
	return nil
}

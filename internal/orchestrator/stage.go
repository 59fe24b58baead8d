package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// stage runs stage i from wherever it stands: it waits for an approval
// the stage needs, dispatches its hosts, and applies the plan's decision.
// done reports that the rollout stopped (its state is returned).
func (rn *run) stage(ctx context.Context, i int) (patchpilot.RolloutState, bool, error) {
	st := rn.r.Stages[i]
	switch st.State {
	case patchpilot.StageSucceeded, patchpilot.StageSkipped, patchpilot.StageFailed, patchpilot.StageRolledBack:
		return rn.r.State, false, nil
	}
	// Each stage starts from the host records as stored.
	rn.invalidate()
	plan := rn.r.Plan
	if requiresApproval(plan.Stages[i], rn.stageHosts(i)) && st.ApprovedBy == "" {
		state, approved, err := rn.waitApproval(ctx, i)
		if err != nil || !approved {
			return state, true, err
		}
	}
	if len(rn.e.ChangeApprovers) > 0 && requiresApproval(plan.Stages[i], rn.stageHosts(i)) && rn.r.Stages[i].State != patchpilot.StageRunning {
		if rn.r.State == patchpilot.RolloutPending || rn.r.State == patchpilot.RolloutWaitingApproval {
			if err := rn.setRollout(ctx, patchpilot.RolloutRunning, "stage "+st.Name+" approved"); err != nil {
				return "", true, err
			}
		}
		state, approved, err := rn.waitChanges(ctx, i)
		if err != nil || !approved {
			return state, true, err
		}
	}
	if rn.r.State != patchpilot.RolloutRunning {
		if err := rn.setRollout(ctx, patchpilot.RolloutRunning, "stage "+st.Name); err != nil {
			return "", true, err
		}
	}
	if st.State != patchpilot.StageRunning {
		if err := rn.saveStage(ctx, i, patchpilot.StageRunning, ""); err != nil {
			return "", true, err
		}
	}
	stop, err := rn.dispatch(ctx, i)
	if err != nil {
		return "", true, err
	}
	switch stop.state {
	case patchpilot.RolloutPaused:
		return patchpilot.RolloutPaused, true, nil
	case patchpilot.RolloutAborted, patchpilot.RolloutRollingBack, patchpilot.RolloutHalted:
		// The stage ends without its decision: hosts it rolled back on
		// its own while it ran get their incident now.
		if all, _, err := rn.hostRuns(ctx, i); err == nil {
			rn.stageIncident(ctx, i, fmt.Sprintf("stage %s stopped (rollout %s: %s)", st.Name, stop.state, stop.reason), all, nil, false)
		}
	}
	switch stop.state {
	case patchpilot.RolloutAborted:
		return rn.aborted(ctx)
	case patchpilot.RolloutRollingBack:
		state, err := rn.rollbackRequested(ctx)
		return state, true, err
	case patchpilot.RolloutHalted:
		return patchpilot.RolloutHalted, true, rn.setRollout(ctx, patchpilot.RolloutHalted, stop.reason)
	}
	return rn.conclude(ctx, i)
}

// stopReason is why a stage stopped dispatching before its hosts ran out.
type stopReason struct {
	state  patchpilot.RolloutState // "" when it just ran out of hosts or failures exceeded the limit
	reason string
}

// dispatch runs the stage's hosts, up to Parallel at once, within the
// disruption budgets and the maintenance windows. It stops dispatching
// once failures exceed MaxFailures or a person pauses, aborts or asks for
// a rollback; hosts in flight always finish.
func (rn *run) dispatch(ctx context.Context, i int) (stopReason, error) {
	stage := rn.r.Plan.Stages[i]
	_, runs, err := rn.hostRuns(ctx, i)
	if err != nil {
		return stopReason{}, err
	}
	// Hosts caught in the middle of their pipeline by a dead controller
	// go first: they may hold a change half made.
	var queue, fresh []patchpilot.HostRun
	for _, h := range runs {
		switch {
		case h.State.Terminal() || h.State == patchpilot.HostRollingBack:
		case h.State == patchpilot.HostPending:
			fresh = append(fresh, h)
		default:
			queue = append(queue, h)
		}
	}
	queue = append(queue, fresh...)
	results := make(chan patchpilot.HostRun)
	inflight := map[string]bool{}
	var stop stopReason
	stopped := false // a rollback failed while the stage ran
	waitingWindow := false
	for {
		all, runs, err := rn.hostRuns(ctx, i)
		if err != nil && len(inflight) == 0 {
			return stop, err
		}
		exceeded := stage.MaxFailures.Exceeded(countFailures(runs), len(runs))
		// An adaptive rollout also caps its batches by the evidence and
		// stops dispatching when the evidence is bad (see adaptive.go).
		parallel, adaptiveStop := rn.dispatchLimit(ctx, all, stage.Parallel)
		exceeded = exceeded || adaptiveStop
		if stop.state == "" && ctx.Err() == nil {
			state, reason, err := rn.currentState(ctx)
			if err == nil {
				switch state {
				case patchpilot.RolloutPaused, patchpilot.RolloutAborted, patchpilot.RolloutRollingBack:
					stop = stopReason{state: state, reason: reason}
				}
			}
		}
		canDispatch := stop.state == "" && !exceeded && !stopped && ctx.Err() == nil && len(queue) > 0 && len(inflight) < parallel
		wait := rn.e.pollInterval()
		if canDispatch {
			open, next, ok := rn.windowOpen()
			switch {
			case !ok || next.Sub(rn.e.now()) > rn.e.maxWindowWait():
				stop = stopReason{state: patchpilot.RolloutHalted, reason: "held: no maintenance window opens within " + rn.e.maxWindowWait().String()}
				canDispatch = false
			case !open:
				if !waitingWindow {
					rn.e.event(ctx, rn.r.ID, "", patchpilot.EventStageState, fmt.Sprintf("stage %s waits for the maintenance window opening at %s", stage.Name, next.Format(time.RFC3339)), nil)
					waitingWindow = true
				}
				wait = min(wait, max(next.Sub(rn.e.now()), time.Millisecond))
				canDispatch = false
			default:
				waitingWindow = false
			}
		}
		if canDispatch {
			down := unavailable(runs, inflight)
			if k := rn.pickHost(queue, down); k >= 0 {
				h := queue[k]
				queue = append(queue[:k:k], queue[k+1:]...)
				inflight[h.Host] = true
				go func() { results <- rn.pipeline(ctx, h, stage) }()
				continue
			}
			if len(inflight) == 0 {
				// Only failed hosts waiting for their rollback hold the
				// budgets now: roll them back at once rather than at the
				// stage's end, so that their groups may go on. A host whose
				// rollback fails stays down, and the stage stops
				// dispatching: a person must look.
				waiting := map[string]patchpilot.HostRun{}
				for _, h := range runs {
					if h.State == patchpilot.HostRollingBack {
						waiting[h.Host] = h
					}
				}
				if len(waiting) == 0 {
					// Nothing the stage can do frees a budget.
					stop = stopReason{state: patchpilot.RolloutHalted, reason: "held: the disruption budgets let none of the stage's remaining hosts go"}
					continue
				}
				_, failedBack := rn.rollbackHosts(ctx, all, reverseOrder(waiting), "")
				if len(failedBack) > 0 {
					stopped = true
				}
				continue
			}
		}
		if len(inflight) == 0 && (stop.state != "" || exceeded || stopped || len(queue) == 0 || ctx.Err() != nil) {
			return stop, ctx.Err()
		}
		if ctx.Err() != nil {
			h := <-results
			delete(inflight, h.Host)
			continue
		}
		select {
		case h := <-results:
			delete(inflight, h.Host)
		case <-rn.e.after(wait):
		case <-ctx.Done():
		}
	}
}

// windowOpen reports whether a maintenance window is open now and, if
// not, when the next one opens (ok false when none ever does).
func (rn *run) windowOpen() (open bool, next time.Time, ok bool) {
	now := rn.e.now()
	if len(rn.r.Plan.Windows) == 0 {
		return true, now, true
	}
	return windowsOpen(rn.r.Plan.Windows, now)
}

func windowsOpen(ws []patchpilot.MaintenanceWindow, now time.Time) (open bool, next time.Time, ok bool) {
	for _, w := range ws {
		if planner.WindowContains(w, now) {
			return true, now, true
		}
		if t, found := planner.WindowNextOpen(w, now); found && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	return false, next, ok
}

// pickHost returns the index of the first queued host the disruption
// budgets let go now, or -1. down holds the hosts that are unavailable.
func (rn *run) pickHost(queue []patchpilot.HostRun, down map[string]bool) int {
	for k, h := range queue {
		if rn.budgetAllows(h.Host, down) {
			return k
		}
	}
	return -1
}

// unavailable returns the hosts a disruption budget counts as down: those
// in flight, and those that failed after their change and wait in
// rolling_back for their rollback.
func unavailable(runs []patchpilot.HostRun, inflight map[string]bool) map[string]bool {
	down := make(map[string]bool, len(inflight))
	for h := range inflight {
		down[h] = true
	}
	for _, h := range runs {
		if h.State == patchpilot.HostRollingBack {
			down[h.Host] = true
		}
	}
	return down
}

// budgetAllows applies every disruption budget that covers the host: the
// unavailable hosts of its group must stay below what the budget allows
// for the group's size among the rollout's targets.
func (rn *run) budgetAllows(host string, down map[string]bool) bool {
	for i, b := range rn.r.Plan.Budgets {
		group, in := rn.budgetGroup(i, host)
		if !in {
			continue
		}
		size, busy := 0, 0
		for name := range rn.hosts {
			if g, ok := rn.budgetGroup(i, name); ok && g == group {
				size++
				if down[name] {
					busy++
				}
			}
		}
		if busy >= b.Allowed(size) {
			return false
		}
	}
	return true
}

// budgetGroup returns the group a host falls in under the plan's i-th
// budget, and false when the budget does not cover it. A run's hosts,
// facts and budgets do not change, so each host's group is worked out
// once per run (from its view, which copies its package list).
func (rn *run) budgetGroup(i int, host string) (string, bool) {
	rn.groupsMu.Lock()
	defer rn.groupsMu.Unlock()
	if rn.groups == nil {
		rn.groups = map[int]map[string]budgetMembership{}
	}
	m := rn.groups[i]
	if m == nil {
		m = map[string]budgetMembership{}
		rn.groups[i] = m
	}
	g, ok := m[host]
	if !ok {
		g.group, g.in = budgetGroupOf(rn.r.Plan.Budgets[i], rn.view(host))
		m[host] = g
	}
	return g.group, g.in
}

// budgetMembership is a host's group under one budget.
type budgetMembership struct {
	group string
	in    bool
}

func countFailures(runs []patchpilot.HostRun) int {
	n := 0
	for _, h := range runs {
		if isFailure(h.State) {
			n++
		}
	}
	return n
}

// isFailure reports whether a host state counts against max_failures.
func isFailure(s patchpilot.HostState) bool {
	switch s {
	case patchpilot.HostFailed, patchpilot.HostUnreachable, patchpilot.HostRollingBack,
		patchpilot.HostRolledBack, patchpilot.HostRollbackFailed:
		return true
	}
	return false
}

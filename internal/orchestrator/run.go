package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// run is one controller's pass over one rollout: the rollout as read at
// the start, its hosts and their facts, and the deployment order counter.
type run struct {
	e     *Engine
	r     patchpilot.Rollout
	hosts map[string]patchpilot.Host
	facts map[string]*patchpilot.Facts

	mu       sync.Mutex
	order    int                                   // highest deployment order handed out
	reboot   map[string]bool                       // hosts whose transaction needs a reboot, as learnt this pass
	pre      map[string]patchpilot.PreflightReport // dry runs of this pass, for the risk features
	adaptive adaptiveState                         // the adaptive planner's prior and halt, when the plan is adaptive
	prep     *preparation                          // preflights run ahead of their stage (prepare.go)

	groupsMu sync.Mutex
	groups   map[int]map[string]budgetMembership // by budget index, then host: see budgetGroup

	records hostRunView // the rollout's host records (hostruns.go)
}

// Run drives a rollout until it ends, halts, pauses or waits for an
// approval, and returns the state it left the rollout in. It holds the
// rollout's lease while it runs and refuses to run when another live
// controller holds it. Hosts found in the middle of their pipeline (after
// a controller died) are re-examined on the host before anything is done.
func (e *Engine) Run(ctx context.Context, id string) (patchpilot.RolloutState, error) {
	state, err := e.run(ctx, id)
	if err == nil && state.Final() && e.OnFinish != nil {
		e.OnFinish(context.WithoutCancel(ctx), id, state)
	}
	return state, err
}

func (e *Engine) run(ctx context.Context, id string) (patchpilot.RolloutState, error) {
	owner := e.owner()
	granted, holder, err := e.acquireLease(ctx, id, owner)
	if err != nil {
		return "", err
	}
	if !granted {
		return "", patchpilot.Errorf(patchpilot.ECONFLICT, "rollout %s is driven by another controller (%s)", id, holder).
			WithHint(fmt.Sprintf("wait for it to finish, or for its lease to expire within %s if it died on another machine "+
				"(a dead controller of this machine is taken over at once)", e.leaseTTL()))
	}
	defer func() {
		if err := e.Store.ReleaseLease(context.WithoutCancel(ctx), id, owner); err != nil {
			e.logger().Warn("release lease", "rollout", id, "err", err)
		}
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go e.renewLease(ctx, cancel, done, id, owner)

	state, err := e.drive(e.draining(ctx, id), id)
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if err != nil && ctx.Err() == nil && drained(e.Drain) {
		err = patchpilot.Errorf(patchpilot.ECANCELED, "rollout %s: the controller stopped; hosts in flight finished their step, and the next controller carries on from there", id).
			WithHint(fmt.Sprintf("patchpilot rollout resume %s", id))
	}
	return state, err
}

// stepsKey keys the context that a host's steps run under while Drain
// is not closed (see Engine.Drain).
type stepsKey struct{}

// draining returns ctx ended when Drain closes, carrying ctx itself for
// the steps that must not be cut off (stepContext).
func (e *Engine) draining(ctx context.Context, id string) context.Context {
	if e.Drain == nil {
		return ctx
	}
	soft, stop := context.WithCancel(context.WithValue(ctx, stepsKey{}, ctx))
	go func() {
		defer stop()
		select {
		case <-e.Drain:
			stop()
			e.event(ctx, id, "", patchpilot.EventLease, fmt.Sprintf("controller %s stops: hosts in flight finish their step, then it releases the lease of rollout %s", e.owner(), id), nil)
		case <-soft.Done():
		}
	}()
	return soft
}

// stepContext is the context a host's step runs its commands under: the
// run's own context, which Drain does not end.
func stepContext(ctx context.Context) context.Context {
	if steps, ok := ctx.Value(stepsKey{}).(context.Context); ok {
		return steps
	}
	return ctx
}

// drained reports whether ch is closed.
func drained(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// renewLease keeps the lease alive at a third of its lifetime, on the
// wall clock (the store's leases expire on it). Losing the lease cancels
// the run: another controller may have taken over.
func (e *Engine) renewLease(ctx context.Context, cancel context.CancelCauseFunc, done <-chan struct{}, id, owner string) {
	t := time.NewTicker(e.leaseTTL() / 3)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		granted, holder, err := e.Store.AcquireLease(ctx, id, owner, e.leaseTTL())
		if err != nil {
			e.logger().Warn("renew lease", "rollout", id, "err", err)
			continue
		}
		if !granted {
			cancel(patchpilot.Errorf(patchpilot.ECONFLICT, "lost the lease of rollout %s to %s", id, holder))
			return
		}
	}
}

// drive is Run under the lease.
func (e *Engine) drive(ctx context.Context, id string) (patchpilot.RolloutState, error) {
	r, err := e.load(ctx, id)
	if err != nil {
		return "", err
	}
	switch r.State {
	case patchpilot.RolloutPaused:
		return r.State, nil
	}
	if r.State.Final() {
		return r.State, nil
	}
	rn, err := e.newRun(ctx, r)
	if err != nil {
		return "", err
	}
	if r.State == patchpilot.RolloutRollingBack {
		return rn.rollbackRequested(ctx)
	}
	if r.DryRun {
		return rn.dryRun(ctx)
	}
	if r.State == patchpilot.RolloutPending {
		reason := "started"
		if r.CreatedBy != "" {
			reason += " by " + r.CreatedBy
		}
		if err := rn.setRollout(ctx, patchpilot.RolloutRunning, reason+", driven by controller "+e.owner()); err != nil {
			return "", err
		}
	}
	// While a stage runs, the next stage's preflights run (prepare.go);
	// those still running when the pass ends are stopped.
	defer rn.stopPreparing()
	for i := range rn.r.Stages {
		rn.prepare(ctx, i+1)
		state, done, err := rn.stage(ctx, i)
		if err != nil || done {
			return state, err
		}
		if state, done, err := rn.adapt(ctx, i); err != nil || done {
			return state, err
		}
	}
	return rn.finishSucceeded(ctx)
}

func (e *Engine) newRun(ctx context.Context, r patchpilot.Rollout) (*run, error) {
	rn := &run{e: e, r: r, hosts: map[string]patchpilot.Host{}, facts: map[string]*patchpilot.Facts{},
		reboot: map[string]bool{}, pre: map[string]patchpilot.PreflightReport{}}
	for _, s := range r.Stages {
		for _, name := range s.Hosts {
			h, err := e.Store.Host(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("host %s of rollout %s: %w", name, r.ID, err)
			}
			rn.hosts[name] = h
			f, err := e.Store.LatestFacts(ctx, name)
			switch {
			case err == nil:
				rn.facts[name] = &f
			case patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND:
				return nil, err
			}
		}
	}
	runs, err := e.Store.HostRuns(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, h := range runs {
		rn.order = max(rn.order, h.Order)
	}
	rn.records.runs, rn.records.index, rn.records.ok, rn.records.reads = runs, make(map[string]int, len(runs)), true, 1
	for k, h := range runs {
		rn.records.index[h.Host] = k
	}
	rn.records.state, rn.records.reason = r.State, r.Reason
	return rn, nil
}

// nextOrder hands out the next position in deployment order.
func (rn *run) nextOrder() int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.order++
	return rn.order
}

func (rn *run) setRollout(ctx context.Context, state patchpilot.RolloutState, reason string) error {
	if err := rn.e.setRolloutState(ctx, rn.r.ID, rn.r.State, state, reason); err != nil {
		return err
	}
	rn.r.State, rn.r.Reason = state, reason
	rn.sawRollout(state, reason, true)
	return nil
}

// setRolloutState stores a rollout's new state and writes its
// rollout.state event (with the RolloutStateData payload the integrations
// read): every change of a rollout's state goes through here.
func (e *Engine) setRolloutState(ctx context.Context, id string, previous, state patchpilot.RolloutState, reason string) error {
	if err := e.Store.SetRolloutState(ctx, id, state, reason); err != nil {
		return err
	}
	msg := "rollout " + string(state)
	if reason != "" {
		msg += ": " + reason
	}
	data, _ := json.Marshal(patchpilot.RolloutStateData{State: state, Reason: reason, Previous: previous})
	e.event(ctx, id, "", patchpilot.EventRolloutState, msg, data)
	return nil
}

func (rn *run) saveStage(ctx context.Context, i int, state patchpilot.StageState, reason string) error {
	s := &rn.r.Stages[i]
	now := rn.e.now()
	s.State, s.Reason = state, reason
	switch state {
	case patchpilot.StageRunning:
		if s.StartedAt == nil {
			s.StartedAt = &now
		}
	case patchpilot.StageSucceeded, patchpilot.StageFailed, patchpilot.StageRolledBack, patchpilot.StageSkipped:
		s.FinishedAt = &now
	}
	if err := rn.e.Store.SaveStage(ctx, *s); err != nil {
		return err
	}
	msg := fmt.Sprintf("stage %s %s", s.Name, state)
	if reason != "" {
		msg += ": " + reason
	}
	data, _ := json.Marshal(patchpilot.StageStateData{Stage: s.Name, State: state, Reason: reason})
	rn.e.event(ctx, rn.r.ID, "", patchpilot.EventStageState, msg, data)
	return nil
}

func stageRuns(all []patchpilot.HostRun, stage string) []patchpilot.HostRun {
	var out []patchpilot.HostRun
	for _, h := range all {
		if h.Stage == stage {
			out = append(out, h)
		}
	}
	return out
}

// current re-reads the rollout's state, which a person may have changed;
// a change made by someone else drops the view of the host records, which
// a control request may have written.
func (rn *run) current(ctx context.Context) (patchpilot.Rollout, error) {
	r, err := rn.e.Store.Rollout(ctx, rn.r.ID)
	if err == nil {
		rn.sawRollout(r.State, r.Reason, false)
	}
	return r, err
}

// currentState is current for the rollout's state and reason alone.
func (rn *run) currentState(ctx context.Context) (patchpilot.RolloutState, string, error) {
	state, reason, err := rn.e.Store.RolloutState(ctx, rn.r.ID)
	if err == nil {
		rn.sawRollout(state, reason, false)
	}
	return state, reason, err
}

func (rn *run) stageHosts(i int) []patchpilot.Host {
	var hs []patchpilot.Host
	for _, name := range rn.r.Stages[i].Hosts {
		hs = append(hs, rn.hosts[name])
	}
	return hs
}

func (rn *run) view(name string) planner.HostView {
	return planner.NewHostView(rn.hosts[name], rn.facts[name])
}

// finishSucceeded ends a rollout whose stages all passed.
func (rn *run) finishSucceeded(ctx context.Context) (patchpilot.RolloutState, error) {
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return "", err
	}
	ok, failed := 0, 0
	for _, h := range all {
		if h.State == patchpilot.HostSucceeded {
			ok++
		} else if isFailure(h.State) {
			failed++
		}
	}
	reason := fmt.Sprintf("%d of %d hosts succeeded", ok, len(all))
	if failed > 0 {
		reason += fmt.Sprintf(", %d failed within the plan's limits", failed)
	}
	return patchpilot.RolloutSucceeded, rn.setRollout(ctx, patchpilot.RolloutSucceeded, reason)
}

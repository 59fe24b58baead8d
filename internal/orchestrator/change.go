package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DefaultChangePollInterval is how often the engine asks a change
// approver whether the change of a waiting stage was approved.
const DefaultChangePollInterval = 30 * time.Second

func (e *Engine) changePollInterval() time.Duration {
	return orDefault(e.ChangePollInterval, DefaultChangePollInterval)
}

// waitChanges holds stage i, which needs an approval, until every change
// approver says the rollout's change is approved. It returns ok false with
// the rollout's state when the rollout stopped meanwhile (paused, aborted)
// or was halted: the change was rejected, or it does not exist and could
// not be made (fail closed). The wait is stored, not remembered: the stage
// stays waiting_approval until every change is approved, so a controller
// that takes the rollout over asks again and keeps waiting.
func (rn *run) waitChanges(ctx context.Context, i int) (patchpilot.RolloutState, bool, error) {
	for _, ca := range rn.e.ChangeApprovers {
		if state, ok, err := rn.waitChange(ctx, i, ca); err != nil || !ok {
			return state, false, err
		}
	}
	return rn.r.State, true, nil
}

func (rn *run) waitChange(ctx context.Context, i int, ca patchpilot.ChangeApprover) (patchpilot.RolloutState, bool, error) {
	st := rn.r.Stages[i]
	announced, failing := false, false
	var next time.Time // the next time to ask the service; zero: now
	for {
		if !rn.e.now().Before(next) {
			a, err := ca.Approval(ctx, rn.r, st.Name)
			var de *patchpilot.DeliveryError
			switch {
			case err != nil && ctx.Err() != nil:
				return patchpilot.RolloutRunning, false, ctx.Err()
			case err != nil && errors.As(err, &de) && de.Retryable:
				rn.e.logger().Warn("ask change approval", "rollout", rn.r.ID, "integration", ca.Name(), "err", err)
				if !failing {
					failing = true
					rn.e.event(ctx, rn.r.ID, "", patchpilot.EventChangeApproval,
						fmt.Sprintf("stage %s: the change approval could not be checked in %s, asking again: %v", st.Name, ca.Name(), err), nil)
				}
				next = rn.e.now().Add(max(rn.e.changePollInterval(), de.RetryAfter))
			case err != nil:
				return rn.changeHalt(ctx, i, fmt.Sprintf("stage %s needs its change approved in %s, and it could not be checked: %v", st.Name, ca.Name(), err))
			case a.State == patchpilot.ChangeApproved:
				rn.e.event(ctx, rn.r.ID, "", patchpilot.EventChangeApproval,
					fmt.Sprintf("stage %s: change %s approved in %s", st.Name, a.Change, ca.Name()), nil)
				return rn.r.State, true, nil
			case a.State == patchpilot.ChangeRejected:
				reason := fmt.Sprintf("change %s was rejected in %s", a.Change, ca.Name())
				if a.Detail != "" {
					reason += " (" + a.Detail + ")"
				}
				return rn.changeHalt(ctx, i, "stage "+st.Name+" not started: "+reason)
			default:
				failing = false
				if !announced {
					announced = true
					why := fmt.Sprintf("waits for change %s to be approved in %s", a.Change, ca.Name())
					if err := rn.saveStage(ctx, i, patchpilot.StageWaitingApproval, why); err != nil {
						return "", false, err
					}
					if err := rn.setRollout(ctx, patchpilot.RolloutRunning, "stage "+st.Name+" "+why); err != nil {
						return "", false, err
					}
					rn.e.event(ctx, rn.r.ID, "", patchpilot.EventChangeApproval, "stage "+st.Name+" "+why, nil)
				}
				next = rn.e.now().Add(rn.e.changePollInterval())
			}
		}
		cur, err := rn.current(ctx)
		if err != nil {
			return "", false, err
		}
		if cur.State != patchpilot.RolloutRunning {
			if cur.State == patchpilot.RolloutAborted {
				state, _, err := rn.aborted(ctx)
				return state, false, err
			}
			return cur.State, false, nil
		}
		if err := rn.e.sleep(ctx, min(rn.e.pollInterval(), next.Sub(rn.e.now()))); err != nil {
			return patchpilot.RolloutRunning, false, err
		}
	}
}

// changeHalt stops the rollout before stage i: the stage, which did not
// start, goes back to pending with the reason, as the later stages of a
// halted rollout stay pending (it no longer waits for an approval), and
// the rollout is halted with the reason.
func (rn *run) changeHalt(ctx context.Context, i int, reason string) (patchpilot.RolloutState, bool, error) {
	if err := rn.saveStage(ctx, i, patchpilot.StagePending, reason); err != nil {
		return "", false, err
	}
	return patchpilot.RolloutHalted, false, rn.setRollout(ctx, patchpilot.RolloutHalted, reason)
}

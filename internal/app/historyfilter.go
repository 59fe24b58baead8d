package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
)

// CheckOutcomeFilter tells an empty history from a misspelt host or
// rollout: one that is neither stored nor named by any outcome does not
// exist (ENOTFOUND). A removed host keeps its outcomes, so it is found by
// them.
func (a *App) CheckOutcomeFilter(ctx context.Context, f patchpilot.OutcomeFilter) error {
	if f.Host != "" {
		if _, err := a.Store.Host(ctx, f.Host); patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Host: f.Host, Limit: 1})
			if err != nil {
				return err
			}
			if len(outs) == 0 {
				return patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q: no such host, and no history names it", f.Host).
					WithHint("list the hosts with 'patchpilot hosts'")
			}
		}
	}
	if f.Rollout != "" {
		if _, err := a.Store.Rollout(ctx, f.Rollout); patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Rollout: f.Rollout, Limit: 1})
			if err != nil {
				return err
			}
			if len(outs) == 0 {
				return patchpilot.Errorf(patchpilot.ENOTFOUND, "rollout %q: no such rollout, and no history names it", f.Rollout).
					WithHint("list the rollouts with 'patchpilot rollout list'")
			}
		}
	}
	return nil
}

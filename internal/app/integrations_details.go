package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
)

// addRolloutDetails reads what notifications show of their rollout
// beyond the rollout itself: its host pipelines (counted in summaries)
// and its incidents (listed in the e-mail summary; PagerDuty resolves
// each one's alert when the rollout finishes well). The delivery of
// notifications calls it for each notification with a rollout.
func (a *App) addRolloutDetails(ctx context.Context, n *patchpilot.Notification) error {
	if n.Rollout == nil || n.Rollout.ID == "" {
		return nil
	}
	hosts, err := a.Store.HostRuns(ctx, n.Rollout.ID)
	if err != nil {
		return err
	}
	incidents, err := a.Store.Incidents(ctx, n.Rollout.ID)
	if err != nil {
		return err
	}
	n.Hosts, n.Incidents = hosts, incidents
	return nil
}

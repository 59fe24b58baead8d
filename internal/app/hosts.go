package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// RemoveHosts deletes hosts with their facts, keeping their history
// (events, rollouts, outcomes), and records the removal in the audit log.
// A host assigned to a rollout that is not finished is refused with
// ECONFLICT and nothing is removed: its controller still needs the host's
// connection details to carry on, resume or roll back.
func (a *App) RemoveHosts(ctx context.Context, names []string) error {
	rollouts, err := a.Store.Rollouts(ctx, patchpilot.RolloutFilter{})
	if err != nil {
		return err
	}
	for _, r := range rollouts {
		if r.State.Final() {
			continue
		}
		for _, s := range r.Stages {
			for _, h := range s.Hosts {
				if slices.Contains(names, h) {
					return patchpilot.Errorf(patchpilot.ECONFLICT, "host %s is a target of rollout %s, which is %s", h, r.ID, r.State).
						WithHint(fmt.Sprintf("let the rollout finish, or end it with 'patchpilot rollout abort %s', then remove the host", r.ID))
				}
			}
		}
	}
	if err := a.Store.RemoveHosts(ctx, names); err != nil {
		return err
	}
	data, _ := json.Marshal(patchpilot.HostsRemovedData{Hosts: names})
	return a.record(ctx, patchpilot.Event{Kind: patchpilot.EventHostsRemoved,
		Message: "removed hosts " + strings.Join(names, ", ") + " with their facts; their history is kept", Data: data})
}

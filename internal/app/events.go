package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// EventData decodes an event's payload into its kind's type (see
// patchpilot.NewEventData), reading payloads as older versions wrote them
// too. It returns nil for an event without payload, and the raw JSON for
// a kind this version does not know.
func EventData(e patchpilot.Event) (any, error) {
	if len(e.Data) == 0 {
		return nil, nil
	}
	v := patchpilot.NewEventData(e.Kind)
	if v == nil {
		return e.Data, nil
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "event %d (%s): payload: %w", e.ID, e.Kind, err)
	}
	return v, nil
}

// RolloutEvents returns a rollout's events in order, each payload in the
// current shape of its kind, whichever version wrote it. A payload that
// does not decode is left as it was stored.
func (a *App) RolloutEvents(ctx context.Context, id string) ([]patchpilot.Event, error) {
	if _, err := a.Store.Rollout(ctx, id); err != nil {
		return nil, err
	}
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Rollout: id})
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []patchpilot.Event{}
	}
	for i, e := range evs {
		v, err := EventData(e)
		if err != nil || v == nil {
			continue
		}
		if _, raw := v.(json.RawMessage); raw {
			continue
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode event %d: %w", e.ID, err)
		}
		evs[i].Data = data
	}
	return evs, nil
}

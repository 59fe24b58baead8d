package app

import (
	"context"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
)

// eventIndex keeps what the downtime KPI needs of the event log, in id
// order: every host state event and every unhealthy gate verdict, without
// their data. The log is append-only and never rewritten (the store
// refuses updates and deletes), so the index only ever reads the events
// stored since it last read: a KPI query reads the new events, not the
// period's.
type eventIndex struct {
	mu         sync.Mutex
	stateAfter int64 // the last host state event read
	gateAfter  int64 // the last gate verdict event read
	states     []indexedEvent
	unhealthy  []indexedEvent
	names      map[string]string // interned host and rollout names
}

type indexedEvent struct {
	at            time.Time
	rollout, host string
	state         patchpilot.HostState // host state events only
}

// eventPage is how many events one read of the index takes.
const eventPage = 20000

// read brings the index up to date and returns the host state events and
// unhealthy verdicts between from and to (inclusive), in id order. The
// slices returned are the caller's.
func (x *eventIndex) read(ctx context.Context, st patchpilot.Store, from, to time.Time) (states, unhealthy []indexedEvent, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.names == nil {
		x.names = map[string]string{}
	}
	intern := func(s string) string {
		if v, ok := x.names[s]; ok {
			return v
		}
		x.names[s] = s
		return s
	}
	for {
		evs, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventHostState, AfterID: x.stateAfter, Limit: eventPage, NoData: true})
		if err != nil {
			return nil, nil, err
		}
		for _, e := range evs {
			x.states = append(x.states, indexedEvent{at: e.Time, rollout: intern(e.Rollout), host: intern(e.Host), state: hostStateOf(e)})
			x.stateAfter = e.ID
		}
		if len(evs) < eventPage {
			break
		}
	}
	for {
		evs, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventGateVerdict, AfterID: x.gateAfter, Limit: eventPage})
		if err != nil {
			return nil, nil, err
		}
		for _, e := range evs {
			x.gateAfter = e.ID
			if e.Host == "" || len(e.Data) == 0 || patchpilot.VerdictOf(e.Data) != patchpilot.Unhealthy {
				continue
			}
			x.unhealthy = append(x.unhealthy, indexedEvent{at: e.Time, rollout: intern(e.Rollout), host: intern(e.Host)})
		}
		if len(evs) < eventPage {
			break
		}
	}
	in := func(list []indexedEvent) []indexedEvent {
		var out []indexedEvent
		for _, e := range list {
			if !e.at.Before(from) && !e.at.After(to) {
				out = append(out, e)
			}
		}
		return out
	}
	return in(x.states), in(x.unhealthy), nil
}

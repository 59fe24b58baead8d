package orchestrator

import (
	"context"
	"slices"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// hostRunView is a run's copy of its rollout's host records, so that a
// dispatch does not read every record of the rollout again. The run holds
// the rollout's lease and makes nearly every write to them itself:
//
//   - each of its writes goes to the store first (the record is durable
//     before the step it records, as always) and is then read back from
//     the store into the view (in the write's own transaction when the
//     record goes with its event), so that the view holds exactly what the
//     store would list (its clock's UpdatedAt, times in UTC, empty maps as
//     nil);
//   - a write that fails, and a move of hosts between stages, drop the
//     view: the next read lists the records from the store again;
//   - other processes write host records only through control requests
//     (RequestRollback marks hosts and then changes the rollout's state),
//     so the view is dropped whenever the run sees the rollout's state or
//     reason changed by someone else (current), and at the start of each
//     stage and of each way the run ends (abort, rollback on request).
//
// The records it hands out share their maps and slices with the view:
// callers read them and write changes through saveHostRun, never in place.
type hostRunView struct {
	mu    sync.Mutex
	ok    bool
	runs  []patchpilot.HostRun
	index map[string]int // host -> position in runs

	// state and reason are the rollout's as this run last set or read
	// them; a read that finds others means someone else changed them.
	state  patchpilot.RolloutState
	reason string

	reads int // lists read from the store, for the tests
}

// hostRuns returns every host record of the rollout, and those of stage i.
func (rn *run) hostRuns(ctx context.Context, i int) (all, stage []patchpilot.HostRun, err error) {
	v := &rn.records
	v.mu.Lock()
	if !v.ok {
		runs, err := rn.e.Store.HostRuns(ctx, rn.r.ID)
		if err != nil {
			v.mu.Unlock()
			return nil, nil, err
		}
		v.runs, v.index, v.ok = runs, make(map[string]int, len(runs)), true
		for k, h := range runs {
			v.index[h.Host] = k
		}
		v.reads++
	}
	all = slices.Clone(v.runs)
	v.mu.Unlock()
	if all == nil {
		all = []patchpilot.HostRun{}
	}
	if i >= 0 {
		stage = stageRuns(all, rn.r.Stages[i].Name)
	}
	return all, stage, nil
}

// saveHostRun stores a host's record and brings the view up to date with
// it, as the store reads it back.
func (rn *run) saveHostRun(ctx context.Context, h patchpilot.HostRun) error {
	if err := rn.e.Store.SaveHostRun(ctx, h); err != nil {
		rn.invalidate()
		return err
	}
	rn.reread(ctx, h.Host)
	return nil
}

// saveHostRunNoting stores a host's record together with the host state
// event that announces it (msg), in one transaction, and shows the event
// to OnEvent. When the store refuses the pair, the record and the event
// are stored one after the other, as saveHostRun and Engine.event do: an
// event that cannot be stored is logged and does not stop the host.
func (rn *run) saveHostRunNoting(ctx context.Context, h patchpilot.HostRun, msg string) error {
	ev := patchpilot.Event{Actor: rn.e.actor(), Kind: patchpilot.EventHostState, Rollout: rn.r.ID, Host: h.Host, Message: msg}
	record, stored, err := rn.e.Store.SaveHostRunEvent(ctx, h, ev)
	if err != nil {
		if err := rn.saveHostRun(ctx, h); err != nil {
			return err
		}
		rn.e.event(ctx, rn.r.ID, h.Host, patchpilot.EventHostState, msg, nil)
		return nil
	}
	rn.keep(h.Host, record, nil)
	if rn.e.OnEvent != nil {
		rn.e.OnEvent(stored)
	}
	return nil
}

// reread brings a host's record in the view up to date with the store
// after the run stored it.
func (rn *run) reread(ctx context.Context, host string) {
	stored, err := rn.e.Store.HostRun(ctx, rn.r.ID, host)
	rn.keep(host, stored, err)
}

// keep puts a host's record, as the store read it back after the run's
// write (err: it could not), into the view.
func (rn *run) keep(host string, stored patchpilot.HostRun, err error) {
	v := &rn.records
	v.mu.Lock()
	defer v.mu.Unlock()
	k, found := v.index[host]
	switch {
	case !v.ok:
	case err != nil || !found:
		// The record is stored; the view lists the records again.
		v.ok = false
	default:
		v.runs[k] = stored
	}
}

// invalidate drops the view: the next hostRuns lists the records from the
// store.
func (rn *run) invalidate() {
	rn.records.mu.Lock()
	rn.records.ok = false
	rn.records.mu.Unlock()
}

// sawRollout notes the rollout's state and reason as the store gave them
// (own is true when this run has just set them) and drops the view when a
// read finds them changed by someone else.
func (rn *run) sawRollout(state patchpilot.RolloutState, reason string, own bool) {
	v := &rn.records
	v.mu.Lock()
	defer v.mu.Unlock()
	if !own && (state != v.state || reason != v.reason) {
		v.ok = false
	}
	v.state, v.reason = state, reason
}

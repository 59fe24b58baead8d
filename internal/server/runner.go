package server

import (
	"context"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// runner drives the rollouts of this server: one goroutine per rollout,
// kicked again after a request (approve, resume, rollback) that it must
// act on; the request itself is on record before the kick. The engine holds the rollout's lease while it drives it.
type runner struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	// drain, closed at shutdown, stops the controllers cleanly: hosts in
	// flight finish their step (app.EngineOptions.Drain).
	drain chan struct{}

	mu       sync.Mutex
	active   map[string]*drive
	stopping bool
	wg       sync.WaitGroup
}

// drive is one rollout's goroutine and what it must do next.
type drive struct {
	again bool // a request came in while it ran: run once more
}

func newRunner(s *Server) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{s: s, ctx: ctx, cancel: cancel, drain: make(chan struct{}), active: map[string]*drive{}}
}

// kick makes sure a goroutine drives the rollout. It reports false when
// the server is shutting down and takes no new work.
func (rn *runner) kick(id string) bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.stopping {
		return false
	}
	if d, ok := rn.active[id]; ok {
		d.again = true
		return true
	}
	rn.active[id] = &drive{}
	rn.wg.Add(1)
	go rn.loop(id)
	return true
}

// loop drives the rollout until it stops (ends, waits for a person, is
// paused, or the server stops), once more for each request that came in
// meanwhile.
func (rn *runner) loop(id string) {
	defer rn.wg.Done()
	log := rn.s.log.With("rollout", id)
	for {
		state, err := rn.s.ctrl.Run(rn.ctx, id)
		switch {
		case patchpilot.ErrorCode(err) == patchpilot.ECONFLICT:
			log.Warn("rollout not driven here", "err", err)
		case err != nil && (rn.ctx.Err() != nil || rn.isStopping()):
			log.Info("rollout left for the next start of the server", "err", err)
		case err != nil:
			log.Error("rollout stopped on an error", "err", err)
		default:
			log.Info("rollout stopped", "state", state)
		}
		rn.s.notify.wake()
		if state == patchpilot.RolloutWaitingApproval {
			// It may wait for an auto-approval: the watch learns when.
			rn.s.wakeAutoApprovals()
		}
		rn.mu.Lock()
		d := rn.active[id]
		if d.again && !rn.stopping {
			d.again = false
			rn.mu.Unlock()
			continue
		}
		delete(rn.active, id)
		rn.mu.Unlock()
		return
	}
}

// stopAll takes no more work, stops every rollout driven here and waits
// until each has stopped at a stored state and released its lease: hosts
// in flight finish the step they are in. When ctx ends first, the steps
// still running are cut off (their records keep the step, which the next
// controller examines on the host).
func (rn *runner) stopAll(ctx context.Context) {
	rn.mu.Lock()
	if !rn.stopping {
		rn.stopping = true
		close(rn.drain)
	}
	rn.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		rn.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		rn.s.log.Warn("shutdown: cutting off the host steps still running", "rollouts", rn.running())
		rn.cancel()
		<-stopped
	}
	rn.cancel()
}

func (rn *runner) isStopping() bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.stopping
}

// running lists the rollouts driven here now.
func (rn *runner) running() []string {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	var ids []string
	for id := range rn.active {
		ids = append(ids, id)
	}
	return ids
}

package orchestrator

import (
	"context"
	"fmt"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// dependentConns are the connections a host's pipeline opened to its
// dependents for the dependents_reachable gate: one per dependent, kept
// for the whole bake and closed with the pipeline.
type dependentConns struct {
	mu      sync.Mutex
	runners map[string]patchpilot.Runner
}

// dependents returns the plan's dependents of the job's host, each marked
// Skip when it is itself in the middle of its change, or down, in this
// rollout: its view of the host says nothing of the host's change then.
func (j *job) dependents(ctx context.Context) []patchpilot.HealthDependent {
	deps := j.rn.r.Plan.Health.Dependents[j.host.Name]
	if len(deps) == 0 {
		return nil
	}
	states := map[string]patchpilot.HostState{}
	if runs, _, err := j.rn.hostRuns(ctx, -1); err == nil {
		for _, hr := range runs {
			states[hr.Host] = hr.State
		}
	} else {
		j.rn.e.logger().Warn("read host states for the dependents gate", "rollout", j.rn.r.ID, "err", err)
	}
	out := make([]patchpilot.HealthDependent, 0, len(deps))
	for _, d := range deps {
		d.Ports = append([]int(nil), d.Ports...)
		if st, ok := states[d.Host]; ok {
			d.Skip = dependentSkip(st)
		}
		out = append(out, d)
	}
	return out
}

// dependentSkip says why a dependent in the given state of this rollout is
// not checked, or "" when it is.
func dependentSkip(st patchpilot.HostState) string {
	switch st {
	case patchpilot.HostPreflight, patchpilot.HostSnapshot, patchpilot.HostApply, patchpilot.HostReboot,
		patchpilot.HostVerify, patchpilot.HostRollingBack:
		return fmt.Sprintf("being patched in this rollout (%s)", st)
	case patchpilot.HostUnreachable, patchpilot.HostRollbackFailed:
		return fmt.Sprintf("down in this rollout (%s)", st)
	}
	return ""
}

// dialDependent connects to a dependent, or returns the connection the
// pipeline already has to it. The host's record comes from the rollout's
// own hosts when the dependent is one of them, from the store otherwise.
func (j *job) dialDependent(ctx context.Context, name string) (patchpilot.Runner, error) {
	j.deps.mu.Lock()
	defer j.deps.mu.Unlock()
	if r, ok := j.deps.runners[name]; ok {
		return r, nil
	}
	h, ok := j.rn.hosts[name]
	if !ok {
		var err error
		if h, err = j.rn.e.Store.Host(ctx, name); err != nil {
			return nil, err
		}
	}
	conn, err := j.rn.e.Dialer.Dial(ctx, h)
	if err != nil {
		return nil, err
	}
	if j.deps.runners == nil {
		j.deps.runners = map[string]patchpilot.Runner{}
	}
	r := &dependentRunner{Runner: conn, drop: func() { j.dropDependent(name, conn) }}
	j.deps.runners[name] = r
	return r, nil
}

// dependentRunner is a connection to a dependent that leaves the
// pipeline's cache when it breaks, so that the next check dials again.
type dependentRunner struct {
	patchpilot.Runner
	drop func()
}

func (r *dependentRunner) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	res, err := r.Runner.Run(ctx, cmd)
	if err != nil && patchpilot.ErrorCode(err) == patchpilot.EUNREACHABLE {
		r.drop()
	}
	return res, err
}

// dropDependent closes a dependent's broken connection and forgets it,
// unless it was replaced already.
func (j *job) dropDependent(name string, conn patchpilot.Runner) {
	j.deps.mu.Lock()
	defer j.deps.mu.Unlock()
	if r, ok := j.deps.runners[name].(*dependentRunner); ok && r.Runner == conn {
		delete(j.deps.runners, name)
	}
	_ = conn.Close()
}

// closeDependents drops the connections to the dependents. A dependent
// whose connection broke is dialled again at the next check.
func (j *job) closeDependents() {
	j.deps.mu.Lock()
	defer j.deps.mu.Unlock()
	for name, r := range j.deps.runners {
		_ = r.Close()
		delete(j.deps.runners, name)
	}
}

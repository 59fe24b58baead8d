package orchestrator

import (
	"context"
	"slices"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// PreflightInputs is what a package manager offers so that a host's
// preflight can run ahead of its stage: a fingerprint of everything its
// dry run reads (the package database, the repositories' indexes, the
// preferences and the sources), and the free space of its package cache.
// A package manager without it has its hosts' preflight run at their turn.
type PreflightInputs interface {
	PreflightInputs(ctx context.Context, r patchpilot.Runner) (fingerprint string, freeBytes int64, err error)
}

// prepared is a host's preflight run ahead of its stage, while the stages
// before it ran. Only a clean dry run is kept (problems are found again,
// and reported, at the host's turn), with the fingerprint of its inputs,
// which did not change while it ran, and, for the first hosts of the
// stage, its connection, open for the host's turn.
type prepared struct {
	done        chan struct{}
	pins        []patchpilot.PackagePin
	rep         patchpilot.PreflightReport
	fingerprint string
	ok          bool
	conn        patchpilot.Runner // guarded by preparation.mu
}

// preparation holds the hosts prepared ahead of their stage in one pass.
type preparation struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	hosts  map[string]*prepared
	// conns counts the connections kept open, per stage, for hosts'
	// turns: at most the stage's parallel, the hosts it dispatches first.
	conns map[int]int
}

// prepare starts, in the background, the preflight of stage i's pending
// hosts, at most the stage's parallel at once, so that it overlaps the
// stages before it. A preflight only reads the host (apt's lock check,
// its dry run, its version and hold queries): nothing is changed on a
// host before its own stage dispatches it, and a host whose stage never
// comes is left as it was. A stage that waits for a person's approval is
// not prepared.
func (rn *run) prepare(ctx context.Context, i int) {
	if i >= len(rn.r.Stages) || rn.r.DryRun || needsPlaybooks(rn.r.Plan) {
		return
	}
	stage := rn.r.Plan.Stages[i]
	if requiresApproval(stage, rn.stageHosts(i)) && rn.r.Stages[i].ApprovedBy == "" {
		return
	}
	_, runs, err := rn.hostRuns(ctx, i)
	if err != nil {
		return
	}
	rn.mu.Lock()
	if rn.prep == nil {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		rn.prep = &preparation{ctx: pctx, cancel: cancel, hosts: map[string]*prepared{}, conns: map[int]int{}}
	}
	p := rn.prep
	rn.mu.Unlock()
	sem := make(chan struct{}, max(stage.Parallel, 1))
	for _, hr := range runs {
		if hr.State != patchpilot.HostPending {
			continue
		}
		pins := pinsFor(rn.r.Plan.Patch, rn.facts[hr.Host])
		if len(pins) == 0 {
			continue
		}
		h := &prepared{done: make(chan struct{}), pins: pins}
		p.mu.Lock()
		if _, ok := p.hosts[hr.Host]; ok {
			p.mu.Unlock()
			continue
		}
		p.hosts[hr.Host] = h
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer close(h.done)
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-p.ctx.Done():
				return
			}
			rn.prepareHost(p.ctx, hr.Host, h, i, max(stage.Parallel, 1))
		}()
	}
}

// prepareHost runs a host's preflight ahead of its stage on its own
// connection, reading the inputs' fingerprint before and after it. After
// a clean dry run the connection stays open for the host's turn (see
// job.dial), for at most keep hosts of stage i at once.
func (rn *run) prepareHost(ctx context.Context, name string, h *prepared, i, keep int) {
	family := patchpilot.FamilyUnknown
	if f := rn.facts[name]; f != nil {
		family = f.OSFamily
	}
	pm, err := rn.e.PackageManagers(family)
	if err != nil {
		return
	}
	in, ok := pm.(PreflightInputs)
	if !ok {
		return
	}
	r, err := rn.e.Dialer.Dial(ctx, rn.hosts[name])
	if err != nil {
		return
	}
	kept := false
	defer func() {
		if !kept {
			_ = r.Close()
		}
	}()
	before, _, err := in.PreflightInputs(ctx, r)
	if err != nil {
		return
	}
	rep, err := pm.Preflight(ctx, r, h.pins, rn.preflightOptions())
	if err != nil || len(preflightProblems(rep)) > 0 || rep.RebootRequired && !rn.r.Plan.Policy.AllowReboot {
		return
	}
	after, _, err := in.PreflightInputs(ctx, r)
	if err != nil || after != before {
		return
	}
	h.rep, h.fingerprint, h.ok = rep, before, true
	p := rn.prep
	p.mu.Lock()
	if p.conns[i] < keep && ctx.Err() == nil {
		p.conns[i]++
		h.conn, kept = r, true
	}
	p.mu.Unlock()
	rn.e.logger().Debug("preflight ran ahead of the host's stage", "rollout", rn.r.ID, "host", name)
}

// preparedConn hands the connection a host's preparation kept open to
// its turn (waiting for a preparation still running), or returns nil.
// It is taken once.
func (rn *run) preparedConn(ctx context.Context, name string) patchpilot.Runner {
	rn.mu.Lock()
	p := rn.prep
	rn.mu.Unlock()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	h := p.hosts[name]
	p.mu.Unlock()
	if h == nil {
		return nil
	}
	select {
	case <-h.done:
	case <-ctx.Done():
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := h.conn
	h.conn = nil
	return r
}

// stopPreparing cancels the preparations still running, waits for them
// and closes the connections no host's turn took.
func (rn *run) stopPreparing() {
	rn.mu.Lock()
	p := rn.prep
	rn.mu.Unlock()
	if p != nil {
		p.cancel()
		p.wg.Wait()
		p.mu.Lock()
		for _, h := range p.hosts {
			if h.conn != nil {
				_ = h.conn.Close()
				h.conn = nil
			}
		}
		p.mu.Unlock()
	}
}

func (rn *run) preflightOptions() patchpilot.PreflightOptions {
	return patchpilot.PreflightOptions{LockWait: rn.e.lockWait(), MinFreeBytes: rn.e.minFree(),
		AllowDowngrade: rn.r.Plan.Policy.AllowDowngrade}
}

// preparedPreflight returns the host's preflight run ahead of its stage
// when it may stand for one run now: it was clean, it was for the same
// pins, the fingerprint of its inputs read now on the host is the one read
// before it ran, and the package cache still has the free space preflight
// demands. Otherwise (or with no preparation) ok is false and the caller
// runs the preflight as usual. A preparation still running is waited for.
//
// On the connection the preparation kept open (job.keptConn), the
// fingerprint's read is the connection's first use at the host's turn:
// when it fails, or when the preparation cannot stand, the connection is
// replaced by a new one, so that only a host that a new connection cannot
// reach is unreachable; err is that connection's failure.
func (j *job) preparedPreflight(ctx context.Context) (rep patchpilot.PreflightReport, ok bool, err error) {
	defer func() {
		if j.keptConn && !ok && err == nil && ctx.Err() == nil {
			_ = j.runner.Close()
			j.runner, j.keptConn = nil, false
			err = j.dial(ctx)
		}
		j.keptConn = false
	}()
	j.rn.mu.Lock()
	p := j.rn.prep
	j.rn.mu.Unlock()
	if p == nil {
		return rep, false, nil
	}
	p.mu.Lock()
	h := p.hosts[j.hr.Host]
	delete(p.hosts, j.hr.Host) // used once: a second pass runs it again
	p.mu.Unlock()
	if h == nil {
		return rep, false, nil
	}
	select {
	case <-h.done:
	case <-ctx.Done():
		return rep, false, nil
	}
	if !h.ok || !slices.Equal(h.pins, j.pins) {
		return rep, false, nil
	}
	in, isIn := j.pm.(PreflightInputs)
	if !isIn {
		return rep, false, nil
	}
	now, free, ierr := in.PreflightInputs(ctx, j.runner)
	if ierr != nil || now != h.fingerprint || free < j.rn.e.minFree() {
		if ierr != nil && j.keptConn {
			j.rn.e.logger().Debug("the connection kept from the preparation failed; dialling again", "host", j.hr.Host, "err", ierr)
		} else if j.keptConn {
			// The connection answered: it serves the preflight run now.
			j.keptConn = false
		}
		return rep, false, nil
	}
	rep = h.rep
	rep.FreeBytes = free
	return rep, true, nil
}

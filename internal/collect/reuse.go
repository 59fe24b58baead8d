package collect

import (
	"context"
	"slices"
	"sync"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// Finding a host's pending updates is the costly part of a collection:
// apt-get -s dist-upgrade builds apt's dependency cache and runs its
// resolver over every available package (tens of thousands with a
// distribution's full indexes), seconds of CPU per host. Its answer
// depends only on what the package manager reads, which the family's
// state step fingerprints in a few milliseconds (Facts.PackageState).
// So a collection runs the simulation only when no answer for that state
// is known: not when the host's previous collection had the same state
// (Options.PreviousUpdates), nor when another host of the same fleet
// collection has the same state (Shared): hosts built from one image and
// patched alike ask apt the same question once.

// Shared lets the hosts of one fleet collection share the output of the
// pending-updates simulation between hosts with the same package state.
// The first host with a state runs it; the others wait for its output and
// run their own only when it failed. The zero value is not usable; see
// NewShared.
type Shared struct {
	mu    sync.Mutex
	calls map[string]*sharedCall
}

type sharedCall struct {
	done chan struct{}
	res  patchpilot.Result
	ok   bool
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{calls: map[string]*sharedCall{}} }

// join returns the call for state and whether the caller leads it (and
// must finish it).
func (s *Shared) join(state string) (*sharedCall, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.calls[state]; ok {
		return c, false
	}
	c := &sharedCall{done: make(chan struct{})}
	s.calls[state] = c
	return c, true
}

// finish records the leader's result; a failed one is forgotten, so that
// a later host with the state runs the simulation itself.
func (s *Shared) finish(state string, c *sharedCall, res patchpilot.Result, ok bool) {
	s.mu.Lock()
	c.res, c.ok = res, ok
	if !ok {
		delete(s.calls, state)
	}
	s.mu.Unlock()
	close(c.done)
}

func (c *sharedCall) wait(ctx context.Context) (patchpilot.Result, bool) {
	select {
	case <-c.done:
		return c.res, c.ok
	case <-ctx.Done():
		return patchpilot.Result{}, false
	}
}

// without returns steps without the one named name.
func without(steps []osfamily.Step, name string) []osfamily.Step {
	return slices.DeleteFunc(slices.Clone(steps), func(s osfamily.Step) bool { return s.Name == name })
}

// stepNamed returns the step named name.
func stepNamed(steps []osfamily.Step, name string) (osfamily.Step, bool) {
	for _, s := range steps {
		if s.Name == name {
			return s, true
		}
	}
	return osfamily.Step{}, false
}

// runFamilySteps runs a family's steps over r, skipping the simulation of
// the pending updates when an answer for the host's package state is
// known. It returns the transcript and, when the pending updates come
// from the host's previous collection, those facts.
func runFamilySteps(ctx context.Context, r patchpilot.Runner, host string, fam family, steps []osfamily.Step, opts Options) (osfamily.Transcript, *patchpilot.Facts, error) {
	updates, hasUpdates := stepNamed(steps, fam.updates)
	if fam.state == nil || !hasUpdates || opts.Refresh || (opts.PreviousUpdates == nil && opts.Shared == nil) {
		t, err := osfamily.Run(ctx, r, steps)
		return t, nil, err
	}
	st, err := osfamily.Run(ctx, r, []osfamily.Step{fam.state()})
	state, serr := fam.parseState(st)
	if err != nil {
		// A runner that cannot run the state step (a broken
		// connection fails the steps below as well) reuses nothing.
		st, serr = osfamily.Transcript{}, err
	}
	merge := func(t osfamily.Transcript) osfamily.Transcript {
		for k, v := range st {
			t[k] = v
		}
		return t
	}
	if serr != nil {
		// No state, no reuse: collect as without it, and let the
		// parser report the state's error.
		t, err := osfamily.Run(ctx, r, steps)
		return merge(t), nil, err
	}
	if opts.PreviousUpdates != nil {
		if prev, ok := opts.PreviousUpdates(ctx, host, state); ok {
			t, err := osfamily.Run(ctx, r, without(steps, fam.updates))
			return merge(t), &prev, err
		}
	}
	if opts.Shared == nil {
		t, err := osfamily.Run(ctx, r, steps)
		return merge(t), nil, err
	}
	call, leader := opts.Shared.join(state)
	if leader {
		t, err := osfamily.Run(ctx, r, steps)
		res, ran := t.Get(fam.updates)
		opts.Shared.finish(state, call, res, err == nil && ran && res.ExitCode == 0)
		return merge(t), nil, err
	}
	t, err := osfamily.Run(ctx, r, without(steps, fam.updates))
	if err != nil {
		return merge(t), nil, err
	}
	if res, ok := call.wait(ctx); ok {
		t[fam.updates] = res
		return merge(t), nil, nil
	}
	own, err := osfamily.Run(ctx, r, []osfamily.Step{updates})
	for k, v := range own {
		t[k] = v
	}
	return merge(t), nil, err
}

// reusePrevious fills the pending updates and removals of facts whose
// collection skipped the simulation, from the host's previous facts of
// the same package state, as that collection parsed them.
func reusePrevious(f *patchpilot.Facts, prev patchpilot.Facts) {
	f.Updates = slices.Clone(prev.Updates)
	f.Removals = slices.Clone(prev.Removals)
	f.UpdatesKnown = true
}

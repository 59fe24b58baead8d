// Package collect gathers facts from hosts: it identifies a host's
// distribution, runs its family's collector over a patchpilot.Runner, and
// does so across a fleet with bounded concurrency.
package collect

import (
	"context"
	"slices"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/osfamily/redhat"
	"github.com/patchpilot/patchpilot/internal/osfamily/suse"
)

// DefaultSource is the Facts.Source of a collection that names none.
const DefaultSource = "ssh"

// Options tune the collection of one host.
type Options struct {
	// Refresh updates the package metadata before listing updates; see
	// osfamily.Options.
	Refresh bool
	// Source is recorded in Facts.Source: "ssh", "local". "" means
	// DefaultSource.
	Source string
	// Now stamps Facts.CollectedAt; nil means time.Now.
	Now func() time.Time
	// SkipDepth leaves out the collection in depth (services in depth,
	// sockets and connections, modified files, held, pinned and foreign
	// packages): Facts.Depth stays nil.
	SkipDepth bool
	// FullVerify verifies every file of every package (dpkg --verify,
	// rpm -Va) instead of the cheap default; see osfamily.Options.
	FullVerify bool
	// PreviousDepth, when not nil, returns the depth of a host's previous
	// collection (nil when none): the host then reads its package policy
	// (pinned and foreign packages) again only when its package database,
	// lists or configuration changed since, and Host carries the previous
	// Pinned and Foreign over otherwise (see HostDepth.PolicyClock).
	PreviousDepth func(host string) *patchpilot.HostDepth
	// PreviousUpdates, when not nil, is asked for the host's previous
	// facts (with their updates and removals) when the host's package
	// state is state; it answers ok only when those facts were collected
	// in that same state, and the collection then skips the simulation
	// of the pending updates and reuses theirs (see reuse.go).
	PreviousUpdates func(ctx context.Context, host, state string) (prev patchpilot.Facts, ok bool)
	// Shared, when not nil, shares the simulation of the pending updates
	// between hosts with the same package state; Fleet makes one per
	// collection when it is nil.
	Shared *Shared
}

// family is what collect needs from an OS family package.
type family struct {
	steps func(osfamily.Options) []osfamily.Step
	parse func(osfamily.Probe, osfamily.Transcript) (patchpilot.Facts, error)
	// state, when not nil, is the step that fingerprints the package
	// state (Facts.PackageState) and parseState reads it; updates names
	// the step that lists the pending updates, which a known state lets
	// a collection skip.
	state      func() osfamily.Step
	parseState func(osfamily.Transcript) (string, error)
	updates    string
}

func familyOf(f patchpilot.OSFamily) (family, bool) {
	switch f {
	case patchpilot.FamilyDebian:
		return family{steps: debian.Steps, parse: debian.Parse, state: debian.StateStep, parseState: debian.ParseState, updates: debian.StepUpdates}, true
	case patchpilot.FamilyRedHat:
		return family{steps: redhat.Steps, parse: redhat.Parse}, true
	case patchpilot.FamilySUSE:
		return family{steps: suse.Steps, parse: suse.Parse}, true
	}
	return family{}, false
}

// Host collects the facts of one host over r. It reads the host's identity
// first (os-release, uname, boot id), picks the OS family from os-release,
// then runs that family's commands concurrently. A distribution of no
// known family is an EUNSUPPORTED error naming its os-release ID.
func Host(ctx context.Context, r patchpilot.Runner, host string, opts Options) (patchpilot.Facts, error) {
	t, err := osfamily.Run(ctx, r, osfamily.ProbeSteps())
	if err != nil {
		return patchpilot.Facts{}, err
	}
	p, err := osfamily.ParseProbe(t)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	fam, err := familyFor(p)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	var prev *patchpilot.HostDepth
	if opts.PreviousDepth != nil && !opts.SkipDepth {
		prev = opts.PreviousDepth(host)
	}
	fo := osfamily.Options{Refresh: opts.Refresh, Depth: !opts.SkipDepth, FullVerify: opts.FullVerify}
	if prev != nil {
		fo.PolicySince = prev.PolicyClock
	}
	ft, reused, err := runFamilySteps(ctx, r, host, fam, fam.steps(fo), opts)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	f, err := fam.parse(p, ft)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	if reused != nil {
		reusePrevious(&f, *reused)
	}
	f.Host = host
	f.Source = opts.Source
	if f.Source == "" {
		f.Source = DefaultSource
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	f.CollectedAt = now().UTC()
	if f.Depth != nil {
		f.Depth.CollectedAt = f.CollectedAt
		if f.Depth.PolicyUnchanged {
			carryPolicy(f.Depth, prev)
		}
	}
	return f, nil
}

// carryPolicy fills the pinned and foreign packages of a depth whose host
// found its package policy unchanged since the previous collection, from
// that collection's depth.
func carryPolicy(d, prev *patchpilot.HostDepth) {
	d.PolicyUnchanged = false
	if prev == nil || prev.PolicyClock == 0 {
		// The host was not asked to compare: it cannot say unchanged.
		d.PolicyClock = 0
		d.Missing = append(d.Missing, "pinned, foreign: the package policy was not read")
		return
	}
	d.Pinned = slices.Clone(prev.Pinned)
	d.Foreign = slices.Clone(prev.Foreign)
}

func familyFor(p osfamily.Probe) (family, error) {
	fam, ok := familyOf(p.Family)
	if !ok {
		return family{}, patchpilot.Errorf(patchpilot.EUNSUPPORTED, "unsupported distribution %q (os-release ID_LIKE %q)", p.OS.ID, p.OS.IDLike).
			WithHint("patchpilot supports the Debian, Red Hat and SUSE families")
	}
	return fam, nil
}

// Parse builds facts from a transcript captured by Capture (or written in
// its layout), as Host would from live output. Host, Source and
// CollectedAt are left for the caller.
func Parse(t osfamily.Transcript) (patchpilot.Facts, error) {
	p, err := osfamily.ParseProbe(t)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	fam, err := familyFor(p)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	return fam.parse(p, t)
}

// Capture runs the identity probe and the host's family commands over r
// and writes their raw output into dir as a transcript, in the layout of
// the parsers' testdata (see osfamily.WriteTranscript), so transcripts can
// be taken again from any host. It never refreshes package metadata; it
// includes the steps of a collection in depth.
func Capture(ctx context.Context, r patchpilot.Runner, dir string) error {
	steps := osfamily.ProbeSteps()
	t, err := osfamily.Run(ctx, r, steps)
	if err != nil {
		return err
	}
	p, err := osfamily.ParseProbe(t)
	if err != nil {
		_ = osfamily.WriteTranscript(dir, steps, t)
		return err
	}
	fam, err := familyFor(p)
	if err != nil {
		_ = osfamily.WriteTranscript(dir, steps, t)
		return err
	}
	famSteps := fam.steps(osfamily.Options{Depth: true})
	ft, err := osfamily.Run(ctx, r, famSteps)
	if err != nil {
		return err
	}
	for name, res := range ft {
		t[name] = res
	}
	return osfamily.WriteTranscript(dir, append(steps, famSteps...), t)
}

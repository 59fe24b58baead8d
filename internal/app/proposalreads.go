package app

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// readAhead makes proposalReads read ahead; without it, each step of a
// proposal reads what it needs when it needs it, one after the other (the
// tests compare both).
var readAhead = true

// proposalReads returns the fleetReads of one proposal with its
// fleet-wide reads that do not depend on one another made at the same
// time, each on its own goroutine and store connection (the store serves
// concurrent readers): the inventory and then the dependency map built
// from it, the patch's packages on every host, the patch's pending
// updates when every host is a target, and the stored outcomes with the
// model and the quarantines derived from them. Over a large fleet these
// reads are most of a proposal, which then takes the cores it has rather
// than one.
//
// Reading ahead changes nothing of what the proposal decides or says:
// each result is the one its step would read (the same call with the same
// arguments), and the step takes it instead of reading (see fleetReads).
// A read that fails is not kept, and the first failure stops the others:
// the steps then read what is missing in their usual order, so that a
// proposal fails with the same error, at the same step, as without
// reading ahead.
//
// Some reads ahead may go unused: the packages and the pending updates
// serve a fleet of more than fleetReadFrom hosts only (they are small
// otherwise), and the pending updates are read ahead only without a
// selector, whose targets may be few (they are read host by host then).
func (a *App) proposalReads(ctx context.Context, patch patchpilot.PatchSpec, selector string) (*fleetReads, error) {
	if !readAhead {
		return a.keptFleetReads(ctx)
	}
	var (
		fr          *fleetReads
		packages    map[string][]patchpilot.Package
		packagesOK  bool
		updates     []patchpilot.HostUpdate
		updatesOK   bool
		model       *risk.Model
		quarantines []Quarantine
		outcomesOK  bool
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		r, err := a.keptFleetReads(gctx)
		if err != nil {
			return err
		}
		fr = r
		// Kept in r on success; a failure leaves it to be read again.
		_, err = a.fleetGraph(gctx, r)
		return err
	})
	if !patch.SecurityAll {
		g.Go(func() error {
			ps, err := a.Store.LatestPackagesOf(gctx, pinNames(patch))
			if err != nil {
				return err
			}
			packages, packagesOK = ps, true
			return nil
		})
	}
	if selector == "" {
		g.Go(func() error {
			us, err := a.patchUpdates(gctx, patch)
			if err != nil {
				return err
			}
			updates, updatesOK = us, true
			return nil
		})
	}
	g.Go(func() error {
		// Model and Quarantines each read these outcomes: read once.
		outs, err := a.Store.Outcomes(gctx, patchpilot.OutcomeFilter{NoGateResults: true})
		if err != nil {
			return err
		}
		m, _, err := a.modelWith(gctx, recordsOf(outs))
		if err != nil {
			return err
		}
		qs, err := a.quarantinesOf(gctx, outs)
		if err != nil {
			return err
		}
		model, quarantines, outcomesOK = m, qs, true
		return nil
	})
	// A failure is the steps' to report, in their order: see above.
	_ = g.Wait()
	if fr == nil {
		var err error
		if fr, err = a.keptFleetReads(ctx); err != nil {
			return nil, err
		}
	}
	if packagesOK {
		fr.packages, fr.packagesRead = packages, true
	}
	if updatesOK {
		fr.updates, fr.updatesRead = updates, true
	}
	if outcomesOK {
		fr.model, fr.quarantines, fr.quarantinesRead = model, quarantines, true
	}
	return fr, nil
}

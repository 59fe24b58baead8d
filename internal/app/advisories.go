package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osv"
)

// ImportAdvisories reads OSV records from a file, a directory or a zip and
// stores them. The whole input is parsed first: a malformed record rejects
// the import and nothing is written.
func (a *App) ImportAdvisories(ctx context.Context, path string) (read, written int, err error) {
	advisories, err := osv.ImportPath(path)
	if err != nil {
		return 0, 0, err
	}
	written, err = a.Store.SaveAdvisories(ctx, advisories)
	if err != nil {
		return len(advisories), 0, err
	}
	if written > 0 {
		// Advisories rate updates and date their availability: every
		// collected host's SLA exposure is measured again as of now, so
		// that compliance over time agrees with compliance now.
		if err := a.remeasureExposures(ctx); err != nil {
			a.Options.Logger.Warn("could not record the hosts' SLA exposure after the import", "err", err)
		}
	}
	data, _ := json.Marshal(patchpilot.AdvisoriesImportedData{Path: path, Read: len(advisories), Written: written})
	err = a.record(ctx, patchpilot.Event{Kind: patchpilot.EventAdvisoriesImported,
		Message: fmt.Sprintf("imported %d advisories (%d new or updated) from %s", len(advisories), written, path), Data: data})
	return len(advisories), written, err
}

// Updates lists pending updates from each host's latest snapshot, with the
// advisories that each update fixes.
func (a *App) Updates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	updates, _, err := a.annotatedUpdates(ctx, f)
	return updates, err
}

// annotatedUpdates is Updates, with the publication time of each stored
// advisory it matched (by advisory id) as read on the way.
func (a *App) annotatedUpdates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, map[string]time.Time, error) {
	if f.Host != "" {
		if _, err := a.Store.Host(ctx, f.Host); err != nil {
			return nil, nil, err
		}
	}
	// Security-only filtering happens after annotation: an update the
	// package manager did not mark may still fix a known advisory.
	all := f
	all.SecurityOnly = false
	updates, err := a.Store.PendingUpdates(ctx, all)
	if err != nil {
		return nil, nil, err
	}
	published := map[string]time.Time{}
	if err := a.annotate(ctx, updates, published); err != nil {
		return nil, nil, err
	}
	if !f.SecurityOnly {
		return updates, published, nil
	}
	out := updates[:0]
	for _, u := range updates {
		if u.Security {
			out = append(out, u)
		}
	}
	return out, published, nil
}

// annotate adds to each update the stored advisories it fixes (OSV
// matching, one lookup per package) and records in published the
// publication time of each advisory read. An update whose versions cannot
// be compared keeps the advisories its package manager named.
func (a *App) annotate(ctx context.Context, updates []patchpilot.HostUpdate, published map[string]time.Time) error {
	return a.annotateWith(ctx, updates, published, advisoryCache{})
}

// advisoryCache keeps the stored advisories of each ecosystem and package
// read, for annotating a fleet's updates a part at a time.
type advisoryCache map[[2]string][]patchpilot.Advisory

// annotateWith is annotate, reading the store only for the ecosystems and
// packages that cache does not hold yet.
func (a *App) annotateWith(ctx context.Context, updates []patchpilot.HostUpdate, published map[string]time.Time, cache advisoryCache) error {
	lookup := func(ctx context.Context, ecosystem, pkg string) ([]patchpilot.Advisory, error) {
		if advs, ok := cache[[2]string{ecosystem, pkg}]; ok {
			return advs, nil
		}
		advs, err := a.Store.AdvisoriesFor(ctx, ecosystem, pkg)
		for _, adv := range advs {
			if !adv.Published.IsZero() {
				published[adv.ID] = adv.Published
			}
		}
		if err == nil {
			cache[[2]string{ecosystem, pkg}] = advs
		}
		return advs, err
	}
	if err := osv.Annotate(ctx, updates, lookup); err != nil {
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			return err
		}
		a.Options.Logger.Warn("some updates could not be matched against advisories", "err", err)
	}
	return nil
}

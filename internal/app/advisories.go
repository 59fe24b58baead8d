package app

import (
	"context"
	"encoding/json"
	"fmt"

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
	data, _ := json.Marshal(patchpilot.AdvisoriesImportedData{Path: path, Read: len(advisories), Written: written})
	err = a.record(ctx, patchpilot.Event{Kind: patchpilot.EventAdvisoriesImported,
		Message: fmt.Sprintf("imported %d advisories (%d new or updated) from %s", len(advisories), written, path), Data: data})
	return len(advisories), written, err
}

// Updates lists pending updates from each host's latest snapshot, with the
// advisories that each update fixes.
func (a *App) Updates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	if f.Host != "" {
		if _, err := a.Store.Host(ctx, f.Host); err != nil {
			return nil, err
		}
	}
	// Security-only filtering happens after annotation: an update the
	// package manager did not mark may still fix a known advisory.
	all := f
	all.SecurityOnly = false
	updates, err := a.Store.PendingUpdates(ctx, all)
	if err != nil {
		return nil, err
	}
	if err := osv.Annotate(ctx, updates, a.Store.AdvisoriesFor); err != nil {
		// An update whose version cannot be compared keeps the advisories
		// its package manager named; the listing goes on for the others.
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			return nil, err
		}
		a.Options.Logger.Warn("some updates could not be matched against advisories", "err", err)
	}
	if !f.SecurityOnly {
		return updates, nil
	}
	out := updates[:0]
	for _, u := range updates {
		if u.Security {
			out = append(out, u)
		}
	}
	return out, nil
}

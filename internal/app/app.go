package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// App is a configured patchpilot: its options and its open store.
type App struct {
	Options Options
	Store   patchpilot.Store
	// cache keeps fleet-wide answers while their data is unchanged.
	cache readCache
	// events keeps what the downtime KPI reads of the event log.
	events eventIndex
	// assessEachHost makes Assess score every host's patches on their
	// own, as the reference its shared scoring is tested against.
	assessEachHost bool
}

// New resolves and validates the options and opens the store.
func New(ctx context.Context, o Options) (*App, error) {
	defaultPath := o.DBPath == ""
	o = o.Resolve()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var (
		db  *sqlite.DB
		err error
	)
	if o.ReadOnly {
		var opts []sqlite.Option
		if defaultPath {
			opts = append(opts, sqlite.MissingDirIsEmpty())
		}
		db, err = sqlite.OpenReadOnly(ctx, o.DBPath, opts...)
	} else {
		var opts []sqlite.Option
		if o.Notices != nil {
			opts = append(opts, sqlite.WithNotices(o.Notices))
		}
		db, err = sqlite.Open(ctx, o.DBPath, opts...)
	}
	if err != nil {
		return nil, err
	}
	return &App{Options: o, Store: db}, nil
}

// Close releases the store (none for NewWithoutStore's).
func (a *App) Close() error {
	if a.Store == nil {
		return nil
	}
	return a.Store.Close()
}

// record appends an event to the audit log.
func (a *App) record(ctx context.Context, e patchpilot.Event) error {
	if e.Actor == "" {
		e.Actor = "cli"
	}
	_, err := a.Store.AppendEvent(ctx, e)
	return err
}

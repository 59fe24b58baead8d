package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// TestStore runs the conformance suite against a database file in a
// temporary directory.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) patchpilot.Store {
		return openTemp(t)
	})
}

// openTemp opens a new database in a temporary directory. The caller closes it.
func openTemp(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "patchpilot.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

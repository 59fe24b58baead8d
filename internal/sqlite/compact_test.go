package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/storetest"
)

// A migration that drops a table leaving most of the file free is followed
// by a compaction that shrinks the file, says so on the notices and keeps
// every row; one that leaves little free is not, and nothing is said.
func TestCompactAfterMigration(t *testing.T) {
	for _, c := range []struct {
		name     string
		padding  int // blobs of 64 KiB in the table the migration drops
		compacts bool
	}{
		{"most of the file freed", 400, true},
		{"little freed", 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "p.db")
			fleet := storetest.NewVariedPackageFleet(20)
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			fleet.Save(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open("sqlite", dsn(path, false))
			if err != nil {
				t.Fatal(err)
			}
			raw.SetMaxOpenConns(1)
			for _, q := range []string{`CREATE TABLE padding (b BLOB NOT NULL) STRICT`,
				`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) INSERT INTO padding SELECT randomblob(65536) FROM n`,
				`PRAGMA wal_checkpoint(TRUNCATE)`} {
				if _, err := raw.Exec(q, c.padding); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := raw.Close(); err != nil {
				t.Fatal(err)
			}
			before := fileSize(t, path)

			var notices bytes.Buffer
			db, err = Open(ctx, path, WithNotices(&notices))
			if err != nil {
				t.Fatal(err)
			}
			ms, err := loadMigrations(migrationFiles)
			if err != nil {
				t.Fatal(err)
			}
			drop := migration{version: len(ms) + 1, name: "drop_padding.sql", sql: `DROP TABLE padding`}
			if err := db.applyMigrations(ctx, append(ms, drop)); err != nil {
				t.Fatal(err)
			}
			fleet.CheckPackages(t, db)
			fleet.CheckPendingUpdates(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			after := fileSize(t, path)
			said := notices.String()
			if c.compacts {
				if after >= before/4 || !strings.Contains(said, "compacting it (VACUUM") || !strings.Contains(said, "compacted from") {
					t.Errorf("file %d bytes to %d; notices %q", before, after, said)
				}
			} else if after < before*9/10 || said != "" {
				t.Errorf("file %d bytes to %d; notices %q: want neither a compaction nor a word", before, after, said)
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestLoadMigrationsChecksNames(t *testing.T) {
	cases := []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"ordered", []string{"migrations/0002_b.sql", "migrations/0001_a.sql"}, ""},
		{"gap", []string{"migrations/0001_a.sql", "migrations/0003_c.sql"}, "want version 0002"},
		{"duplicate", []string{"migrations/0001_a.sql", "migrations/0001_b.sql"}, "want version 0002"},
		{"no number", []string{"migrations/init.sql"}, "0001_description.sql"},
		{"short number", []string{"migrations/1_init.sql"}, "0001_description.sql"},
		{"zero", []string{"migrations/0000_init.sql"}, "0001_description.sql"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range c.files {
				fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			got, err := loadMigrations(fsys)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("loadMigrations: %v", err)
				}
				if len(got) != 2 || got[0].version != 1 || got[1].version != 2 || got[0].name != "0001_a.sql" {
					t.Errorf("got %+v, want versions 1 and 2 in order", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, c.wantErr)
			}
		})
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Errorf("embedded migrations = %+v, want 0001_init.sql first", ms)
	}
}

// TestLaterMigration applies a further version to an existing database, as
// an upgrade will, and checks that a failing migration leaves no trace.
func TestLaterMigration(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	next := len(base) + 1

	broken := append(base[:len(base):len(base)], migration{version: next, name: "broken.sql",
		sql: "CREATE TABLE half_done (id INTEGER); INSERT INTO no_such_table VALUES (1);"})
	if err := db.applyMigrations(ctx, broken); err == nil || !strings.Contains(err.Error(), "broken.sql") {
		t.Errorf("broken migration: err = %v, want one naming broken.sql", err)
	}
	if tableExists(t, db, "half_done") {
		t.Errorf("a failed migration left its table behind")
	}
	if n := countVersion(t, db, next); n != 0 {
		t.Errorf("a failed migration was recorded")
	}

	good := append(base[:len(base):len(base)], migration{version: next, name: "later.sql",
		sql: "CREATE TABLE later_table (id TEXT PRIMARY KEY) STRICT;"})
	for range 2 { // the second run must be a no-op
		if err := db.applyMigrations(ctx, good); err != nil {
			t.Fatalf("applyMigrations: %v", err)
		}
	}
	if !tableExists(t, db, "later_table") || countVersion(t, db, next) != 1 {
		t.Errorf("later migration not applied exactly once")
	}
	// The binary that knows only the base versions refuses the upgraded file.
	if err := db.applyMigrations(ctx, base); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("older binary on a newer database: err = %v, want a refusal", err)
	}
}

func tableExists(t *testing.T, db *DB, name string) bool {
	t.Helper()
	var n int
	err := db.read.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return n > 0
}

func countVersion(t *testing.T, db *DB, v int) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The migration that keeps first sightings fills them from the snapshots
// an upgraded database already holds, as SaveFacts would have.
func TestSightingsBackfill(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "a"}, {Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range []struct {
		host string
		at   time.Duration
		ver  string
	}{{"b", 2 * time.Hour, "1.1"}, {"a", time.Hour, "1.1"}, {"a", 3 * time.Hour, "1.2"}, {"b", time.Hour, "1.2"}} {
		f := patchpilot.Facts{Host: s.host, CollectedAt: base.Add(s.at), Source: "test", UpdatesKnown: true,
			Updates: []patchpilot.Update{{Package: "web", InstalledVersion: "1.0", CandidateVersion: s.ver}}}
		if err := db.SaveFacts(ctx, f); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
	}
	want, err := db.FirstSeen(ctx, []string{"web"})
	if err != nil || len(want) != 2 {
		t.Fatalf("FirstSeen = %v, %v", want, err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var fill string
	for _, m := range ms {
		if m.name == "0010_update_sightings.sql" {
			fill = m.sql[strings.Index(m.sql, "INSERT INTO update_sightings"):]
		}
	}
	if fill == "" {
		t.Fatal("no 0010_update_sightings.sql")
	}
	if _, err := db.write.ExecContext(ctx, "DELETE FROM update_sightings"); err != nil {
		t.Fatal(err)
	}
	// 0010 read the updates' table of its time, which 0021 replaced: a
	// view of the same rows stands in for it.
	if _, err := db.write.ExecContext(ctx, `CREATE TEMP VIEW snapshot_updates AS
		SELECT r.snapshot_id, r.seq, p.* FROM snapshot_update_refs r JOIN pending_updates p ON p.id = r.update_id`); err != nil {
		t.Fatal(err)
	}
	defer db.write.ExecContext(ctx, "DROP VIEW temp.snapshot_updates") //nolint:errcheck // the test's own view
	if _, err := db.write.ExecContext(ctx, fill); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	got, err := db.FirstSeen(ctx, []string{"web"})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("backfilled sightings = %+v, %v; want %+v", got, err, want)
	}
	if want[0].Host != "a" || !want[0].FirstSeen.Equal(base.Add(time.Hour)) || want[1].Host != "b" || !want[1].FirstSeen.Equal(base.Add(time.Hour)) {
		t.Errorf("sightings = %+v; want 1.1 on a and 1.2 on b, both at 01:00", want)
	}
}

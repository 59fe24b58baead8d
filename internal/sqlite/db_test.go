package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// rawQuery opens the database file with the bare driver, as an operator's
// sqlite3 shell would, and returns the first column of a one-row query.
func rawQuery(t *testing.T, path, query string) string {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	defer raw.Close()
	var s string
	if err := raw.QueryRow(query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// rawExec runs a statement on the file with the bare driver.
func rawExec(t *testing.T, path, stmt string) error {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	defer raw.Close()
	_, err = raw.Exec(stmt)
	return err
}

func mustOpen(t *testing.T, path string, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db
}

func TestOpenCreatesFileAndDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "patchpilot")
	path := filepath.Join(dir, "patchpilot.db")
	db := mustOpen(t, path)
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("directory not created: %v", err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode = %o, want 700", got)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	}
}

func TestWALAndPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	defer db.Close()
	if got := rawQuery(t, path, "PRAGMA journal_mode"); got != "wal" {
		t.Errorf("journal_mode = %q, want wal", got)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log next to the database: %v", err)
	}
}

func TestMigrationsAppliedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	count := func() string {
		return rawQuery(t, path, "SELECT count(*) || ':' || max(version) || ':' || min(name) FROM schema_migrations")
	}
	db := mustOpen(t, path)
	db.Close()
	first := count()
	// Every embedded migration is recorded once: as many rows as the
	// highest version, the first being 0001_init.sql.
	if parts := strings.Split(first, ":"); len(parts) != 3 || parts[0] != parts[1] || parts[2] != "0001_init.sql" {
		t.Errorf("after first open schema_migrations = %s, want N:N:0001_init.sql", first)
	}
	for range 2 {
		db := mustOpen(t, path)
		db.Close()
	}
	if got := count(); got != first {
		t.Errorf("after reopening schema_migrations = %s, want %s unchanged", got, first)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	db.Close()
	if err := rawExec(t, path, `INSERT INTO schema_migrations (version, name, applied_at)
		VALUES (999, '0999_future.sql', '2030-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	_, err := sqlite.Open(context.Background(), path)
	if code := patchpilot.ErrorCode(err); code != patchpilot.EUNAVAILABLE {
		t.Fatalf("Open of a newer database: code %q (%v), want %s", code, err, patchpilot.EUNAVAILABLE)
	}
	t.Logf("error: %v (hint: %s)", err, patchpilot.ErrorHint(err))
	for _, want := range []string{"999", "newer", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if patchpilot.ErrorHint(err) == "" {
		t.Errorf("error %q has no hint", err)
	}
}

func TestUnopenablePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(file, "patchpilot.db"), // parent is a file
		dir,                                  // a directory
		garbage,                              // not an SQLite file
	} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			db, err := sqlite.Open(context.Background(), path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded, want an error", path)
			}
			t.Logf("error: %v (hint: %s)", err, patchpilot.ErrorHint(err))
			if code := patchpilot.ErrorCode(err); code != patchpilot.EUNAVAILABLE {
				t.Errorf("code %q (%v), want %s", code, err, patchpilot.EUNAVAILABLE)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if patchpilot.ErrorHint(err) == "" {
				t.Errorf("error %q has no hint", err)
			}
		})
	}
	_, err := sqlite.Open(context.Background(), "")
	if code := patchpilot.ErrorCode(err); code != patchpilot.EINVALID {
		t.Errorf("Open(\"\"): code %q (%v), want %s", code, err, patchpilot.EINVALID)
	}
}

// A database whose pages are damaged (a disk fault, a copy taken while a
// command wrote) is a database that cannot be used, not an internal error:
// the error says so and how to get the data back, whether the damage shows
// when the database opens (its schema) or when a command reads it (rows).
func TestDamagedDatabase(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		from func(size int) int // the first byte overwritten
	}{
		{"schema", func(int) int { return 4096 }},
		{"rows", func(size int) int { return size - size/4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.db")
			db := mustOpen(t, path)
			var hosts []patchpilot.Host
			for i := range 2000 {
				hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("web%04d", i), Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)})
			}
			if err := db.UpsertHosts(ctx, hosts); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := tc.from(len(data)); i < len(data); i++ {
				data[i] = 0
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			ro, err := sqlite.OpenReadOnly(ctx, path)
			if err == nil {
				defer ro.Close()
				_, err = ro.Hosts(ctx)
			}
			if err == nil {
				t.Fatal("a damaged database read without an error")
			}
			t.Logf("error: %v (hint: %s)", err, patchpilot.ErrorHint(err))
			if code := patchpilot.ErrorCode(err); code != patchpilot.EUNAVAILABLE {
				t.Errorf("code %q (%v), want %s", code, err, patchpilot.EUNAVAILABLE)
			}
			if hint := patchpilot.ErrorHint(err); !strings.Contains(hint, "damaged") || !strings.Contains(hint, "backup") {
				t.Errorf("hint %q does not say the database is damaged and how to restore it", hint)
			}
		})
	}
}

func TestSpecialCharactersInPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with ?odd# %chars", "p?x=1.db")
	db := mustOpen(t, path)
	ctx := context.Background()
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "h"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the literal path: %v", err)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "web", Labels: map[string]string{"env": "prod"}}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 8, 0, 0, 1, time.UTC)
	want := storetest.Facts("web", at, 100, 10)
	if err := db.SaveFacts(ctx, want); err != nil {
		t.Fatal(err)
	}
	ev, err := db.AppendEvent(ctx, patchpilot.Event{Kind: patchpilot.EventFactsCollected, Host: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpen(t, path)
	defer db.Close()
	got, err := db.LatestFacts(ctx, "web")
	if err != nil {
		t.Fatalf("LatestFacts after reopen: %v", err)
	}
	if len(got.Packages) != 100 || len(got.Updates) != 10 || !got.CollectedAt.Equal(at) {
		t.Errorf("after reopen: %d packages, %d updates, collected %v", len(got.Packages), len(got.Updates), got.CollectedAt)
	}
	events, err := db.Events(ctx, patchpilot.EventFilter{})
	if err != nil || len(events) != 1 || events[0].ID != ev.ID {
		t.Errorf("events after reopen = %v, %v; want the one appended", events, err)
	}
	// A new event never reuses an id.
	ev2, err := db.AppendEvent(ctx, patchpilot.Event{Kind: "k"})
	if err != nil || ev2.ID <= ev.ID {
		t.Errorf("event after reopen has id %d (%v), want more than %d", ev2.ID, err, ev.ID)
	}
}

func TestInjectedClock(t *testing.T) {
	fixed := time.Date(2026, 7, 4, 10, 30, 0, 5, time.FixedZone("X", 3600))
	db := mustOpen(t, filepath.Join(t.TempDir(), "p.db"), sqlite.WithClock(func() time.Time { return fixed }))
	defer db.Close()
	e, err := db.AppendEvent(context.Background(), patchpilot.Event{Kind: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(fixed) || e.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", e.Time, fixed)
	}
	// SQLite keeps nanoseconds and the data's bytes as they were given.
	data := []byte(`{"b": 1,  "a": [2]}`)
	if _, err := db.AppendEvent(context.Background(), patchpilot.Event{Kind: "k", Data: data}); err != nil {
		t.Fatal(err)
	}
	events, err := db.Events(context.Background(), patchpilot.EventFilter{})
	if err != nil || len(events) != 2 {
		t.Fatalf("Events = %v, %v", events, err)
	}
	if events[0].Time != e.Time || events[1].Time != e.Time || string(events[1].Data) != string(data) {
		t.Errorf("stored events %+v, want time %v and data %s exactly", events, e.Time, data)
	}
}

func TestEventsAreAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	defer db.Close()
	if _, err := db.AppendEvent(context.Background(), patchpilot.Event{Kind: "k", Message: "original"}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"UPDATE events SET message = 'rewritten'", "DELETE FROM events"} {
		if err := rawExec(t, path, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
		}
	}
	if got := rawQuery(t, path, "SELECT message FROM events"); got != "original" {
		t.Errorf("message = %q, want original", got)
	}
}

// TestManyConcurrentWriters saves facts for many hosts at once, from two
// DB handles on one file as two patchpilot processes would, and checks that
// none fails with a busy database.
func TestManyConcurrentWriters(t *testing.T) {
	const hosts = 100
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	a := mustOpen(t, path)
	defer a.Close()
	b := mustOpen(t, path)
	defer b.Close()
	var list []patchpilot.Host
	for i := range hosts {
		list = append(list, patchpilot.Host{Name: fmt.Sprintf("h%03d", i)})
	}
	if err := a.UpsertHosts(ctx, list); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	for i, h := range list {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.SaveFacts(ctx, storetest.Facts(h.Name, at, 500, 5)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sums, err := b.HostSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sums {
		if s.PackageCount != 500 {
			t.Errorf("%s: %d packages, want 500", s.Name, s.PackageCount)
		}
	}
}

// TestHostSummariesUseIndexes guards the query plan: the latest snapshot of
// each host is found through the index, never by scanning all snapshots.
func TestHostSummariesUseIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db := mustOpen(t, path)
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	joined := sqlite.QueryPlan(t, raw, `SELECT s.package_count FROM hosts h LEFT JOIN fact_snapshots s ON s.id =
		(SELECT ls.id FROM fact_snapshots ls WHERE ls.host_id = h.id ORDER BY ls.collected_at DESC, ls.id DESC LIMIT 1)`)
	if strings.Contains(joined, "SCAN ls") || strings.Contains(joined, "SCAN s") || strings.Contains(joined, "TEMP B-TREE") {
		t.Errorf("query plan scans snapshots or sorts:\n%s", joined)
	}
	if !strings.Contains(joined, "fact_snapshots_host_latest") {
		t.Errorf("query plan does not use fact_snapshots_host_latest:\n%s", joined)
	}
}

func TestClosedDatabase(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "p.db"))
	db.Close()
	_, err := db.Hosts(context.Background())
	var perr *patchpilot.Error
	if !errors.As(err, &perr) {
		t.Errorf("Hosts on a closed database = %v, want a *patchpilot.Error", err)
	}
}

func TestTimesOutOfRange(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "h"}}); err != nil {
		t.Fatal(err)
	}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.SaveFacts(ctx, storetest.Facts("h", far, 1, 0))
	if code := patchpilot.ErrorCode(err); code != patchpilot.EINVALID {
		t.Errorf("SaveFacts in year 10000: code %q (%v), want %s", code, err, patchpilot.EINVALID)
	}
	_, err = db.AppendEvent(ctx, patchpilot.Event{Kind: "k", Time: far})
	if code := patchpilot.ErrorCode(err); code != patchpilot.EINVALID {
		t.Errorf("AppendEvent in year 10000: code %q (%v), want %s", code, err, patchpilot.EINVALID)
	}
}

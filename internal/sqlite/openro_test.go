package sqlite_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// seeded creates a database at path holding one host, closed again.
func seeded(t *testing.T, path string) {
	t.Helper()
	db := mustOpen(t, path)
	if err := db.UpsertHosts(context.Background(), []patchpilot.Host{{Name: "web1", Address: "10.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReadOnlyReadsAndNeverWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	seeded(t, path)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	hosts, err := db.Hosts(ctx)
	if err != nil || len(hosts) != 1 || hosts[0].Name != "web1" {
		t.Errorf("Hosts = %v, %v; want web1", hosts, err)
	}
	err = db.UpsertHosts(ctx, []patchpilot.Host{{Name: "web2"}})
	if code := patchpilot.ErrorCode(err); code != patchpilot.EUNAVAILABLE {
		t.Errorf("a write through a read-only store: code %q (%v), want %s", code, err, patchpilot.EUNAVAILABLE)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("the database file changed under a read-only store")
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a read-only store left %s%s behind (%v)", path, suffix, err)
		}
	}
}

func TestOpenReadOnlyMissingFileIsEmpty(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "none.db")
	db, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a missing file: %v", err)
	}
	defer db.Close()
	if hosts, err := db.Hosts(ctx); err != nil || len(hosts) != 0 {
		t.Errorf("Hosts = %v, %v; want none", hosts, err)
	}
	if _, err := db.Events(ctx, patchpilot.EventFilter{}); err != nil {
		t.Errorf("Events on the empty store: %v", err)
	}
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "x"}}); patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE {
		t.Errorf("a write to the empty store: %v, want %s", err, patchpilot.EUNAVAILABLE)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a missing database created %s (%v)", path, err)
	}
}

// A zero-byte file (touch, or a first run that died before it migrated)
// holds nothing yet: reading commands show an empty store, as for a
// missing file, and leave the file as it is.
func TestOpenReadOnlyZeroByteFileIsEmpty(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a zero-byte file: %v", err)
	}
	defer db.Close()
	if hosts, err := db.Hosts(ctx); err != nil || len(hosts) != 0 {
		t.Errorf("Hosts = %v, %v; want none", hosts, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("reading a zero-byte database changed it: %v, %v", fi, err)
	}
}

// A --db that names a folder is refused by reading and writing commands
// alike, naming the path, instead of SQLite's "disk I/O error".
func TestOpenDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := sqlite.OpenReadOnly(ctx, dir); patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE || !strings.Contains(err.Error(), dir+" is a directory") {
		t.Errorf("OpenReadOnly of a directory: %v, want %s naming it", err, patchpilot.EUNAVAILABLE)
	}
	if _, err := sqlite.Open(ctx, dir); patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE || !strings.Contains(err.Error(), dir+" is a directory") {
		t.Errorf("Open of a directory: %v, want %s naming it", err, patchpilot.EUNAVAILABLE)
	}
}

func TestOpenReadOnlyMissingFolder(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "typo")
	path := filepath.Join(dir, "p.db")
	_, err := sqlite.OpenReadOnly(ctx, path)
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(err.Error(), dir) {
		t.Errorf("OpenReadOnly in a missing folder: %v; want %s naming %s", err, patchpilot.ENOTFOUND, dir)
	}
	db, err := sqlite.OpenReadOnly(ctx, path, sqlite.MissingDirIsEmpty())
	if err != nil {
		t.Fatalf("OpenReadOnly with MissingDirIsEmpty: %v", err)
	}
	db.Close()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading created the folder %s (%v)", dir, err)
	}
}

func TestOpenReadOnlyOlderSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	seeded(t, path)
	if err := rawExec(t, path, `DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.OpenReadOnly(context.Background(), path)
	if patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE || !strings.Contains(err.Error(), "older") {
		t.Errorf("OpenReadOnly of an older schema: %v; want %s saying older", err, patchpilot.EUNAVAILABLE)
	}
}

func TestRefusesForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	if err := rawExec(t, path, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(context.Context, string, ...sqlite.Option) (*sqlite.DB, error){
		"Open": sqlite.Open, "OpenReadOnly": sqlite.OpenReadOnly,
	} {
		db, err := open(context.Background(), path)
		if err == nil {
			db.Close()
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "not a patchpilot database") ||
			!strings.Contains(err.Error(), "customers") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s of another program's database: %v; want %s: not a patchpilot database, naming it and its tables", name, err, patchpilot.EINVALID)
		}
	}
	if got := rawQuery(t, path, `SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'`); got != "customers" {
		t.Errorf("tables after the refused opens = %q, want only customers", got)
	}
	if got := rawQuery(t, path, `PRAGMA journal_mode`); got != "delete" {
		t.Errorf("journal_mode after the refused opens = %q, want delete (untouched)", got)
	}
}

// TestOpenReadOnlyBesideAWriter: while a writer has the database open, its
// latest commits sit in the -wal file; a reader sees them.
func TestOpenReadOnlyBesideAWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	w := mustOpen(t, path)
	defer w.Close()
	if err := w.UpsertHosts(ctx, []patchpilot.Host{{Name: "web1"}, {Name: "web2"}}); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("OpenReadOnly beside a writer: %v", err)
	}
	defer r.Close()
	if err := w.UpsertHosts(ctx, []patchpilot.Host{{Name: "web3"}}); err != nil {
		t.Fatal(err)
	}
	if hosts, err := r.Hosts(ctx); err != nil || len(hosts) != 3 {
		t.Errorf("reader sees %d hosts (%v), want the writer's 3", len(hosts), err)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// Migration 0022 moves the installed packages of a store of the schema
// before it, one row per snapshot and package, to the distinct packages
// and the snapshots' references to them, losing nothing: every snapshot,
// history included, reads back the packages it was saved with, in order,
// and later snapshots share the migrated packages.
func TestMigrationInstalledPackageIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fleet := storetest.NewVariedPackageFleet(50)

	// The fleet saved by this schema is the source of the rows the old
	// schema held: its packages, joined back to one row each, go to the
	// table of version 21.
	src, err := Open(ctx, filepath.Join(dir, "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	fleet.Save(t, src)
	want := map[int64][]patchpilot.Package{}
	ids, err := src.read.QueryContext(ctx, `SELECT id FROM fact_snapshots ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var snapshots []int64
	for ids.Next() {
		var id int64
		if err := ids.Scan(&id); err != nil {
			t.Fatal(err)
		}
		snapshots = append(snapshots, id)
	}
	ids.Close()
	for _, id := range snapshots {
		if want[id], err = src.snapshotPackages(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	openAtVersion(t, filepath.Join(dir, "old.db"), 21)
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "old.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	old.SetMaxOpenConns(1)
	steps := []string{
		`ATTACH DATABASE '` + filepath.Join(dir, "new.db") + `' AS src`,
		`INSERT INTO hosts SELECT * FROM src.hosts`,
		`INSERT INTO fact_snapshots SELECT * FROM src.fact_snapshots`,
		`INSERT INTO pending_updates SELECT * FROM src.pending_updates`,
		`INSERT INTO snapshot_update_refs SELECT * FROM src.snapshot_update_refs`,
		`INSERT INTO update_sightings SELECT * FROM src.update_sightings`,
		`INSERT INTO snapshot_packages (snapshot_id, seq, name, version, arch, source_name, source_version, status)
			SELECT r.snapshot_id, r.seq, p.name, p.version, p.arch, p.source_name, p.source_version, p.status
			FROM src.snapshot_package_refs r JOIN src.installed_packages p ON p.id = r.package_id`,
		`INSERT INTO package_sources SELECT DISTINCT name, source_name FROM snapshot_packages`,
		`DETACH DATABASE src`,
	}
	for _, q := range steps {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var rows, distinct int
	if err := old.QueryRow(`SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT name, version, arch, source_name,
		source_version, status FROM snapshot_packages)) FROM snapshot_packages`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || distinct >= rows {
		t.Fatalf("the old store has %d packages, %d distinct: want packages that hosts share", rows, distinct)
	}

	db, err := Open(ctx, filepath.Join(dir, "old.db"))
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	var refs, dict int
	if err := db.read.QueryRow(`SELECT (SELECT count(*) FROM snapshot_package_refs), (SELECT count(*) FROM installed_packages)`).
		Scan(&refs, &dict); err != nil {
		t.Fatal(err)
	}
	if refs != rows || dict != distinct {
		t.Errorf("migrated %d references to %d distinct packages, want %d and %d", refs, dict, rows, distinct)
	}
	for _, table := range []string{"snapshot_packages", "package_sources"} {
		if tableExists(t, db, table) {
			t.Errorf("%s is still there", table)
		}
	}
	for _, index := range []string{"snapshot_package_refs_package", "installed_packages_source"} {
		var n int
		if err := db.read.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, index).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %s: %d (%v), want it", index, n, err)
		}
	}
	for _, id := range snapshots {
		got, err := db.snapshotPackages(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want[id]) {
			t.Errorf("snapshot %d after the migration: %+v\nwant %+v", id, got, want[id])
		}
	}
	fleet.CheckPackages(t, db)
	fleet.CheckPendingUpdates(t, db)

	// A later snapshot of packages the fleet has refers to the migrated
	// rows; a new package adds one row.
	var f patchpilot.Facts
	for _, l := range fleet.Latest() {
		if len(l.Packages) > 5 {
			f = l
			break
		}
	}
	f.CollectedAt = f.CollectedAt.Add(24 * time.Hour)
	f.Packages = append(f.Packages, patchpilot.Package{Name: "brand-new", Version: "1", SourceName: "openssl"})
	if err := db.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := db.read.QueryRow(`SELECT count(*) FROM installed_packages`).Scan(&dict); err != nil {
		t.Fatal(err)
	}
	if dict != distinct+1 {
		t.Errorf("after a snapshot with one new package: %d distinct packages, want %d", dict, distinct+1)
	}
	fleet.Snapshots = append(fleet.Snapshots, f)
	fleet.CheckPackages(t, db)
}

// The ids of distinct installed packages that a transaction stored are
// kept for later snapshots only when it commits: after a rollback, the
// package is stored again rather than referred to by an id that no longer
// exists.
func TestPackageIDsKeptOnlyOnCommit(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "a"}, {Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	f := patchpilot.Facts{Host: "a", CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PackagesKnown: true,
		Packages: []patchpilot.Package{{Name: "web", Version: "1", SourceName: "web-src"}}}
	e, err := encodeFacts(f)
	if err != nil {
		t.Fatal(err)
	}
	failed := db.inTx(ctx, func(tx *sql.Tx) error {
		stmts := newTxStmts(tx)
		defer stmts.close()
		if err := insertFacts(ctx, stmts, &db.updateIDs, &db.packageIDs, e); err != nil {
			return err
		}
		return patchpilot.Errorf(patchpilot.EINVALID, "rolled back on purpose")
	}, "save")
	if failed == nil {
		t.Fatal("the transaction did not fail")
	}
	if len(e.foundPackages) != 1 {
		t.Fatalf("the transaction found %d ids, want 1", len(e.foundPackages))
	}
	for k := range e.foundPackages {
		if _, ok := db.packageIDs.get(k); ok {
			t.Errorf("a rolled-back transaction's id is kept")
		}
	}
	// The same package in a batch, then on its own, then on another host.
	f.CollectedAt = f.CollectedAt.Add(time.Hour)
	if errs, err := db.SaveFactsBatch(ctx, []patchpilot.FactsSave{{Facts: &f}}); err != nil || errs[0] != nil {
		t.Fatalf("SaveFactsBatch: %v %v", errs, err)
	}
	f.CollectedAt = f.CollectedAt.Add(time.Hour)
	if err := db.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Host = "b"
	if err := db.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := db.LatestPackagesOf(ctx, []string{"web"})
	want := map[string][]patchpilot.Package{"a": f.Packages, "b": f.Packages}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LatestPackagesOf = %+v, %v; want %+v", got, err, want)
	}
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM installed_packages`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d distinct packages stored (%v), want 1", n, err)
	}
}

package sqlite

import (
	"context"
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
	rows, distinct := oldSchemaStore(t, dir, 21, "packages", []string{
		`INSERT INTO hosts SELECT * FROM src.hosts`,
		`INSERT INTO fact_snapshots SELECT * FROM src.fact_snapshots`,
		`INSERT INTO pending_updates SELECT * FROM src.pending_updates`,
		`INSERT INTO snapshot_update_refs SELECT * FROM src.snapshot_update_refs`,
		`INSERT INTO update_sightings SELECT * FROM src.update_sightings`,
		`INSERT INTO snapshot_packages (snapshot_id, seq, name, version, arch, source_name, source_version, status)
			SELECT r.snapshot_id, r.seq, p.name, p.version, p.arch, p.source_name, p.source_version, p.status
			FROM src.snapshot_package_refs r JOIN src.installed_packages p ON p.id = r.package_id`,
		`INSERT INTO package_sources SELECT DISTINCT name, source_name FROM snapshot_packages`,
	}, `SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT name, version, arch, source_name,
		source_version, status FROM snapshot_packages)) FROM snapshot_packages`)

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
	f := patchpilot.Facts{Host: "a", CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PackagesKnown: true,
		Packages: []patchpilot.Package{{Name: "web", Version: "1", SourceName: "web-src"}}}
	// The same package in a batch, then on its own, then on another host.
	db, f := idsKeptOnlyOnCommit(t, f, func(db *DB) *idCache[packageKey] { return &db.packageIDs },
		func(e *encodedFacts) map[packageKey]int64 { return e.foundPackages }, "b")
	got, err := db.LatestPackagesOf(context.Background(), []string{"web"})
	want := map[string][]patchpilot.Package{"a": f.Packages, "b": f.Packages}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LatestPackagesOf = %+v, %v; want %+v", got, err, want)
	}
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM installed_packages`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d distinct packages stored (%v), want 1", n, err)
	}
}

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

// An item of a batch that fails after part of it is written (here its
// event, refused by a trigger after its snapshot was inserted) leaves
// nothing of itself behind, and the items before and after it are stored.
func TestSaveFactsBatchRollsBackAFailingItemAlone(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The write pool has one connection, kept open: the trigger lives on it.
	if _, err := db.write.ExecContext(ctx, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.events
		WHEN NEW.message = 'refuse me' BEGIN SELECT RAISE(ABORT, 'refused for the test'); END`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "a"}, {Name: "b"}, {Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	earlier := storetest.Facts("b", at, 4, 2)
	if err := db.SaveFacts(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	item := func(host, message string, minute int, pkgs int) patchpilot.FactsSave {
		f := storetest.Facts(host, at.Add(time.Duration(minute)*time.Minute), pkgs, 3)
		f.Updates[0].CandidateVersion = "9.9-" + host // a first sighting of its own
		return patchpilot.FactsSave{Facts: &f, Events: []patchpilot.Event{{Kind: patchpilot.EventFactsCollected, Host: host, Message: message}}}
	}
	items := []patchpilot.FactsSave{item("a", "ok", 1, 5), item("b", "refuse me", 2, 230), item("c", "ok", 3, 7)}
	errs, err := db.SaveFactsBatch(ctx, items)
	if err != nil {
		t.Fatalf("SaveFactsBatch: %v", err)
	}
	if errs[0] != nil || errs[2] != nil || errs[1] == nil {
		t.Fatalf("errors = %v; want only b's", errs)
	}
	for _, h := range []string{"a", "c"} {
		f, err := db.LatestFacts(ctx, h)
		if err != nil || len(f.Packages) == 0 {
			t.Errorf("%s: LatestFacts = %d packages, %v; want its snapshot stored", h, len(f.Packages), err)
		}
	}
	f, err := db.LatestFacts(ctx, "b")
	if err != nil || !f.CollectedAt.Equal(earlier.CollectedAt) || len(f.Packages) != 4 {
		t.Errorf("b: latest facts of %s with %d packages, %v; want its earlier snapshot only", f.CollectedAt, len(f.Packages), err)
	}
	hist, err := db.FactHistory(ctx, "b", 0)
	if err != nil || len(hist) != 1 {
		t.Errorf("b: history %+v, %v; want one snapshot", hist, err)
	}
	var rows int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM snapshot_package_refs p
		WHERE NOT EXISTS (SELECT 1 FROM fact_snapshots s WHERE s.id = p.snapshot_id)`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d package rows without their snapshot (%v)", rows, err)
	}
	seen, err := db.FirstSeen(ctx, []string{"pkg0000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seen {
		if s.Version == "9.9-b" {
			t.Errorf("b's refused snapshot left its first sighting %+v", s)
		}
	}
	evs, err := db.Events(ctx, patchpilot.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Host != "a" || evs[1].Host != "c" {
		t.Errorf("events %+v; want a's and c's", evs)
	}
}

// A store of version 19 (package name and source indexes) upgrades through
// package_sources to the distinct installed packages: LatestPackagesOf
// finds the packages stored before.
func TestPackageSourcesMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	openAtVersion(t, path, 19)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO hosts (id, name, created_at, updated_at) VALUES (1, 'deb', 'x', 'x'), (2, 'rpm', 'x', 'x')`,
		`INSERT INTO fact_snapshots (id, host_id, collected_at) VALUES (1, 1, '2026-01-01T00:00:00.000000000Z'),
			(2, 2, '2026-01-01T00:00:00.000000000Z')`,
		`INSERT INTO snapshot_packages (snapshot_id, seq, name, version, source_name) VALUES
			(1, 0, 'libssl3', '3.0.11', 'openssl'), (1, 1, 'bash', '5.2', 'bash'), (1, 2, 'openssl', '3.0.11', 'openssl'),
			(2, 0, 'openssl', '3.0.7', ''), (2, 1, 'bash', '5.1', '')`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			raw.Close()
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	raw.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version-19 database: %v", err)
	}
	defer db.Close()
	got, err := db.LatestPackagesOf(ctx, []string{"libssl3", "openssl"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]patchpilot.Package{
		"deb": {{Name: "libssl3", Version: "3.0.11", SourceName: "openssl"}, {Name: "openssl", Version: "3.0.11", SourceName: "openssl"}},
		"rpm": {{Name: "openssl", Version: "3.0.7"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LatestPackagesOf after the upgrade = %+v, want %+v", got, want)
	}
	// Migration 0022 then moves the packages to installed_packages (see
	// TestMigrationInstalledPackageIDs).
	if tableExists(t, db, "package_sources") || tableExists(t, db, "snapshot_packages") {
		t.Errorf("package_sources or snapshot_packages is still there after the upgrade")
	}
}

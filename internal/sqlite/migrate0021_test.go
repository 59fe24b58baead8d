package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// Migration 0021 moves the pending updates of a store of the schema before
// it, one row per snapshot and update, to the distinct updates and the
// snapshots' references to them, losing nothing: every reader returns what
// the snapshots say, and later snapshots share the migrated updates.
func TestMigrationPendingUpdateIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fleet := storetest.NewVariedFleet(60)

	// The fleet saved by this schema is the source of the rows the old
	// schema held: its updates, joined back to one row each, go to the
	// table of version 20.
	src, err := Open(ctx, filepath.Join(dir, "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	fleet.Save(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	rows, distinct := oldSchemaStore(t, dir, 20, "updates", []string{
		`INSERT INTO hosts SELECT * FROM src.hosts`,
		`INSERT INTO fact_snapshots SELECT * FROM src.fact_snapshots`,
		`INSERT INTO snapshot_packages (snapshot_id, seq, name, version, arch, source_name, source_version, status)
			SELECT r.snapshot_id, r.seq, p.name, p.version, p.arch, p.source_name, p.source_version, p.status
			FROM src.snapshot_package_refs r JOIN src.installed_packages p ON p.id = r.package_id`,
		`INSERT INTO package_sources SELECT DISTINCT name, source_name FROM src.installed_packages`,
		`INSERT INTO update_sightings SELECT * FROM src.update_sightings`,
		`INSERT INTO snapshot_updates (snapshot_id, seq, package, arch, source_package, installed_version,
			candidate_version, origin, security, advisories)
			SELECT r.snapshot_id, r.seq, p.package, p.arch, p.source_package, p.installed_version,
				p.candidate_version, p.origin, p.security, p.advisories
			FROM src.snapshot_update_refs r JOIN src.pending_updates p ON p.id = r.update_id`,
	}, `SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT package, arch, source_package,
		installed_version, candidate_version, origin, security, advisories FROM snapshot_updates))
		FROM snapshot_updates`)

	db, err := Open(ctx, filepath.Join(dir, "old.db"))
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	var refs, dict int
	if err := db.read.QueryRow(`SELECT (SELECT count(*) FROM snapshot_update_refs), (SELECT count(*) FROM pending_updates)`).
		Scan(&refs, &dict); err != nil {
		t.Fatal(err)
	}
	if refs != rows || dict != distinct {
		t.Errorf("migrated %d references to %d distinct updates, want %d and %d", refs, dict, rows, distinct)
	}
	if tableExists(t, db, "snapshot_updates") {
		t.Errorf("snapshot_updates is still there")
	}
	fleet.CheckPendingUpdates(t, db)

	// A later snapshot with updates the fleet has already refers to the
	// migrated rows; a new one adds one row.
	latest := fleet.Latest()
	var f patchpilot.Facts
	for _, l := range latest {
		if len(l.Updates) > 1 {
			f = l
			break
		}
	}
	f.CollectedAt = f.CollectedAt.Add(24 * time.Hour)
	f.Updates = append(f.Updates, patchpilot.Update{Package: "brand-new", CandidateVersion: "1"})
	if err := db.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := db.read.QueryRow(`SELECT count(*) FROM pending_updates`).Scan(&dict); err != nil {
		t.Fatal(err)
	}
	if dict != distinct+1 {
		t.Errorf("after a snapshot with one new update: %d distinct updates, want %d", dict, distinct+1)
	}
	got, err := db.LatestFacts(ctx, f.Host)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Updates) != len(f.Updates) || got.Updates[len(got.Updates)-1].Package != "brand-new" {
		t.Errorf("LatestFacts(%s).Updates = %+v, want %+v", f.Host, got.Updates, f.Updates)
	}
}

// The ids of distinct updates that a transaction stored are kept for later
// snapshots only when it commits: after a rollback, the update is stored
// again rather than referred to by an id that no longer exists.
func TestUpdateIDsKeptOnlyOnCommit(t *testing.T) {
	f := patchpilot.Facts{Host: "a", CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), UpdatesKnown: true,
		Updates: []patchpilot.Update{{Package: "web", InstalledVersion: "1", CandidateVersion: "2"}}}
	// The same update in a batch, then on its own.
	db, _ := idsKeptOnlyOnCommit(t, f, func(db *DB) *idCache[updateKey] { return &db.updateIDs },
		func(e *encodedFacts) map[updateKey]int64 { return e.found })
	got, err := db.PendingUpdates(context.Background(), patchpilot.UpdateFilter{})
	if err != nil || len(got) != 1 || got[0].Package != "web" || got[0].CandidateVersion != "2" {
		t.Errorf("PendingUpdates = %+v, %v", got, err)
	}
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM pending_updates`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d distinct updates stored (%v), want 1", n, err)
	}
}

// idsKeptOnlyOnCommit saves f, one snapshot of host f.Host with one
// distinct row (an update or a package), in a transaction that rolls back
// and checks that the id it found for that row (found) is not kept in the
// store's cache (cache); then it saves f again, later, in a batch and on
// its own, and then on each of the other hosts. It returns the store, for
// the caller to check what reads back, and the facts last saved.
func idsKeptOnlyOnCommit[K comparable](t *testing.T, f patchpilot.Facts, cache func(*DB) *idCache[K],
	found func(*encodedFacts) map[K]int64, others ...string) (*DB, patchpilot.Facts) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hosts := []patchpilot.Host{{Name: f.Host}}
	for _, h := range others {
		hosts = append(hosts, patchpilot.Host{Name: h})
	}
	if err := db.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
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
	if len(found(e)) != 1 {
		t.Fatalf("the transaction found %d ids, want 1", len(found(e)))
	}
	for k := range found(e) {
		if _, ok := cache(db).get(k); ok {
			t.Errorf("a rolled-back transaction's id is kept")
		}
	}
	f.CollectedAt = f.CollectedAt.Add(time.Hour)
	if errs, err := db.SaveFactsBatch(ctx, []patchpilot.FactsSave{{Facts: &f}}); err != nil || errs[0] != nil {
		t.Fatalf("SaveFactsBatch: %v %v", errs, err)
	}
	f.CollectedAt = f.CollectedAt.Add(time.Hour)
	if err := db.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, h := range others {
		f.Host = h
		if err := db.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	return db, f
}

// oldSchemaStore makes dir/old.db, a store of schema version, holding the
// rows of dir/new.db (a store of this schema) that the statements copy
// from it, attached as src. count reads how many rows of what the
// migration makes distinct the old store holds, and how many distinct
// ones: the store must hold some that hosts share (what names them).
func oldSchemaStore(t *testing.T, dir string, version int, what string, copies []string, count string) (rows, distinct int) {
	t.Helper()
	path := filepath.Join(dir, "old.db")
	openAtVersion(t, path, version)
	old, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	old.SetMaxOpenConns(1)
	steps := append([]string{`ATTACH DATABASE '` + filepath.Join(dir, "new.db") + `' AS src`}, copies...)
	for _, q := range append(steps, `DETACH DATABASE src`) {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.QueryRow(count).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || distinct >= rows {
		t.Fatalf("the old store has %d %s, %d distinct: want %s that hosts share", rows, what, distinct, what)
	}
	return rows, distinct
}

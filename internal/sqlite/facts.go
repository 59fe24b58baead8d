package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// latestSnapshot is the SQL expression for the id of the latest snapshot of
// the host row h; the fact_snapshots_host_latest index answers it with one
// probe.
const latestSnapshot = `(SELECT ls.id FROM fact_snapshots ls WHERE ls.host_id = h.id
	ORDER BY ls.collected_at DESC, ls.id DESC LIMIT 1)`

var (
	packageColumns = []string{"snapshot_id", "seq", "package_id"}
	updateColumns  = []string{"snapshot_id", "seq", "update_id"}
)

// validateFacts checks what the store relies on. It names the offending
// field, so that a broken collector is easy to find.
func validateFacts(f patchpilot.Facts) error {
	if f.Host == "" {
		return invalid("facts: empty host name")
	}
	if f.CollectedAt.IsZero() {
		return invalid("facts for %q: collected_at is not set", f.Host)
	}
	if !storable(f.CollectedAt) {
		return invalid("facts for %q: collected_at %s is out of range", f.Host, f.CollectedAt)
	}
	for i, p := range f.Packages {
		if p.Name == "" {
			return invalid("facts for %q: packages[%d]: empty name", f.Host, i)
		}
	}
	for i, u := range f.Updates {
		if u.Package == "" {
			return invalid("facts for %q: updates[%d]: empty package", f.Host, i)
		}
	}
	for i, r := range f.Removals {
		if r.Name == "" {
			return invalid("facts for %q: removals[%d]: empty name", f.Host, i)
		}
	}
	return nil
}

// encodedFacts is a snapshot encoded for its INSERTs: everything that can
// be done before the write lock, which is shared by every writer, is taken.
type encodedFacts struct {
	f                                                patchpilot.Facts
	services, needsRestart, rebootPackages, removals string
	depth                                            any
	pkgArgs, updArgs                                 []any
	packages                                         []packageKey // f.Packages as stored
	packageIDs                                       []int64
	updates                                          []updateKey // f.Updates as stored
	found                                            map[updateKey]int64
	foundPackages                                    map[packageKey]int64
}

// encodeFacts checks and encodes a snapshot for insertFacts.
func encodeFacts(f patchpilot.Facts) (*encodedFacts, error) {
	if err := validateFacts(f); err != nil {
		return nil, err
	}
	if err := validateDepth(f); err != nil {
		return nil, err
	}
	e := &encodedFacts{f: f}
	var err1, err2, err3, err4, err5 error
	e.services, err1 = encodeList(f.Services)
	e.needsRestart, err2 = encodeList(f.NeedsRestart)
	e.rebootPackages, err3 = encodeList(f.RebootPackages)
	e.removals, err4 = encodeList(f.Removals)
	e.depth, err5 = encodeDepth(f.Depth)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, wrap(err, "save facts for %q", f.Host)
	}
	e.pkgArgs = make([]any, 0, len(f.Packages)*len(packageColumns))
	e.updArgs = make([]any, 0, len(f.Updates)*len(updateColumns))
	e.updates = make([]updateKey, len(f.Updates))
	e.packages = make([]packageKey, len(f.Packages))
	e.packageIDs = make([]int64, len(f.Packages))
	for i, p := range f.Packages {
		e.packages[i] = packageKey(p)
		e.pkgArgs = append(e.pkgArgs, nil, i, nil)
	}
	for i, u := range f.Updates {
		advisories, err := encodeList(u.Advisories)
		if err != nil {
			return nil, wrap(err, "save facts for %q: updates[%d]", f.Host, i)
		}
		e.updates[i] = updateKey{u.Package, u.Arch, u.SourcePackage, u.InstalledVersion,
			u.CandidateVersion, u.Origin, u.Security, advisories}
		e.updArgs = append(e.updArgs, nil, i, nil)
	}
	return e, nil
}

// SaveFacts stores a snapshot with its packages and updates in one
// transaction. The host must exist.
func (db *DB) SaveFacts(ctx context.Context, f patchpilot.Facts) error {
	e, err := encodeFacts(f)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		stmts := newTxStmts(tx)
		defer stmts.close()
		return insertFacts(ctx, stmts, &db.updateIDs, &db.packageIDs, e)
	}, "save facts for %q", f.Host)
	if err == nil {
		db.updateIDs.publish(e.found)
		db.packageIDs.publish(e.foundPackages)
	}
	return err
}

// batchSavepoint is the savepoint around each item of SaveFactsBatch.
const batchSavepoint = "facts_item"

// SaveFactsBatch implements patchpilot.FactStore: the items in one
// transaction, through statements prepared once for the whole batch. When
// an item fails, the batch is written again with each item in a savepoint
// of its own: the one that fails is rolled back to its savepoint, so the
// items before and after it are kept; a failure that SQLite answers by
// rolling back the whole transaction (a full disk, an I/O error) makes
// ROLLBACK TO fail, and then the batch fails as a whole.
func (db *DB) SaveFactsBatch(ctx context.Context, items []patchpilot.FactsSave) ([]error, error) {
	errs := make([]error, len(items))
	type encoded struct {
		facts  *encodedFacts
		events []patchpilot.Event
		data   []any
	}
	enc := make([]encoded, len(items))
	for i, it := range items {
		if it.Facts != nil {
			if enc[i].facts, errs[i] = encodeFacts(*it.Facts); errs[i] != nil {
				continue
			}
		}
		enc[i].events = make([]patchpilot.Event, len(it.Events))
		enc[i].data = make([]any, len(it.Events))
		for j, ev := range it.Events {
			var err error
			if enc[i].events[j], enc[i].data[j], err = db.prepareEvent(ev); err != nil {
				errs[i] = patchpilot.Errorf(patchpilot.EINVALID, "events[%d]: %w", j, err)
				break
			}
		}
	}
	if len(items) == 0 {
		return errs, nil
	}
	save := func(stmts *txStmts, i int) error {
		if err := insertFacts(ctx, stmts, &db.updateIDs, &db.packageIDs, enc[i].facts); err != nil {
			return err
		}
		return insertEvents(ctx, stmts, enc[i].events, enc[i].data)
	}
	// First every item straight in one transaction, which is what a
	// batch of good facts needs. A savepoint makes SQLite copy each page
	// an item changes before changing it, which would cost about as much
	// as the writes themselves, so the savepoints are kept for a batch
	// with a failing item: then the transaction is rolled back and the
	// batch written again, each item in its savepoint.
	failing := -1
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		stmts := newTxStmts(tx)
		defer stmts.close()
		for i := range enc {
			if errs[i] != nil {
				continue
			}
			if err := save(stmts, i); err != nil {
				failing = i
				return err
			}
		}
		return nil
	}, "save the facts of %d hosts", len(items))
	publish := func() {
		for i := range enc {
			if errs[i] == nil && enc[i].facts != nil {
				db.updateIDs.publish(enc[i].facts.found)
				db.packageIDs.publish(enc[i].facts.foundPackages)
			}
		}
	}
	if err == nil {
		publish()
		return errs, nil
	}
	if failing < 0 {
		return nil, err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		stmts := newTxStmts(tx)
		defer stmts.close()
		for i := range enc {
			if errs[i] != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+batchSavepoint); err != nil {
				return err
			}
			if err := save(stmts, i); err != nil {
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO "+batchSavepoint); rerr != nil {
					return fmt.Errorf("items[%d]: %w (and its rollback failed: %v)", i, err, rerr)
				}
				if enc[i].facts != nil {
					err = wrap(err, "save facts for %q", enc[i].facts.f.Host)
				}
				errs[i] = err
			}
			if _, err := tx.ExecContext(ctx, "RELEASE "+batchSavepoint); err != nil {
				return err
			}
		}
		return nil
	}, "save the facts of %d hosts", len(items))
	if err != nil {
		return nil, err
	}
	publish()
	return errs, nil
}

// insertEvents appends events checked by prepareEvent (data holds each
// one's data column) through one cached statement.
func insertEvents(ctx context.Context, stmts *txStmts, events []patchpilot.Event, data []any) error {
	for i, e := range events {
		if _, err := stmts.exec(ctx, `INSERT INTO events (time, actor, kind, host, rollout, message, data)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, formatTime(e.Time), e.Actor, e.Kind, e.Host, e.Rollout, e.Message, data[i]); err != nil {
			return fmt.Errorf("events[%d] (%s): %w", i, e.Kind, err)
		}
	}
	return nil
}

// insertFacts writes an encoded snapshot in the caller's transaction;
// nil writes nothing. The ids of its distinct pending updates that ids
// lacks are left in e.found, and those of its distinct installed packages
// that pkgIDs lacks in e.foundPackages, for the caller to publish once the
// transaction commits.
func insertFacts(ctx context.Context, stmts *txStmts, ids *updateIDs, pkgIDs *packageIDs, e *encodedFacts) error {
	if e == nil {
		return nil
	}
	// A batch written again starts afresh.
	e.found = map[updateKey]int64{}
	e.foundPackages = map[packageKey]int64{}
	f := &e.f
	var hostID int64
	err := stmts.queryRow(ctx, `SELECT id FROM hosts WHERE name = ?`, f.Host).Scan(&hostID)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(f.Host)
	}
	if err != nil {
		return err
	}
	res, err := stmts.exec(ctx, `INSERT INTO fact_snapshots (host_id, collected_at, source, hostname,
		os_family, os_name, os_version, os_pretty, os_codename, kernel, arch, boot_id, services,
		needs_restart, reboot_required, reboot_packages, packages_known, updates_known,
		package_count, update_count, security_update_count, removals, depth, package_state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		hostID, formatTime(f.CollectedAt), f.Source, f.Hostname, string(f.OSFamily), f.OSName,
		f.OSVersion, f.OSPretty, f.OSCodename, f.Kernel, f.Arch, f.BootID, e.services, e.needsRestart,
		boolInt(f.RebootRequired), e.rebootPackages, boolInt(f.PackagesKnown), boolInt(f.UpdatesKnown),
		len(f.Packages), len(f.Updates), f.SecurityUpdateCount(), e.removals, e.depth, f.PackageState)
	if err != nil {
		return fmt.Errorf("insert snapshot: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if err := packageIDsOf(ctx, stmts, pkgIDs, e.foundPackages, e.packages, e.packageIDs); err != nil {
		return err
	}
	for i, pid := range e.packageIDs {
		e.pkgArgs[i*len(packageColumns)] = id
		e.pkgArgs[i*len(packageColumns)+2] = pid
	}
	for i, k := range e.updates {
		uid, err := updateID(ctx, stmts, ids, e.found, k)
		if err != nil {
			return fmt.Errorf("store pending update %q: %w", k.pkg, err)
		}
		e.updArgs[i*len(updateColumns)] = id
		e.updArgs[i*len(updateColumns)+2] = uid
	}
	if err := stmts.bulkInsert(ctx, "snapshot_package_refs", packageColumns, e.pkgArgs); err != nil {
		return fmt.Errorf("insert packages: %w", err)
	}
	if err := stmts.bulkInsert(ctx, "snapshot_update_refs", updateColumns, e.updArgs); err != nil {
		return fmt.Errorf("insert updates: %w", err)
	}
	// The snapshot's pending updates not seen before, or seen only
	// later (a snapshot saved out of time order), are first seen here;
	// at the same time the earlier snapshot stays first.
	if len(f.Updates) > 0 {
		if _, err := stmts.exec(ctx, `INSERT INTO update_sightings (package, version, host, first_seen, snapshot_id)
			SELECT p.package, p.candidate_version, ?, ?, ? FROM snapshot_update_refs r
			JOIN pending_updates p ON p.id = r.update_id
			WHERE r.snapshot_id = ? AND p.candidate_version <> '' GROUP BY p.package, p.candidate_version
			ON CONFLICT (package, version) DO UPDATE SET host = excluded.host, first_seen = excluded.first_seen,
				snapshot_id = excluded.snapshot_id
			WHERE excluded.first_seen < update_sightings.first_seen`,
			f.Host, formatTime(f.CollectedAt), id, id); err != nil {
			return fmt.Errorf("record first sightings: %w", err)
		}
	}
	// A depth carried forward from an earlier snapshot (read before
	// this one) was merged when it was read.
	if f.Depth != nil && (f.Depth.CollectedAt.IsZero() || !f.Depth.CollectedAt.Before(f.CollectedAt)) {
		if err := mergeConnections(ctx, stmts.tx, hostID, f.CollectedAt, f.Depth.Connections); err != nil {
			return fmt.Errorf("merge connections: %w", err)
		}
	}
	return nil
}

// PruneFacts implements patchpilot.FactStore. The snapshots' packages and
// updates go with them (ON DELETE CASCADE). The file does not shrink:
// SQLite reuses the freed pages for later snapshots.
func (db *DB) PruneFacts(ctx context.Context, keep int) (int, error) {
	if keep < 1 {
		return 0, invalid("prune facts: keep %d: keep at least the newest snapshot of each host", keep)
	}
	var deleted int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM fact_snapshots WHERE id IN (
			SELECT id FROM (
				SELECT id, ROW_NUMBER() OVER (PARTITION BY host_id ORDER BY collected_at DESC, id DESC) AS newest
				FROM fact_snapshots)
			WHERE newest > ?)`, keep)
		if err != nil {
			return err
		}
		deleted, err = res.RowsAffected()
		return err
	}, "prune facts")
	return int(deleted), err
}

// hostID returns the row id of a host, or ENOTFOUND.
func (db *DB) hostID(ctx context.Context, name string) (int64, error) {
	if name == "" {
		return 0, invalid("empty host name")
	}
	var id int64
	err := db.read.QueryRowContext(ctx, `SELECT id FROM hosts WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(name)
	}
	if err != nil {
		return 0, wrap(err, "read host %q", name)
	}
	return id, nil
}

// LatestFactsHead implements patchpilot.FactStore.
func (db *DB) LatestFactsHead(ctx context.Context, host string) (patchpilot.Facts, error) {
	f, _, err := db.latestHead(ctx, host)
	return f, err
}

// latestHead reads the current snapshot of a host without its lists, and
// its id.
func (db *DB) latestHead(ctx context.Context, host string) (patchpilot.Facts, int64, error) {
	if host == "" {
		return patchpilot.Facts{}, 0, invalid("empty host name")
	}
	f, id, err := scanFactsHead(db.read.QueryRowContext(ctx, `SELECT `+prefixed("s.", factsHeadColumns)+`
		FROM hosts h JOIN fact_snapshots s ON s.id = `+latestSnapshot+` WHERE h.name = ?`, host), host)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := db.hostID(ctx, host); err != nil {
			return patchpilot.Facts{}, 0, err
		}
		return patchpilot.Facts{}, 0, patchpilot.Errorf(patchpilot.ENOTFOUND, "no facts for host %q", host).
			WithHint("collect the host's facts first")
	}
	if err != nil {
		return patchpilot.Facts{}, 0, wrap(err, "read facts for %q", host)
	}
	return f, id, nil
}

// LatestFacts returns the current snapshot of a host with its packages and
// updates. Snapshots are never modified once written, so reading the
// snapshot and its lists in separate statements is consistent.
func (db *DB) LatestFacts(ctx context.Context, host string) (patchpilot.Facts, error) {
	f, id, err := db.latestHead(ctx, host)
	if err != nil {
		return patchpilot.Facts{}, err
	}
	if f.Packages, err = db.snapshotPackages(ctx, id); err != nil {
		return patchpilot.Facts{}, wrap(err, "read packages of %q", host)
	}
	if f.Updates, err = db.snapshotUpdates(ctx, id); err != nil {
		return patchpilot.Facts{}, wrap(err, "read updates of %q", host)
	}
	return f, nil
}

// factsHeadColumns are the columns of a snapshot that scanFactsHead reads.
const factsHeadColumns = "id, collected_at, source, hostname, os_family, os_name, os_version, os_pretty, " +
	"os_codename, kernel, arch, boot_id, services, needs_restart, reboot_required, reboot_packages, " +
	"packages_known, updates_known, removals, depth, package_state"

// factsHeadRow is a snapshot's row (factsHeadColumns) as scanned, before
// its times and lists are decoded.
type factsHeadRow struct {
	f                                      patchpilot.Facts
	id                                     int64
	collectedAt, family                    string
	services, needsRestart, rebootPackages string
	removals                               string
	depth                                  sql.NullString
}

// dests are the scan destinations of factsHeadColumns, in order.
func (r *factsHeadRow) dests() []any {
	f := &r.f
	return []any{&r.id, &r.collectedAt, &f.Source, &f.Hostname, &r.family, &f.OSName, &f.OSVersion, &f.OSPretty,
		&f.OSCodename, &f.Kernel, &f.Arch, &f.BootID, &r.services, &r.needsRestart, &f.RebootRequired,
		&r.rebootPackages, &f.PackagesKnown, &f.UpdatesKnown, &r.removals, &r.depth, &f.PackageState}
}

// decode returns the facts of host the scanned row holds.
func (r *factsHeadRow) decode(host string) (patchpilot.Facts, error) {
	f := r.f
	f.Host = host
	f.OSFamily = patchpilot.OSFamily(r.family)
	var e1, e2, e3, e4, e5, e6 error
	f.CollectedAt, e1 = parseTime(r.collectedAt)
	f.Services, e2 = decodeList[string](r.services)
	f.NeedsRestart, e3 = decodeList[string](r.needsRestart)
	f.RebootPackages, e4 = decodeList[string](r.rebootPackages)
	f.Removals, e5 = decodeList[patchpilot.PackageChange](r.removals)
	f.Depth, e6 = decodeDepth(r.depth.String)
	return f, errors.Join(e1, e2, e3, e4, e5, e6)
}

// scanFactsHead reads a snapshot's row (factsHeadColumns) into the facts of
// a host, without their package and update lists, and returns its id.
func scanFactsHead(s scanner, host string) (patchpilot.Facts, int64, error) {
	var r factsHeadRow
	if err := s.Scan(r.dests()...); err != nil {
		return patchpilot.Facts{Host: host}, 0, err
	}
	f, err := r.decode(host)
	return f, r.id, err
}

// FleetFacts reads every collected host's latest facts without their
// package and update lists, in one query, ordered by host name.
func (db *DB) FleetFacts(ctx context.Context) ([]patchpilot.Facts, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT h.name, `+prefixed("s.", factsHeadColumns)+`
		FROM hosts h JOIN fact_snapshots s ON s.id = `+latestSnapshot+` ORDER BY h.name`)
	if err != nil {
		return nil, wrap(err, "read the fleet's facts")
	}
	defer rows.Close()
	out := []patchpilot.Facts{}
	for rows.Next() {
		var host string
		f, _, err := scanFactsHead(prefixScanner{rows, &host}, "")
		if err != nil {
			return nil, wrap(err, "read the fleet's facts")
		}
		f.Host = host
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read the fleet's facts")
	}
	return out, nil
}

// prefixScanner scans a row whose first column is read into first, and
// the rest by the caller's Scan.
type prefixScanner struct {
	s     scanner
	first any
}

func (p prefixScanner) Scan(dest ...any) error { return p.s.Scan(append([]any{p.first}, dest...)...) }

// snapshotPackages reads a snapshot's packages in collected order; nil when
// there are none.
func (db *DB) snapshotPackages(ctx context.Context, id int64) ([]patchpilot.Package, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT p.name, p.version, p.arch, p.source_name, p.source_version, p.status
		FROM snapshot_package_refs r JOIN installed_packages p ON p.id = r.package_id
		WHERE r.snapshot_id = ? ORDER BY r.seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchpilot.Package
	for rows.Next() {
		var p patchpilot.Package
		if err := rows.Scan(&p.Name, &p.Version, &p.Arch, &p.SourceName, &p.SourceVersion, &p.Status); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// snapshotUpdates reads a snapshot's updates in collected order; nil when
// there are none.
func (db *DB) snapshotUpdates(ctx context.Context, id int64) ([]patchpilot.Update, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT p.package, p.arch, p.source_package, p.installed_version,
		p.candidate_version, p.origin, p.security, p.advisories
		FROM snapshot_update_refs r JOIN pending_updates p ON p.id = r.update_id
		WHERE r.snapshot_id = ? ORDER BY r.seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchpilot.Update
	for rows.Next() {
		var u patchpilot.Update
		var advisories string
		if err := rows.Scan(&u.Package, &u.Arch, &u.SourcePackage, &u.InstalledVersion, &u.CandidateVersion,
			&u.Origin, &u.Security, &advisories); err != nil {
			return nil, err
		}
		if u.Advisories, err = decodeList[patchpilot.AdvisoryRef](advisories); err != nil {
			return nil, fmt.Errorf("update %q: advisories: %w", u.Package, err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// FactHistory lists a host's snapshots, newest first, without their lists;
// limit 0 means all.
func (db *DB) FactHistory(ctx context.Context, host string, limit int) ([]patchpilot.FactSnapshot, error) {
	if limit < 0 {
		return nil, invalid("fact history of %q: negative limit %d", host, limit)
	}
	hostID, err := db.hostID(ctx, host)
	if err != nil {
		return nil, err
	}
	q := `SELECT id, collected_at, source, os_name, os_version, kernel, boot_id, package_count,
		update_count, reboot_required
		FROM fact_snapshots WHERE host_id = ? ORDER BY collected_at DESC, id DESC`
	args := []any{hostID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "read fact history of %q", host)
	}
	defer rows.Close()
	out := []patchpilot.FactSnapshot{}
	for rows.Next() {
		s := patchpilot.FactSnapshot{Host: host}
		var collectedAt string
		if err := rows.Scan(&s.ID, &collectedAt, &s.Source, &s.OSName, &s.OSVersion, &s.Kernel, &s.BootID,
			&s.PackageCount, &s.UpdateCount, &s.RebootRequired); err != nil {
			return nil, wrap(err, "read fact history of %q", host)
		}
		if s.CollectedAt, err = parseTime(collectedAt); err != nil {
			return nil, wrap(err, "read fact history of %q", host)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read fact history of %q", host)
	}
	return out, nil
}

// LatestPackagesOf returns, by host name, the packages of each host's
// latest snapshot that are named in names or built from the same source
// package as a named package installed on that host, in collected order.
// It finds the few distinct installed packages that can be among them
// first: those named without a source package, and every package of the
// source packages the named ones are built from (installed_packages holds
// every package ever stored, so every reference to a named package is to
// one of them). It then reads the references to those rows, narrow rows
// of integers, through their index, keeps those of each host's latest
// snapshot, and decodes each distinct package once.
func (db *DB) LatestPackagesOf(ctx context.Context, names []string) (map[string][]patchpilot.Package, error) {
	out := map[string][]patchpilot.Package{}
	if len(names) == 0 {
		return out, nil
	}
	fail := func(err error) (map[string][]patchpilot.Package, error) {
		return nil, wrap(err, "read the fleet's packages %s", strings.Join(names, ", "))
	}
	nameList, err := json.Marshal(names)
	if err != nil {
		return fail(err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, name, version, arch, source_name, source_version, status
		FROM installed_packages WHERE source_name = '' AND name IN (SELECT value FROM json_each(?1))
		UNION ALL
		SELECT id, name, version, arch, source_name, source_version, status
		FROM installed_packages INDEXED BY installed_packages_source WHERE source_name IN (
			SELECT source_name FROM installed_packages
			WHERE name IN (SELECT value FROM json_each(?1)) AND source_name <> '')`, string(nameList))
	if err != nil {
		return fail(err)
	}
	pkgs := map[int64]*patchpilot.Package{}
	var ids []string
	for rows.Next() {
		var id int64
		var p patchpilot.Package
		if err := rows.Scan(&id, &p.Name, &p.Version, &p.Arch, &p.SourceName, &p.SourceVersion, &p.Status); err != nil {
			rows.Close()
			return fail(err)
		}
		pkgs[id] = &p
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	// Each host's latest snapshot, worked out once a host through the
	// covering index of the hosts' snapshots.
	latest := map[int64]string{}
	rows, err = db.read.QueryContext(ctx, `SELECT h.name, `+latestSnapshot+` FROM hosts h`)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var host string
		var id sql.NullInt64
		if err := rows.Scan(&host, &id); err != nil {
			rows.Close()
			return fail(err)
		}
		if id.Valid {
			latest[id.Int64] = host
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	// The references to those packages, narrow rows of integers read
	// through their index; those of the latest snapshots are kept.
	type ref struct {
		seq int64
		pkg *patchpilot.Package
	}
	got := map[int64][]ref{}
	rows, err = db.read.QueryContext(ctx, `SELECT snapshot_id, seq, package_id
		FROM snapshot_package_refs INDEXED BY snapshot_package_refs_package
		WHERE package_id IN (SELECT value FROM json_each(?))`, "["+strings.Join(ids, ",")+"]")
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var snapshot, id int64
		var r ref
		if err := rows.Scan(&snapshot, &r.seq, &id); err != nil {
			rows.Close()
			return fail(err)
		}
		if _, ok := latest[snapshot]; !ok {
			continue
		}
		if r.pkg = pkgs[id]; r.pkg == nil {
			rows.Close()
			return fail(fmt.Errorf("installed package %d is not among those read", id))
		}
		got[snapshot] = append(got[snapshot], r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	named := map[string]bool{}
	for _, n := range names {
		named[n] = true
	}
	for snapshot, rs := range got {
		host := latest[snapshot]
		// A host's packages: its named ones, and those built from the
		// same source package as one of its named ones.
		mine := map[string]bool{}
		has := false
		for _, r := range rs {
			if named[r.pkg.Name] {
				has = true
				if r.pkg.SourceName != "" {
					mine[r.pkg.SourceName] = true
				}
			}
		}
		if !has {
			continue
		}
		var keep []ref
		for _, r := range rs {
			if named[r.pkg.Name] || mine[r.pkg.SourceName] {
				keep = append(keep, r)
			}
		}
		slices.SortFunc(keep, func(a, b ref) int { return cmp.Compare(a.seq, b.seq) })
		out[host] = make([]patchpilot.Package, len(keep))
		for i, r := range keep {
			out[host][i] = *r.pkg
		}
	}
	return out, nil
}

package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// HostSummaries summarises every host from its latest snapshot, ordered by
// name. It reads the snapshot's count columns and never the package lists.
func (db *DB) HostSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+prefixed("h.", hostColumns)+`,
		s.collected_at, s.os_family, s.os_name, s.os_version, s.kernel, s.arch,
		s.package_count, s.update_count, s.security_update_count, s.reboot_required
		FROM hosts h LEFT JOIN fact_snapshots s ON s.id = `+latestSnapshot+`
		ORDER BY h.name`)
	if err != nil {
		return nil, wrap(err, "summarise hosts")
	}
	defer rows.Close()
	out := []patchpilot.HostSummary{}
	for rows.Next() {
		var (
			h                                   patchpilot.Host
			groups, labels                      string
			collectedAt, family, osName, osVer  sql.NullString
			kernel, arch                        sql.NullString
			packages, updates, security, reboot sql.NullInt64
		)
		if err := rows.Scan(&h.Name, &h.Address, &h.Port, &h.User, &h.KeyFile, &h.Become, &h.JumpHost,
			&groups, &labels, &h.Source, &collectedAt, &family, &osName, &osVer, &kernel, &arch,
			&packages, &updates, &security, &reboot); err != nil {
			return nil, wrap(err, "summarise hosts")
		}
		if h.Labels, err = decodeMap(labels); err != nil {
			return nil, wrap(err, "summarise host %q", h.Name)
		}
		if !collectedAt.Valid {
			out = append(out, patchpilot.Summarize(h, nil))
			continue
		}
		at, err := parseTime(collectedAt.String)
		if err != nil {
			return nil, wrap(err, "summarise host %q", h.Name)
		}
		// Summarize counts the lists of the facts it is given; the lists
		// are not loaded here, so the stored counts replace its counts.
		s := patchpilot.Summarize(h, &patchpilot.Facts{
			Host: h.Name, CollectedAt: at, OSFamily: patchpilot.OSFamily(family.String),
			OSName: osName.String, OSVersion: osVer.String, Kernel: kernel.String, Arch: arch.String,
			RebootRequired: reboot.Int64 != 0,
		})
		s.PackageCount = int(packages.Int64)
		s.PendingUpdateCount = int(updates.Int64)
		s.SecurityUpdateCount = int(security.Int64)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "summarise hosts")
	}
	return out, nil
}

// RestartsNeeded lists the services each host's latest snapshot says
// need a restart, for the hosts with any, ordered by host.
func (db *DB) RestartsNeeded(ctx context.Context) ([]patchpilot.HostRestarts, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT h.name, s.needs_restart
		FROM hosts h JOIN fact_snapshots s ON s.id = `+latestSnapshot+`
		WHERE s.needs_restart NOT IN ('', '[]', 'null')
		ORDER BY h.name`)
	if err != nil {
		return nil, wrap(err, "list restarts needed")
	}
	defer rows.Close()
	out := []patchpilot.HostRestarts{}
	for rows.Next() {
		var r patchpilot.HostRestarts
		var services string
		if err := rows.Scan(&r.Host, &services); err != nil {
			return nil, wrap(err, "list restarts needed")
		}
		if err := json.Unmarshal([]byte(services), &r.Services); err != nil {
			return nil, wrap(err, "host %q: services needing a restart", r.Host)
		}
		if len(r.Services) > 0 {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list restarts needed")
	}
	return out, nil
}

// PendingUpdates lists the updates of each host's latest snapshot, ordered
// by host and package. Filter.Package matches an update's package or its
// source package, so that "openssl" also finds libssl3 on Debian.
//
// A fleet has far more updates than hosts: each host's name and OS are read
// once with its latest snapshot, the updates' rows are the ids of the
// snapshot and of the distinct update (pending_updates), and each distinct
// update is read and decoded once however many hosts wait for it. One
// package's updates across the fleet are found through the package
// indexes, and only the hosts of the snapshots that list them are read.
// The reads see one snapshot of the database.
func (db *DB) PendingUpdates(ctx context.Context, filter patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	out := []patchpilot.HostUpdate{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if byPackage(filter) {
			// One package's updates are on few hosts: their references
			// are read first, and the hosts of their snapshots alone.
			refs, err := pendingPackageRefs(ctx, tx, filter)
			if err != nil {
				return err
			}
			snaps, err := snapshotHostsOf(ctx, tx, refs)
			if err != nil {
				return err
			}
			out, err = pendingUpdatesOf(ctx, tx, snaps, refs, out)
			return err
		}
		snaps, err := latestSnapshotHosts(ctx, tx, filter)
		if err != nil {
			return err
		}
		if filter.Package == "" {
			// The snapshots count their updates: the list is made as
			// long as it will be at once, not grown row by row.
			n := 0
			for _, h := range snaps {
				if filter.SecurityOnly {
					n += h.securityUpdates
				} else {
					n += h.updates
				}
			}
			out = make([]patchpilot.HostUpdate, 0, n)
		}
		refs, err := pendingUpdateRefs(ctx, tx, filter, cap(out))
		if err != nil {
			return err
		}
		out, err = pendingUpdatesOf(ctx, tx, snaps, refs, out)
		return err
	}, "list pending updates")
	if err != nil {
		return nil, err
	}
	return out, nil
}

// byPackage says whether PendingUpdates reads filter's updates through
// the package indexes (pendingPackageRefs): one package across the fleet.
func byPackage(filter patchpilot.UpdateFilter) bool {
	return filter.Package != "" && filter.Host == "" && len(filter.Hosts) == 0
}

// pendingUpdatesOf appends to out the updates refs refer to, of the hosts
// whose latest snapshots snaps holds, by host and package.
func pendingUpdatesOf(ctx context.Context, tx *sql.Tx, snaps map[int64]snapshotHost, refs []updateRef,
	out []patchpilot.HostUpdate) ([]patchpilot.HostUpdate, error) {
	ids := make([]int64, len(refs))
	for i, r := range refs {
		ids[i] = r.update
	}
	known := map[int64]*storedUpdate{}
	if err := readUpdates(ctx, tx, ids, known); err != nil {
		return nil, err
	}
	// Each host's updates by package, in stored order among equals:
	// the order of ORDER BY h.name, u.package, u.seq. The distinct
	// updates are ranked by package once, and a host's references
	// sorted by rank only when they are not in order already.
	byName := make([]*storedUpdate, 0, len(known))
	for _, d := range known {
		byName = append(byName, d)
	}
	slices.SortFunc(byName, func(a, b *storedUpdate) int { return strings.Compare(a.u.Package, b.u.Package) })
	for i, d := range byName {
		d.rank = i
		if i > 0 && d.u.Package == byName[i-1].u.Package {
			d.rank = byName[i-1].rank
		}
	}
	for i := range refs {
		refs[i].rank = known[refs[i].update].rank
	}
	byRank := func(a, b updateRef) int { return a.rank - b.rank }
	for i := 0; i < len(refs); {
		j := i + 1
		for j < len(refs) && refs[j].snapshot == refs[i].snapshot {
			j++
		}
		if !slices.IsSortedFunc(refs[i:j], byRank) {
			slices.SortStableFunc(refs[i:j], byRank)
		}
		i = j
	}
	for _, r := range refs {
		h, ok := snaps[r.snapshot]
		if !ok {
			return nil, fmt.Errorf("snapshot %d of a pending update is no host's latest", r.snapshot)
		}
		d := known[r.update]
		u := patchpilot.HostUpdate{Host: h.name, Package: d.u.Package, SourcePackage: d.u.SourcePackage,
			InstalledVersion: d.u.InstalledVersion, CandidateVersion: d.u.CandidateVersion,
			Security: d.u.Security, Advisories: d.advisories, Ecosystem: h.ecosystem, Family: h.family}
		if len(u.Advisories) > 0 {
			// Each update's list of its own: annotations change
			// their list in place.
			u.Advisories = slices.Clone(u.Advisories)
		}
		out = append(out, u)
	}
	return out, nil
}

// updateRef is one pending update of a snapshot: the ids of the snapshot
// and of the distinct update (pending_updates).
type updateRef struct {
	snapshot, seq, update int64
	rank                  int // of the update by package (PendingUpdates)
}

// pendingUpdateRefs reads the references of PendingUpdates: the updates of
// the hosts' latest snapshots that filter keeps, by host name and then in
// stored order. The update's own columns are joined only to filter by
// them. Each host's references come as one row, a list of ids, rather
// than a row each; one package across the fleet is found through the
// package indexes instead (pendingPackageRefs).
func pendingUpdateRefs(ctx context.Context, tx *sql.Tx, filter patchpilot.UpdateFilter, size int) ([]updateRef, error) {
	if byPackage(filter) {
		return pendingPackageRefs(ctx, tx, filter)
	}
	var conds []string
	var args []any
	join := ""
	if filter.SecurityOnly || filter.Package != "" {
		join = " JOIN pending_updates p ON p.id = r.update_id"
	}
	if filter.SecurityOnly {
		conds = append(conds, "p.security = 1")
	}
	if filter.Package != "" {
		conds = append(conds, "(p.package = ? OR p.source_package = ?)")
		args = append(args, filter.Package, filter.Package)
	}
	// Each reference as seq:id, so that the list is put in stored order
	// here whatever order the aggregate saw the rows in (they come in
	// seq order from the primary key, and an ORDER BY within the
	// aggregate would sort each host's list again).
	q := `SELECT s.id, (SELECT group_concat(r.seq || ':' || r.update_id, ',') FROM snapshot_update_refs r` + join + `
			WHERE r.snapshot_id = s.id` + strings.Join(append([]string{""}, conds...), " AND ") + `)
		FROM hosts h JOIN fact_snapshots s ON s.id = ` + latestSnapshot
	var where []string
	if where, args = hostRange(filter, where, args); len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY h.name"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]updateRef, 0, size)
	for rows.Next() {
		var (
			snapshot int64
			list     sql.RawBytes
		)
		if err := rows.Scan(&snapshot, &list); err != nil {
			return nil, err
		}
		start := len(out)
		sorted := true
		for len(list) > 0 {
			var n [2]int64
			i := 0
			for k := range n {
				digits := i
				for ; i < len(list) && list[i] >= '0' && list[i] <= '9'; i++ {
					n[k] = n[k]*10 + int64(list[i]-'0')
				}
				want := byte(':')
				if k == 1 {
					want = ','
				}
				if i == digits || i < len(list) && list[i] != want || k == 0 && i == len(list) {
					return nil, fmt.Errorf("snapshot %d: malformed list of update ids %q", snapshot, list)
				}
				i++
			}
			if len(out) > start && n[0] <= out[len(out)-1].seq {
				sorted = false
			}
			out = append(out, updateRef{snapshot: snapshot, seq: n[0], update: n[1]})
			list = list[min(i, len(list)):]
		}
		if !sorted {
			slices.SortFunc(out[start:], func(a, b updateRef) int { return cmp.Compare(a.seq, b.seq) })
		}
	}
	return out, rows.Err()
}

// pendingPackageRefs reads the references of one package's updates across
// the fleet: its distinct updates through the package and source package
// indexes, the snapshots that refer to them, kept when their snapshot is
// their host's latest.
func pendingPackageRefs(ctx context.Context, tx *sql.Tx, filter patchpilot.UpdateFilter) ([]updateRef, error) {
	where := []string{"(p.package = ? OR p.source_package = ?)", "s.id = " + latestSnapshot}
	args := []any{filter.Package, filter.Package}
	if filter.SecurityOnly {
		where = append(where, "p.security = 1")
	}
	where, args = hostRange(filter, where, args)
	rows, err := tx.QueryContext(ctx, `SELECT r.snapshot_id, r.seq, r.update_id
		FROM pending_updates p
		JOIN snapshot_update_refs r ON r.update_id = p.id
		JOIN fact_snapshots s ON s.id = r.snapshot_id
		JOIN hosts h ON h.id = s.host_id
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY h.name, r.seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []updateRef
	for rows.Next() {
		var r updateRef
		if err := rows.Scan(&r.snapshot, &r.seq, &r.update); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// snapshotHost is a host as its latest snapshot describes it, with the
// number of its pending updates (and of those that are security updates).
type snapshotHost struct {
	name                     string
	family                   patchpilot.OSFamily
	ecosystem                string
	updates, securityUpdates int
}

// hostRange adds the conditions on the hosts' names of filter's Host,
// Hosts, HostsAfter and HostsThrough.
func hostRange(filter patchpilot.UpdateFilter, where []string, args []any) ([]string, []any) {
	if filter.Host != "" {
		where = append(where, "h.name = ?")
		args = append(args, filter.Host)
	}
	if len(filter.Hosts) > 0 {
		names, _ := json.Marshal(filter.Hosts) // a list of strings always encodes
		where = append(where, "h.name IN (SELECT value FROM json_each(?))")
		args = append(args, string(names))
	}
	if filter.HostsAfter != "" {
		where = append(where, "h.name > ?")
		args = append(args, filter.HostsAfter)
	}
	if filter.HostsThrough != "" {
		where = append(where, "h.name <= ?")
		args = append(args, filter.HostsThrough)
	}
	return where, args
}

// latestSnapshotHosts maps the id of each host's latest snapshot (of the
// hosts filter's Host, Hosts, HostsAfter and HostsThrough select) to the host's
// name and OS.
func latestSnapshotHosts(ctx context.Context, tx *sql.Tx, filter patchpilot.UpdateFilter) (map[int64]snapshotHost, error) {
	q := `SELECT s.id, h.name, s.os_family, s.os_name, s.os_version, s.os_pretty, s.update_count, s.security_update_count
		FROM hosts h JOIN fact_snapshots s ON s.id = ` + latestSnapshot
	where, args := hostRange(filter, nil, nil)
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return snapshotHosts(ctx, tx, q, args...)
}

// snapshotHosts runs q, whose rows are a snapshot's id, its host's name,
// OS (family, name, version, pretty name) and update counts, and maps
// each snapshot to its host.
func snapshotHosts(ctx context.Context, tx *sql.Tx, q string, args ...any) (map[int64]snapshotHost, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]snapshotHost{}
	// Hosts share their OS: each one's ecosystem is worked out once.
	type osKey struct{ family, name, version, pretty string }
	oses := map[osKey]snapshotHost{}
	for rows.Next() {
		var (
			id int64
			h  snapshotHost
			k  osKey
		)
		if err := rows.Scan(&id, &h.name, &k.family, &k.name, &k.version, &k.pretty, &h.updates, &h.securityUpdates); err != nil {
			return nil, err
		}
		o, ok := oses[k]
		if !ok {
			o = snapshotHost{family: patchpilot.OSFamily(k.family),
				ecosystem: patchpilot.Facts{OSName: k.name, OSVersion: k.version, OSPretty: k.pretty}.Ecosystem()}
			oses[k] = o
		}
		h.family, h.ecosystem = o.family, o.ecosystem
		h.updates, h.securityUpdates = max(h.updates, 0), max(h.securityUpdates, 0)
		out[id] = h
	}
	return out, rows.Err()
}

// snapshotHostsOf maps the id of each snapshot refs refer to to its
// host's name and OS, as latestSnapshotHosts does for every host.
func snapshotHostsOf(ctx context.Context, tx *sql.Tx, refs []updateRef) (map[int64]snapshotHost, error) {
	ids := make([]int64, 0, len(refs))
	for i, r := range refs {
		if i == 0 || r.snapshot != refs[i-1].snapshot {
			ids = append(ids, r.snapshot)
		}
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	return snapshotHosts(ctx, tx, `SELECT s.id, h.name, s.os_family, s.os_name, s.os_version, s.os_pretty, s.update_count, s.security_update_count
		FROM fact_snapshots s JOIN hosts h ON h.id = s.host_id
		WHERE s.id IN (SELECT value FROM json_each(?))`, string(list))
}

// prefixed qualifies each column of a comma-separated list with prefix.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

// FirstSeen returns, for each pending update (package and candidate
// version) of the named packages, the earliest saved snapshot that listed
// it, as SaveFacts recorded it.
func (db *DB) FirstSeen(ctx context.Context, packages []string) ([]patchpilot.UpdateSighting, error) {
	out := []patchpilot.UpdateSighting{}
	if len(packages) == 0 {
		return out, nil
	}
	names, err := json.Marshal(packages)
	if err != nil {
		return nil, wrap(err, "first sightings")
	}
	rows, err := db.read.QueryContext(ctx, `SELECT package, version, host, first_seen FROM update_sightings
		WHERE package IN (SELECT value FROM json_each(?)) ORDER BY package, version`, string(names))
	if err != nil {
		return nil, wrap(err, "first sightings")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			u  patchpilot.UpdateSighting
			at string
		)
		if err := rows.Scan(&u.Package, &u.Version, &u.Host, &at); err != nil {
			return nil, wrap(err, "first sightings")
		}
		if u.FirstSeen, err = parseTime(at); err != nil {
			return nil, wrap(err, "first sighting of %s %s", u.Package, u.Version)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "first sightings")
	}
	return out, nil
}

// DataVersions reads the counters that migration 0011's triggers bump on
// every change to the tables behind them.
func (db *DB) DataVersions(ctx context.Context) (patchpilot.DataVersions, error) {
	var v patchpilot.DataVersions
	rows, err := db.read.QueryContext(ctx, `SELECT name, version FROM data_versions`)
	if err != nil {
		return v, wrap(err, "data versions")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			n    int64
		)
		if err := rows.Scan(&name, &n); err != nil {
			return v, wrap(err, "data versions")
		}
		switch name {
		case "inventory":
			v.Inventory = n
		case "outcomes":
			v.Outcomes = n
		case "models":
			v.Models = n
		}
	}
	if err := rows.Err(); err != nil {
		return v, wrap(err, "data versions")
	}
	return v, nil
}

// fleetInventoryHead is factsHeadColumns of the latest snapshot s, each
// column that a host never collected (no s) leaves NULL read as its zero,
// so that one row scans for every host; depth is nullable already.
var fleetInventoryHead = func() string {
	cols := strings.Split(factsHeadColumns, ", ")
	for i, c := range cols {
		switch c {
		case "depth":
			cols[i] = "s." + c
		case "id", "reboot_required", "packages_known", "updates_known":
			cols[i] = "coalesce(s." + c + ", 0)"
		default:
			cols[i] = "coalesce(s." + c + ", '')"
		}
	}
	return strings.Join(cols, ", ")
}()

// FleetInventory reads every host with its latest snapshot's head and
// counts in one query, and makes of each row the host, its facts (when it
// was collected) and its summary, as Hosts, FleetFacts and HostSummaries
// would.
func (db *DB) FleetInventory(ctx context.Context) (patchpilot.FleetInventory, error) {
	// The lists are made as long as the fleet is at once rather than
	// grown row by row (a facts head is large to copy); the count is a
	// size only, and a host added meanwhile still finds its place.
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM hosts`).Scan(&n); err != nil {
		return patchpilot.FleetInventory{}, wrap(err, "read the fleet's inventory")
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+prefixed("h.", hostColumns)+`, s.id IS NOT NULL, `+fleetInventoryHead+`,
		coalesce(s.package_count, 0), coalesce(s.update_count, 0), coalesce(s.security_update_count, 0)
		FROM hosts h LEFT JOIN fact_snapshots s ON s.id = `+latestSnapshot+`
		ORDER BY h.name`)
	if err != nil {
		return patchpilot.FleetInventory{}, wrap(err, "read the fleet's inventory")
	}
	defer rows.Close()
	inv := patchpilot.FleetInventory{Hosts: make([]patchpilot.Host, 0, n), Facts: make([]patchpilot.Facts, 0, n),
		Summaries: make([]patchpilot.HostSummary, 0, n)}
	// Every column is scanned at every row: the destinations are made
	// once and filled again row by row.
	var (
		collected                   bool
		head                        factsHeadRow
		packages, updates, security int
	)
	rest := append([]any{&collected}, head.dests()...)
	rest = append(rest, &packages, &updates, &security)
	scan := suffixScanner{s: rows, rest: rest}
	for rows.Next() {
		h, err := scanHost(&scan)
		if err != nil {
			return patchpilot.FleetInventory{}, wrap(err, "read the fleet's inventory")
		}
		inv.Hosts = append(inv.Hosts, h)
		// The summary's labels are a map of its own, as HostSummaries
		// decodes them apart from Hosts'.
		sh := h
		sh.Labels = maps.Clone(h.Labels)
		if !collected {
			inv.Summaries = append(inv.Summaries, patchpilot.Summarize(sh, nil))
			continue
		}
		f, err := head.decode(h.Name)
		if err != nil {
			return patchpilot.FleetInventory{}, wrap(err, "read the facts of host %q", h.Name)
		}
		inv.Facts = append(inv.Facts, f)
		// Summarize counts the lists of the facts it is given; the lists
		// are not loaded here, so the stored counts replace its counts.
		s := patchpilot.Summarize(sh, &f)
		s.PackageCount, s.PendingUpdateCount, s.SecurityUpdateCount = packages, updates, security
		inv.Summaries = append(inv.Summaries, s)
	}
	if err := rows.Err(); err != nil {
		return patchpilot.FleetInventory{}, wrap(err, "read the fleet's inventory")
	}
	return inv, nil
}

// suffixScanner scans a row whose leading columns are read by the caller's
// Scan and the rest into rest.
type suffixScanner struct {
	s    scanner
	rest []any
	all  []any // the destinations of the last Scan, kept for the next
}

func (p *suffixScanner) Scan(dest ...any) error {
	p.all = append(append(p.all[:0], dest...), p.rest...)
	return p.s.Scan(p.all...)
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
// once with its latest snapshot, the updates' rows carry only the
// snapshot's id, and each distinct name and version is kept once however
// many rows repeat it. Both reads see one snapshot of the database.
func (db *DB) PendingUpdates(ctx context.Context, filter patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	out := []patchpilot.HostUpdate{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
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
		var where []string
		var args []any
		if filter.Host != "" {
			where = append(where, "h.name = ?")
			args = append(args, filter.Host)
		}
		where, args = hostRange(filter, where, args)
		if filter.SecurityOnly {
			where = append(where, "u.security = 1")
		}
		if filter.Package != "" {
			where = append(where, "(u.package = ? OR u.source_package = ?)")
			args = append(args, filter.Package, filter.Package)
		}
		const columns = `u.snapshot_id, u.package, u.source_package, u.installed_version, u.candidate_version, u.security, u.advisories`
		q := `SELECT ` + columns + `
		FROM hosts h
		JOIN fact_snapshots s ON s.id = ` + latestSnapshot + `
		JOIN snapshot_updates u ON u.snapshot_id = s.id`
		if filter.Package != "" && filter.Host == "" && len(filter.Hosts) == 0 {
			// One package across the fleet: its rows in every snapshot
			// through the package and source package indexes, kept when
			// their snapshot is their host's latest, rather than every
			// host's latest updates.
			q = `SELECT ` + columns + `
		FROM snapshot_updates u
		JOIN fact_snapshots s ON s.id = u.snapshot_id
		JOIN hosts h ON h.id = s.host_id`
			where = append(where, "s.id = "+latestSnapshot)
		}
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		// By host and then as stored, which the indexes give without a
		// sort of every row; each host's rows are put in package order
		// below.
		q += " ORDER BY h.name, u.seq"
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		strs := map[string]string{}
		intern := func(s string) string {
			if v, ok := strs[s]; ok {
				return v
			}
			strs[s] = s
			return s
		}
		for rows.Next() {
			var (
				u          patchpilot.HostUpdate
				snapshot   int64
				advisories string
			)
			if err := rows.Scan(&snapshot, &u.Package, &u.SourcePackage, &u.InstalledVersion, &u.CandidateVersion,
				&u.Security, &advisories); err != nil {
				return err
			}
			h, ok := snaps[snapshot]
			if !ok {
				return fmt.Errorf("snapshot %d of a pending update is no host's latest", snapshot)
			}
			u.Host, u.Family, u.Ecosystem = h.name, h.family, h.ecosystem
			u.Package, u.SourcePackage = intern(u.Package), intern(u.SourcePackage)
			u.InstalledVersion, u.CandidateVersion = intern(u.InstalledVersion), intern(u.CandidateVersion)
			if u.Advisories, err = decodeList[patchpilot.AdvisoryRef](advisories); err != nil {
				return fmt.Errorf("host %q: %w", u.Host, err)
			}
			if u.Advisories == nil {
				u.Advisories = []patchpilot.AdvisoryRef{} // shows as [] in JSON
			}
			out = append(out, u)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Each host's updates by package, in stored order among equals:
		// the order of ORDER BY h.name, u.package, u.seq.
		byPackage := func(a, b patchpilot.HostUpdate) int { return strings.Compare(a.Package, b.Package) }
		for i := 0; i < len(out); {
			j := i + 1
			for j < len(out) && out[j].Host == out[i].Host {
				j++
			}
			slices.SortStableFunc(out[i:j], byPackage)
			i = j
		}
		return nil
	}, "list pending updates")
	if err != nil {
		return nil, err
	}
	return out, nil
}

// snapshotHost is a host as its latest snapshot describes it, with the
// number of its pending updates (and of those that are security updates).
type snapshotHost struct {
	name                     string
	family                   patchpilot.OSFamily
	ecosystem                string
	updates, securityUpdates int
}

// hostRange adds the conditions on the hosts' names of filter's Hosts,
// HostsAfter and HostsThrough.
func hostRange(filter patchpilot.UpdateFilter, where []string, args []any) ([]string, []any) {
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
	var where []string
	var args []any
	if filter.Host != "" {
		where = append(where, "h.name = ?")
		args = append(args, filter.Host)
	}
	if where, args = hostRange(filter, where, args); len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
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

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
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
func (db *DB) PendingUpdates(ctx context.Context, filter patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	var where []string
	var args []any
	if filter.Host != "" {
		where = append(where, "h.name = ?")
		args = append(args, filter.Host)
	}
	if len(filter.Hosts) > 0 {
		names, err := json.Marshal(filter.Hosts)
		if err != nil {
			return nil, wrap(err, "list pending updates")
		}
		where = append(where, "h.name IN (SELECT value FROM json_each(?))")
		args = append(args, string(names))
	}
	if filter.SecurityOnly {
		where = append(where, "u.security = 1")
	}
	if filter.Package != "" {
		where = append(where, "(u.package = ? OR u.source_package = ?)")
		args = append(args, filter.Package, filter.Package)
	}
	q := `SELECT h.name, s.os_family, s.os_name, s.os_version, s.os_pretty, u.package, u.source_package,
		u.installed_version, u.candidate_version, u.security, u.advisories
		FROM hosts h
		JOIN fact_snapshots s ON s.id = ` + latestSnapshot + `
		JOIN snapshot_updates u ON u.snapshot_id = s.id`
	if filter.Package != "" && filter.Host == "" && len(filter.Hosts) == 0 {
		// One package across the fleet: its rows in every snapshot
		// through the package and source package indexes, kept when
		// their snapshot is their host's latest, rather than every
		// host's latest updates.
		q = `SELECT h.name, s.os_family, s.os_name, s.os_version, s.os_pretty, u.package, u.source_package,
		u.installed_version, u.candidate_version, u.security, u.advisories
		FROM snapshot_updates u
		JOIN fact_snapshots s ON s.id = u.snapshot_id
		JOIN hosts h ON h.id = s.host_id`
		where = append(where, "s.id = "+latestSnapshot)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY h.name, u.package, u.seq"
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list pending updates")
	}
	defer rows.Close()
	out := []patchpilot.HostUpdate{}
	for rows.Next() {
		var (
			u                               patchpilot.HostUpdate
			family, osName, osVer, osPretty string
			advisories                      string
		)
		if err := rows.Scan(&u.Host, &family, &osName, &osVer, &osPretty, &u.Package, &u.SourcePackage,
			&u.InstalledVersion, &u.CandidateVersion, &u.Security, &advisories); err != nil {
			return nil, wrap(err, "list pending updates")
		}
		u.Family = patchpilot.OSFamily(family)
		u.Ecosystem = patchpilot.Facts{OSName: osName, OSVersion: osVer, OSPretty: osPretty}.Ecosystem()
		if u.Advisories, err = decodeList[patchpilot.AdvisoryRef](advisories); err != nil {
			return nil, wrap(err, "list pending updates of %q", u.Host)
		}
		if u.Advisories == nil {
			u.Advisories = []patchpilot.AdvisoryRef{} // shows as [] in JSON
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list pending updates")
	}
	return out, nil
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

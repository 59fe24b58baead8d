package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// SaveAdvisories inserts or replaces advisories by ID in one transaction and
// returns how many were written. A record whose Modified time is older than
// the stored one's is skipped; an equal one replaces it, so that importing
// the same file twice is harmless and a corrected record with an unchanged
// time still lands.
func (db *DB) SaveAdvisories(ctx context.Context, advisories []patchpilot.Advisory) (int, error) {
	records := make([]string, len(advisories))
	for i, a := range advisories {
		// Times are stored and returned in UTC, in the record too.
		a.Published, a.Modified = a.Published.UTC(), a.Modified.UTC()
		if a.ID == "" {
			return 0, invalid("advisories[%d]: empty id", i)
		}
		if !storable(a.Published) || !storable(a.Modified) {
			return 0, invalid("advisory %s: published or modified time out of range", a.ID)
		}
		for j, p := range a.Affected {
			if p.Ecosystem == "" || p.Name == "" {
				return 0, invalid("advisory %s: affected[%d]: want an ecosystem and a package name", a.ID, j)
			}
		}
		b, err := json.Marshal(a)
		if err != nil {
			return 0, wrap(err, "encode advisory %s", a.ID)
		}
		records[i] = string(b)
	}
	if len(advisories) == 0 {
		return 0, nil
	}
	written := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		upsert, err := tx.PrepareContext(ctx, `INSERT INTO advisories (id, aliases, summary, published,
			modified, severity, cvss, cvss_vector, source, record)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET aliases = excluded.aliases, summary = excluded.summary,
				published = excluded.published, modified = excluded.modified, severity = excluded.severity,
				cvss = excluded.cvss, cvss_vector = excluded.cvss_vector, source = excluded.source,
				record = excluded.record
			WHERE excluded.modified >= advisories.modified`)
		if err != nil {
			return err
		}
		defer upsert.Close()
		unlink, err := tx.PrepareContext(ctx, `DELETE FROM advisory_packages WHERE advisory_id = ?`)
		if err != nil {
			return err
		}
		defer unlink.Close()
		link, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO advisory_packages (advisory_id, ecosystem, name)
			VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer link.Close()
		for i, a := range advisories {
			aliases, err := encodeList(a.Aliases)
			if err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			res, err := upsert.ExecContext(ctx, a.ID, aliases, a.Summary, formatTime(a.Published),
				formatTime(a.Modified), a.Severity, a.CVSS, a.CVSSVector, a.Source, records[i])
			if err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return fmt.Errorf("advisory %s: %w", a.ID, err)
				}
				continue // the stored record is newer
			}
			if _, err := unlink.ExecContext(ctx, a.ID); err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			for _, p := range a.Affected {
				if _, err := link.ExecContext(ctx, a.ID, p.Ecosystem, p.Name); err != nil {
					return fmt.Errorf("advisory %s: %w", a.ID, err)
				}
			}
			written++
		}
		return nil
	}, "save %d advisories", len(advisories))
	if err != nil {
		return 0, err
	}
	return written, nil
}

// AdvisoriesFor returns the advisories that name pkg in ecosystem, ordered
// by ID.
func (db *DB) AdvisoriesFor(ctx context.Context, ecosystem, pkg string) ([]patchpilot.Advisory, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT a.record FROM advisory_packages p
		JOIN advisories a ON a.id = p.advisory_id
		WHERE p.ecosystem = ? AND p.name = ? ORDER BY a.id`, ecosystem, pkg)
	if err != nil {
		return nil, wrap(err, "read advisories for %s in %s", pkg, ecosystem)
	}
	defer rows.Close()
	out := []patchpilot.Advisory{}
	for rows.Next() {
		var record string
		if err := rows.Scan(&record); err != nil {
			return nil, wrap(err, "read advisories for %s in %s", pkg, ecosystem)
		}
		var a patchpilot.Advisory
		if err := json.Unmarshal([]byte(record), &a); err != nil {
			return nil, wrap(err, "decode stored advisory for %s in %s", pkg, ecosystem)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read advisories for %s in %s", pkg, ecosystem)
	}
	return out, nil
}

// AdvisoryCount returns how many advisories are stored.
func (db *DB) AdvisoryCount(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM advisories`).Scan(&n); err != nil {
		return 0, wrap(err, "count advisories")
	}
	return n, nil
}

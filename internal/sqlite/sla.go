package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"

	"time"

	"github.com/patchpilot/patchpilot"
)

// SaveSLAExposures stores the exposures in one transaction, skipping one
// equal to the host's latest stored exposure before it.
func (db *DB) SaveSLAExposures(ctx context.Context, exposures []patchpilot.SLAExposure) error {
	type row struct {
		host, at string
		oldest   map[patchpilot.Severity]time.Time
	}
	rows := make([]row, 0, len(exposures))
	for i, e := range exposures {
		if e.Host == "" {
			return invalid("sla exposures[%d]: host is empty", i)
		}
		if e.CollectedAt.IsZero() || !storable(e.CollectedAt) {
			return invalid("sla exposures[%d] (%s): collected_at %v is not a storable time", i, e.Host, e.CollectedAt)
		}
		for sev, t := range e.Oldest {
			if !storable(t) || t.IsZero() {
				return invalid("sla exposures[%d] (%s): oldest %q: %v is not a storable time", i, e.Host, sev, t)
			}
		}
		rows = append(rows, row{e.Host, formatTime(e.CollectedAt), e.Oldest})
	}
	if len(rows) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		prev, err := tx.PrepareContext(ctx, `SELECT oldest FROM sla_exposures WHERE host = ? AND collected_at < ?
			ORDER BY collected_at DESC LIMIT 1`)
		if err != nil {
			return err
		}
		defer prev.Close()
		put, err := tx.PrepareContext(ctx, `INSERT INTO sla_exposures (host, collected_at, oldest) VALUES (?, ?, ?)
			ON CONFLICT (host, collected_at) DO UPDATE SET oldest = excluded.oldest`)
		if err != nil {
			return err
		}
		defer put.Close()
		for _, r := range rows {
			var text string
			err := prev.QueryRowContext(ctx, r.host, r.at).Scan(&text)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			default:
				old, err := decodeOldest(text)
				if err != nil {
					return err
				}
				if sameOldest(old, r.oldest) {
					continue
				}
			}
			enc, err := encodeOldest(r.oldest)
			if err != nil {
				return err
			}
			if _, err := put.ExecContext(ctx, r.host, r.at, enc); err != nil {
				return err
			}
		}
		return nil
	}, "save sla exposures")
}

func encodeOldest(m map[patchpilot.Severity]time.Time) (string, error) {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = formatTime(v)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeOldest(s string) (map[patchpilot.Severity]time.Time, error) {
	var raw map[string]string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	out := make(map[patchpilot.Severity]time.Time, len(raw))
	for k, v := range raw {
		t, err := parseTime(v)
		if err != nil {
			return nil, err
		}
		out[patchpilot.Severity(k)] = t
	}
	return out, nil
}

func sameOldest(a, b map[patchpilot.Severity]time.Time) bool {
	return maps.EqualFunc(a, b, func(x, y time.Time) bool { return x.Equal(y) })
}

// SLAExposures returns each host's latest exposure at or before from and
// every one in (from, to], ordered by host and time.
func (db *DB) SLAExposures(ctx context.Context, from, to time.Time) ([]patchpilot.SLAExposure, error) {
	if to.Before(from) {
		return nil, invalid("sla exposures: from %v is after to %v", from, to)
	}
	f, t := formatTime(from), formatTime(to)
	// SQLite gives the bare columns of the row holding max().
	rows, err := db.read.QueryContext(ctx, `SELECT host, collected_at, oldest FROM (
		SELECT host, max(collected_at) AS collected_at, oldest FROM sla_exposures WHERE collected_at <= ? GROUP BY host
		UNION ALL
		SELECT host, collected_at, oldest FROM sla_exposures WHERE collected_at > ? AND collected_at <= ?
	) ORDER BY host, collected_at`, f, f, t)
	if err != nil {
		return nil, wrap(err, "list sla exposures")
	}
	defer rows.Close()
	out := []patchpilot.SLAExposure{}
	for rows.Next() {
		var e patchpilot.SLAExposure
		var at, oldest string
		if err := rows.Scan(&e.Host, &at, &oldest); err != nil {
			return nil, wrap(err, "list sla exposures")
		}
		if e.CollectedAt, err = parseTime(at); err != nil {
			return nil, wrap(err, "list sla exposures")
		}
		if e.Oldest, err = decodeOldest(oldest); err != nil {
			return nil, wrap(err, "sla exposure of %s at %s", e.Host, at)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list sla exposures")
	}
	return out, nil
}

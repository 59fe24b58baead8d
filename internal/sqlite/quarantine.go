package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"

	"github.com/patchpilot/patchpilot"
)

var _ patchpilot.QuarantineStore = (*DB)(nil)

// encodePredictions encodes a rollout's predictions as a JSON object, "{}"
// for none; a probability outside [0, 1] is refused.
func encodePredictions(m map[string]patchpilot.Prediction) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	for host, p := range m {
		if host == "" {
			return "", fmt.Errorf("predictions: empty host name")
		}
		if math.IsNaN(p.Probability) || p.Probability < 0 || p.Probability > 1 {
			return "", fmt.Errorf("predictions: host %q: probability %v, want a number from 0 to 1", host, p.Probability)
		}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// decodePredictions decodes a rollout's stored predictions; none decodes
// to nil.
func decodePredictions(s string, out *map[string]patchpilot.Prediction) error {
	*out = nil
	if s == "" || s == "{}" || s == "null" {
		return nil
	}
	var m map[string]patchpilot.Prediction
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return fmt.Errorf("stored predictions: %w", err)
	}
	if len(m) > 0 {
		*out = m
	}
	return nil
}

// ClearQuarantine stores a clearance of a quarantined version.
func (db *DB) ClearQuarantine(ctx context.Context, c patchpilot.QuarantineClearance) (patchpilot.QuarantineClearance, error) {
	switch {
	case c.Package == "":
		return c, invalid("clear quarantine: package is empty")
	case c.Version == "":
		return c, invalid("clear quarantine of %s: version is empty", c.Package)
	case c.ClearedBy == "":
		return c, invalid("clear quarantine of %s=%s: cleared_by is empty (who clears it is recorded)", c.Package, c.Version)
	}
	if c.ClearedAt.IsZero() {
		c.ClearedAt = db.now()
	}
	if !storable(c.ClearedAt) {
		return c, invalid("clear quarantine of %s=%s: cleared_at is out of range", c.Package, c.Version)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO quarantine_clearances (package, version, class, reason, cleared_by, cleared_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.Package, c.Version, string(c.Class), c.Reason, c.ClearedBy, formatTime(c.ClearedAt))
		if err != nil {
			return err
		}
		c.ID, err = res.LastInsertId()
		return err
	}, "clear quarantine of %s=%s", c.Package, c.Version)
	return c, err
}

// QuarantineClearances lists every clearance, oldest first.
func (db *DB) QuarantineClearances(ctx context.Context) ([]patchpilot.QuarantineClearance, error) {
	out := []patchpilot.QuarantineClearance{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, package, version, class, reason, cleared_by, cleared_at
			FROM quarantine_clearances ORDER BY cleared_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c patchpilot.QuarantineClearance
			var class, at string
			if err := rows.Scan(&c.ID, &c.Package, &c.Version, &class, &c.Reason, &c.ClearedBy, &at); err != nil {
				return err
			}
			c.Class = patchpilot.HostClass(class)
			if c.ClearedAt, err = parseTime(at); err != nil {
				return fmt.Errorf("clearance %d: %w", c.ID, err)
			}
			out = append(out, c)
		}
		return rows.Err()
	}, "list quarantine clearances")
	if err != nil {
		return nil, err
	}
	return out, nil
}

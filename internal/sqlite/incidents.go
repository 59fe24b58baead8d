package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// AddIncident stores an incident of an existing rollout and returns its ID.
// A zero Time is set from the DB's clock.
func (db *DB) AddIncident(ctx context.Context, i patchpilot.Incident) (int64, error) {
	if i.Rollout == "" {
		return 0, invalid("incident: empty rollout id")
	}
	if i.Reason == "" {
		return 0, invalid("incident of rollout %q: empty reason", i.Rollout)
	}
	if len(i.Evidence) > 0 && !json.Valid(i.Evidence) {
		return 0, invalid("incident of rollout %q: evidence is not valid JSON", i.Rollout)
	}
	if i.Time.IsZero() {
		i.Time = db.now()
	}
	if !storable(i.Time) {
		return 0, invalid("incident of rollout %q: time %s is out of range", i.Rollout, i.Time)
	}
	hosts, err := encodeList(i.Hosts)
	if err != nil {
		return 0, wrap(err, "add incident to rollout %q", i.Rollout)
	}
	now := formatTime(db.now())
	var id int64
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := rolloutExists(ctx, tx, i.Rollout); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO incidents (rollout, time, stage, reason, hosts, evidence)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			i.Rollout, formatTime(i.Time), i.Stage, i.Reason, hosts, encodeJSON(i.Evidence)).Scan(&id); err != nil {
			return err
		}
		return touchRollout(ctx, tx, i.Rollout, now)
	}, "add incident to rollout %q", i.Rollout)
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Incidents lists a rollout's incidents, or every incident for "", oldest
// first (by Time, then by ID); ENOTFOUND if the rollout is unknown.
func (db *DB) Incidents(ctx context.Context, rollout string) ([]patchpilot.Incident, error) {
	q := `SELECT id, rollout, time, stage, reason, hosts, evidence FROM incidents`
	var args []any
	if rollout != "" {
		q += ` WHERE rollout = ?`
		args = append(args, rollout)
	}
	q += ` ORDER BY time, id`
	out := []patchpilot.Incident{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i patchpilot.Incident
			var at, hosts string
			var evidence sql.NullString
			if err := rows.Scan(&i.ID, &i.Rollout, &at, &i.Stage, &i.Reason, &hosts, &evidence); err != nil {
				return err
			}
			if i.Time, err = parseTime(at); err != nil {
				return fmt.Errorf("incident %d: %w", i.ID, err)
			}
			if i.Hosts, err = decodeList[string](hosts); err != nil {
				return fmt.Errorf("incident %d: hosts: %w", i.ID, err)
			}
			i.Evidence = decodeJSON(evidence)
			out = append(out, i)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 && rollout != "" {
			return rolloutExists(ctx, tx, rollout)
		}
		return nil
	}, "list incidents")
	if err != nil {
		return nil, err
	}
	return out, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
)

var _ patchpilot.ScheduleStore = (*DB)(nil)

// AddScheduleRun records a run unless its schedule and due time are
// recorded already, in which case it returns the stored run and false.
func (db *DB) AddScheduleRun(ctx context.Context, r patchpilot.ScheduleRun) (patchpilot.ScheduleRun, bool, error) {
	if err := checkScheduleRun(r); err != nil {
		return r, false, err
	}
	added := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO schedule_runs
			(schedule, kind, due_at, started_at, finished_at, outcome, message, plan, rollout)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (schedule, due_at) DO NOTHING`,
			r.Schedule, string(r.Kind), formatTime(r.Due), optionalTime(r.Started), optionalTime(r.Finished),
			string(r.Outcome), r.Message, r.Plan, r.Rollout)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		added = n == 1
		stored, err := scanScheduleRun(tx.QueryRowContext(ctx, `SELECT `+scheduleRunColumns+
			` FROM schedule_runs WHERE schedule = ? AND due_at = ?`, r.Schedule, formatTime(r.Due)))
		if err != nil {
			return err
		}
		r = stored
		return nil
	}, "record run of schedule %q due %s", r.Schedule, r.Due.UTC().Format(time.RFC3339))
	return r, added, err
}

// UpdateScheduleRun stores the mutable fields of a run by ID.
func (db *DB) UpdateScheduleRun(ctx context.Context, r patchpilot.ScheduleRun) error {
	if err := checkScheduleRun(r); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedule_runs SET started_at = ?, finished_at = ?, outcome = ?,
			message = ?, plan = ?, rollout = ? WHERE id = ?`,
			optionalTime(r.Started), optionalTime(r.Finished), string(r.Outcome), r.Message, r.Plan, r.Rollout, r.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "schedule run %d not found", r.ID)
		}
		return nil
	}, "update run %d of schedule %q", r.ID, r.Schedule)
}

// ScheduleRuns lists runs, latest due time first (then latest recorded).
func (db *DB) ScheduleRuns(ctx context.Context, f patchpilot.ScheduleRunFilter) ([]patchpilot.ScheduleRun, error) {
	if f.Limit < 0 {
		return nil, invalid("list schedule runs: limit %d is negative", f.Limit)
	}
	q := `SELECT ` + scheduleRunColumns + ` FROM schedule_runs WHERE 1 = 1`
	var args []any
	if f.Schedule != "" {
		q += ` AND schedule = ?`
		args = append(args, f.Schedule)
	}
	if f.Unfinished {
		q += ` AND outcome IN ('waiting', 'running')`
	}
	q += ` ORDER BY due_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list schedule runs")
	}
	defer rows.Close()
	out := []patchpilot.ScheduleRun{}
	for rows.Next() {
		r, err := scanScheduleRun(rows)
		if err != nil {
			return nil, wrap(err, "list schedule runs")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list schedule runs")
	}
	return out, nil
}

func checkScheduleRun(r patchpilot.ScheduleRun) error {
	switch {
	case r.Schedule == "":
		return invalid("schedule run: empty schedule name")
	case r.Kind != patchpilot.SchedulePatch && r.Kind != patchpilot.ScheduleInventory:
		return invalid("run of schedule %q: kind %q: expected patch or inventory", r.Schedule, r.Kind)
	case r.Outcome == "":
		return invalid("run of schedule %q: empty outcome", r.Schedule)
	case r.Due.IsZero() || !storable(r.Due):
		return invalid("run of schedule %q: due time %s is not set or out of range", r.Schedule, r.Due)
	case !storable(r.Started) || !storable(r.Finished):
		return invalid("run of schedule %q: start or finish time out of range", r.Schedule)
	}
	return nil
}

const scheduleRunColumns = `id, schedule, kind, due_at, started_at, finished_at, outcome, message, plan, rollout`

func scanScheduleRun(s scanner) (patchpilot.ScheduleRun, error) {
	var r patchpilot.ScheduleRun
	var kind, due, started, finished, outcome string
	if err := s.Scan(&r.ID, &r.Schedule, &kind, &due, &started, &finished, &outcome, &r.Message, &r.Plan, &r.Rollout); err != nil {
		return r, err
	}
	r.Kind, r.Outcome = patchpilot.ScheduleKind(kind), patchpilot.ScheduleOutcome(outcome)
	var e1, e2, e3 error
	r.Due, e1 = parseTime(due)
	r.Started, e2 = parseOptionalTime(started)
	r.Finished, e3 = parseOptionalTime(finished)
	if err := errors.Join(e1, e2, e3); err != nil {
		return r, fmt.Errorf("run %d of schedule %q: %w", r.ID, r.Schedule, err)
	}
	return r, nil
}

// optionalTime stores the zero time as the empty string.
func optionalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

func parseOptionalTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTime(s)
}

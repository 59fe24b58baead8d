package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// AppendEvent stores an event and returns it with its ID and, when it had
// none, its time set from the DB's clock. Times are stored in UTC.
func (db *DB) AppendEvent(ctx context.Context, e patchpilot.Event) (patchpilot.Event, error) {
	e, data, err := db.prepareEvent(e)
	if err != nil {
		return patchpilot.Event{}, err
	}
	ins, err := db.stmt(ctx, db.write, insertEventSQL)
	if err == nil {
		err = ins.QueryRowContext(ctx, formatTime(e.Time), e.Actor, e.Kind, e.Host, e.Rollout, e.Message, data).Scan(&e.ID)
	}
	if err != nil {
		return patchpilot.Event{}, wrap(err, "append event %s", e.Kind)
	}
	return e, nil
}

// insertEventSQL appends one event and returns its id.
const insertEventSQL = `INSERT INTO events (time, actor, kind, host, rollout, message, data)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`

// insertEvent appends a prepared event (prepareEvent) in tx and sets its id.
func (db *DB) insertEvent(ctx context.Context, tx *sql.Tx, e *patchpilot.Event, data any) error {
	ins, err := db.txStmt(ctx, tx, insertEventSQL)
	if err != nil {
		return err
	}
	return ins.QueryRowContext(ctx, formatTime(e.Time), e.Actor, e.Kind, e.Host, e.Rollout, e.Message, data).Scan(&e.ID)
}

// prepareEvent checks an event, sets a zero time from the clock and returns
// the data column's value: NULL when the event carries no data.
func (db *DB) prepareEvent(e patchpilot.Event) (patchpilot.Event, any, error) {
	if e.Kind == "" {
		return e, nil, invalid("event: empty kind")
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return e, nil, invalid("event %s: data is not valid JSON", e.Kind)
	}
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	if !storable(e.Time) {
		return e, nil, invalid("event %s: time %s is out of range", e.Kind, e.Time)
	}
	e.Time = e.Time.UTC()
	var data any
	if len(e.Data) > 0 {
		data = string(e.Data)
	}
	return e, data, nil
}

// AppendEvents stores events in one transaction, in order, through one
// prepared statement. Every event is checked before the write lock is
// taken; ids are consecutive within the call, as the log is append-only
// and one writer holds the lock.
func (db *DB) AppendEvents(ctx context.Context, events []patchpilot.Event) ([]patchpilot.Event, error) {
	out := make([]patchpilot.Event, len(events))
	data := make([]any, len(events))
	for i, e := range events {
		var err error
		if out[i], data[i], err = db.prepareEvent(e); err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "events[%d]: %w", i, err)
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (time, actor, kind, host, rollout, message, data)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range out {
			e := &out[i]
			res, err := stmt.ExecContext(ctx, formatTime(e.Time), e.Actor, e.Kind, e.Host, e.Rollout, e.Message, data[i])
			if err != nil {
				return fmt.Errorf("events[%d] (%s): %w", i, e.Kind, err)
			}
			if e.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	}, "append %d events", len(events))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Events lists events matching the filter in ID order.
func (db *DB) Events(ctx context.Context, filter patchpilot.EventFilter) ([]patchpilot.Event, error) {
	if filter.Limit < 0 {
		return nil, invalid("events: negative limit %d", filter.Limit)
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if filter.Host != "" {
		add("host = ?", filter.Host)
	}
	if filter.Rollout != "" {
		add("rollout = ?", filter.Rollout)
	}
	if filter.Kind != "" {
		add("kind = ?", filter.Kind)
	}
	if !filter.Since.IsZero() {
		add("time >= ?", formatTime(filter.Since))
	}
	if !filter.Until.IsZero() {
		add("time <= ?", formatTime(filter.Until))
	}
	if filter.AfterID > 0 {
		add("id > ?", filter.AfterID)
	}
	q := `SELECT id, time, actor, kind, host, rollout, message, data FROM events`
	if filter.NoData {
		q = `SELECT id, time, actor, kind, host, rollout, message, NULL FROM events`
	}
	index, err := db.eventsTimeIndex(ctx, filter)
	if err != nil {
		return nil, wrap(err, "list events")
	}
	switch {
	case index != "":
		// The ids come from the time index alone (it holds the row id),
		// and only the rows listed are read.
		inner := `SELECT id FROM events INDEXED BY ` + index + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
		if filter.Limit > 0 {
			inner += " LIMIT ?"
			args = append(args, filter.Limit)
		}
		q += " WHERE id IN (" + inner + ") ORDER BY id"
	default:
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		q += " ORDER BY id"
		if filter.Limit > 0 {
			q += " LIMIT ?"
			args = append(args, filter.Limit)
		}
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list events")
	}
	return scanEvents(rows, "list events")
}

// scanEvents reads the rows of a query of the events' columns in the order
// Events selects them, and closes them; what names the read in errors.
func scanEvents(rows *sql.Rows, what string) ([]patchpilot.Event, error) {
	defer rows.Close()
	out := []patchpilot.Event{}
	for rows.Next() {
		var e patchpilot.Event
		var at string
		var data *string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Kind, &e.Host, &e.Rollout, &e.Message, &data); err != nil {
			return nil, wrap(err, "%s", what)
		}
		var err error
		if e.Time, err = parseTime(at); err != nil {
			return nil, wrap(err, "%s", what)
		}
		if data != nil {
			e.Data = json.RawMessage(*data)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "%s", what)
	}
	return out, nil
}

// eventsTimeIndex names the index through which a filter with Since is best
// read, or "" for SQLite's own choice. The log is in id order, which is
// about time order: SQLite's own plan reads it from the first id until
// enough events are recent enough, which for a recent Since is most of the
// log. When Since falls in the later half of the log's time span, the
// index on time (with the kind, for a kind) finds the recent events
// directly. A host or rollout has an index of its own, and AfterID starts
// the id scan late already.
func (db *DB) eventsTimeIndex(ctx context.Context, f patchpilot.EventFilter) (string, error) {
	if f.Since.IsZero() || f.Host != "" || f.Rollout != "" || f.AfterID > 0 {
		return "", nil
	}
	var first, last sql.NullString
	err := db.read.QueryRowContext(ctx, `SELECT (SELECT time FROM events ORDER BY id LIMIT 1),
		(SELECT time FROM events ORDER BY id DESC LIMIT 1)`).Scan(&first, &last)
	if err != nil || !first.Valid || !last.Valid {
		return "", err
	}
	t0, err1 := parseTime(first.String)
	t1, err2 := parseTime(last.String)
	if err1 != nil || err2 != nil || !t1.After(t0) {
		return "", nil // an odd log is read the plain way
	}
	if f.Since.Before(t0.Add(t1.Sub(t0) / 2)) {
		return "", nil
	}
	if f.Kind != "" {
		return "events_kind_time", nil
	}
	return "events_time", nil
}

// lastCollectFailures finds, for each host that ever failed a collection,
// its last failure (the greatest id), and then, while an earlier one is
// dated after every later one kept (a clock set back), the last of those:
// each step is one look-up in the indexes of 0023 (a host's failures by id,
// and by time), as is each next host, so the log itself is read for the
// events found alone.
const lastCollectFailures = `WITH RECURSIVE
	failed(host) AS (
		SELECT min(host) FROM events INDEXED BY events_collect_failed WHERE kind = '` + patchpilot.EventCollectFailed + `'
		UNION ALL
		SELECT (SELECT min(host) FROM events INDEXED BY events_collect_failed WHERE kind = '` + patchpilot.EventCollectFailed + `' AND host > failed.host)
		FROM failed WHERE failed.host IS NOT NULL),
	kept(host, id, time) AS (
		SELECT f.host, e.id, e.time FROM failed f
		JOIN events e ON e.id = (SELECT max(id) FROM events INDEXED BY events_collect_failed
			WHERE kind = '` + patchpilot.EventCollectFailed + `' AND host = f.host)
		WHERE f.host IS NOT NULL
		UNION ALL
		SELECT k.host, e.id, e.time FROM kept k
		JOIN events e ON e.id = (SELECT max(id) FROM events INDEXED BY events_collect_failed_time
			WHERE kind = '` + patchpilot.EventCollectFailed + `' AND host = k.host AND time > k.time))
	SELECT id, time, actor, kind, host, rollout, message, data FROM events WHERE id IN (SELECT id FROM kept) ORDER BY id`

// LastCollectFailures lists the collection failures that no later failure
// of the same host outdates, as patchpilot.EventStore says, through the
// indexes of the failures by host (see lastCollectFailures).
func (db *DB) LastCollectFailures(ctx context.Context) ([]patchpilot.Event, error) {
	rows, err := db.read.QueryContext(ctx, lastCollectFailures)
	if err != nil {
		return nil, wrap(err, "last collection failures")
	}
	return scanEvents(rows, "last collection failures")
}

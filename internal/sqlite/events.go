package sqlite

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// AppendEvent stores an event and returns it with its ID and, when it had
// none, its time set from the DB's clock. Times are stored in UTC.
func (db *DB) AppendEvent(ctx context.Context, e patchpilot.Event) (patchpilot.Event, error) {
	if e.Kind == "" {
		return patchpilot.Event{}, invalid("event: empty kind")
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return patchpilot.Event{}, invalid("event %s: data is not valid JSON", e.Kind)
	}
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	if !storable(e.Time) {
		return patchpilot.Event{}, invalid("event %s: time %s is out of range", e.Kind, e.Time)
	}
	e.Time = e.Time.UTC()
	var data any // NULL when the event carries no data
	if len(e.Data) > 0 {
		data = string(e.Data)
	}
	err := db.write.QueryRowContext(ctx, `INSERT INTO events (time, actor, kind, host, rollout, message, data)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		formatTime(e.Time), e.Actor, e.Kind, e.Host, e.Rollout, e.Message, data).Scan(&e.ID)
	if err != nil {
		return patchpilot.Event{}, wrap(err, "append event %s", e.Kind)
	}
	return e, nil
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
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if filter.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, filter.Limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list events")
	}
	defer rows.Close()
	out := []patchpilot.Event{}
	for rows.Next() {
		var e patchpilot.Event
		var at string
		var data *string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Kind, &e.Host, &e.Rollout, &e.Message, &data); err != nil {
			return nil, wrap(err, "list events")
		}
		if e.Time, err = parseTime(at); err != nil {
			return nil, wrap(err, "list events")
		}
		if data != nil {
			e.Data = json.RawMessage(*data)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list events")
	}
	return out, nil
}

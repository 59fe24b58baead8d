package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/patchpilot/patchpilot"
)

var _ patchpilot.DeliveryStore = (*DB)(nil)

// deliveryLeaseName is the dispatcher's row of scheduler_leases.
const deliveryLeaseName = "deliveries"

// StartDeliveryCursor returns the integration's cursor, creating it at the
// last event of the log when there is none.
func (db *DB) StartDeliveryCursor(ctx context.Context, integration string) (patchpilot.DeliveryCursor, error) {
	var c patchpilot.DeliveryCursor
	if integration == "" {
		return c, invalid("start a delivery cursor: empty integration name")
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_cursors (integration, event_id)
			SELECT ?, COALESCE(MAX(id), 0) FROM events WHERE true ON CONFLICT (integration) DO NOTHING`, integration); err != nil {
			return err
		}
		var err error
		c, err = scanCursor(tx.QueryRowContext(ctx, `SELECT `+cursorColumns+` FROM delivery_cursors WHERE integration = ?`, integration))
		return err
	}, "start the delivery cursor of %q", integration)
	return c, err
}

// AdvanceDeliveryCursor moves the cursor forward to eventID.
func (db *DB) AdvanceDeliveryCursor(ctx context.Context, integration string, eventID int64, delivered time.Time) error {
	if integration == "" || eventID <= 0 {
		return invalid("advance the delivery cursor of %q to event %d: expected an integration name and an event id", integration, eventID)
	}
	if !storable(delivered) {
		return invalid("advance the delivery cursor of %q: delivery time %s is out of range", integration, delivered)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return advanceCursor(ctx, tx, integration, eventID, delivered)
	}, "advance the delivery cursor of %q to event %d", integration, eventID)
}

func advanceCursor(ctx context.Context, tx *sql.Tx, integration string, eventID int64, delivered time.Time) error {
	var cur int64
	err := tx.QueryRowContext(ctx, `SELECT event_id FROM delivery_cursors WHERE integration = ?`, integration).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return patchpilot.Errorf(patchpilot.ENOTFOUND, "integration %q has no delivery cursor", integration)
	}
	if err != nil || eventID <= cur {
		return err
	}
	if delivered.IsZero() {
		_, err = tx.ExecContext(ctx, `UPDATE delivery_cursors SET event_id = ? WHERE integration = ?`, eventID, integration)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE delivery_cursors SET event_id = ?, delivered_event_id = ?, delivered_at = ?
			WHERE integration = ?`, eventID, eventID, formatTime(delivered), integration)
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE delivery_cursors SET retry_event_id = 0, retry_attempts = 0, retry_error = '', retry_at = '', retry_since = ''
		WHERE integration = ? AND retry_event_id <> 0 AND retry_event_id <= ?`, integration, eventID)
	return err
}

// SetDeliveryRetry records the delivery being retried.
func (db *DB) SetDeliveryRetry(ctx context.Context, integration string, r patchpilot.DeliveryRetry) error {
	switch {
	case integration == "" || r.EventID <= 0:
		return invalid("record the retry of a delivery: expected an integration name and an event id, got %q and %d", integration, r.EventID)
	case r.Attempts < 1:
		return invalid("record the retry of event %d to %q: attempts %d is not positive", r.EventID, integration, r.Attempts)
	case r.NextTry.IsZero() || !storable(r.NextTry):
		return invalid("record the retry of event %d to %q: next try %s is not set or out of range", r.EventID, integration, r.NextTry)
	case !r.Since.IsZero() && !storable(r.Since):
		return invalid("record the retry of event %d to %q: first failure %s is out of range", r.EventID, integration, r.Since)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		since := ""
		if !r.Since.IsZero() {
			since = formatTime(r.Since)
		}
		res, err := tx.ExecContext(ctx, `UPDATE delivery_cursors SET retry_event_id = ?, retry_attempts = ?, retry_error = ?, retry_at = ?, retry_since = ?
			WHERE integration = ?`, r.EventID, r.Attempts, r.Error, formatTime(r.NextTry), since, integration)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = patchpilot.Errorf(patchpilot.ENOTFOUND, "integration %q has no delivery cursor", integration)
			}
			return err
		}
		return nil
	}, "record the retry of event %d to %q", r.EventID, integration)
}

// GiveUpDelivery records the failure and moves the cursor past its event.
func (db *DB) GiveUpDelivery(ctx context.Context, f patchpilot.DeliveryFailure) (patchpilot.DeliveryFailure, error) {
	switch {
	case f.Integration == "" || f.EventID <= 0:
		return f, invalid("give up a delivery: expected an integration name and an event id, got %q and %d", f.Integration, f.EventID)
	case f.Attempts < 0:
		return f, invalid("give up the delivery of event %d to %q: attempts %d is negative", f.EventID, f.Integration, f.Attempts)
	case f.Time.IsZero() || !storable(f.Time):
		return f, invalid("give up the delivery of event %d to %q: time %s is not set or out of range", f.EventID, f.Integration, f.Time)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := advanceCursor(ctx, tx, f.Integration, f.EventID, time.Time{}); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO delivery_failures (integration, event_id, topic, attempts, error, time)
			VALUES (?, ?, ?, ?, ?, ?)`, f.Integration, f.EventID, string(f.Topic), f.Attempts, f.Error, formatTime(f.Time))
		if err != nil {
			return err
		}
		f.ID, err = res.LastInsertId()
		return err
	}, "give up the delivery of event %d to %q", f.EventID, f.Integration)
	f.Time = f.Time.UTC()
	return f, err
}

// DeliveryCursors lists the cursors with how far behind the log they are.
func (db *DB) DeliveryCursors(ctx context.Context) ([]patchpilot.DeliveryCursor, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+cursorColumns+`,
		(SELECT COUNT(*) FROM events WHERE events.id > c.event_id)
		FROM delivery_cursors c ORDER BY integration`)
	if err != nil {
		return nil, wrap(err, "list the delivery cursors")
	}
	defer rows.Close()
	out := []patchpilot.DeliveryCursor{}
	for rows.Next() {
		var behind int
		c, err := scanCursor(rows, &behind)
		if err != nil {
			return nil, wrap(err, "list the delivery cursors")
		}
		c.Behind = behind
		out = append(out, c)
	}
	return out, wrap(rows.Err(), "list the delivery cursors")
}

// DeliveryFailures lists given-up deliveries, newest first.
func (db *DB) DeliveryFailures(ctx context.Context, integration string, limit int) ([]patchpilot.DeliveryFailure, error) {
	if limit < 0 {
		return nil, invalid("list the given-up deliveries: limit %d is negative", limit)
	}
	q := `SELECT ` + failureColumns + ` FROM delivery_failures`
	var args []any
	if integration != "" {
		q += ` WHERE integration = ?`
		args = append(args, integration)
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list the given-up deliveries")
	}
	defer rows.Close()
	out := []patchpilot.DeliveryFailure{}
	for rows.Next() {
		f, err := scanFailure(rows)
		if err != nil {
			return nil, wrap(err, "list the given-up deliveries")
		}
		out = append(out, f)
	}
	return out, wrap(rows.Err(), "list the given-up deliveries")
}

const failureColumns = `id, integration, event_id, topic, attempts, error, time, redelivery, redelivery_error, redelivered_at`

func scanFailure(s scanner) (patchpilot.DeliveryFailure, error) {
	var f patchpilot.DeliveryFailure
	var topic, at, redone string
	if err := s.Scan(&f.ID, &f.Integration, &f.EventID, &topic, &f.Attempts, &f.Error, &at, &f.Redelivery, &f.RedeliveryError, &redone); err != nil {
		return f, err
	}
	f.Topic = patchpilot.Topic(topic)
	var err error
	if f.Time, err = parseTime(at); err != nil {
		return f, err
	}
	f.RedeliveredAt, err = parseOptionalTime(redone)
	return f, err
}

// RequestRedelivery marks given-up deliveries for a redelivery.
func (db *DB) RequestRedelivery(ctx context.Context, integration string, eventID int64) ([]patchpilot.DeliveryFailure, error) {
	if integration == "" || eventID < 0 {
		return nil, invalid("request a redelivery: expected an integration name and an event id (0 for all), got %q and %d", integration, eventID)
	}
	var out []patchpilot.DeliveryFailure
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT ` + failureColumns + ` FROM delivery_failures WHERE integration = ?`
		args := []any{integration}
		if eventID != 0 {
			q += ` AND event_id = ?`
			args = append(args, eventID)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		var all []patchpilot.DeliveryFailure
		for rows.Next() {
			f, err := scanFailure(rows)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range all {
			if f.Redelivery != "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE delivery_failures SET redelivery = 'requested' WHERE id = ? AND redelivery = ''`, f.ID); err != nil {
				return err
			}
			f.Redelivery = patchpilot.RedeliveryRequested
			out = append(out, f)
		}
		switch {
		case eventID != 0 && len(all) == 0:
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "integration %s has no given-up delivery of event %d", integration, eventID)
		case eventID != 0 && len(out) == 0:
			return patchpilot.Errorf(patchpilot.ECONFLICT, "the given-up delivery of event %d to %s was already retried (%s): a delivery is retried at most once",
				eventID, integration, all[0].Redelivery)
		}
		return nil
	}, "request the redelivery of %q", integration)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []patchpilot.DeliveryFailure{}
	}
	return out, nil
}

// ClaimRedelivery moves a requested redelivery to sending.
func (db *DB) ClaimRedelivery(ctx context.Context, id int64) (bool, error) {
	res, err := db.write.ExecContext(ctx, `UPDATE delivery_failures SET redelivery = 'sending' WHERE id = ? AND redelivery = 'requested'`, id)
	if err != nil {
		return false, wrap(err, "claim the redelivery %d", id)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err, "claim the redelivery %d", id)
}

// FinishRedelivery records a claimed redelivery's outcome.
func (db *DB) FinishRedelivery(ctx context.Context, id int64, errText string, at time.Time) error {
	if at.IsZero() || !storable(at) {
		return invalid("finish the redelivery %d: time %s is not set or out of range", id, at)
	}
	state := patchpilot.RedeliveryDone
	if errText != "" {
		state = patchpilot.RedeliveryFailed
	}
	res, err := db.write.ExecContext(ctx, `UPDATE delivery_failures SET redelivery = ?, redelivery_error = ?, redelivered_at = ?
		WHERE id = ? AND redelivery = 'sending'`, state, errText, formatTime(at), id)
	if err != nil {
		return wrap(err, "finish the redelivery %d", id)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err != nil {
			return wrap(err, "finish the redelivery %d", id)
		}
		return patchpilot.Errorf(patchpilot.ECONFLICT, "redelivery %d is not being sent", id)
	}
	return nil
}

const cursorColumns = `integration, event_id, delivered_event_id, delivered_at, retry_event_id, retry_attempts, retry_error, retry_at, retry_since`

// scanCursor reads the cursorColumns, then extra.
func scanCursor(s scanner, extra ...any) (patchpilot.DeliveryCursor, error) {
	var c patchpilot.DeliveryCursor
	var r patchpilot.DeliveryRetry
	var at, retryAt, since string
	if err := s.Scan(append([]any{&c.Integration, &c.EventID, &c.DeliveredEventID, &at, &r.EventID, &r.Attempts, &r.Error, &retryAt, &since}, extra...)...); err != nil {
		return c, err
	}
	var err error
	if c.DeliveredAt, err = parseOptionalTime(at); err != nil {
		return c, err
	}
	if r.EventID != 0 {
		if r.NextTry, err = parseOptionalTime(retryAt); err != nil {
			return c, err
		}
		if r.Since, err = parseOptionalTime(since); err != nil {
			return c, err
		}
		c.Retrying = &r
	}
	return c, nil
}

// AcquireDeliveryLease gives owner the dispatcher's lease until now+ttl on
// the DB's clock, when it is free, expired or owner's own.
func (db *DB) AcquireDeliveryLease(ctx context.Context, owner string, ttl time.Duration) (bool, string, error) {
	if owner == "" {
		return false, "", invalid("acquire the delivery lease: empty owner")
	}
	if ttl <= 0 {
		return false, "", invalid("acquire the delivery lease: ttl %s is not positive", ttl)
	}
	now := db.now()
	expires := now.Add(ttl)
	if !storable(expires) {
		return false, "", invalid("acquire the delivery lease: expiry %s is out of range", expires)
	}
	granted, holder := false, ""
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		granted, holder, err = schedulerLeases.acquire(ctx, tx, deliveryLeaseName, owner, now, expires)
		return err
	}, "acquire the delivery lease for %q", owner)
	if err != nil {
		return false, "", err
	}
	return granted, holder, nil
}

// TakeOverDeliveryLease gives owner the dispatcher's lease when from holds
// it, expired or not; otherwise it reports the holder ("" for none).
func (db *DB) TakeOverDeliveryLease(ctx context.Context, from, owner string, ttl time.Duration) (bool, string, error) {
	if from == "" || owner == "" {
		return false, "", invalid("take over the delivery lease: empty holder or owner")
	}
	if ttl <= 0 {
		return false, "", invalid("take over the delivery lease: ttl %s is not positive", ttl)
	}
	expires := db.now().Add(ttl)
	if !storable(expires) {
		return false, "", invalid("take over the delivery lease: expiry %s is out of range", expires)
	}
	granted, holder := false, ""
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		granted, holder, err = schedulerLeases.takeOver(ctx, tx, deliveryLeaseName, from, owner, expires)
		return err
	}, "take over the delivery lease from %q for %q", from, owner)
	if err != nil {
		return false, "", err
	}
	return granted, holder, nil
}

// ReleaseDeliveryLease drops owner's delivery lease, if it holds it.
func (db *DB) ReleaseDeliveryLease(ctx context.Context, owner string) error {
	if owner == "" {
		return invalid("release the delivery lease: empty owner")
	}
	if err := schedulerLeases.release(ctx, db.write, deliveryLeaseName, owner); err != nil {
		return wrap(err, "release the delivery lease for %q", owner)
	}
	return nil
}

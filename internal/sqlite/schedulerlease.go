package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// schedulerLeaseName is the one row of scheduler_leases.
const schedulerLeaseName = "schedules"

// AcquireSchedulerLease gives owner the scheduler's lease until now+ttl on
// the DB's clock, when it is free, expired or owner's own. It reports the
// holder when it is not granted.
func (db *DB) AcquireSchedulerLease(ctx context.Context, owner string, ttl time.Duration) (bool, string, error) {
	if owner == "" {
		return false, "", invalid("acquire the scheduler lease: empty owner")
	}
	if ttl <= 0 {
		return false, "", invalid("acquire the scheduler lease: ttl %s is not positive", ttl)
	}
	now := db.now()
	expires := now.Add(ttl)
	if !storable(expires) {
		return false, "", invalid("acquire the scheduler lease: expiry %s is out of range", expires)
	}
	granted, holder := false, ""
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var current, until string
		err := tx.QueryRowContext(ctx, `SELECT owner, expires_at FROM scheduler_leases WHERE name = ?`, schedulerLeaseName).
			Scan(&current, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case current != owner:
			end, err := parseTime(until)
			if err != nil {
				return err
			}
			if now.Before(end) {
				holder = current
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO scheduler_leases (name, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
			schedulerLeaseName, owner, formatTime(expires)); err != nil {
			return err
		}
		granted, holder = true, owner
		return nil
	}, "acquire the scheduler lease for %q", owner)
	if err != nil {
		return false, "", err
	}
	return granted, holder, nil
}

// TakeOverSchedulerLease gives owner the scheduler's lease when from holds
// it, expired or not. Otherwise it changes nothing and reports the holder
// ("" when there is no lease).
func (db *DB) TakeOverSchedulerLease(ctx context.Context, from, owner string, ttl time.Duration) (bool, string, error) {
	if from == "" || owner == "" {
		return false, "", invalid("take over the scheduler lease: empty holder or owner")
	}
	if ttl <= 0 {
		return false, "", invalid("take over the scheduler lease: ttl %s is not positive", ttl)
	}
	expires := db.now().Add(ttl)
	if !storable(expires) {
		return false, "", invalid("take over the scheduler lease: expiry %s is out of range", expires)
	}
	granted, holder := false, ""
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE scheduler_leases SET owner = ?, expires_at = ? WHERE name = ? AND owner = ?`,
			owner, formatTime(expires), schedulerLeaseName, from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			granted, holder = true, owner
			return nil
		}
		err = tx.QueryRowContext(ctx, `SELECT owner FROM scheduler_leases WHERE name = ?`, schedulerLeaseName).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}, "take over the scheduler lease from %q for %q", from, owner)
	if err != nil {
		return false, "", err
	}
	return granted, holder, nil
}

// ReleaseSchedulerLease drops owner's scheduler lease, if it holds it.
func (db *DB) ReleaseSchedulerLease(ctx context.Context, owner string) error {
	if owner == "" {
		return invalid("release the scheduler lease: empty owner")
	}
	if _, err := db.write.ExecContext(ctx, `DELETE FROM scheduler_leases WHERE name = ? AND owner = ?`, schedulerLeaseName, owner); err != nil {
		return wrap(err, "release the scheduler lease for %q", owner)
	}
	return nil
}

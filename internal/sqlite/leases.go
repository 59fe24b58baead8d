package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// AcquireLease gives owner the right to drive the rollout until now+ttl,
// with now from the DB's clock. It is granted when the rollout has no lease,
// when its lease has expired (at its expiry instant, not after), or when
// owner holds it already, which renews it to now+ttl. Otherwise it reports
// the current holder. The rollout must exist.
func (db *DB) AcquireLease(ctx context.Context, rollout, owner string, ttl time.Duration) (bool, string, error) {
	if rollout == "" {
		return false, "", invalid("acquire lease: empty rollout id")
	}
	if owner == "" {
		return false, "", invalid("acquire lease on rollout %q: empty owner", rollout)
	}
	if ttl <= 0 {
		return false, "", invalid("acquire lease on rollout %q: ttl %s is not positive", rollout, ttl)
	}
	now := db.now()
	expires := now.Add(ttl)
	if !storable(expires) {
		return false, "", invalid("acquire lease on rollout %q: expiry %s is out of range", rollout, expires)
	}
	granted, holder := false, ""
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := rolloutExists(ctx, tx, rollout); err != nil {
			return err
		}
		var current, until string
		err := tx.QueryRowContext(ctx, `SELECT owner, expires_at FROM leases WHERE rollout = ?`, rollout).
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO leases (rollout, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (rollout) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
			rollout, owner, formatTime(expires)); err != nil {
			return err
		}
		granted, holder = true, owner
		return nil
	}, "acquire lease on rollout %q for %q", rollout, owner)
	if err != nil {
		return false, "", err
	}
	return granted, holder, nil
}

// TakeOverLease gives owner the rollout's lease when from holds it, expired
// or not, until now+ttl on the DB's clock. Otherwise it changes nothing and
// reports the holder ("" when there is no lease).
func (db *DB) TakeOverLease(ctx context.Context, rollout, from, owner string, ttl time.Duration) (bool, string, error) {
	if rollout == "" || from == "" || owner == "" {
		return false, "", invalid("take over lease: empty rollout id, holder or owner")
	}
	if ttl <= 0 {
		return false, "", invalid("take over lease on rollout %q: ttl %s is not positive", rollout, ttl)
	}
	expires := db.now().Add(ttl)
	if !storable(expires) {
		return false, "", invalid("take over lease on rollout %q: expiry %s is out of range", rollout, expires)
	}
	granted, holder := false, ""
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := rolloutExists(ctx, tx, rollout); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE leases SET owner = ?, expires_at = ? WHERE rollout = ? AND owner = ?`,
			owner, formatTime(expires), rollout, from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			granted, holder = true, owner
			return nil
		}
		err = tx.QueryRowContext(ctx, `SELECT owner FROM leases WHERE rollout = ?`, rollout).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}, "take over lease on rollout %q from %q for %q", rollout, from, owner)
	if err != nil {
		return false, "", err
	}
	return granted, holder, nil
}

// ReleaseLease drops owner's lease on the rollout, if it holds one; a lease
// held by someone else is left alone.
func (db *DB) ReleaseLease(ctx context.Context, rollout, owner string) error {
	if rollout == "" || owner == "" {
		return invalid("release lease: empty rollout id or owner")
	}
	if _, err := db.write.ExecContext(ctx, `DELETE FROM leases WHERE rollout = ? AND owner = ?`, rollout, owner); err != nil {
		return wrap(err, "release lease on rollout %q for %q", rollout, owner)
	}
	return nil
}

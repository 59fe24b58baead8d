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
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		if err := rolloutExists(ctx, tx, rollout); err != nil {
			return err
		}
		granted, holder, err = rolloutLeases.acquire(ctx, tx, rollout, owner, now, expires)
		return err
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
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		if err := rolloutExists(ctx, tx, rollout); err != nil {
			return err
		}
		granted, holder, err = rolloutLeases.takeOver(ctx, tx, rollout, from, owner, expires)
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
	if err := rolloutLeases.release(ctx, db.write, rollout, owner); err != nil {
		return wrap(err, "release lease on rollout %q for %q", rollout, owner)
	}
	return nil
}

// leaseTable is a table of leases keyed by one column: the rollouts'
// leases and the scheduler's share its rules. Both names are constants of
// this package, never input.
type leaseTable struct{ table, key string }

var rolloutLeases = leaseTable{table: "leases", key: "rollout"}

// acquire gives owner the lease of key until expires when there is none,
// it has expired by now (at its expiry instant, not after) or owner holds
// it; otherwise it reports the holder.
func (l leaseTable) acquire(ctx context.Context, tx *sql.Tx, key, owner string, now, expires time.Time) (bool, string, error) {
	var current, until string
	err := tx.QueryRowContext(ctx, `SELECT owner, expires_at FROM `+l.table+` WHERE `+l.key+` = ?`, key).Scan(&current, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, "", err
	case current != owner:
		end, err := parseTime(until)
		if err != nil {
			return false, "", err
		}
		if now.Before(end) {
			return false, current, nil
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+l.table+` (`+l.key+`, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (`+l.key+`) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
		key, owner, formatTime(expires)); err != nil {
		return false, "", err
	}
	return true, owner, nil
}

// takeOver gives owner the lease of key when from holds it, expired or
// not; otherwise it reports the holder ("" when there is no lease).
func (l leaseTable) takeOver(ctx context.Context, tx *sql.Tx, key, from, owner string, expires time.Time) (bool, string, error) {
	res, err := tx.ExecContext(ctx, `UPDATE `+l.table+` SET owner = ?, expires_at = ? WHERE `+l.key+` = ? AND owner = ?`,
		owner, formatTime(expires), key, from)
	if err != nil {
		return false, "", err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, "", err
	} else if n == 1 {
		return true, owner, nil
	}
	var holder string
	err = tx.QueryRowContext(ctx, `SELECT owner FROM `+l.table+` WHERE `+l.key+` = ?`, key).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", nil
	}
	return false, holder, err
}

// release drops owner's lease of key, if it holds it.
func (l leaseTable) release(ctx context.Context, db *sql.DB, key, owner string) error {
	_, err := db.ExecContext(ctx, `DELETE FROM `+l.table+` WHERE `+l.key+` = ? AND owner = ?`, key, owner)
	return err
}

// LeaseHolder returns who holds the rollout's lease, expired or not, or ""
// when nobody does: a controller that was killed or interrupted leaves its
// lease behind until another takes it over. It only reads.
func (db *DB) LeaseHolder(ctx context.Context, rollout string) (string, error) {
	if rollout == "" {
		return "", invalid("lease holder: empty rollout id")
	}
	var holder string
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT owner FROM `+rolloutLeases.table+` WHERE `+rolloutLeases.key+` = ?`, rollout).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}, "read the lease of rollout %q", rollout)
	return holder, err
}

package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// schedulerLeaseName is the one row of scheduler_leases.
const schedulerLeaseName = "schedules"

var schedulerLeases = leaseTable{table: "scheduler_leases", key: "name"}

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
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		granted, holder, err = schedulerLeases.acquire(ctx, tx, schedulerLeaseName, owner, now, expires)
		return err
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
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		granted, holder, err = schedulerLeases.takeOver(ctx, tx, schedulerLeaseName, from, owner, expires)
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
	if err := schedulerLeases.release(ctx, db.write, schedulerLeaseName, owner); err != nil {
		return wrap(err, "release the scheduler lease for %q", owner)
	}
	return nil
}

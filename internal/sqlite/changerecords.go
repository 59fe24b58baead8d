package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/patchpilot/patchpilot"
)

var _ patchpilot.ChangeRecordStore = (*DB)(nil)

// SaveChangeRecord inserts the record or replaces the stored one of the
// same integration and rollout.
func (db *DB) SaveChangeRecord(ctx context.Context, r patchpilot.ChangeRecord) error {
	switch {
	case r.Integration == "":
		return invalid("save change record: integration is empty")
	case r.Rollout == "":
		return invalid("save change record of %s: rollout is empty", r.Integration)
	case r.ExternalID == "":
		return invalid("save change record of %s for rollout %s: external id is empty", r.Integration, r.Rollout)
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO change_records (integration, rollout, external_id, key, state, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (integration, rollout) DO UPDATE SET
			external_id = excluded.external_id, key = excluded.key, state = excluded.state, updated_at = excluded.updated_at`,
			r.Integration, r.Rollout, r.ExternalID, r.Key, r.State, formatTime(r.UpdatedAt))
		return err
	}, "save change record of %s for rollout %s", r.Integration, r.Rollout)
}

// ChangeRecord returns the record of an integration and a rollout.
func (db *DB) ChangeRecord(ctx context.Context, integration, rollout string) (patchpilot.ChangeRecord, error) {
	r := patchpilot.ChangeRecord{Integration: integration, Rollout: rollout}
	var updated string
	err := db.read.QueryRowContext(ctx, `SELECT external_id, key, state, updated_at FROM change_records
		WHERE integration = ? AND rollout = ?`, integration, rollout).Scan(&r.ExternalID, &r.Key, &r.State, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, patchpilot.Errorf(patchpilot.ENOTFOUND, "no change record of %s for rollout %s", integration, rollout)
	}
	if err != nil {
		return r, wrap(err, "read change record of %s for rollout %s", integration, rollout)
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return r, wrap(err, "read change record of %s for rollout %s", integration, rollout)
	}
	return r, nil
}

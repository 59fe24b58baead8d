package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
)

var _ patchpilot.ModelStore = (*DB)(nil)

// SaveModel stores a model as a new row, which makes it the active one;
// earlier models stay listed. An empty info is stored as {}.
func (db *DB) SaveModel(ctx context.Context, version string, trainedAt time.Time, info json.RawMessage, blob []byte) error {
	switch {
	case version == "":
		return invalid("save model: empty version")
	case len(blob) == 0:
		return invalid("save model %q: empty model data", version)
	case !storable(trainedAt) || trainedAt.IsZero():
		return invalid("save model %q: trained_at %s is not set or out of range", version, trainedAt)
	case len(info) > 0 && !json.Valid(info):
		return invalid("save model %q: info is not valid JSON", version)
	}
	if len(info) == 0 {
		info = json.RawMessage("{}")
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO models (version, trained_at, saved_at, info, blob, activated)
			VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(activated), 0) + 1 FROM models))`,
			version, formatTime(trainedAt), formatTime(db.now()), string(info), blob)
		return err
	}, "save model %q", version)
}

const modelColumns = `id, version, trained_at, saved_at, info, length(blob)`

// activeOrder sorts models with the active one first.
const activeOrder = `ORDER BY activated DESC, id DESC`

// UseModel makes the newest saved row of a model version the active one.
func (db *DB) UseModel(ctx context.Context, version string) (patchpilot.ModelInfo, error) {
	var m patchpilot.ModelInfo
	if version == "" {
		return m, invalid("use model: empty version")
	}
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM models WHERE version = ? ORDER BY id DESC LIMIT 1`, version).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "no risk model %q is stored", version).
				WithHint("list the stored models with 'patchpilot model status'")
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE models SET activated = (SELECT MAX(activated) + 1 FROM models) WHERE id = ?`, id)
		return err
	}, "use model %q", version)
	if err != nil {
		return m, err
	}
	row := db.read.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models WHERE id = ?`, id)
	if m, err = scanModel(row, nil); err != nil {
		return m, wrap(err, "read model %q", version)
	}
	m.Active = true
	return m, nil
}

// ActiveModel returns the active model with its data.
func (db *DB) ActiveModel(ctx context.Context) ([]byte, patchpilot.ModelInfo, error) {
	var blob []byte
	var m patchpilot.ModelInfo
	row := db.read.QueryRowContext(ctx, `SELECT `+modelColumns+`, blob FROM models `+activeOrder+` LIMIT 1`)
	var err error
	m, err = scanModel(row, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, m, patchpilot.Errorf(patchpilot.ENOTFOUND, "no risk model is stored").
			WithHint("train one with 'patchpilot model train'")
	}
	if err != nil {
		return nil, m, wrap(err, "read the active model")
	}
	m.Active = true
	return blob, m, nil
}

// Models lists the saved models, newest first, without their data.
func (db *DB) Models(ctx context.Context) ([]patchpilot.ModelInfo, error) {
	var active int64
	err := db.read.QueryRowContext(ctx, `SELECT id FROM models `+activeOrder+` LIMIT 1`).Scan(&active)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, wrap(err, "list models")
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+modelColumns+` FROM models ORDER BY id DESC`)
	if err != nil {
		return nil, wrap(err, "list models")
	}
	defer rows.Close()
	out := []patchpilot.ModelInfo{}
	for rows.Next() {
		m, err := scanModel(rows, nil)
		if err != nil {
			return nil, wrap(err, "list models")
		}
		m.Active = m.ID == active
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list models")
	}
	return out, nil
}

// scanModel reads the modelColumns, and the blob when blob is not nil.
func scanModel(s scanner, blob *[]byte) (patchpilot.ModelInfo, error) {
	var m patchpilot.ModelInfo
	var trained, saved, info string
	dest := []any{&m.ID, &m.Version, &trained, &saved, &info, &m.Size}
	if blob != nil {
		dest = append(dest, blob)
	}
	if err := s.Scan(dest...); err != nil {
		return m, err
	}
	var e1, e2 error
	m.TrainedAt, e1 = parseTime(trained)
	m.SavedAt, e2 = parseTime(saved)
	if err := errors.Join(e1, e2); err != nil {
		return m, fmt.Errorf("model %q: %w", m.Version, err)
	}
	m.Info = json.RawMessage(info)
	return m, nil
}

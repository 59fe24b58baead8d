package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// hostRunSelect are the columns scanHostRun reads, in its order, from
// host_runs h joined with its stage s.
const hostRunSelect = `h.rollout, s.name, h.host, h.state, h.ord, h.from_versions, h.to_versions,
	h.boot_id_before, h.boot_id_after, h.artifacts, h.txn, h.baseline, h.started_at, h.finished_at,
	h.reason, h.gates, h.updated_at, h.applied_at`

// hostRunFrom joins each host run with its stage, whose name it reports.
const hostRunFrom = ` FROM host_runs h JOIN stages s ON s.rollout = h.rollout AND s.idx = h.stage_idx`

// SaveHostRun replaces a host's pipeline record. The host keeps the stage
// and position it was assigned when the rollout was created: Stage "" means
// that stage, and any other stage is EINVALID. UpdatedAt is set from the
// DB's clock.
func (db *DB) SaveHostRun(ctx context.Context, h patchpilot.HostRun) error {
	save, err := db.hostRunSaver(h)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error { return save(ctx, tx) }, "save host run of %q in rollout %q", h.Host, h.Rollout)
}

// SaveHostRunEvent is SaveHostRun and AppendEvent of ev in one
// transaction: both are stored, or neither. It returns the record as
// HostRun reads it after the save and the event as AppendEvent does.
func (db *DB) SaveHostRunEvent(ctx context.Context, h patchpilot.HostRun, ev patchpilot.Event) (patchpilot.HostRun, patchpilot.Event, error) {
	save, err := db.hostRunSaver(h)
	if err != nil {
		return patchpilot.HostRun{}, patchpilot.Event{}, err
	}
	ev, data, err := db.prepareEvent(ev)
	if err != nil {
		return patchpilot.HostRun{}, patchpilot.Event{}, err
	}
	var stored patchpilot.HostRun
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := save(ctx, tx); err != nil {
			return err
		}
		if err := db.insertEvent(ctx, tx, &ev, data); err != nil {
			return err
		}
		sel, err := db.txStmt(ctx, tx, hostRunSQL)
		if err != nil {
			return err
		}
		stored, err = scanHostRun(sel.QueryRowContext(ctx, h.Rollout, h.Host))
		return err
	}, "save host run of %q in rollout %q with event %s", h.Host, h.Rollout, ev.Kind)
	if err != nil {
		return patchpilot.HostRun{}, patchpilot.Event{}, err
	}
	return stored, ev, nil
}

// hostRunSaver checks and encodes a host run and returns what stores it
// in a transaction.
func (db *DB) hostRunSaver(h patchpilot.HostRun) (func(context.Context, *sql.Tx) error, error) {
	if h.Rollout == "" {
		return nil, invalid("save host run of %q: empty rollout id", h.Host)
	}
	if h.Host == "" {
		return nil, invalid("rollout %q: save host run: empty host name", h.Rollout)
	}
	if h.State == "" {
		return nil, invalid("rollout %q: host %q: empty state", h.Rollout, h.Host)
	}
	if !storablePtr(h.StartedAt) || !storablePtr(h.FinishedAt) || !storablePtr(h.AppliedAt) {
		return nil, invalid("rollout %q: host %q: started_at, applied_at or finished_at is out of range", h.Rollout, h.Host)
	}
	from, err1 := encodeMap(h.FromVersions)
	to, err2 := encodeMap(h.ToVersions)
	artifacts, err3 := encodeMap(h.Artifacts)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, wrap(err, "save host run of %q in rollout %q", h.Host, h.Rollout)
	}
	baseline, err := encodeBaseline(h.Baseline)
	if err != nil {
		return nil, invalid("rollout %q: host %q: %v", h.Rollout, h.Host, err)
	}
	gates, err := encodeGates(h.Gates)
	if err != nil {
		return nil, invalid("rollout %q: host %q: %v", h.Rollout, h.Host, err)
	}
	now := formatTime(db.now())
	return func(ctx context.Context, tx *sql.Tx) error {
		sel, err := db.txStmt(ctx, tx, hostRunStageSQL)
		if err != nil {
			return err
		}
		var stage string
		err = sel.QueryRowContext(ctx, h.Rollout, h.Host).Scan(&stage)
		if errors.Is(err, sql.ErrNoRows) {
			if err := rolloutExists(ctx, tx, h.Rollout); err != nil {
				return err
			}
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q is not a target of rollout %q", h.Host, h.Rollout)
		}
		if err != nil {
			return err
		}
		if h.Stage != "" && h.Stage != stage {
			return invalid("host %q is in stage %q, not %q; a host's stage is fixed when its rollout is created",
				h.Host, stage, h.Stage)
		}
		update, err := db.txStmt(ctx, tx, updateHostRunSQL)
		if err != nil {
			return err
		}
		if _, err := update.ExecContext(ctx,
			string(h.State), h.Order, from, to, h.BootIDBefore, h.BootIDAfter, artifacts, h.Transaction,
			baseline, formatTimePtr(h.StartedAt), formatTimePtr(h.FinishedAt), h.Reason, gates, now,
			formatTimePtr(h.AppliedAt), h.Rollout, h.Host); err != nil {
			return err
		}
		touch, err := db.txStmt(ctx, tx, touchRolloutSQL)
		if err != nil {
			return err
		}
		_, err = touch.ExecContext(ctx, now, h.Rollout)
		return err
	}, nil
}

// The statements of a host run's save, prepared once (stmtCache).
const (
	hostRunStageSQL  = `SELECT s.name` + hostRunFrom + ` WHERE h.rollout = ? AND h.host = ?`
	updateHostRunSQL = `UPDATE host_runs SET state = ?, ord = ?, from_versions = ?,
			to_versions = ?, boot_id_before = ?, boot_id_after = ?, artifacts = ?, txn = ?, baseline = ?,
			started_at = ?, finished_at = ?, reason = ?, gates = ?, updated_at = ?, applied_at = ?
			WHERE rollout = ? AND host = ?`
	hostRunSQL = `SELECT ` + hostRunSelect + hostRunFrom + ` WHERE h.rollout = ? AND h.host = ?`
)

// HostRuns lists a rollout's host pipelines in stage order, then in each
// stage's dispatch order; ENOTFOUND if the rollout is unknown.
func (db *DB) HostRuns(ctx context.Context, rollout string) ([]patchpilot.HostRun, error) {
	if rollout == "" {
		return nil, invalid("host runs: empty rollout id")
	}
	out := []patchpilot.HostRun{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+hostRunSelect+hostRunFrom+`
			WHERE h.rollout = ? ORDER BY h.stage_idx, h.pos`, rollout)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			h, err := scanHostRun(rows)
			if err != nil {
				return err
			}
			out = append(out, h)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return rolloutExists(ctx, tx, rollout)
		}
		return nil
	}, "list host runs of rollout %q", rollout)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HostRun returns one host's pipeline record, as HostRuns lists it;
// ENOTFOUND if the rollout is unknown or the host is not one of its
// targets.
func (db *DB) HostRun(ctx context.Context, rollout, host string) (patchpilot.HostRun, error) {
	if rollout == "" {
		return patchpilot.HostRun{}, invalid("host run of %q: empty rollout id", host)
	}
	if host == "" {
		return patchpilot.HostRun{}, invalid("rollout %q: host run: empty host name", rollout)
	}
	// One statement reads one snapshot: no transaction is needed, but to
	// tell an unknown rollout from a host that is not its target.
	sel, err := db.stmt(ctx, db.read, hostRunSQL)
	if err != nil {
		return patchpilot.HostRun{}, wrap(err, "read host run of %q in rollout %q", host, rollout)
	}
	h, err := scanHostRun(sel.QueryRowContext(ctx, rollout, host))
	if errors.Is(err, sql.ErrNoRows) {
		err = db.readTx(ctx, func(tx *sql.Tx) error {
			if err := rolloutExists(ctx, tx, rollout); err != nil {
				return err
			}
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q is not a target of rollout %q", host, rollout)
		}, "read host run of %q in rollout %q", host, rollout)
		return patchpilot.HostRun{}, err
	}
	if err != nil {
		return patchpilot.HostRun{}, wrap(err, "read host run of %q in rollout %q", host, rollout)
	}
	return h, nil
}

// scanHostRun reads the hostRunSelect columns of one row.
func scanHostRun(s scanner) (patchpilot.HostRun, error) {
	var h patchpilot.HostRun
	var state, from, to, artifacts, baseline, gates, updated string
	var started, finished, applied sql.NullString
	if err := s.Scan(&h.Rollout, &h.Stage, &h.Host, &state, &h.Order, &from, &to, &h.BootIDBefore,
		&h.BootIDAfter, &artifacts, &h.Transaction, &baseline, &started, &finished, &h.Reason,
		&gates, &updated, &applied); err != nil {
		return h, err
	}
	h.State = patchpilot.HostState(state)
	var errs [9]error
	h.FromVersions, errs[0] = decodeMap(from)
	h.ToVersions, errs[1] = decodeMap(to)
	h.Artifacts, errs[2] = decodeMap(artifacts)
	h.Baseline, errs[3] = decodeBaseline(baseline)
	h.StartedAt, errs[4] = parseTimePtr(started)
	h.FinishedAt, errs[5] = parseTimePtr(finished)
	h.Gates, errs[6] = decodeList[patchpilot.GateResult](gates)
	h.UpdatedAt, errs[7] = parseTime(updated)
	h.AppliedAt, errs[8] = parseTimePtr(applied)
	if err := errors.Join(errs[:]...); err != nil {
		return h, fmt.Errorf("rollout %q: host %q: %w", h.Rollout, h.Host, err)
	}
	return h, nil
}

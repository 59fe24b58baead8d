package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
)

var outcomePackageColumns = []string{"outcome_id", "seq", "name", "source_package", "from_version", "to_version"}

// validateOutcome checks what the store and the risk model rely on.
func validateOutcome(o patchpilot.Outcome) error {
	if o.Rollout == "" || o.Host == "" {
		return invalid("outcome: empty rollout id or host name (rollout %q, host %q)", o.Rollout, o.Host)
	}
	if o.Outcome == "" {
		return invalid("outcome of %q in rollout %q: empty outcome", o.Host, o.Rollout)
	}
	if !storable(o.Time) {
		return invalid("outcome of %q in rollout %q: time %s is out of range", o.Host, o.Rollout, o.Time)
	}
	if len(o.Features) > 0 && !json.Valid(o.Features) {
		return invalid("outcome of %q in rollout %q: features are not valid JSON", o.Host, o.Rollout)
	}
	if o.Predicted != nil && !(*o.Predicted >= 0 && *o.Predicted <= 1) {
		return invalid("outcome of %q in rollout %q: predicted %v is not a probability in [0, 1]", o.Host, o.Rollout, *o.Predicted)
	}
	if o.Unrelated != "" && o.Outcome == patchpilot.OutcomeSucceeded {
		return invalid("outcome of %q in rollout %q: a succeeded outcome cannot be labelled unrelated (%q)", o.Host, o.Rollout, o.Unrelated)
	}
	for i, p := range o.Packages {
		if p.Name == "" {
			return invalid("outcome of %q in rollout %q: packages[%d]: empty name", o.Host, o.Rollout, i)
		}
	}
	return nil
}

// RecordOutcome stores the final outcome of a host in a rollout, replacing
// an earlier outcome of the same host and rollout together with its package
// rows. A zero Time is set from the DB's clock. The rollout need not be
// stored: outcomes are history and may be imported.
func (db *DB) RecordOutcome(ctx context.Context, o patchpilot.Outcome) error {
	row, err := db.encodeOutcome(o)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := insertOutcome(ctx, tx, row)
		return err
	}, "record outcome of %q in rollout %q", o.Host, o.Rollout)
}

// ImportOutcomes stores many outcomes in one transaction, each as
// RecordOutcome would: all are written or none is. Everything is checked and
// encoded before the write lock is taken. It returns how many were new or
// changed: an outcome stored already, identical, is not counted.
func (db *DB) ImportOutcomes(ctx context.Context, outcomes []patchpilot.Outcome) (int, error) {
	rows := make([]outcomeRow, len(outcomes))
	for i, o := range outcomes {
		row, err := db.encodeOutcome(o)
		if err != nil {
			return 0, err
		}
		rows[i] = row
	}
	written := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		written = 0
		for _, row := range rows {
			changed, err := insertOutcome(ctx, tx, row)
			if err != nil {
				return fmt.Errorf("outcome of %q in rollout %q: %w", row.o.Host, row.o.Rollout, err)
			}
			if changed {
				written++
			}
		}
		return nil
	}, "import %d outcomes", len(outcomes))
	if err != nil {
		return 0, err
	}
	return written, nil
}

// outcomeRow is an outcome checked and encoded for storage.
type outcomeRow struct {
	o                       patchpilot.Outcome
	labels, packages, gates string
}

// encodeOutcome validates an outcome, sets a zero time from the clock and
// encodes its lists.
func (db *DB) encodeOutcome(o patchpilot.Outcome) (outcomeRow, error) {
	if err := validateOutcome(o); err != nil {
		return outcomeRow{}, err
	}
	if o.Time.IsZero() {
		o.Time = db.now()
	}
	labels, err1 := encodeMap(o.Labels)
	packages, err2 := encodeList(o.Packages)
	if err := errors.Join(err1, err2); err != nil {
		return outcomeRow{}, wrap(err, "record outcome of %q in rollout %q", o.Host, o.Rollout)
	}
	gates, err := encodeGates(o.GateResults)
	if err != nil {
		return outcomeRow{}, invalid("outcome of %q in rollout %q: %v", o.Host, o.Rollout, err)
	}
	return outcomeRow{o: o, labels: labels, packages: packages, gates: gates}, nil
}

// insertOutcome writes one encoded outcome and its package rows, and
// reports whether it wrote anything: an outcome stored already, identical
// in every column, is left as it is (its package rows follow its packages
// column, so they are the same too).
func insertOutcome(ctx context.Context, tx *sql.Tx, row outcomeRow) (bool, error) {
	o := row.o
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO outcomes (rollout, host, time, os, labels, packages,
			outcome, reason, gate_results, features, unrelated, predicted, predicted_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (rollout, host) DO UPDATE SET time = excluded.time, os = excluded.os,
			labels = excluded.labels, packages = excluded.packages, outcome = excluded.outcome,
			reason = excluded.reason, gate_results = excluded.gate_results, features = excluded.features,
			unrelated = excluded.unrelated, predicted = excluded.predicted, predicted_by = excluded.predicted_by
		WHERE outcomes.time IS NOT excluded.time OR outcomes.os IS NOT excluded.os
			OR outcomes.labels IS NOT excluded.labels OR outcomes.packages IS NOT excluded.packages
			OR outcomes.outcome IS NOT excluded.outcome OR outcomes.reason IS NOT excluded.reason
			OR outcomes.gate_results IS NOT excluded.gate_results OR outcomes.features IS NOT excluded.features
			OR outcomes.unrelated IS NOT excluded.unrelated OR outcomes.predicted IS NOT excluded.predicted
			OR outcomes.predicted_by IS NOT excluded.predicted_by
		RETURNING id`,
		o.Rollout, o.Host, formatTime(o.Time), o.OS, row.labels, row.packages, string(o.Outcome), o.Reason, row.gates,
		encodeJSON(o.Features), o.Unrelated, o.Predicted, o.PredictedBy).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // stored already, unchanged
	}
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outcome_packages WHERE outcome_id = ?`, id); err != nil {
		return false, err
	}
	args := make([]any, 0, len(o.Packages)*len(outcomePackageColumns))
	for i, p := range o.Packages {
		args = append(args, id, i, p.Name, p.SourcePackage, p.From, p.To)
	}
	return true, bulkInsert(ctx, tx, "outcome_packages", outcomePackageColumns, args)
}

// Outcomes lists outcomes, oldest first (by Time, then by when they were
// first recorded). Package matches a package's name or its source package.
func (db *DB) Outcomes(ctx context.Context, f patchpilot.OutcomeFilter) ([]patchpilot.Outcome, error) {
	if f.Limit < 0 {
		return nil, invalid("outcomes: negative limit %d", f.Limit)
	}
	var where []string
	var args []any
	if f.Host != "" {
		where = append(where, "o.host = ?")
		args = append(args, f.Host)
	}
	if f.Rollout != "" {
		where = append(where, "o.rollout = ?")
		args = append(args, f.Rollout)
	}
	if f.Package != "" {
		// Two index lookups, one per column, rather than a scan of every
		// outcome's packages.
		where = append(where, `o.id IN (SELECT outcome_id FROM outcome_packages WHERE name = ?
			UNION SELECT outcome_id FROM outcome_packages WHERE source_package = ?)`)
		args = append(args, f.Package, f.Package)
	}
	if !f.Since.IsZero() {
		where = append(where, "o.time >= ?")
		args = append(args, formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "o.time <= ?")
		args = append(args, formatTime(f.Until))
	}
	gates := "o.gate_results"
	if f.NoGateResults {
		gates = "'[]'"
	}
	q := `SELECT o.rollout, o.host, o.time, o.os, o.labels, o.packages, o.outcome, o.reason, ` + gates + `,
		o.features, o.unrelated, o.predicted, o.predicted_by FROM outcomes o`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	newest := f.Newest && f.Limit > 0
	if newest {
		q += " ORDER BY o.time DESC, o.id DESC"
	} else {
		q += " ORDER BY o.time, o.id"
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list outcomes")
	}

	defer rows.Close()
	out := []patchpilot.Outcome{}
	for rows.Next() {
		o, err := scanOutcome(rows)
		if err != nil {
			return nil, wrap(err, "list outcomes")
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list outcomes")
	}
	if newest {
		slices.Reverse(out)
	}
	return out, nil
}

// scanOutcome reads one row of the Outcomes query.
func scanOutcome(s scanner) (patchpilot.Outcome, error) {
	var o patchpilot.Outcome
	var at, labels, packages, kind, gates string
	var features sql.NullString
	var predicted sql.NullFloat64
	if err := s.Scan(&o.Rollout, &o.Host, &at, &o.OS, &labels, &packages, &kind, &o.Reason, &gates,
		&features, &o.Unrelated, &predicted, &o.PredictedBy); err != nil {
		return o, err
	}
	if predicted.Valid {
		p := predicted.Float64
		o.Predicted = &p
	}
	o.Outcome = patchpilot.OutcomeKind(kind)
	o.Features = decodeJSON(features)
	var errs [4]error
	o.Time, errs[0] = parseTime(at)
	o.Labels, errs[1] = decodeMap(labels)
	o.Packages, errs[2] = decodeList[patchpilot.PackageChange](packages)
	o.GateResults, errs[3] = decodeList[patchpilot.GateResult](gates)
	if err := errors.Join(errs[:]...); err != nil {
		return o, fmt.Errorf("outcome of %q in rollout %q: %w", o.Host, o.Rollout, err)
	}
	return o, nil
}

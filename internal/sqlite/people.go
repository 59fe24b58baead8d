package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

var (
	_ patchpilot.TokenStore = (*DB)(nil)
	_ patchpilot.AuditStore = (*DB)(nil)
	_ patchpilot.PlanStore  = (*DB)(nil)
)

const tokenColumns = `name, role, created_by, created_at, last_used, revoked_at`

// CreateToken stores a token under the SHA-256 hash of its secret. A zero
// CreatedAt is set from the DB's clock. A name already taken, by a revoked
// token too, is ECONFLICT, and so is a hash already stored.
func (db *DB) CreateToken(ctx context.Context, t patchpilot.Token, hash []byte) error {
	switch {
	case t.Name == "":
		return invalid("create token: empty name")
	case t.Role == "":
		return invalid("create token %q: empty role", t.Name)
	case len(hash) != sha256.Size:
		return invalid("create token %q: hash of %d bytes, want a SHA-256 hash of %d", t.Name, len(hash), sha256.Size)
	case t.CreatedAt.IsZero():
		t.CreatedAt = db.now()
	}
	if !storable(t.CreatedAt) || !storablePtr(t.LastUsed) || !storablePtr(t.RevokedAt) {
		return invalid("create token %q: a time is out of range", t.Name)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var byName, byHash int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE name = ?), count(*) FILTER (WHERE hash = ?)
			FROM tokens`, t.Name, hash).Scan(&byName, &byHash)
		if err != nil {
			return err
		}
		if byName > 0 {
			return patchpilot.Errorf(patchpilot.ECONFLICT, "a token named %q exists already", t.Name).
				WithHint("choose another name: a revoked token's name is not reused either")
		}
		if byHash > 0 {
			return patchpilot.Errorf(patchpilot.ECONFLICT, "another token has the same secret").
				WithHint("create the token again, with a new secret")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tokens (name, role, hash, created_by, created_at, last_used, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.Name, string(t.Role), hash, t.CreatedBy, formatTime(t.CreatedAt),
			formatTimePtr(t.LastUsed), formatTimePtr(t.RevokedAt))
		return err
	}, "create token %q", t.Name)
}

// TokenByHash returns the token whose secret hashes to hash, revoked or
// not; ENOTFOUND when there is none. The error never shows the hash.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (patchpilot.Token, error) {
	if len(hash) != sha256.Size {
		return patchpilot.Token{}, invalid("find token: hash of %d bytes, want %d", len(hash), sha256.Size)
	}
	t, err := scanToken(db.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, patchpilot.Errorf(patchpilot.ENOTFOUND, "no token has this secret")
	}
	if err != nil {
		return t, wrap(err, "find token")
	}
	return t, nil
}

// Tokens lists every token, revoked ones too, ordered by name.
func (db *DB) Tokens(ctx context.Context) ([]patchpilot.Token, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name`)
	if err != nil {
		return nil, wrap(err, "list tokens")
	}
	defer rows.Close()
	out := []patchpilot.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap(err, "list tokens")
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list tokens")
	}
	return out, nil
}

// RevokeToken marks the named token revoked at the given time; a token
// revoked before keeps its first revocation time.
func (db *DB) RevokeToken(ctx context.Context, name string, at time.Time) error {
	return db.updateToken(ctx, name, at, "revoke",
		`UPDATE tokens SET revoked_at = coalesce(revoked_at, ?1) WHERE name = ?2`)
}

// TouchToken records that the named token was used at the given time. The
// last use only moves forward: a late write of an earlier use changes
// nothing.
func (db *DB) TouchToken(ctx context.Context, name string, at time.Time) error {
	return db.updateToken(ctx, name, at, "record use of",
		`UPDATE tokens SET last_used = max(coalesce(last_used, ''), ?1) WHERE name = ?2`)
}

// updateToken sets one of a token's times with stmt, whose parameters are
// the time (?1) and the name (?2).
func (db *DB) updateToken(ctx context.Context, name string, at time.Time, what, stmt string) error {
	if name == "" {
		return invalid("%s token: empty name", what)
	}
	if at.IsZero() || !storable(at) {
		return invalid("%s token %q: time %s is not set or out of range", what, name, at)
	}
	res, err := db.write.ExecContext(ctx, stmt, formatTime(at), name)
	if err != nil {
		return wrap(err, "%s token %q", what, name)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "%s token %q", what, name)
	}
	if n == 0 {
		return tokenNotFound(name)
	}
	return nil
}

// tokenNotFound reports a token name that the store does not know.
func tokenNotFound(name string) error {
	return patchpilot.Errorf(patchpilot.ENOTFOUND, "token %q not found", name).
		WithHint("see 'patchpilot token list' for the tokens")
}

// scanToken reads the tokenColumns of one row.
func scanToken(s scanner) (patchpilot.Token, error) {
	var t patchpilot.Token
	var role, created string
	var lastUsed, revoked sql.NullString
	if err := s.Scan(&t.Name, &role, &t.CreatedBy, &created, &lastUsed, &revoked); err != nil {
		return t, err
	}
	t.Role = patchpilot.Role(role)
	var errs [3]error
	t.CreatedAt, errs[0] = parseTime(created)
	t.LastUsed, errs[1] = parseTimePtr(lastUsed)
	t.RevokedAt, errs[2] = parseTimePtr(revoked)
	if err := errors.Join(errs[:]...); err != nil {
		return t, fmt.Errorf("token %q: %w", t.Name, err)
	}
	return t, nil
}

// AppendAudit stores an audit entry and returns it with its ID and, when
// it had none, its time set from the DB's clock. Actor, action and outcome
// are required; a detail must be a JSON object.
func (db *DB) AppendAudit(ctx context.Context, e patchpilot.AuditEntry) (patchpilot.AuditEntry, error) {
	switch {
	case e.Action == "":
		return patchpilot.AuditEntry{}, invalid("audit entry: empty action")
	case e.Actor == "":
		return patchpilot.AuditEntry{}, invalid("audit entry %s: empty actor", e.Action)
	case e.Outcome == "":
		return patchpilot.AuditEntry{}, invalid("audit entry %s: empty outcome", e.Action)
	case len(e.Detail) > 0 && !isJSONObject(e.Detail):
		return patchpilot.AuditEntry{}, invalid("audit entry %s: detail is not a JSON object", e.Action)
	}
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	if !storable(e.Time) {
		return patchpilot.AuditEntry{}, invalid("audit entry %s: time %s is out of range", e.Action, e.Time)
	}
	e.Time = e.Time.UTC()
	err := db.write.QueryRowContext(ctx, `INSERT INTO audit (time, actor, token, action, target, rollout, outcome, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		formatTime(e.Time), e.Actor, e.Token, e.Action, e.Target, e.Rollout, e.Outcome, encodeJSON(e.Detail)).Scan(&e.ID)
	if err != nil {
		return patchpilot.AuditEntry{}, wrap(err, "append audit entry %s", e.Action)
	}
	return e, nil
}

// isJSONObject reports whether raw is one JSON object.
func isJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// Audit lists the entries matching the filter, oldest first: those at or
// after Since and before Until. With a limit it returns the newest Limit
// of them, still oldest first.
func (db *DB) Audit(ctx context.Context, f patchpilot.AuditFilter) ([]patchpilot.AuditEntry, error) {
	if f.Limit < 0 {
		return nil, invalid("audit: negative limit %d", f.Limit)
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Rollout != "" {
		add("rollout = ?", f.Rollout)
	}
	if !f.Since.IsZero() {
		add("time >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < ?", formatTime(f.Until))
	}
	q := `SELECT id, time, actor, token, action, target, rollout, outcome, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?)`
		args = append(args, f.Limit)
	}
	q += " ORDER BY id"
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list audit entries")
	}
	defer rows.Close()
	out := []patchpilot.AuditEntry{}
	for rows.Next() {
		var e patchpilot.AuditEntry
		var at string
		var detail sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Token, &e.Action, &e.Target, &e.Rollout, &e.Outcome, &detail); err != nil {
			return nil, wrap(err, "list audit entries")
		}
		if e.Time, err = parseTime(at); err != nil {
			return nil, wrap(err, "list audit entries")
		}
		e.Detail = decodeJSON(detail)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list audit entries")
	}
	return out, nil
}

const planRecordColumns = `id, name, source, created_by, created_at`

// SavePlan stores a new plan record. A zero CreatedAt is set from the DB's
// clock; an id already taken is ECONFLICT.
func (db *DB) SavePlan(ctx context.Context, p patchpilot.PlanRecord) error {
	switch {
	case p.ID == "":
		return invalid("save plan: empty id")
	case p.Source == "":
		return invalid("save plan %q: empty source", p.ID)
	case p.CreatedAt.IsZero():
		p.CreatedAt = db.now()
	}
	if !storable(p.CreatedAt) {
		return invalid("save plan %q: created_at %s is out of range", p.ID, p.CreatedAt)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM plans WHERE id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return patchpilot.Errorf(patchpilot.ECONFLICT, "plan %q already exists", p.ID).
				WithHint("choose another plan id")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO plans (`+planRecordColumns+`) VALUES (?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.Source, p.CreatedBy, formatTime(p.CreatedAt))
		return err
	}, "save plan %q", p.ID)
}

// PlanRecord returns the saved plan with the given id.
func (db *DB) PlanRecord(ctx context.Context, id string) (patchpilot.PlanRecord, error) {
	if id == "" {
		return patchpilot.PlanRecord{}, invalid("empty plan id")
	}
	p, err := scanPlanRecord(db.read.QueryRowContext(ctx, `SELECT `+planRecordColumns+` FROM plans WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, patchpilot.Errorf(patchpilot.ENOTFOUND, "plan %q not found", id).
			WithHint("check the plan id against the list of saved plans")
	}
	if err != nil {
		return p, wrap(err, "read plan %q", id)
	}
	return p, nil
}

// PlanRecords lists every saved plan, newest first (by CreatedAt, then by
// id).
func (db *DB) PlanRecords(ctx context.Context) ([]patchpilot.PlanRecord, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+planRecordColumns+` FROM plans ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap(err, "list plans")
	}
	defer rows.Close()
	out := []patchpilot.PlanRecord{}
	for rows.Next() {
		p, err := scanPlanRecord(rows)
		if err != nil {
			return nil, wrap(err, "list plans")
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list plans")
	}
	return out, nil
}

// scanPlanRecord reads the planRecordColumns of one row.
func scanPlanRecord(s scanner) (patchpilot.PlanRecord, error) {
	var p patchpilot.PlanRecord
	var created string
	if err := s.Scan(&p.ID, &p.Name, &p.Source, &p.CreatedBy, &created); err != nil {
		return p, err
	}
	var err error
	if p.CreatedAt, err = parseTime(created); err != nil {
		return p, fmt.Errorf("plan %q: %w", p.ID, err)
	}
	return p, nil
}

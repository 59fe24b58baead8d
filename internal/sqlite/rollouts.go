package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

var (
	_ patchpilot.RolloutStore = (*DB)(nil)

	stageColumns = []string{"rollout", "idx", "name", "state", "hosts", "approved_by", "approved_at",
		"started_at", "finished_at", "reason"}
	pendingHostRunColumns = []string{"rollout", "stage_idx", "pos", "host", "state", "updated_at"}
)

// rolloutColumns are the columns scanRollout reads, in its order.
const rolloutColumns = `id, plan_source, plan, state, reason, created_by, created_at, updated_at, dry_run, plan_id, predictions`

// stageSelect are the columns scanStage reads, in its order.
const stageSelect = `rollout, idx, name, state, hosts, approved_by, approved_at, started_at, finished_at, reason`

// validateRollout checks a new rollout. Stages must be listed in order with
// Index equal to their position, named uniquely, and no host may be assigned
// twice: a host has one pipeline per rollout.
func validateRollout(r patchpilot.Rollout) error {
	if r.ID == "" {
		return invalid("rollout: empty id")
	}
	if !storable(r.CreatedAt) || !storable(r.UpdatedAt) {
		return invalid("rollout %q: created_at or updated_at is out of range", r.ID)
	}
	names := map[string]bool{}
	hosts := map[string]string{}
	for i, s := range r.Stages {
		if s.Index != i {
			return invalid("rollout %q: stages[%d]: index %d, want %d (stages are listed in order)", r.ID, i, s.Index, i)
		}
		if s.Rollout != "" && s.Rollout != r.ID {
			return invalid("rollout %q: stages[%d]: belongs to rollout %q", r.ID, i, s.Rollout)
		}
		if s.Name == "" {
			return invalid("rollout %q: stages[%d]: empty name", r.ID, i)
		}
		if names[s.Name] {
			return invalid("rollout %q: stages[%d]: duplicate stage name %q", r.ID, i, s.Name)
		}
		names[s.Name] = true
		if err := validateStageTimes(s); err != nil {
			return invalid("rollout %q: stages[%d]: %v", r.ID, i, err)
		}
		for j, h := range s.Hosts {
			if h == "" {
				return invalid("rollout %q: stage %q: hosts[%d]: empty host name", r.ID, s.Name, j)
			}
			if other, ok := hosts[h]; ok {
				return invalid("rollout %q: host %q is assigned to stage %q and to stage %q", r.ID, h, other, s.Name)
			}
			hosts[h] = s.Name
		}
	}
	return nil
}

// validateStageTimes checks that a stage's optional times can be stored.
func validateStageTimes(s patchpilot.StageRun) error {
	if !storablePtr(s.ApprovedAt) || !storablePtr(s.StartedAt) || !storablePtr(s.FinishedAt) {
		return errors.New("a time is out of range")
	}
	return nil
}

// CreateRollout stores a new rollout with its stages and a pending HostRun
// for every assigned host, in one transaction. A zero CreatedAt is set from
// the DB's clock, a zero UpdatedAt from CreatedAt; an empty state is
// pending, for the rollout and for its stages. An id that is taken is
// ECONFLICT.
func (db *DB) CreateRollout(ctx context.Context, r patchpilot.Rollout) error {
	if err := validateRollout(r); err != nil {
		return err
	}
	plan, err := encodePlan(r.Plan)
	if err != nil {
		return invalid("rollout %q: plan cannot be stored: %v", r.ID, err)
	}
	predictions, err := encodePredictions(r.Predictions)
	if err != nil {
		return invalid("rollout %q: %v", r.ID, err)
	}
	now := db.now()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if r.State == "" {
		r.State = patchpilot.RolloutPending
	}
	var stageArgs, hostArgs []any
	for i, s := range r.Stages {
		if s.State == "" {
			s.State = patchpilot.StagePending
		}
		hosts, err := encodeList(s.Hosts)
		if err != nil {
			return wrap(err, "create rollout %q: stage %q", r.ID, s.Name)
		}
		stageArgs = append(stageArgs, r.ID, i, s.Name, string(s.State), hosts, s.ApprovedBy,
			formatTimePtr(s.ApprovedAt), formatTimePtr(s.StartedAt), formatTimePtr(s.FinishedAt), s.Reason)
		for pos, h := range s.Hosts {
			hostArgs = append(hostArgs, r.ID, i, pos, h, string(patchpilot.HostPending), formatTime(now))
		}
	}
	// A refusal is returned as it is: it names the rollout or the hosts
	// in conflict, which a "create rollout" prefix would only repeat.
	var refused error
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rollouts WHERE id = ?`, r.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			refused = patchpilot.Errorf(patchpilot.ECONFLICT, "rollout %q already exists", r.ID).
				WithHint("choose another rollout id")
			return refused
		}
		if !r.DryRun {
			if err := hostsFree(ctx, tx, r); err != nil {
				if patchpilot.ErrorCode(err) == patchpilot.ECONFLICT {
					refused = err
				}
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (`+rolloutColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.PlanSource, string(plan), string(r.State), r.Reason, r.CreatedBy,
			formatTime(r.CreatedAt), formatTime(r.UpdatedAt), boolInt(r.DryRun), r.PlanID, predictions); err != nil {
			return err
		}
		if err := bulkInsert(ctx, tx, "stages", stageColumns, stageArgs); err != nil {
			return fmt.Errorf("stages: %w", err)
		}
		if err := bulkInsert(ctx, tx, "host_runs", pendingHostRunColumns, hostArgs); err != nil {
			return fmt.Errorf("host runs: %w", err)
		}
		return nil
	}, "create rollout %q", r.ID)
	if refused != nil {
		return refused
	}
	return err
}

// sqlStates lists the rollout states keep is true for, as an SQL list of
// quoted literals.
func sqlStates(keep func(patchpilot.RolloutState) bool) string {
	var q []string
	for _, st := range patchpilot.RolloutStates() {
		if keep(st) {
			q = append(q, "'"+string(st)+"'")
		}
	}
	return strings.Join(q, ", ")
}

// unfinishedStates are the states RolloutState.Final is false for, as
// SQL. A condition on the unfinished rollouts names them (state IN) so
// that it is looked up in an index of the state rather than tested on
// every rollout.
var unfinishedStates = sqlStates(func(st patchpilot.RolloutState) bool { return !st.Final() })

// holdsHosts is patchpilot.HoldsHosts as an SQL condition on the state
// and reason columns of the rollouts table named t: the state is not
// final, or it is one a rollout can be held in for a person and the
// reason says so. The states it may hold in are named in one list, so
// that the rollouts in them are looked up in rollouts_holding (0023),
// which holds the columns the holders' reads need: neither the rollouts
// in other states nor a rollout's row, with its plan, is read.
func holdsHosts(t string) string {
	held := sqlStates(func(st patchpilot.RolloutState) bool {
		return st.Final() && patchpilot.Held(st, patchpilot.HeldReasonPrefix)
	})
	if held == "" {
		return t + `.state IN (` + unfinishedStates + `)`
	}
	return `(` + t + `.state IN (` + unfinishedStates + `, ` + held + `) AND (` + t + `.state NOT IN (` + held + `) OR substr(` + t +
		`.reason, 1, ` + strconv.Itoa(len(patchpilot.HeldReasonPrefix)) + `) = '` + patchpilot.HeldReasonPrefix + `'))`
}

// hostsFree refuses a rollout that would change a host another rollout
// (not a dry run) still holds (patchpilot.HoldsHosts): two rollouts on one
// host would apply over each other, and a rollback of one would undo the
// other's change. It runs in the creating write transaction, which SQLite
// serializes, so two rollouts started at once cannot both pass.
func hostsFree(ctx context.Context, tx *sql.Tx, r patchpilot.Rollout) error {
	want := map[string]bool{}
	for _, s := range r.Stages {
		for _, h := range s.Hosts {
			want[h] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.state, r.reason, h.host FROM rollouts r JOIN host_runs h ON h.rollout = r.id
		WHERE `+holdsHosts("r")+` AND r.dry_run = 0 ORDER BY r.created_at, r.id, h.host`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var holders []patchpilot.HostsHolder
	for rows.Next() {
		var id, state, reason, host string
		if err := rows.Scan(&id, &state, &reason, &host); err != nil {
			return err
		}
		if !want[host] {
			continue
		}
		if len(holders) == 0 || holders[len(holders)-1].Rollout != id {
			holders = append(holders, patchpilot.HostsHolder{Rollout: id, State: patchpilot.RolloutState(state), Reason: reason})
		}
		h := &holders[len(holders)-1]
		h.Hosts = append(h.Hosts, host)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(holders) == 0 {
		return nil
	}
	return patchpilot.HostsHeldError(holders)
}

// Rollout returns a rollout with its stages; ENOTFOUND if unknown.
func (db *DB) Rollout(ctx context.Context, id string) (patchpilot.Rollout, error) {
	if id == "" {
		return patchpilot.Rollout{}, invalid("empty rollout id")
	}
	var out patchpilot.Rollout
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		r, err := scanRollout(tx.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return rolloutNotFound(id)
		}
		if err != nil {
			return err
		}
		stages, err := queryStages(ctx, tx, `WHERE rollout = ?`, id)
		if err != nil {
			return err
		}
		r.Stages = stages[id]
		out = r
		return nil
	}, "read rollout %q", id)
	return out, err
}

// RolloutState returns a rollout's state and reason, without its plan and
// stages; ENOTFOUND if unknown.
func (db *DB) RolloutState(ctx context.Context, id string) (patchpilot.RolloutState, string, error) {
	if id == "" {
		return "", "", invalid("empty rollout id")
	}
	sel, err := db.stmt(ctx, db.read, `SELECT state, reason FROM rollouts WHERE id = ?`)
	if err != nil {
		return "", "", wrap(err, "read the state of rollout %q", id)
	}
	var state, reason string
	err = sel.QueryRowContext(ctx, id).Scan(&state, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", rolloutNotFound(id)
	}
	if err != nil {
		return "", "", wrap(err, "read the state of rollout %q", id)
	}
	return patchpilot.RolloutState(state), reason, nil
}

// Rollouts lists rollouts with their stages, newest first (by CreatedAt,
// then by id), optionally only those in one state.
func (db *DB) Rollouts(ctx context.Context, f patchpilot.RolloutFilter) ([]patchpilot.Rollout, error) {
	if f.Limit < 0 {
		return nil, invalid("rollouts: negative limit %d", f.Limit)
	}
	q := `SELECT ` + rolloutColumns + ` FROM rollouts`
	var args []any
	var where []string
	if f.State != "" {
		where = append(where, `state = ?`)
		args = append(args, string(f.State))
	}
	if f.Active {
		where = append(where, `state IN (`+unfinishedStates+`)`)
	}
	if !f.Since.IsZero() {
		if !storable(f.Since) {
			return nil, invalid("rollouts: since %s is out of range", f.Since)
		}
		where = append(where, `created_at >= ?`)
		args = append(args, formatTime(f.Since))
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	out := []patchpilot.Rollout{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRollout(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		// The stages of exactly the listed rollouts, with the same query
		// as a subselect so that no parameter list grows with the result.
		stages, err := queryStages(ctx, tx, `WHERE rollout IN (SELECT id FROM (`+q+`))`, args...)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Stages = stages[out[i].ID]
		}
		return nil
	}, "list rollouts")
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetRolloutState changes the rollout's state and reason.
func (db *DB) SetRolloutState(ctx context.Context, id string, state patchpilot.RolloutState, reason string) error {
	if id == "" {
		return invalid("set rollout state: empty rollout id")
	}
	if state == "" {
		return invalid("rollout %q: empty state", id)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE rollouts SET state = ?, reason = ?, updated_at = ? WHERE id = ?`,
		string(state), reason, formatTime(db.now()), id)
	if err != nil {
		return wrap(err, "set state of rollout %q", id)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(err, "set state of rollout %q", id)
	} else if n == 0 {
		return rolloutNotFound(id)
	}
	return nil
}

// SaveStage replaces a stage's state, approval, times and reason. The stage
// is found by rollout and index, and its name must match. The assigned
// hosts are fixed when the rollout is created: Hosts nil leaves them as
// they are, and any other list must equal the stored one.
func (db *DB) SaveStage(ctx context.Context, s patchpilot.StageRun) error {
	if s.Rollout == "" {
		return invalid("save stage %q: empty rollout id", s.Name)
	}
	if s.Name == "" {
		return invalid("rollout %q: stage %d: empty name", s.Rollout, s.Index)
	}
	if s.State == "" {
		return invalid("rollout %q: stage %q: empty state", s.Rollout, s.Name)
	}
	if err := validateStageTimes(s); err != nil {
		return invalid("rollout %q: stage %q: %v", s.Rollout, s.Name, err)
	}
	now := formatTime(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var name, hosts string
		err := tx.QueryRowContext(ctx, `SELECT name, hosts FROM stages WHERE rollout = ? AND idx = ?`,
			s.Rollout, s.Index).Scan(&name, &hosts)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && name != s.Name) {
			return stageNotFound(ctx, tx, s)
		}
		if err != nil {
			return err
		}
		if s.Hosts != nil {
			stored, err := decodeList[string](hosts)
			if err != nil {
				return err
			}
			if !slices.Equal(stored, s.Hosts) {
				return invalid("hosts %v differ from the assigned %v; a stage's hosts are fixed when its rollout is created",
					s.Hosts, stored)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stages SET state = ?, approved_by = ?, approved_at = ?,
			started_at = ?, finished_at = ?, reason = ? WHERE rollout = ? AND idx = ?`,
			string(s.State), s.ApprovedBy, formatTimePtr(s.ApprovedAt), formatTimePtr(s.StartedAt),
			formatTimePtr(s.FinishedAt), s.Reason, s.Rollout, s.Index); err != nil {
			return err
		}
		return touchRollout(ctx, tx, s.Rollout, now)
	}, "save stage %q of rollout %q", s.Name, s.Rollout)
}

// stageNotFound explains why a stage was not found: the rollout is unknown,
// or it has no such stage.
func stageNotFound(ctx context.Context, tx *sql.Tx, s patchpilot.StageRun) error {
	if err := rolloutExists(ctx, tx, s.Rollout); err != nil {
		return err
	}
	return patchpilot.Errorf(patchpilot.ENOTFOUND, "rollout %q has no stage %d named %q", s.Rollout, s.Index, s.Name)
}

// rolloutExists returns nil when the rollout exists and ENOTFOUND when not.
func rolloutExists(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rollouts WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return rolloutNotFound(id)
	}
	return nil
}

// touchRollout records that something of the rollout changed.
func touchRollout(ctx context.Context, tx *sql.Tx, id, now string) error {
	_, err := tx.ExecContext(ctx, touchRolloutSQL, now, id)
	return err
}

const touchRolloutSQL = `UPDATE rollouts SET updated_at = ? WHERE id = ?`

// readTx runs fn in a read transaction, so that the queries of one call see
// one snapshot of the database even while a writer commits.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error, format string, args ...any) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap(err, format, args...)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to undo
	if err := fn(tx); err != nil {
		return wrap(err, format, args...)
	}
	return nil
}

// scanRollout reads the rolloutColumns of one row.
func scanRollout(s scanner) (patchpilot.Rollout, error) {
	var r patchpilot.Rollout
	var plan, state, created, updated, predictions string
	if err := s.Scan(&r.ID, &r.PlanSource, &plan, &state, &r.Reason, &r.CreatedBy, &created, &updated, &r.DryRun, &r.PlanID, &predictions); err != nil {
		return r, err
	}
	if err := decodePredictions(predictions, &r.Predictions); err != nil {
		return r, fmt.Errorf("rollout %q: %w", r.ID, err)
	}
	r.State = patchpilot.RolloutState(state)
	var err error
	if r.Plan, err = decodePlan([]byte(plan)); err != nil {
		return r, fmt.Errorf("rollout %q: stored plan: %w", r.ID, err)
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return r, fmt.Errorf("rollout %q: %w", r.ID, err)
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return r, fmt.Errorf("rollout %q: %w", r.ID, err)
	}
	return r, nil
}

// queryStages reads the stages matching where, by rollout id and in index
// order.
func queryStages(ctx context.Context, tx *sql.Tx, where string, args ...any) (map[string][]patchpilot.StageRun, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+stageSelect+` FROM stages `+where+` ORDER BY rollout, idx`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]patchpilot.StageRun{}
	for rows.Next() {
		var s patchpilot.StageRun
		var state, hosts string
		var approved, started, finished sql.NullString
		if err := rows.Scan(&s.Rollout, &s.Index, &s.Name, &state, &hosts, &s.ApprovedBy,
			&approved, &started, &finished, &s.Reason); err != nil {
			return nil, err
		}
		s.State = patchpilot.StageState(state)
		var errs [4]error
		s.Hosts, errs[0] = decodeList[string](hosts)
		s.ApprovedAt, errs[1] = parseTimePtr(approved)
		s.StartedAt, errs[2] = parseTimePtr(started)
		s.FinishedAt, errs[3] = parseTimePtr(finished)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("rollout %q: stage %q: %w", s.Rollout, s.Name, err)
		}
		out[s.Rollout] = append(out[s.Rollout], s)
	}
	return out, rows.Err()
}

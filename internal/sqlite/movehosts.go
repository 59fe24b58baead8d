package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// movePosOffset lifts the positions of the stages being rewritten out of
// the way of the unique (rollout, stage_idx, pos) constraint while hosts
// change places; every position is rewritten before the transaction ends.
const movePosOffset = 1 << 30

// MoveHosts reassigns pending hosts from one stage of a rollout to another
// in one transaction: the stages' host lists and the hosts' pipeline rows
// change together, or not at all. See patchpilot.RolloutStore.
func (db *DB) MoveHosts(ctx context.Context, rollout, fromStage, toStage string, hosts []string) error {
	switch {
	case rollout == "":
		return invalid("move hosts: empty rollout id")
	case fromStage == "" || toStage == "":
		return invalid("rollout %q: move hosts: empty stage name", rollout)
	case fromStage == toStage:
		return invalid("rollout %q: move hosts: stage %q is both source and destination", rollout, fromStage)
	case len(hosts) == 0:
		return invalid("rollout %q: move hosts from %q to %q: no hosts named", rollout, fromStage, toStage)
	}
	moving := map[string]bool{}
	for _, h := range hosts {
		if h == "" {
			return invalid("rollout %q: move hosts: empty host name", rollout)
		}
		if moving[h] {
			return invalid("rollout %q: move hosts: host %q is named twice", rollout, h)
		}
		moving[h] = true
	}
	now := formatTime(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		from, err := readStageHosts(ctx, tx, rollout, fromStage)
		if err != nil {
			return err
		}
		to, err := readStageHosts(ctx, tx, rollout, toStage)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			if !slices.Contains(from.hosts, h) {
				return invalid("host %q is not assigned to stage %q of rollout %q", h, fromStage, rollout)
			}
			var state string
			if err := tx.QueryRowContext(ctx, `SELECT state FROM host_runs WHERE rollout = ? AND host = ?`,
				rollout, h).Scan(&state); err != nil {
				return err
			}
			if patchpilot.HostState(state) != patchpilot.HostPending {
				return patchpilot.Errorf(patchpilot.ECONFLICT, "host %q of rollout %q is %s, not pending; only hosts that have not started can change stage",
					h, rollout, state)
			}
		}
		// The moved hosts keep the order they had in their stage.
		var moved, kept []string
		for _, h := range from.hosts {
			if moving[h] {
				moved = append(moved, h)
			} else {
				kept = append(kept, h)
			}
		}
		dest := append(append([]string(nil), to.hosts...), moved...)
		if to.idx > from.idx {
			dest = append(append([]string(nil), moved...), to.hosts...)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE host_runs SET pos = pos + ? WHERE rollout = ? AND stage_idx IN (?, ?)`,
			movePosOffset, rollout, from.idx, to.idx); err != nil {
			return err
		}
		for _, st := range []struct {
			idx   int
			hosts []string
		}{{from.idx, kept}, {to.idx, dest}} {
			list, err := encodeList(st.hosts)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE stages SET hosts = ? WHERE rollout = ? AND idx = ?`,
				list, rollout, st.idx); err != nil {
				return err
			}
			for pos, h := range st.hosts {
				if _, err := tx.ExecContext(ctx, `UPDATE host_runs SET stage_idx = ?, pos = ?, updated_at = ?
					WHERE rollout = ? AND host = ?`, st.idx, pos, now, rollout, h); err != nil {
					return err
				}
			}
		}
		return touchRollout(ctx, tx, rollout, now)
	}, "move hosts %s from stage %q to %q in rollout %q", strings.Join(hosts, ", "), fromStage, toStage, rollout)
}

// stageHosts is a stage's position and assigned hosts.
type stageHosts struct {
	idx   int
	hosts []string
}

// readStageHosts reads a stage by name; ENOTFOUND names the rollout or the
// stage that is missing.
func readStageHosts(ctx context.Context, tx *sql.Tx, rollout, name string) (stageHosts, error) {
	var s stageHosts
	var list string
	err := tx.QueryRowContext(ctx, `SELECT idx, hosts FROM stages WHERE rollout = ? AND name = ?`, rollout, name).Scan(&s.idx, &list)
	if errors.Is(err, sql.ErrNoRows) {
		if err := rolloutExists(ctx, tx, rollout); err != nil {
			return s, err
		}
		return s, patchpilot.Errorf(patchpilot.ENOTFOUND, "rollout %q has no stage named %q", rollout, name)
	}
	if err != nil {
		return s, err
	}
	s.hosts, err = decodeList[string](list)
	return s, err
}

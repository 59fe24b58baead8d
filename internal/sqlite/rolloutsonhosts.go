package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// RolloutsOnHosts lists the rollouts (not dry runs) whose targets include
// any of the filter's hosts, oldest first by creation time and then id,
// each with those targets, their pipeline states and deployment orders.
// It reads the rollouts and host runs alone, never the plans or stages.
func (db *DB) RolloutsOnHosts(ctx context.Context, f patchpilot.HostsRolloutFilter) ([]patchpilot.RolloutOnHosts, error) {
	var out []patchpilot.RolloutOnHosts
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		where := []string{"r.dry_run = 0"}
		var args []any
		if f.After != "" {
			var created string
			err := tx.QueryRowContext(ctx, `SELECT created_at FROM rollouts WHERE id = ?`, f.After).Scan(&created)
			if errors.Is(err, sql.ErrNoRows) {
				return rolloutNotFound(f.After)
			}
			if err != nil {
				return err
			}
			// The order the rollouts are listed in: two rollouts created
			// at the same instant are ordered by id.
			where = append(where, "(r.created_at > ? OR (r.created_at = ? AND r.id > ?))")
			args = append(args, created, created, f.After)
		}
		if f.Holding {
			where = append(where, holdsHosts("r"))
		}
		if len(f.Hosts) > 0 {
			names, err := json.Marshal(f.Hosts)
			if err != nil {
				return err
			}
			where = append(where, "h.host IN (SELECT value FROM json_each(?))")
			args = append(args, string(names))
		}
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.state, r.reason, r.created_at, h.host, h.state, h.ord
			FROM rollouts r JOIN host_runs h ON h.rollout = r.id
			WHERE `+strings.Join(where, " AND ")+` ORDER BY r.created_at, r.id, h.host`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, state, reason, created, host, hostState string
			var ord int
			if err := rows.Scan(&id, &state, &reason, &created, &host, &hostState, &ord); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].Rollout != id {
				at, err := parseTime(created)
				if err != nil {
					return err
				}
				out = append(out, patchpilot.RolloutOnHosts{Rollout: id, State: patchpilot.RolloutState(state), Reason: reason, CreatedAt: at})
			}
			r := &out[len(out)-1]
			r.Hosts = append(r.Hosts, patchpilot.HostOfRollout{Host: host, State: patchpilot.HostState(hostState), Order: ord})
		}
		return rows.Err()
	}, "rollouts on hosts")
	if err != nil {
		return nil, err
	}
	return out, nil
}

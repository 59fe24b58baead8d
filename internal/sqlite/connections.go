package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/patchpilot/patchpilot"
)

var _ patchpilot.ConnectionStore = (*DB)(nil)

// connKey identifies an aggregated connection of a host.
type connKey struct {
	direction, service, local, peer string
	port                            int
}

// validateDepth checks the connections SaveFacts merges, naming the
// offending one.
func validateDepth(f patchpilot.Facts) error {
	if f.Depth == nil {
		return nil
	}
	for i, c := range f.Depth.Connections {
		switch {
		case c.Direction != patchpilot.DirectionOut && c.Direction != patchpilot.DirectionIn:
			return invalid("facts for %q: depth.connections[%d]: direction %q, want %q or %q",
				f.Host, i, c.Direction, patchpilot.DirectionOut, patchpilot.DirectionIn)
		case c.Peer == "":
			return invalid("facts for %q: depth.connections[%d]: empty peer", f.Host, i)
		case c.Port < 1 || c.Port > 65535:
			return invalid("facts for %q: depth.connections[%d]: port %d out of range 1-65535", f.Host, i, c.Port)
		}
	}
	return nil
}

// distinctConnections reduces a snapshot's connections to one per key, so
// that a connection listed twice in one snapshot counts once; the first
// non-empty process name is kept.
func distinctConnections(conns []patchpilot.Connection) []patchpilot.Connection {
	seen := map[connKey]int{}
	var out []patchpilot.Connection
	for _, c := range conns {
		k := connKey{c.Direction, c.Service, c.Local, c.Peer, c.Port}
		if i, ok := seen[k]; ok {
			if out[i].Process == "" {
				out[i].Process = c.Process
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, c)
	}
	return out
}

// mergeConnections adds a snapshot's connections to the host's aggregate:
// a new one is first and last seen at the snapshot's time; a known one is
// seen once more, its first seen moves earlier and its last seen later
// (never back: a snapshot saved out of time order does not age it), and it
// takes the process name of the newest snapshot that named one.
func mergeConnections(ctx context.Context, tx *sql.Tx, hostID int64, at time.Time, conns []patchpilot.Connection) error {
	if len(conns) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO connections (host_id, direction, service, local, peer, port, process,
		first_seen, last_seen, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (host_id, direction, service, local, peer, port) DO UPDATE SET
			seen = seen + 1,
			first_seen = min(first_seen, excluded.first_seen),
			process = CASE WHEN excluded.process <> '' AND (excluded.last_seen >= last_seen OR process = '')
				THEN excluded.process ELSE process END,
			last_seen = max(last_seen, excluded.last_seen)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	ts := formatTime(at)
	for _, c := range distinctConnections(conns) {
		if _, err := stmt.ExecContext(ctx, hostID, c.Direction, c.Service, c.Local, c.Peer, c.Port, c.Process, ts, ts); err != nil {
			return fmt.Errorf("connection %s %s:%d: %w", c.Direction, c.Peer, c.Port, err)
		}
	}
	return nil
}

// Connections implements patchpilot.ConnectionStore.
func (db *DB) Connections(ctx context.Context, since time.Time) ([]patchpilot.ObservedConnection, error) {
	if !since.IsZero() && !storable(since) {
		return nil, invalid("connections: since %s is out of range", since)
	}
	q := `SELECT h.name, c.direction, c.service, c.process, c.local, c.peer, c.port, c.first_seen, c.last_seen, c.seen
		FROM connections c JOIN hosts h ON h.id = c.host_id`
	var args []any
	if !since.IsZero() {
		q += ` WHERE c.last_seen >= ?`
		args = append(args, formatTime(since))
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "read connections")
	}
	defer rows.Close()
	out := []patchpilot.ObservedConnection{}
	for rows.Next() {
		var o patchpilot.ObservedConnection
		var first, last string
		if err := rows.Scan(&o.Host, &o.Direction, &o.Service, &o.Process, &o.Local, &o.Peer, &o.Port, &first, &last, &o.Seen); err != nil {
			return nil, wrap(err, "read connections")
		}
		if o.FirstSeen, err = parseTime(first); err != nil {
			return nil, wrap(err, "read connections")
		}
		if o.LastSeen, err = parseTime(last); err != nil {
			return nil, wrap(err, "read connections")
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read connections")
	}
	// Sorted here rather than in SQL: host names and the key columns
	// compare as Go strings, the order every implementation must give.
	slices.SortFunc(out, func(a, b patchpilot.ObservedConnection) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Direction, b.Direction),
			cmp.Compare(a.Service, b.Service), cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Local, b.Local))
	})
	return out, nil
}

// PruneConnections implements patchpilot.ConnectionStore.
func (db *DB) PruneConnections(ctx context.Context, before time.Time) (int, error) {
	if before.IsZero() || !storable(before) {
		return 0, invalid("prune connections: before %s is not a usable time", before)
	}
	var deleted int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE last_seen < ?`, formatTime(before))
		if err != nil {
			return err
		}
		deleted, err = res.RowsAffected()
		return err
	}, "prune connections")
	return int(deleted), err
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// hostColumns are the columns scanHost reads, in its order.
const hostColumns = `name, address, port, user, key_file, become, jump_host, groups, labels, source`

// UpsertHosts adds hosts or replaces their details, all in one transaction.
// A host keeps its row, and so its snapshots, when it is replaced.
func (db *DB) UpsertHosts(ctx context.Context, hosts []patchpilot.Host) error {
	for i, h := range hosts {
		if h.Name == "" {
			return invalid("hosts[%d]: empty host name", i)
		}
		if h.Port < 0 || h.Port > 65535 {
			return invalid("host %q: port %d out of range 0-65535", h.Name, h.Port)
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	now := formatTime(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO hosts (`+hostColumns+`, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				address = excluded.address, port = excluded.port, user = excluded.user,
				key_file = excluded.key_file, become = excluded.become, jump_host = excluded.jump_host,
				groups = excluded.groups, labels = excluded.labels, source = excluded.source,
				updated_at = excluded.updated_at`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, h := range hosts {
			groups, err := encodeList(h.Groups)
			if err != nil {
				return fmt.Errorf("host %q: groups: %w", h.Name, err)
			}
			labels, err := encodeMap(h.Labels)
			if err != nil {
				return fmt.Errorf("host %q: labels: %w", h.Name, err)
			}
			if _, err := stmt.ExecContext(ctx, h.Name, h.Address, h.Port, h.User, h.KeyFile, boolInt(h.Become),
				h.JumpHost, groups, labels, h.Source, now, now); err != nil {
				return fmt.Errorf("host %q: %w", h.Name, err)
			}
		}
		return nil
	}, "save %d hosts", len(hosts))
}

// Host returns one host by name.
func (db *DB) Host(ctx context.Context, name string) (patchpilot.Host, error) {
	if name == "" {
		return patchpilot.Host{}, invalid("empty host name")
	}
	h, err := scanHost(db.read.QueryRowContext(ctx, `SELECT `+hostColumns+` FROM hosts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return patchpilot.Host{}, notFound(name)
	}
	if err != nil {
		return patchpilot.Host{}, wrap(err, "read host %q", name)
	}
	return h, nil
}

// Hosts returns every host, ordered by name.
func (db *DB) Hosts(ctx context.Context) ([]patchpilot.Host, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+hostColumns+` FROM hosts ORDER BY name`)
	if err != nil {
		return nil, wrap(err, "list hosts")
	}
	defer rows.Close()
	out := []patchpilot.Host{}
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, wrap(err, "list hosts")
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list hosts")
	}
	return out, nil
}

// RemoveHosts implements patchpilot.HostStore. The hosts' snapshots, with
// their packages and updates, go with them (ON DELETE CASCADE); events,
// rollouts and outcomes name hosts by name and stay. Every name is looked
// up inside the transaction, so a host added or removed meanwhile by
// another writer cannot make it half-apply.
func (db *DB) RemoveHosts(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return invalid("remove hosts: no host named")
	}
	for i, n := range names {
		if n == "" {
			return invalid("remove hosts: names[%d] is empty", i)
		}
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `DELETE FROM hosts WHERE name = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		removed := map[string]bool{}
		for _, n := range names {
			if removed[n] {
				continue
			}
			res, err := stmt.ExecContext(ctx, n)
			if err != nil {
				return fmt.Errorf("host %q: %w", n, err)
			}
			if k, err := res.RowsAffected(); err != nil {
				return err
			} else if k == 0 {
				return patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q not found; no host was removed", n).
					WithHint("list the known hosts with 'patchpilot hosts'")
			}
			removed[n] = true
		}
		return nil
	}, "remove %d hosts", len(names))
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanHost reads the hostColumns of one row.
func scanHost(s scanner) (patchpilot.Host, error) {
	var h patchpilot.Host
	var groups, labels string
	if err := s.Scan(&h.Name, &h.Address, &h.Port, &h.User, &h.KeyFile, &h.Become, &h.JumpHost,
		&groups, &labels, &h.Source); err != nil {
		return h, err
	}
	var err error
	if h.Groups, err = decodeList[string](groups); err != nil {
		return h, fmt.Errorf("host %q: groups: %w", h.Name, err)
	}
	if h.Labels, err = decodeMap(labels); err != nil {
		return h, fmt.Errorf("host %q: labels: %w", h.Name, err)
	}
	return h, nil
}

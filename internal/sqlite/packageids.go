package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// packageKey is an installed package as installed_packages stores it: the
// columns of its UNIQUE constraint. It converts to and from
// patchpilot.Package, so that a field added there and not stored here
// fails to compile.
type packageKey struct {
	Name, Version, Arch, SourceName, SourceVersion, Status string
}

// packageIDs keeps the ids of installed_packages.
type packageIDs = idCache[packageKey]

// lookupAll sets ids[i] to the kept id of keys[i], or 0 when it is not
// kept, under one lock.
func (c *idCache[K]) lookupAll(keys []K, ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		ids[i] = c.ids[k]
	}
}

const (
	findPackageSQL = `SELECT id FROM installed_packages WHERE name = ? AND version = ? AND arch = ?
		AND source_name = ? AND source_version = ? AND status = ?`
	insertPackageSQL = `INSERT INTO installed_packages (name, version, arch, source_name, source_version, status)
		VALUES (?, ?, ?, ?, ?, ?)`
)

// packageIDsOf sets ids[i] to the id of keys[i] in installed_packages,
// storing the packages that are new, in the caller's transaction. Ids not
// known to cache are added to found, for the caller to publish once the
// transaction commits.
func packageIDsOf(ctx context.Context, stmts *txStmts, cache *packageIDs, found map[packageKey]int64,
	keys []packageKey, ids []int64) error {
	cache.lookupAll(keys, ids)
	for i, k := range keys {
		if ids[i] != 0 {
			continue
		}
		if id, ok := found[k]; ok {
			ids[i] = id
			continue
		}
		args := []any{k.Name, k.Version, k.Arch, k.SourceName, k.SourceVersion, k.Status}
		var id int64
		err := stmts.queryRow(ctx, findPackageSQL, args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			var res sql.Result
			if res, err = stmts.exec(ctx, insertPackageSQL, args...); err == nil {
				id, err = res.LastInsertId()
			}
		}
		if err != nil {
			return fmt.Errorf("store installed package %q: %w", k.Name, err)
		}
		found[k] = id
		ids[i] = id
	}
	return nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// updateKey is a pending update as pending_updates stores it: the columns
// of its UNIQUE constraint.
type updateKey struct {
	pkg, arch, source, installed, candidate, origin string
	security                                        bool
	advisories                                      string // as stored: a JSON array
}

// idCache keeps the ids of the distinct rows (pending updates, installed
// packages) a writer has stored or found, so that a snapshot's lists are
// written as ids without a look-up each. Such a row is never changed nor
// deleted, so an id once committed stays right; the ids a transaction
// found or made are kept only after it commits (see publish).
type idCache[K comparable] struct {
	mu  sync.Mutex
	ids map[K]int64
}

// updateIDs keeps the ids of pending_updates.
type updateIDs = idCache[updateKey]

// maxCachedIDs bounds the ids kept of each kind: past it the map starts
// again (a fleet with more distinct rows than this at once is looked up
// more).
const maxCachedIDs = 1 << 18

func (c *idCache[K]) get(k K) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[k]
	return id, ok
}

// publish keeps ids that a committed transaction found or made.
func (c *idCache[K]) publish(found map[K]int64) {
	if len(found) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || len(c.ids)+len(found) > maxCachedIDs {
		c.ids = make(map[K]int64, len(found))
	}
	for k, id := range found {
		c.ids[k] = id
	}
}

const (
	findUpdateSQL = `SELECT id FROM pending_updates WHERE package = ? AND arch = ? AND source_package = ?
		AND installed_version = ? AND candidate_version = ? AND origin = ? AND security = ? AND advisories = ?`
	insertUpdateSQL = `INSERT INTO pending_updates (package, arch, source_package, installed_version,
		candidate_version, origin, security, advisories) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
)

// updateID returns the id of k in pending_updates, storing it when it is
// new, in the caller's transaction. Ids not known to cache are added to
// found, for the caller to publish once the transaction commits.
func updateID(ctx context.Context, stmts *txStmts, cache *updateIDs, found map[updateKey]int64, k updateKey) (int64, error) {
	if id, ok := found[k]; ok {
		return id, nil
	}
	if id, ok := cache.get(k); ok {
		return id, nil
	}
	args := []any{k.pkg, k.arch, k.source, k.installed, k.candidate, k.origin, boolInt(k.security), k.advisories}
	var id int64
	err := stmts.queryRow(ctx, findUpdateSQL, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		if res, err = stmts.exec(ctx, insertUpdateSQL, args...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, err
	}
	found[k] = id
	return id, nil
}

// storedUpdate is a row of pending_updates, decoded.
type storedUpdate struct {
	u          patchpilot.Update
	advisories []patchpilot.AdvisoryRef // never nil
	rank       int                      // by package among the updates read together
}

// readUpdates reads the rows of pending_updates with the given ids into
// known, those it lacks, through q (a transaction or a pool).
func readUpdates(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ids []int64, known map[int64]*storedUpdate) error {
	var missing []string
	seen := map[int64]bool{}
	for _, id := range ids {
		if _, ok := known[id]; !ok && !seen[id] {
			seen[id] = true
			missing = append(missing, strconv.FormatInt(id, 10))
		}
	}
	for len(missing) > 0 {
		n := min(len(missing), 10000)
		rows, err := q.QueryContext(ctx, `SELECT id, package, arch, source_package, installed_version,
			candidate_version, origin, security, advisories
			FROM pending_updates WHERE id IN (SELECT value FROM json_each(?))`, "["+strings.Join(missing[:n], ",")+"]")
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				id         int64
				s          storedUpdate
				advisories string
			)
			if err := rows.Scan(&id, &s.u.Package, &s.u.Arch, &s.u.SourcePackage, &s.u.InstalledVersion,
				&s.u.CandidateVersion, &s.u.Origin, &s.u.Security, &advisories); err != nil {
				rows.Close()
				return err
			}
			if s.advisories, err = decodeList[patchpilot.AdvisoryRef](advisories); err != nil {
				rows.Close()
				return err
			}
			if s.advisories == nil {
				s.advisories = []patchpilot.AdvisoryRef{}
			}
			known[id] = &s
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		missing = missing[n:]
	}
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			return fmt.Errorf("pending update %d is missing from pending_updates", id)
		}
	}
	return nil
}

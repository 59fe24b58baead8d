package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps the prepared statements of the queries a rollout runs at
// every host's transition, by their text, so that SQLite parses each once
// per connection rather than at every call (parsing was about a third of
// such a write's CPU). database/sql prepares a statement again on each
// connection it runs on, and a transaction reuses the one prepared on its
// own connection (sql.Tx.StmtContext).
type stmtCache struct {
	mu sync.Mutex
	m  map[*sql.DB]map[string]*sql.Stmt
}

// stmt returns pool's prepared statement of query, preparing it at the
// first call. No lock is held while it prepares: the write pool's one
// connection may be held by a transaction that looks a statement up.
func (db *DB) stmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	if s := db.cachedStmt(pool, query); s != nil {
		return s, nil
	}
	s, err := pool.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept := c.m[pool][query]; kept != nil {
		s.Close()
		return kept, nil
	}
	if c.m == nil {
		c.m = map[*sql.DB]map[string]*sql.Stmt{}
	}
	if c.m[pool] == nil {
		c.m[pool] = map[string]*sql.Stmt{}
	}
	c.m[pool][query] = s
	return s, nil
}

func (db *DB) cachedStmt(pool *sql.DB, query string) *sql.Stmt {
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	return db.stmts.m[pool][query]
}

// txStmt is query's statement in the write transaction tx: the kept one
// (prepareWrites), or one prepared on the transaction's connection. It
// never waits for another connection of the write pool, whose only one
// the transaction holds.
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if s := db.cachedStmt(db.write, query); s != nil {
		return tx.StmtContext(ctx, s), nil
	}
	return tx.PrepareContext(ctx, query)
}

// writeStmts are the statements of a host's transition (its record and
// event), prepared on the write connection when the store opens.
var writeStmts = []string{hostRunStageSQL, updateHostRunSQL, touchRolloutSQL, insertEventSQL, hostRunSQL}

// prepareWrites prepares writeStmts on the write pool.
func (db *DB) prepareWrites(ctx context.Context) error {
	for _, q := range writeStmts {
		if _, err := db.stmt(ctx, db.write, q); err != nil {
			return wrap(err, "prepare the statements of a rollout's writes")
		}
	}
	return nil
}

// closeStmts closes every kept statement.
func (db *DB) closeStmts() error {
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, byQuery := range c.m {
		for _, s := range byQuery {
			errs = append(errs, s.Close())
		}
	}
	c.m = nil
	return errors.Join(errs...)
}

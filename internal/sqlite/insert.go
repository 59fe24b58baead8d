package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// insertChunkRows is how many rows one multi-row INSERT carries. Larger
// chunks mean fewer statement executions; this size keeps the parameter
// count (rows × columns) far below SQLite's limit for any table here.
const insertChunkRows = 100

// bulkInsert inserts rows into table through multi-row INSERT statements,
// preparing the full-chunk statement once. args holds the rows' values one
// row after another, len(columns) values per row.
func bulkInsert(ctx context.Context, tx *sql.Tx, table string, columns []string, args []any) error {
	width := len(columns)
	rows := len(args) / width
	if rows == 0 {
		return nil
	}
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for start := 0; start < rows; start += insertChunkRows {
		n := min(insertChunkRows, rows-start)
		chunk := args[start*width : (start+n)*width]
		if n < insertChunkRows {
			if _, err := tx.ExecContext(ctx, insertSQL(table, columns, n), chunk...); err != nil {
				return err
			}
			continue
		}
		if full == nil {
			var err error
			if full, err = tx.PrepareContext(ctx, insertSQL(table, columns, n)); err != nil {
				return err
			}
		}
		if _, err := full.ExecContext(ctx, chunk...); err != nil {
			return err
		}
	}
	return nil
}

// insertSQL builds "INSERT INTO table (columns) VALUES (?, ...), ..." for n rows.
func insertSQL(table string, columns []string, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// txStmts prepares each statement text once per transaction, so that a
// transaction writing many hosts' snapshots compiles its INSERTs once
// rather than once a host.
type txStmts struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	bulk  map[bulkKey]string // the INSERT text of a table's chunk of n rows
}

type bulkKey struct {
	table string
	n     int
}

func newTxStmts(tx *sql.Tx) *txStmts {
	return &txStmts{tx: tx, stmts: map[string]*sql.Stmt{}, bulk: map[bulkKey]string{}}
}

// stmt returns the prepared statement of query, preparing it on first use.
func (c *txStmts) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

func (c *txStmts) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// queryRow is QueryRowContext on the cached statement; a failure to
// prepare it comes back from the row's Scan.
func (c *txStmts) queryRow(ctx context.Context, query string, args ...any) scanner {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// bulkInsert is bulkInsert through the cache: the statement of each chunk
// size is prepared once per transaction.
func (c *txStmts) bulkInsert(ctx context.Context, table string, columns []string, args []any) error {
	width := len(columns)
	rows := len(args) / width
	for start := 0; start < rows; start += insertChunkRows {
		n := min(insertChunkRows, rows-start)
		q, ok := c.bulk[bulkKey{table, n}]
		if !ok {
			q = insertSQL(table, columns, n)
			c.bulk[bulkKey{table, n}] = q
		}
		if _, err := c.exec(ctx, q, args[start*width:(start+n)*width]...); err != nil {
			return err
		}
	}
	return nil
}

// close closes every statement prepared; the transaction's end would too.
func (c *txStmts) close() {
	for _, s := range c.stmts {
		s.Close()
	}
}

// errRow is a row whose Scan returns err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

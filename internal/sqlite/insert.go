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

package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// migrationFiles holds the schema, one file per version; see the package
// documentation for how to add one.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema version.
type migration struct {
	version int
	name    string // file name, recorded for people reading the table
	sql     string
}

// loadMigrations reads the embedded migrations in version order. It checks
// that versions start at 1 and have no gaps or duplicates, so that a
// misnamed file fails every test rather than a user's upgrade.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || len(prefix) != 4 || version < 1 {
			return nil, fmt.Errorf("migration %s: want a name like 0001_description.sql", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: base, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %04d (versions start at 1 and have no gaps)", m.name, i+1)
		}
	}
	return out, nil
}

// createMigrationsTable records which versions a database has applied.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
) STRICT`

// migrate applies the embedded migrations that the database lacks.
func (db *DB) migrate(ctx context.Context) error {
	migrations, err := loadMigrations(migrationFiles)
	if err != nil {
		return wrap(err, "load migrations")
	}
	return db.applyMigrations(ctx, migrations)
}

// applyMigrations brings the database to the last of migrations, each in
// its own transaction. It is safe against another process migrating the same
// file at the same time: each transaction takes the write lock first and then
// checks again whether its version is still missing.
func (db *DB) applyMigrations(ctx context.Context, migrations []migration) error {
	if err := db.checkIsPatchpilot(ctx, db.write); err != nil {
		return err
	}
	if _, err := db.write.ExecContext(ctx, createMigrationsTable); err != nil {
		return unavailable(db.path, fmt.Errorf("create schema_migrations: %w", err))
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}
	if err := db.checkNotNewer(applied, len(migrations)); err != nil {
		return err
	}
	rewrote := false
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		if err := db.applyMigration(ctx, m); err != nil {
			return err
		}
		// A migration that drops a table has moved its rows elsewhere
		// (or let them go): its pages are free.
		rewrote = rewrote || strings.Contains(strings.ToUpper(m.sql), "DROP TABLE")
	}
	if rewrote {
		return db.compactAfterMigration(ctx)
	}
	return nil
}

// checkNotNewer refuses a database that records a schema version this
// binary does not know: a newer patchpilot wrote it.
func (db *DB) checkNotNewer(applied map[int]bool, known int) error {
	for v := range applied {
		if v > known || v < 1 {
			return &patchpilot.Error{
				Code: patchpilot.EUNAVAILABLE,
				Message: fmt.Sprintf("database %s has schema version %d, newer than this patchpilot knows (%d)",
					db.path, v, known),
				Hint: "upgrade patchpilot, or open a different database",
			}
		}
	}
	return nil
}

// checkIsPatchpilot refuses a database that holds tables but no
// schema_migrations: some other program's database, which migrating would
// mix patchpilot's tables into. An empty database is fine; patchpilot
// creates schema_migrations before any other table, so every database it
// ever touched has one.
func (db *DB) checkIsPatchpilot(ctx context.Context, pool *sql.DB) error {
	rows, err := pool.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return unavailable(db.path, err)
	}
	defer rows.Close()
	var others []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return unavailable(db.path, err)
		}
		if name == "schema_migrations" {
			return nil
		}
		others = append(others, name)
	}
	if err := rows.Err(); err != nil {
		return unavailable(db.path, err)
	}
	if len(others) == 0 {
		return nil
	}
	shown := others
	if len(shown) > 5 {
		shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(others)-5))
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s is not a patchpilot database: it holds other tables (%s) and no patchpilot schema",
		db.path, strings.Join(shown, ", ")).
		WithHint("pass the path of a patchpilot database with --db, or a new file name to create one")
}

// appliedVersions returns the versions recorded in schema_migrations.
func (db *DB) appliedVersions(ctx context.Context) (map[int]bool, error) {
	rows, err := db.write.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, wrap(err, "read schema_migrations of %s", db.path)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, wrap(err, "read schema_migrations of %s", db.path)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read schema_migrations of %s", db.path)
	}
	return applied, nil
}

// applyMigration runs one migration and records it, atomically.
func (db *DB) applyMigration(ctx context.Context, m migration) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n)
		if err != nil || n > 0 {
			return err // n > 0: another process applied it meanwhile
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, formatTime(db.now()))
		return err
	}, "apply migration %s to %s", m.name, db.path)
}

// inTx runs fn in a write transaction and commits it, or rolls it back when
// fn fails. The write pool's transactions begin IMMEDIATE.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error, format string, args ...any) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err, format, args...)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the transaction failed already; fn's error says why
		return wrap(err, format, args...)
	}
	if err := tx.Commit(); err != nil {
		return wrap(err, format, args...)
	}
	return nil
}

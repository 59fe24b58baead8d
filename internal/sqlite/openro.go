package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/patchpilot/patchpilot"
)

// MissingDirIsEmpty makes OpenReadOnly treat a database whose folder does not
// exist as an empty store instead of an error. The CLI uses it for the
// default path, whose folder is only created by the first command that
// stores something; a folder named explicitly (--db) that does not exist is
// more likely a typo, and stays an error.
func MissingDirIsEmpty() Option {
	return func(db *DB) { db.missingDirIsEmpty = true }
}

// OpenReadOnly opens the database at path for reading only, for commands
// that only show what is stored. It never creates, migrates or checkpoints
// the file, so it works on a database the user may read but not write (a
// file of mode 0444 owned by someone else, a read-only directory). Every
// write through the returned DB fails with EUNAVAILABLE.
//
// A path whose file does not exist yields an empty store held in memory, as
// a fresh database would show, without creating anything on disk. A path
// whose folder does not exist is an ENOTFOUND error naming the folder,
// unless MissingDirIsEmpty is given.
func OpenReadOnly(ctx context.Context, path string, opts ...Option) (*DB, error) {
	if path == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "open database: empty path").
			WithHint("pass the path of an SQLite database file")
	}
	db := &DB{path: path, now: time.Now, readOnly: true}
	for _, opt := range opts {
		opt(db)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) && !db.missingDirIsEmpty {
		return nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "database folder %s does not exist", dir).
			WithHint("check the --db path; a command that stores data (inventory collect, history import) creates the folder")
	}
	if err := notADirectory(path); err != nil {
		return nil, err
	}
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return openEmpty(ctx, db)
	}
	if err != nil {
		return nil, unavailable(path, err)
	}
	// Reading a WAL database goes through its -wal and -shm files, which
	// SQLite creates beside it when they are missing, owned by whoever
	// reads, and which a read-only connection cannot remove again. Created
	// by another user than the owner, they would stop the owner's
	// patchpilot from writing its own database; in a folder the reader
	// cannot write, they cannot be created at all. Without a -wal file the
	// main file alone is the whole database (patchpilot's writer removes
	// the -wal file when it closes and keeps it while open), so it is read
	// as immutable, creating nothing. A -wal file holds commits the main
	// file may lack, which an immutable read would skip, so with one the
	// read goes through it, with SQLite's locks, as usual.
	_, werr := os.Stat(path + "-wal")
	hasWAL := werr == nil
	if err := db.openReadPools(ctx, !hasWAL); err != nil {
		if hasWAL && isCantOpen(err) {
			return nil, unavailable(path, fmt.Errorf("%w (its -wal file holds recent writes, and no -shm file exists or can be created beside it to read them)", err))
		}
		return nil, err
	}
	if err := db.checkSchemaReadOnly(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openReadPools opens both pools on the file with read-only connections.
// The write pool is read-only as well, so that a write from a command that
// should not write fails instead of reaching the file.
func (db *DB) openReadPools(ctx context.Context, immutable bool) error {
	var err error
	if db.write, err = sql.Open("sqlite", roDSN(db.path, immutable)); err != nil {
		return unavailable(db.path, err)
	}
	db.write.SetMaxOpenConns(1)
	if db.read, err = sql.Open("sqlite", roDSN(db.path, immutable)); err != nil {
		db.write.Close()
		return unavailable(db.path, err)
	}
	db.read.SetMaxOpenConns(DefaultReadConns)
	db.read.SetMaxIdleConns(DefaultReadConns)
	// Reading the schema is the first access to the file: it is where a
	// missing -shm file or a file that is not a database shows up.
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		db.Close()
		db.read, db.write = nil, nil
		return unavailable(db.path, err)
	}
	return nil
}

// roDSN is the connection string of a read-only connection: mode=ro so that
// SQLite opens the file without write access and never checkpoints it, and
// immutable=1 when the file must be read without its -shm file.
func roDSN(path string, immutable bool) string {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", DefaultBusyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// isCantOpen reports SQLite's "unable to open database file".
func isCantOpen(err error) bool {
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_CANTOPEN
}

// checkSchemaReadOnly accepts a database whose schema is exactly this
// binary's. It cannot migrate an older one, so it says which command will.
func (db *DB) checkSchemaReadOnly(ctx context.Context) error {
	if err := db.checkIsPatchpilot(ctx, db.read); err != nil {
		return err
	}
	// A file without any table (zero bytes, as touch or a first run that
	// died before migrating leaves it) has nothing stored yet, just like a
	// missing file; checkIsPatchpilot has already refused one with other
	// tables, so no schema_migrations here means no table at all.
	var tables int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return unavailable(db.path, err)
	}
	if tables == 0 {
		return db.serveEmpty(ctx)
	}
	migrations, err := loadMigrations(migrationFiles)
	if err != nil {
		return wrap(err, "load migrations")
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}
	if err := db.checkNotNewer(applied, len(migrations)); err != nil {
		return err
	}
	if len(applied) == 0 {
		// An empty schema_migrations: nothing stored yet.
		return db.serveEmpty(ctx)
	}
	if len(applied) < len(migrations) {
		return &patchpilot.Error{
			Code: patchpilot.EUNAVAILABLE,
			Message: fmt.Sprintf("database %s has schema version %d, older than this patchpilot's (%d), and this command only reads",
				db.path, len(applied), len(migrations)),
			Hint: "run a command that stores data (inventory collect, history import) as a user who may write the database; it upgrades the schema",
		}
	}
	return nil
}

// serveEmpty closes db's connections to the file and serves the empty
// schema from memory instead, as for a missing file.
func (db *DB) serveEmpty(ctx context.Context) error {
	db.Close()
	db.read, db.write = nil, nil
	_, err := openEmpty(ctx, db)
	return err
}

// openEmpty gives db an empty, up-to-date schema in memory: what a reading
// command shows when there is no database yet, without creating one. The
// memdb name is random so that two stores in one process never share it.
func openEmpty(ctx context.Context, db *DB) (*DB, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, unavailable(db.path, err)
	}
	name := "file:/patchpilot-empty-" + hex.EncodeToString(b[:]) + "?vfs=memdb&_pragma=foreign_keys(1)"
	var err error
	if db.write, err = sql.Open("sqlite", name); err != nil {
		return nil, unavailable(db.path, err)
	}
	// The memory database lives as long as one connection to it is open:
	// the write pool keeps its one connection for the life of the DB.
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxIdleTime(0)
	db.write.SetConnMaxLifetime(0)
	if err := db.migrate(ctx); err != nil {
		db.write.Close()
		return nil, err
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA query_only(1)`); err != nil {
		db.write.Close()
		return nil, unavailable(db.path, err)
	}
	if db.read, err = sql.Open("sqlite", name+"&_pragma=query_only(1)"); err != nil {
		db.write.Close()
		return nil, unavailable(db.path, err)
	}
	db.read.SetMaxOpenConns(DefaultReadConns)
	return db, nil
}

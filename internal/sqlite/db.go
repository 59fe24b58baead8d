package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	// The driver registers itself as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/patchpilot/patchpilot"
)

// Defaults for the connection pools and the lock wait.
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another process (another patchpilot, a backup) before failing.
	DefaultBusyTimeout = 10 * time.Second
	// DefaultReadConns is the size of the read pool. Readers do not block
	// each other in WAL mode; a few are enough for a controller and its API.
	DefaultReadConns = 4
	// dirMode is the mode of a database directory that Open creates: the
	// database describes the fleet and is nobody else's business.
	dirMode = 0o700
	// synchronousMode is FULL rather than WAL's usual NORMAL: patchpilot
	// writes state before acting on hosts, and a commit that a power loss
	// could undo would break that promise.
	synchronousMode = "FULL"
	// writeCacheKiB is the page cache of the write connection, in KiB.
	writeCacheKiB = 32 << 10
)

// DB is a patchpilot.Store on one SQLite database file. It is safe for
// concurrent use.
type DB struct {
	path  string
	write *sql.DB // one connection: SQLite has one writer at a time
	read  *sql.DB // read-only connections
	now   func() time.Time

	readOnly          bool      // opened by OpenReadOnly
	noSync            bool      // see WithNoSync
	missingDirIsEmpty bool      // see MissingDirIsEmpty
	notices           io.Writer // see WithNotices

	stmts      stmtCache  // prepared statements of the hottest queries
	updateIDs  updateIDs  // ids of distinct pending updates (pending_updates)
	packageIDs packageIDs // ids of distinct installed packages (installed_packages)
}

var _ patchpilot.Store = (*DB)(nil)

// Option configures a DB at Open.
type Option func(*DB)

// WithClock sets the clock that stamps events and host rows; tests use it to
// fix time. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(db *DB) { db.now = now }
}

// WithNotices sets where Open says what it does that takes a while and
// that a person waiting on it should know of: compacting the file after a
// migration freed most of it (see compactAfterMigration). The default says
// nothing.
func WithNotices(w io.Writer) Option {
	return func(db *DB) { db.notices = w }
}

// WithNoSync makes commits return without waiting for the disk
// (synchronous=OFF): a crash of the machine may lose or corrupt the last
// commits. It is for data that can be made again, such as the seeded
// stores of benchmarks, never for a fleet's database.
func WithNoSync() Option {
	return func(db *DB) { db.noSync = true }
}

// Open opens the database at path, creating the file and its parent
// directory when missing, and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	if path == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "open database: empty path").
			WithHint("pass the path of an SQLite database file")
	}
	db := &DB{path: path, now: time.Now}
	for _, opt := range opts {
		opt(db)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, unavailable(path, fmt.Errorf("create directory: %w", err))
		}
	}
	if err := notADirectory(path); err != nil {
		return nil, err
	}
	// Look at an existing file before the write connection touches it:
	// that connection switches the file to WAL, which is already a write
	// into another program's database.
	if err := checkWritable(path); err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if err := probeIsPatchpilot(ctx, db); err != nil {
			return nil, err
		}
	}
	var err error
	if db.write, err = sql.Open("sqlite", db.dsn(false)); err != nil {
		return nil, unavailable(path, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxIdleTime(0)
	db.write.SetConnMaxLifetime(0)
	// The first connection creates the file and switches it to WAL, which
	// must happen before a read-only connection opens it.
	if err := db.write.PingContext(ctx); err != nil {
		db.write.Close()
		return nil, unavailable(path, err)
	}
	if db.read, err = sql.Open("sqlite", db.dsn(true)); err != nil {
		db.write.Close()
		return nil, unavailable(path, err)
	}
	db.read.SetMaxOpenConns(DefaultReadConns)
	db.read.SetMaxIdleConns(DefaultReadConns)
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.prepareWrites(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkWritable refuses, before SQLite touches anything, a database file
// or folder that this user may not write. SQLite would open such a file
// read-only, leave -wal and -shm files owned by this user beside it (which
// then stop the owner from writing), and fail only at the first write.
func checkWritable(path string) error {
	const wOK = 2 // access(2)'s W_OK
	for _, p := range []string{path, filepath.Dir(path)} {
		err := syscall.Access(p, wOK)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return &patchpilot.Error{
			Code:    patchpilot.EUNAVAILABLE,
			Message: fmt.Sprintf("open database %s to store data: %s is not writable by this user", path, p),
			Hint:    "run this command as a user who may write the database, or choose another with --db; commands that only read (hosts, updates, history, assess, rollout status) work on a read-only database",
			Err:     err,
		}
	}
	return nil
}

// notADirectory refuses a database path that names a directory, which
// SQLite would report as a bare "disk I/O error": the likely mistake is a
// --db naming the folder instead of the file in it.
func notADirectory(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "database path %s is a directory", path).
			WithHint(fmt.Sprintf("name the database file, e.g. --db %s", filepath.Join(path, "patchpilot.db")))
	}
	return nil
}

// probeIsPatchpilot runs checkIsPatchpilot on a read-only connection of its
// own, immutable when there is no -wal file for the reasons OpenReadOnly
// gives.
func probeIsPatchpilot(ctx context.Context, db *DB) error {
	_, werr := os.Stat(db.path + "-wal")
	probe, err := sql.Open("sqlite", roDSN(db.path, werr != nil))
	if err != nil {
		return unavailable(db.path, err)
	}
	defer probe.Close()
	return db.checkIsPatchpilot(ctx, probe)
}

// dsn builds the driver's connection string. The path goes into a file: URI
// with its special characters escaped, so that a '?' or '#' in a directory
// name cannot be read as parameters. Parameters starting with '_' are the
// driver's own; SQLite ignores them.
func dsn(path string, readOnly bool) string {
	return dsnSync(path, readOnly, synchronousMode)
}

// dsn is the connection string of the DB's file with its options.
func (db *DB) dsn(readOnly bool) string {
	if db.noSync {
		return dsnSync(db.path, readOnly, "OFF")
	}
	return dsn(db.path, readOnly)
}

// dsnSync is dsn with the given synchronous mode.
func dsnSync(path string, readOnly bool, synchronous string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", DefaultBusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// The one writer keeps the pages it writes most (the ends of
		// the package indexes, where each new snapshot's rows go) in a
		// cache of its own rather than reading them again at each
		// transaction, and its statement and savepoint journals in
		// memory rather than in temporary files: both are bounded by
		// one transaction's size, not by the store's.
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writeCacheKiB))
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// unavailable reports a database that cannot be opened or used.
func unavailable(path string, err error) error {
	hint := "check that the path is an SQLite database in a writable directory, or choose another with --db"
	if isCorrupt(err) {
		hint = corruptHint
	}
	return &patchpilot.Error{
		Code:    patchpilot.EUNAVAILABLE,
		Message: "open database " + path,
		Hint:    hint,
		Err:     err,
	}
}

// Path returns the path the database was opened with.
func (db *DB) Path() string { return db.path }

// Close closes both connection pools.
func (db *DB) Close() error {
	errs := []error{db.closeStmts()}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	// A memory store (see openEmpty) is gone once its write connection
	// closes, so the read pool closes first.
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return wrap(err, "close database %s", db.path)
	}
	return nil
}

package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// compactAfterMigration compacts the file (VACUUM) after migrations that
// rewrote tables, when their free pages are most of it: SQLite keeps a
// freed page for reuse rather than give it back, so a store whose tables
// were rewritten stays as large as before, its pages scattered. It goes
// ahead only when the disk has room for the compacted copy twice (the copy
// is built in a temporary file, stored on disk for this statement so that
// it does not take the file's size in memory, and written back through the
// WAL), and says what it does on the notices (WithNotices). A compaction
// that fails leaves the file as it was: that is said, and the store is
// used as it is.
func (db *DB) compactAfterMigration(ctx context.Context) error {
	var pageSize, pages, free int64
	for _, p := range []struct {
		name string
		v    *int64
	}{{"page_size", &pageSize}, {"page_count", &pages}, {"freelist_count", &free}} {
		if err := db.write.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(p.v); err != nil {
			return wrap(err, "compact %s: %s", db.path, p.name)
		}
	}
	if free*2 <= pages {
		return nil
	}
	used, size := (pages-free)*pageSize, pages*pageSize
	name := filepath.Base(db.path)
	if room, ok := diskFree(filepath.Dir(db.path)); !ok || room < 2*used {
		db.notice("%s: the migration left %s of its %s free; not compacted, as the disk has %s free and compacting needs about %s: "+
			"run 'sqlite3 %s VACUUM' when it has room", name, mib(free*pageSize), mib(size), roomText(room, ok), mib(2*used), db.path)
		return nil
	}
	db.notice("%s: the migration left %s of its %s free; compacting it (VACUUM, about %s written)", name, mib(free*pageSize), mib(size), mib(2*used))
	start := time.Now()
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return wrap(err, "compact %s", db.path)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = FILE"); err != nil {
		return wrap(err, "compact %s", db.path)
	}
	_, verr := conn.ExecContext(ctx, "VACUUM")
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		return wrap(err, "compact %s", db.path)
	}
	if verr != nil {
		db.notice("%s: not compacted, it stays as it was: %v", name, verr)
		return nil
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return wrap(err, "compact %s", db.path)
	}
	var after int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&after); err != nil {
		return wrap(err, "compact %s", db.path)
	}
	db.notice("%s: compacted from %s to %s in %s", name, mib(size), mib(after*pageSize), time.Since(start).Round(time.Millisecond))
	return nil
}

// notice says what Open does on the notices, if any.
func (db *DB) notice(format string, args ...any) {
	if db.notices != nil {
		fmt.Fprintf(db.notices, format+"\n", args...)
	}
}

// mib is a size in MiB, as notices give it.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func roomText(room int64, ok bool) string {
	if !ok {
		return "an unknown amount"
	}
	return mib(room)
}

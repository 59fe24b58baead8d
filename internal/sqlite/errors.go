package sqlite

import (
	"context"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/patchpilot/patchpilot"
)

// wrap classifies a driver error and adds what was being done. A canceled or
// expired context keeps its meaning (ECANCELED, ETIMEOUT); a lock that could
// not be had within the busy timeout is EUNAVAILABLE, and so is a damaged
// file (with how to restore it); anything else is EINTERNAL. An error that is already a *patchpilot.Error keeps its code.
// The cause goes in Err and not in Message, so that Error() names it once.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var perr *patchpilot.Error
	switch {
	case errors.As(err, &perr) && perr.Code == patchpilot.ENOTFOUND:
		// "rollout "x" not found" says all: "read rollout "x": " before
		// it would only repeat it.
		return err
	case errors.As(err, &perr):
		return &patchpilot.Error{Code: perr.Code, Message: what, Hint: perr.Hint, Err: err}
	case errors.Is(err, context.Canceled):
		return &patchpilot.Error{Code: patchpilot.ECANCELED, Message: what, Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &patchpilot.Error{Code: patchpilot.ETIMEOUT, Message: what, Err: err}
	case isBusy(err):
		return &patchpilot.Error{Code: patchpilot.EUNAVAILABLE, Message: what, Err: err,
			Hint: "another process holds the database lock; retry when it is done"}
	case isReadOnly(err):
		return &patchpilot.Error{Code: patchpilot.EUNAVAILABLE, Message: what, Err: err,
			Hint: "the database was opened for reading only, or its file or folder is not writable by this user"}
	case isCorrupt(err):
		return &patchpilot.Error{Code: patchpilot.EUNAVAILABLE, Message: what, Err: err, Hint: corruptHint}
	}
	return &patchpilot.Error{Code: patchpilot.EINTERNAL, Message: what, Err: err}
}

// corruptHint is what to do about a damaged database file.
const corruptHint = "the database file is damaged: restore it from a backup, or recover what SQLite can into a new file " +
	"with 'sqlite3 FILE .recover | sqlite3 NEW.db' and use --db NEW.db"

// isCorrupt reports whether err is SQLite's "database disk image is
// malformed": the file is a database, but damaged.
func isCorrupt(err error) bool {
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_CORRUPT
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var serr *sqlite.Error
	if !errors.As(err, &serr) {
		return false
	}
	code := serr.Code() & 0xff // the primary code, without the extended bits
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// isReadOnly reports whether err is SQLite's "attempt to write a readonly
// database".
func isReadOnly(err error) bool {
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_READONLY
}

// notFound reports a host that the store does not know.
func notFound(host string) error {
	return patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q not found", host).
		WithHint("add the host to the inventory first")
}

// invalid reports bad input.
func invalid(format string, args ...any) error {
	return patchpilot.Errorf(patchpilot.EINVALID, format, args...)
}

// Package sqlite implements patchpilot.Store on an SQLite database file with
// the pure-Go driver modernc.org/sqlite, so the binary needs no C toolchain
// and no database server.
//
// # Connections
//
// Open keeps two pools on the same file. Writes go through a pool of exactly
// one connection: SQLite allows one writer at a time, and queueing writers in
// Go is fair and cheap where SQLite's busy handler would make them sleep and
// retry. Every write transaction starts with BEGIN IMMEDIATE, so it takes the
// write lock up front and never fails half-way with SQLITE_BUSY when another
// process holds the file; the busy timeout (DefaultBusyTimeout) bounds that
// wait. Reads go through a pool of several read-only connections, which WAL
// mode lets run alongside the writer.
//
// # Read-only use
//
// OpenReadOnly serves commands that only read: every connection is opened
// with mode=ro, nothing is migrated or checkpointed, and a database without
// a -wal file is read as immutable so that no -wal or -shm file is created
// beside a database the reader does not own or in a folder it cannot write.
// A database with the schema of an older patchpilot is refused there,
// because upgrading it is a write. Open, for commands that store data,
// refuses a file or folder the user may not write before SQLite touches it.
// Both refuse a database that holds tables but no schema_migrations: another
// program's, which must never be migrated into.
//
// # Migrations
//
// The schema is a sequence of SQL files embedded from migrations/, named
// NNNN_description.sql with a four-digit version that increases by one per
// file (0001_init.sql, 0002_rollouts.sql, ...). Open applies the files whose
// version is not yet recorded in the schema_migrations table, in version
// order, each in its own transaction together with the row that records it,
// so a migration is applied entirely or not at all and never twice.
//
// To change the schema, add a new file with the next version; never edit a
// file that has been released, because databases that already applied it
// will not run it again. A migration runs with foreign keys enforced and
// inside a transaction, where PRAGMA foreign_keys cannot be changed, so a
// table rebuild must copy rows in an order that keeps references valid.
// Follow the conventions stated at the top of 0001_init.sql (UTC fixed-width
// time text, 0/1 booleans, JSON lists, STRICT tables).
//
// A database that records a version this binary does not know was written by
// a newer patchpilot; Open refuses it rather than guess at its schema.
package sqlite

-- 0001: hosts, fact snapshots with their package and update lists,
-- advisories and the append-only event log.
--
-- Conventions for every table in this database:
--   * times are TEXT in UTC, fixed width, "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ",
--     so that comparing the text compares the instants;
--   * booleans are INTEGER 0 or 1;
--   * lists and maps are JSON text, never NULL ('[]' or '{}' when empty),
--     except events.data which is NULL when the event carries none;
--   * tables are STRICT so that a wrongly typed value fails loudly.

CREATE TABLE hosts (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    address    TEXT    NOT NULL DEFAULT '',
    port       INTEGER NOT NULL DEFAULT 0,
    user       TEXT    NOT NULL DEFAULT '',
    key_file   TEXT    NOT NULL DEFAULT '',
    become     INTEGER NOT NULL DEFAULT 0 CHECK (become IN (0, 1)),
    jump_host  TEXT    NOT NULL DEFAULT '',
    groups     TEXT    NOT NULL DEFAULT '[]',
    labels     TEXT    NOT NULL DEFAULT '{}',
    source     TEXT    NOT NULL DEFAULT '',
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
) STRICT;

-- One row per collection of a host's facts. Snapshots are history: they are
-- never updated, and a host's current state is its snapshot with the
-- greatest (collected_at, id). AUTOINCREMENT keeps ids from being reused, so
-- that id order is insertion order even after old snapshots are pruned.
CREATE TABLE fact_snapshots (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id               INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    collected_at          TEXT    NOT NULL,
    source                TEXT    NOT NULL DEFAULT '',
    hostname              TEXT    NOT NULL DEFAULT '',
    os_family             TEXT    NOT NULL DEFAULT '',
    os_name               TEXT    NOT NULL DEFAULT '',
    os_version            TEXT    NOT NULL DEFAULT '',
    os_pretty             TEXT    NOT NULL DEFAULT '',
    os_codename           TEXT    NOT NULL DEFAULT '',
    kernel                TEXT    NOT NULL DEFAULT '',
    arch                  TEXT    NOT NULL DEFAULT '',
    boot_id               TEXT    NOT NULL DEFAULT '',
    services              TEXT    NOT NULL DEFAULT '[]',
    needs_restart         TEXT    NOT NULL DEFAULT '[]',
    reboot_required       INTEGER NOT NULL DEFAULT 0 CHECK (reboot_required IN (0, 1)),
    reboot_packages       TEXT    NOT NULL DEFAULT '[]',
    packages_known        INTEGER NOT NULL DEFAULT 0 CHECK (packages_known IN (0, 1)),
    updates_known         INTEGER NOT NULL DEFAULT 0 CHECK (updates_known IN (0, 1)),
    package_count         INTEGER NOT NULL DEFAULT 0,
    update_count          INTEGER NOT NULL DEFAULT 0,
    security_update_count INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Finds a host's latest snapshot with one index probe, and serves the
-- newest-first history listing.
CREATE INDEX fact_snapshots_host_latest ON fact_snapshots (host_id, collected_at DESC, id DESC);

-- The installed packages of a snapshot. seq is the position in the list as
-- collected, so that a snapshot reads back exactly as it was saved (a host
-- may have several versions of one package, such as kernels). Rows are
-- clustered by snapshot, which is how they are always read.
CREATE TABLE snapshot_packages (
    snapshot_id    INTEGER NOT NULL REFERENCES fact_snapshots (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    version        TEXT    NOT NULL DEFAULT '',
    arch           TEXT    NOT NULL DEFAULT '',
    source_name    TEXT    NOT NULL DEFAULT '',
    source_version TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (snapshot_id, seq)
) STRICT, WITHOUT ROWID;

-- The pending updates of a snapshot, in collected order (see seq above).
-- advisories is a JSON array of the advisories the package manager named.
CREATE TABLE snapshot_updates (
    snapshot_id       INTEGER NOT NULL REFERENCES fact_snapshots (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    package           TEXT    NOT NULL,
    arch              TEXT    NOT NULL DEFAULT '',
    source_package    TEXT    NOT NULL DEFAULT '',
    installed_version TEXT    NOT NULL DEFAULT '',
    candidate_version TEXT    NOT NULL DEFAULT '',
    origin            TEXT    NOT NULL DEFAULT '',
    security          INTEGER NOT NULL DEFAULT 0 CHECK (security IN (0, 1)),
    advisories        TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (snapshot_id, seq)
) STRICT, WITHOUT ROWID;

-- Imported advisories. record holds the whole advisory as JSON, which is
-- what is read back; the other columns are there to query and to read
-- the table by hand.
CREATE TABLE advisories (
    id          TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
    aliases     TEXT NOT NULL DEFAULT '[]',
    summary     TEXT NOT NULL DEFAULT '',
    published   TEXT NOT NULL,
    modified    TEXT NOT NULL,
    severity    TEXT NOT NULL DEFAULT '',
    cvss        REAL NOT NULL DEFAULT 0,
    cvss_vector TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT '',
    record      TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Which packages in which ecosystems an advisory names: the lookup table
-- for matching pending updates against advisories.
CREATE TABLE advisory_packages (
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, name)
) STRICT, WITHOUT ROWID;

CREATE INDEX advisory_packages_lookup ON advisory_packages (ecosystem, name);

-- The append-only event log. host and rollout are names, not foreign keys:
-- the log must keep what happened even to hosts that are later removed.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    TEXT NOT NULL,
    actor   TEXT NOT NULL DEFAULT '',
    kind    TEXT NOT NULL CHECK (kind <> ''),
    host    TEXT NOT NULL DEFAULT '',
    rollout TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    data    TEXT
) STRICT;

CREATE INDEX events_host ON events (host, id);
CREATE INDEX events_rollout ON events (rollout, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_time ON events (time);

-- The audit trail must not be rewritten, whoever holds the database.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- 0021: each distinct pending update stored once. A fleet waits for few
-- distinct updates (package, arch, source package, installed and candidate
-- version, origin, security, advisories) and has very many (snapshot,
-- update) pairs: pending_updates holds each distinct update once, with an
-- id, and snapshot_update_refs the updates of each snapshot, in collected
-- order, by id. Reading a fleet's updates then steps narrow rows of
-- integers and decodes each distinct update once. A row of pending_updates
-- is never changed nor deleted (its id may be kept by a writer between
-- transactions); one no snapshot refers to any more costs a row.
CREATE TABLE pending_updates (
    id                INTEGER PRIMARY KEY,
    package           TEXT    NOT NULL,
    arch              TEXT    NOT NULL DEFAULT '',
    source_package    TEXT    NOT NULL DEFAULT '',
    installed_version TEXT    NOT NULL DEFAULT '',
    candidate_version TEXT    NOT NULL DEFAULT '',
    origin            TEXT    NOT NULL DEFAULT '',
    security          INTEGER NOT NULL DEFAULT 0 CHECK (security IN (0, 1)),
    advisories        TEXT    NOT NULL DEFAULT '[]',
    UNIQUE (package, arch, source_package, installed_version, candidate_version, origin, security, advisories)
) STRICT;

INSERT INTO pending_updates (package, arch, source_package, installed_version, candidate_version,
        origin, security, advisories)
    SELECT DISTINCT package, arch, source_package, installed_version, candidate_version,
        origin, security, advisories
    FROM snapshot_updates ORDER BY package, candidate_version;

-- The updates of a snapshot in collected order (seq, as before).
CREATE TABLE snapshot_update_refs (
    snapshot_id INTEGER NOT NULL REFERENCES fact_snapshots (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    update_id   INTEGER NOT NULL REFERENCES pending_updates (id),
    PRIMARY KEY (snapshot_id, seq)
) STRICT, WITHOUT ROWID;

INSERT INTO snapshot_update_refs (snapshot_id, seq, update_id)
    SELECT u.snapshot_id, u.seq, p.id
    FROM snapshot_updates u
    JOIN pending_updates p ON p.package = u.package AND p.arch = u.arch
        AND p.source_package = u.source_package AND p.installed_version = u.installed_version
        AND p.candidate_version = u.candidate_version AND p.origin = u.origin
        AND p.security = u.security AND p.advisories = u.advisories
    ORDER BY u.snapshot_id, u.seq;

-- The old table goes with its indexes (snapshot_updates_package of 0008,
-- snapshot_updates_source of 0009). Their readers, one package's updates
-- across the fleet, find the package's distinct updates by name or source
-- package and then the snapshots that refer to them.
DROP TABLE snapshot_updates;

CREATE INDEX snapshot_update_refs_update ON snapshot_update_refs (update_id);
CREATE INDEX pending_updates_source ON pending_updates (source_package);

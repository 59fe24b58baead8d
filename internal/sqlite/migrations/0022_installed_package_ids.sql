-- 0022: each distinct installed package stored once. A fleet has few
-- distinct installed packages (name, version, arch, source package and
-- version, status) and very many (snapshot, package) pairs, about 300 a
-- host: installed_packages holds each distinct package once, with an id,
-- and snapshot_package_refs the packages of each snapshot, in collected
-- order, by id. A snapshot's packages are then narrow rows of integers,
-- and reading a package across the fleet finds its few distinct rows
-- first and decodes each once. A row of installed_packages is never
-- changed nor deleted (its id may be kept by a writer between
-- transactions); one no snapshot refers to any more costs a row.
CREATE TABLE installed_packages (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    version        TEXT    NOT NULL DEFAULT '',
    arch           TEXT    NOT NULL DEFAULT '',
    source_name    TEXT    NOT NULL DEFAULT '',
    source_version TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT '',
    UNIQUE (name, version, arch, source_name, source_version, status)
) STRICT;

-- Through the UNIQUE index, one probe a row: no sort of every row.
INSERT OR IGNORE INTO installed_packages (name, version, arch, source_name, source_version, status)
    SELECT name, version, arch, source_name, source_version, status FROM snapshot_packages;

-- The packages of a snapshot in collected order (seq, as before).
CREATE TABLE snapshot_package_refs (
    snapshot_id INTEGER NOT NULL REFERENCES fact_snapshots (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    package_id  INTEGER NOT NULL REFERENCES installed_packages (id),
    PRIMARY KEY (snapshot_id, seq)
) STRICT, WITHOUT ROWID;

-- The index goes first: its entries are made as the rows are copied,
-- rather than sorted all at once (a store of 100,000 hosts has some 30
-- million references, and the sort would hold them all in memory).
CREATE INDEX snapshot_package_refs_package ON snapshot_package_refs (package_id);

INSERT INTO snapshot_package_refs (snapshot_id, seq, package_id)
    SELECT p.snapshot_id, p.seq, i.id
    FROM snapshot_packages p
    JOIN installed_packages i ON i.name = p.name AND i.version = p.version AND i.arch = p.arch
        AND i.source_name = p.source_name AND i.source_version = p.source_version AND i.status = p.status
    ORDER BY p.snapshot_id, p.seq;

-- The old table goes with its indexes (snapshot_packages_source of 0018,
-- snapshot_packages_unsourced of 0020), and package_sources of 0020 with
-- it: installed_packages holds every (package, source package) pair ever
-- stored, and its UNIQUE index, led by the name, finds a name's source
-- packages and the packages of a name without one. A package's snapshots
-- across the fleet are found by their references to its distinct rows.
DROP TABLE snapshot_packages;
DROP TABLE package_sources;

CREATE INDEX installed_packages_source ON installed_packages (source_name);

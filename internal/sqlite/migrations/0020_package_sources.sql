-- 0020: the installed packages of a name, or of a source package, across
-- the fleet, through the source package index alone. Each index of
-- snapshot_packages costs every collection about 300 index insertions a
-- host; the name index of 0018 is replaced by package_sources, each
-- (package, source package) pair ever stored once, which says which
-- source packages a plan's packages are built from: their rows, and their
-- siblings', are then found by source package. A package without a source
-- package is found by its name in an index of those packages only, which
-- costs nothing on a fleet whose packages all name their source.
CREATE TABLE package_sources (
    name        TEXT NOT NULL,
    source_name TEXT NOT NULL,
    PRIMARY KEY (name, source_name)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO package_sources (name, source_name)
    SELECT DISTINCT name, source_name FROM snapshot_packages;

DROP INDEX snapshot_packages_name;
CREATE INDEX snapshot_packages_unsourced ON snapshot_packages (name) WHERE source_name = '';

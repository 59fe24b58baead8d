-- 0018: the installed packages of a name, or of a source package, across
-- the fleet: what a plan of a few packages reads of every host (the
-- versions it runs of them, and their sibling binary packages) without
-- reading every host's whole package list.
CREATE INDEX snapshot_packages_name ON snapshot_packages (name);
CREATE INDEX snapshot_packages_source ON snapshot_packages (source_name);

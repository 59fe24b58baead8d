-- 0009: indexes for the reads of a large fleet's pages. IF NOT EXISTS:
-- snapshot_updates_package and events_kind_time are also made by 0008,
-- with the same definitions.

-- Pending updates of one package across the fleet and the first sightings
-- of packages' updates are looked up by package, or by source package,
-- instead of reading every snapshot's updates.
CREATE INDEX IF NOT EXISTS snapshot_updates_package ON snapshot_updates (package, candidate_version);
CREATE INDEX IF NOT EXISTS snapshot_updates_source ON snapshot_updates (source_package);

-- Events of one kind since a time (the gate verdicts or approvals of the
-- last month) without reading every older event of the kind.
CREATE INDEX IF NOT EXISTS events_kind_time ON events (kind, time);

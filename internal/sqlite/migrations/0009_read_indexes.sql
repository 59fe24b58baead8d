-- 0009: an index for the reads of a large fleet's pages.

-- Pending updates of one source package across the fleet (an update
-- selected by its source package) are looked up by it instead of reading
-- every snapshot's updates. Lookups by binary package and events of one
-- kind since a time use the indexes of 0008.
CREATE INDEX snapshot_updates_source ON snapshot_updates (source_package);

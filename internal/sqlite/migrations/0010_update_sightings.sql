-- 0010: when each pending update (package and candidate version) was first
-- seen pending on any host: the start of its SLA clock and of its time to
-- patch. Kept up to date by every saved snapshot, so reading the first
-- sightings of the fleet's pending updates no longer walks every stored
-- snapshot's updates. A sighting is history: it stays when snapshots are
-- pruned or its host removed. host is a name, as outcomes name hosts.
CREATE TABLE update_sightings (
    package     TEXT NOT NULL,
    version     TEXT NOT NULL,
    host        TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    snapshot_id INTEGER NOT NULL,
    PRIMARY KEY (package, version)
) STRICT, WITHOUT ROWID;

INSERT INTO update_sightings (package, version, host, first_seen, snapshot_id)
SELECT package, candidate_version, name, collected_at, id FROM (
    SELECT u.package, u.candidate_version, h.name, s.collected_at, s.id,
        ROW_NUMBER() OVER (PARTITION BY u.package, u.candidate_version ORDER BY s.collected_at, s.id) AS rank
    FROM snapshot_updates u
    JOIN fact_snapshots s ON s.id = u.snapshot_id
    JOIN hosts h ON h.id = s.host_id
    WHERE u.candidate_version <> '')
WHERE rank = 1;

-- 0014: inventory in depth and observed connections.
--
-- depth is a snapshot's patchpilot.HostDepth as JSON: its services in
-- depth, sockets, connections, addresses and modifications. NULL or ''
-- means the collection did not look in depth (a fact cache, a snapshot
-- saved before this migration).
ALTER TABLE fact_snapshots ADD COLUMN depth TEXT;

-- The established connections collections observed, aggregated over time:
-- one row per host, direction, local service, local address, peer and
-- service port, with
-- when it was first and last seen and by how many snapshots. Rows go with
-- their host; aging them out is PruneConnections' job.
CREATE TABLE connections (
    host_id    INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    direction  TEXT    NOT NULL CHECK (direction IN ('out', 'in')),
    service    TEXT    NOT NULL DEFAULT '',
    local      TEXT    NOT NULL DEFAULT '',
    peer       TEXT    NOT NULL,
    port       INTEGER NOT NULL,
    process    TEXT    NOT NULL DEFAULT '',
    first_seen TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL,
    seen       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (host_id, direction, service, local, peer, port)
) STRICT, WITHOUT ROWID;

-- Serves Connections(since) and PruneConnections(before).
CREATE INDEX connections_last_seen ON connections (last_seen);

CREATE TRIGGER dv_connections_ins AFTER INSERT ON connections BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_connections_upd AFTER UPDATE ON connections BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_connections_del AFTER DELETE ON connections BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;

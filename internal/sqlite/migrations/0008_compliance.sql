-- 0008: compliance and KPIs.

-- Each host's exposure to patch deadlines at each collection: for each
-- severity, when the oldest pending security update of that severity became
-- available (oldest: a JSON object of severity to time; "" is unrated).
-- The app writes a row when it saves facts, only when it differs from the
-- host's previous row, so the table stays small enough to read for every
-- day of a period. host is a name, as outcomes name hosts: history.
CREATE TABLE sla_exposures (
    host         TEXT NOT NULL CHECK (host <> ''),
    collected_at TEXT NOT NULL,
    oldest       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (host, collected_at)
) STRICT, WITHOUT ROWID;

CREATE INDEX sla_exposures_time ON sla_exposures (collected_at);

-- First sightings of a package's pending versions are read by package.
CREATE INDEX snapshot_updates_package ON snapshot_updates (package, candidate_version);

-- The KPIs read one kind of event over a period.
CREATE INDEX events_kind_time ON events (kind, time);

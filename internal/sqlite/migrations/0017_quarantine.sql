-- 0017: what the fleet learns from its own rollouts beyond the outcomes.
--
-- predictions is the JSON object of the risk model's assessment of each
-- target host's patch when the rollout started ({"host": {"probability",
-- "model_version"}}), which each host's outcome carries when it is
-- recorded, however often the rollout is resumed.
ALTER TABLE rollouts ADD COLUMN predictions TEXT NOT NULL DEFAULT '{}';

-- A person's clearance of a quarantined version for a class of hosts
-- ('' for every class): quarantines are derived from outcomes, and a
-- clearance lifts those of rollbacks at or before cleared_at.
CREATE TABLE quarantine_clearances (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    package    TEXT NOT NULL CHECK (package <> ''),
    version    TEXT NOT NULL CHECK (version <> ''),
    class      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    cleared_by TEXT NOT NULL CHECK (cleared_by <> ''),
    cleared_at TEXT NOT NULL
) STRICT;

CREATE INDEX quarantine_clearances_version ON quarantine_clearances (package, version, cleared_at);

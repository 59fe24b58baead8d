-- 0002: rollouts with their stages and host pipelines, incidents, host
-- outcomes for the risk model, and the leases that let one controller at a
-- time drive a rollout. The conventions of 0001_init.sql hold here too.
--
-- Host names in these tables are names, not references to hosts: a rollout
-- and its history must keep what happened even to hosts that are later
-- removed from the inventory.

-- One row per rollout. plan_source is the plan as YAML, as it was started,
-- for people; plan is the parsed patchpilot.Plan as JSON, for the engine, so
-- that a restarted controller executes exactly what was started even if the
-- plan parser's defaults change in between.
CREATE TABLE rollouts (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    plan_source TEXT    NOT NULL DEFAULT '',
    plan        TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state <> ''),
    reason      TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    dry_run     INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1))
) STRICT;

-- Serves "newest first", optionally by state.
CREATE INDEX rollouts_created ON rollouts (created_at DESC, id DESC);
CREATE INDEX rollouts_state ON rollouts (state, created_at DESC);

-- The stages of a rollout, by position in the plan. hosts is the JSON list
-- of assigned host names in dispatch order; it is fixed when the rollout is
-- created, as are the host_runs rows that mirror it.
CREATE TABLE stages (
    rollout     TEXT    NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    name        TEXT    NOT NULL CHECK (name <> ''),
    state       TEXT    NOT NULL CHECK (state <> ''),
    hosts       TEXT    NOT NULL DEFAULT '[]',
    approved_by TEXT    NOT NULL DEFAULT '',
    approved_at TEXT,
    started_at  TEXT,
    finished_at TEXT,
    reason      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (rollout, idx),
    UNIQUE (rollout, name)
) STRICT, WITHOUT ROWID;

-- One host's pipeline in one rollout, written before each side effect.
-- stage_idx and pos (the host's position in the stage's hosts list) give the
-- listing order; ord is the deployment order across the rollout, which
-- rollbacks reverse. The versions, artifacts and baseline are JSON objects,
-- gates a JSON list of gate results.
CREATE TABLE host_runs (
    rollout        TEXT    NOT NULL,
    stage_idx      INTEGER NOT NULL,
    pos            INTEGER NOT NULL CHECK (pos >= 0),
    host           TEXT    NOT NULL CHECK (host <> ''),
    state          TEXT    NOT NULL CHECK (state <> ''),
    ord            INTEGER NOT NULL DEFAULT 0,
    from_versions  TEXT    NOT NULL DEFAULT '{}',
    to_versions    TEXT    NOT NULL DEFAULT '{}',
    boot_id_before TEXT    NOT NULL DEFAULT '',
    boot_id_after  TEXT    NOT NULL DEFAULT '',
    artifacts      TEXT    NOT NULL DEFAULT '{}',
    txn            TEXT    NOT NULL DEFAULT '',
    baseline       TEXT    NOT NULL DEFAULT '{}',
    started_at     TEXT,
    finished_at    TEXT,
    reason         TEXT    NOT NULL DEFAULT '',
    gates          TEXT    NOT NULL DEFAULT '[]',
    updated_at     TEXT    NOT NULL,
    PRIMARY KEY (rollout, host),
    UNIQUE (rollout, stage_idx, pos),
    FOREIGN KEY (rollout, stage_idx) REFERENCES stages (rollout, idx) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Failures that stopped or rolled back a rollout. hosts is a JSON list;
-- evidence is JSON, or NULL when the incident carries none.
CREATE TABLE incidents (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout  TEXT    NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    time     TEXT    NOT NULL,
    stage    TEXT    NOT NULL DEFAULT '',
    reason   TEXT    NOT NULL CHECK (reason <> ''),
    hosts    TEXT    NOT NULL DEFAULT '[]',
    evidence TEXT
) STRICT;

CREATE INDEX incidents_rollout ON incidents (rollout, time, id);
CREATE INDEX incidents_time ON incidents (time, id);

-- The final outcome of each host in each rollout, with the features the
-- risk model learns from. It is history: rollout is a name, not a
-- reference, so that outcomes can be imported and outlive their rollouts.
-- packages is the JSON list of package changes in their order, which is
-- what is read back; outcome_packages repeats it row by row so that
-- outcomes can be found by package. features is a JSON object, or NULL when
-- none was recorded.
CREATE TABLE outcomes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout      TEXT NOT NULL CHECK (rollout <> ''),
    host         TEXT NOT NULL CHECK (host <> ''),
    time         TEXT NOT NULL,
    os           TEXT NOT NULL DEFAULT '',
    labels       TEXT NOT NULL DEFAULT '{}',
    packages     TEXT NOT NULL DEFAULT '[]',
    outcome      TEXT NOT NULL CHECK (outcome <> ''),
    reason       TEXT NOT NULL DEFAULT '',
    gate_results TEXT NOT NULL DEFAULT '[]',
    features     TEXT,
    UNIQUE (rollout, host)
) STRICT;

CREATE INDEX outcomes_host ON outcomes (host, time, id);
CREATE INDEX outcomes_time ON outcomes (time, id);

CREATE TABLE outcome_packages (
    outcome_id     INTEGER NOT NULL REFERENCES outcomes (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    source_package TEXT    NOT NULL DEFAULT '',
    from_version   TEXT    NOT NULL DEFAULT '',
    to_version     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (outcome_id, seq)
) STRICT, WITHOUT ROWID;

CREATE INDEX outcome_packages_name ON outcome_packages (name, outcome_id);
CREATE INDEX outcome_packages_source ON outcome_packages (source_package, outcome_id);

-- Who drives a rollout, until when. A lease past expires_at is free to take.
CREATE TABLE leases (
    rollout    TEXT NOT NULL PRIMARY KEY REFERENCES rollouts (id) ON DELETE CASCADE,
    owner      TEXT NOT NULL CHECK (owner <> ''),
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

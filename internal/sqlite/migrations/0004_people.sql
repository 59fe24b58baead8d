-- 0004: API tokens, the audit log, saved plans, and the plan a rollout was
-- started from. The conventions of 0001_init.sql hold here too.

-- One row per API token. The secret itself is never stored: hash is the
-- SHA-256 of the secret, which is all a request's token is compared with.
-- Revoked tokens stay (revoked_at set) so that their name is never reused
-- and the audit log's names keep meaning one token.
CREATE TABLE tokens (
    name       TEXT NOT NULL PRIMARY KEY CHECK (name <> ''),
    role       TEXT NOT NULL CHECK (role <> ''),
    hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    last_used  TEXT,
    revoked_at TEXT
) STRICT, WITHOUT ROWID;

-- The append-only audit log: every call that changed something, with who
-- made it (actor, and the token's name when a token was used) and how it
-- ended. detail is a JSON object, or NULL when there is none. Like events,
-- names are not references: the log outlives what it names.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    TEXT NOT NULL,
    actor   TEXT NOT NULL CHECK (actor <> ''),
    token   TEXT NOT NULL DEFAULT '',
    action  TEXT NOT NULL CHECK (action <> ''),
    target  TEXT NOT NULL DEFAULT '',
    rollout TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL CHECK (outcome <> ''),
    detail  TEXT
) STRICT;

CREATE INDEX audit_time ON audit (time, id);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_rollout ON audit (rollout, id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Saved plans, by id, with who created them. source is the plan's YAML.
CREATE TABLE plans (
    id         TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
    name       TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX plans_created ON plans (created_at DESC, id DESC);

-- The saved plan a rollout was started from; '' for a plan from a file
-- and for every rollout stored before this version.
ALTER TABLE rollouts ADD COLUMN plan_id TEXT NOT NULL DEFAULT '';

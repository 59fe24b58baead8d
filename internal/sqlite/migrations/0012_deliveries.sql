-- 0012: the delivery of events to integrations (the outbox).

-- How far each integration has been told of the event log: every event up
-- to event_id was delivered, not routed to it, or given up. A new
-- integration's cursor starts at the end of the log.
CREATE TABLE delivery_cursors (
    integration        TEXT NOT NULL PRIMARY KEY CHECK (integration <> ''),
    event_id           INTEGER NOT NULL CHECK (event_id >= 0),
    delivered_event_id INTEGER NOT NULL DEFAULT 0,
    delivered_at       TEXT NOT NULL DEFAULT '',
    -- The delivery being retried (event 0: none), cleared when the
    -- cursor moves past its event.
    retry_event_id     INTEGER NOT NULL DEFAULT 0,
    retry_attempts     INTEGER NOT NULL DEFAULT 0,
    retry_error        TEXT NOT NULL DEFAULT '',
    retry_at           TEXT NOT NULL DEFAULT '',
    -- When the delivery being retried first failed: a dispatcher taking
    -- over goes on from it (and from retry_attempts).
    retry_since        TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

-- The deliveries given up: after their attempts, or refused in a way that
-- sending again cannot fix. The cursor moved past them; they are shown by
-- 'patchpilot integrations status'.
CREATE TABLE delivery_failures (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL CHECK (integration <> ''),
    event_id    INTEGER NOT NULL,
    topic       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    error       TEXT NOT NULL DEFAULT '',
    time        TEXT NOT NULL,
    -- A redelivery asked for by 'patchpilot integrations retry': '' none,
    -- requested, sending (claimed by a dispatcher), redelivered, failed.
    redelivery       TEXT NOT NULL DEFAULT ''
        CHECK (redelivery IN ('', 'requested', 'sending', 'redelivered', 'failed')),
    redelivery_error TEXT NOT NULL DEFAULT '',
    redelivered_at   TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX delivery_failures_integration ON delivery_failures (integration, id);

-- The dispatcher's lease lives beside the scheduler's, in
-- scheduler_leases, as the row named 'deliveries'.

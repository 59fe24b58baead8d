-- 0005: the runs of schedules.

-- One row per run of a schedule: one due time of one schedule, recorded
-- once (the unique key), so that a scheduler that restarts, or a second
-- one, never runs it again. Times are the fixed-width UTC text of the other
-- tables; '' means none (started_at of a run that was missed or still
-- waits for its window, finished_at of a run not finished or missed).
-- outcome is patchpilot.ScheduleOutcome; plan is the name of the plan a
-- patch run proposed and rollout the rollout it started, when known.
CREATE TABLE schedule_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule    TEXT    NOT NULL CHECK (schedule <> ''),
    kind        TEXT    NOT NULL CHECK (kind IN ('patch', 'inventory')),
    due_at      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL DEFAULT '',
    finished_at TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL CHECK (outcome <> ''),
    message     TEXT    NOT NULL DEFAULT '',
    plan        TEXT    NOT NULL DEFAULT '',
    rollout     TEXT    NOT NULL DEFAULT '',
    UNIQUE (schedule, due_at)
) STRICT;

CREATE INDEX schedule_runs_unfinished ON schedule_runs (outcome) WHERE outcome IN ('waiting', 'running');

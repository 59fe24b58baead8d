-- 0013: the records change-management services keep of a rollout (a Jira
-- issue, a ServiceNow change request), one per integration and rollout, so
-- that a restarted controller comments on and closes the record it opened
-- instead of opening another.
CREATE TABLE change_records (
    integration TEXT NOT NULL,
    rollout     TEXT NOT NULL,
    external_id TEXT NOT NULL,
    key         TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (integration, rollout)
) STRICT, WITHOUT ROWID;

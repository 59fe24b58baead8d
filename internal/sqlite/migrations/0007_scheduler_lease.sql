-- 0007: the lease of the scheduler.

-- Who runs the schedules of this database, until when: one scheduler at a
-- time, as one controller at a time drives a rollout (leases). A lease past
-- expires_at is free to take. name is 'schedules', the one lease there is.
CREATE TABLE scheduler_leases (
    name       TEXT NOT NULL PRIMARY KEY CHECK (name <> ''),
    owner      TEXT NOT NULL CHECK (owner <> ''),
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

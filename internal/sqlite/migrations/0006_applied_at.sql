-- 0006: when each host's change was applied.

-- The time the host's apply step started (patchpilot.HostRun.AppliedAt):
-- the moment its health and its canary analysis compare from. Kept in the
-- store so that a controller that resumes a rollout, or another process
-- judging a stage, sees the same time the first one did.
ALTER TABLE host_runs ADD COLUMN applied_at TEXT;

-- 0015: what the risk model learns from an outcome.
--
-- unrelated, on a failed outcome, says why the failure is not the patch's
-- (an unreachable host before the apply, an injected fault, a manual
-- abort); '' means it is. predicted is the failure probability the risk
-- model gave the host's patch when the rollout started, and predicted_by
-- that model's version; NULL and '' when none was stored.
ALTER TABLE outcomes ADD COLUMN unrelated TEXT NOT NULL DEFAULT '';
ALTER TABLE outcomes ADD COLUMN predicted REAL CHECK (predicted IS NULL OR (predicted >= 0 AND predicted <= 1));
ALTER TABLE outcomes ADD COLUMN predicted_by TEXT NOT NULL DEFAULT '';

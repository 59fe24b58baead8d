-- 0016: the active risk model is chosen, not only the latest saved.
--
-- activated orders the models by when each was last made the active one:
-- saving a model gives it the next number, and so does making an earlier
-- model active again ('patchpilot model use'). The active model is the
-- row with the greatest activated (ties, which only rows from before this
-- migration could have, go to the greatest id). Every row stays.
ALTER TABLE models ADD COLUMN activated INTEGER NOT NULL DEFAULT 0;
UPDATE models SET activated = id;
CREATE INDEX models_activated ON models (activated DESC, id DESC);

-- 0003: trained risk models, and the removals of a snapshot's dry run.

-- One row per saved model. Models are history: a save never replaces an
-- earlier row, and the active model is the row with the greatest id.
-- AUTOINCREMENT keeps ids from being reused, so that id order is save order.
-- The blob is the model serialised by internal/risk; info is a JSON object
-- describing what it was trained on, for listings that skip the blob.
CREATE TABLE models (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version    TEXT    NOT NULL CHECK (version <> ''),
    trained_at TEXT    NOT NULL,
    saved_at   TEXT    NOT NULL,
    info       TEXT    NOT NULL DEFAULT '{}',
    blob       BLOB    NOT NULL
) STRICT;

-- The packages that the dry run of a host's pending updates would remove
-- (patchpilot.Facts.Removals), as a JSON list of package changes.
ALTER TABLE fact_snapshots ADD COLUMN removals TEXT NOT NULL DEFAULT '[]';

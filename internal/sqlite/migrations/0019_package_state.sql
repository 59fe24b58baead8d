-- 0019: a fingerprint of what the package manager read to find a
-- snapshot's pending updates (Facts.PackageState), so that a later
-- collection of an unchanged host can reuse them.
ALTER TABLE fact_snapshots ADD COLUMN package_state TEXT NOT NULL DEFAULT '';

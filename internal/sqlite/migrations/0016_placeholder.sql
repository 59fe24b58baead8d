-- 0016: no schema change; the number is kept for the risk model's own
-- migration, which replaces this file.
SELECT 1;

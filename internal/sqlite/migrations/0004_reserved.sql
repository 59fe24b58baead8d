-- 0004: reserved for the tokens and audit log tables, which are written on
-- another line of work; this placeholder keeps versions without a gap until
-- that migration replaces it. It changes nothing.
SELECT 1;

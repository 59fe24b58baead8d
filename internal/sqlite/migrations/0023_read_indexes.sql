-- 0023: indexes for reads that the event log and the rollouts' history
-- should not make slower as they grow.

-- The last collection failures of each host, found without reading the
-- log. A host's collection failures are in events_collect_failed by id
-- (its row id), and in events_collect_failed_time by time: the first finds
-- a host's last failure and the hosts that ever failed, the second whether
-- an earlier failure is dated after it (a clock set back).
CREATE INDEX events_collect_failed ON events (host) WHERE kind = 'inventory.collect_failed';
CREATE INDEX events_collect_failed_time ON events (host, time) WHERE kind = 'inventory.collect_failed';

-- The rollouts that may hold hosts (unfinished, or halted and held for a
-- person), with what the reads of their holders need: they are looked up
-- by state, and neither the other rollouts nor a rollout's row, with its
-- plan, is read.
CREATE INDEX rollouts_holding ON rollouts (state, dry_run, reason, created_at, id);

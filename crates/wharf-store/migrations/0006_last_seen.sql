-- The last sign of life of a run's owner: the time of its last recorded batch of events or
-- lease renewal. A run whose owner died is marked interrupted as of then (not as of the
-- next wharf command, which may come days later). NULL in rows from before this column:
-- recovery then uses the time it runs, as before.
ALTER TABLE runs ADD COLUMN last_seen INTEGER;

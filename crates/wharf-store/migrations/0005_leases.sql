-- A run belongs to the process that started it: its owner (the host it runs on, beside the
-- pid and start time recorded already) holds a lease it renews while the run goes on.
-- Recovery decides by the lease for owners on other hosts (server replicas, agents), and by
-- the process on this one; rows from before this migration have neither and keep the
-- process check.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;

-- A rollback may skip the environment's gates in an emergency: why, and who said so, is
-- kept with the deployment (and, on a server, in its audit log).
ALTER TABLE deployments ADD COLUMN gates_override TEXT;

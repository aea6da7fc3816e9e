-- Version 4: indexes lead with the workspace. The dispatcher claims one
-- workspace's due deliveries at a time, so that a deep backlog in one
-- workspace is never read while claiming for another; lists and reads of
-- one workspace only read that workspace's rows.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (workspace_id, ready_at, created_at) WHERE status = 'pending';
CREATE INDEX deliveries_workspace ON deliveries (workspace_id, id);
CREATE INDEX events_workspace ON events (workspace_id, id);
DROP INDEX fanouts_due;
CREATE INDEX fanouts_due ON fanouts (workspace_id, created_at);

-- Version 3: a claim takes a workspace's due deliveries endpoint by
-- endpoint: one probe of this index tells whether an endpoint has any
-- pending, so the endpoints a claim has no room for are passed over without
-- reading their rows (a workspace can have hundreds of thousands waiting
-- for an endpoint that is paused or hanging).
CREATE INDEX deliveries_due_endpoint ON deliveries (workspace_id, endpoint_id, ready_at) WHERE status = 'pending';

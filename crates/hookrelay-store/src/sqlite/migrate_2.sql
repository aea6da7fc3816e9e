-- Version 2: the due index carries created_at, so the backlog's size and age
-- (read by every /metrics scrape) come from the index alone instead of one
-- table lookup per pending delivery. (endpoint_id was tried as well, so that
-- claims skipping paused endpoints need no lookups either: it helped the
-- outage case but cost every publish ~12 % more server CPU; see BENCHMARKS.md.)
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (ready_at, created_at) WHERE status = 'pending';

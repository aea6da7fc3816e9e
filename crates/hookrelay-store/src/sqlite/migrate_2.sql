-- Version 2: the due index carries created_at, so the backlog's size and age
-- (read by every /metrics scrape) come from the index alone instead of one
-- table lookup per pending delivery. It does not carry endpoint_id: that
-- would spare claims skipping paused endpoints their table lookups, but
-- every publish would write a longer key to the index (measurements in
-- BENCHMARKS.md), and publishing is the hot path.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (ready_at, created_at) WHERE status = 'pending';

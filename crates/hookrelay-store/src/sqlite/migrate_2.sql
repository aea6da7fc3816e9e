-- Version 2: the backlog's size and age (read by every /metrics scrape)
-- come from the due index alone instead of one table lookup per pending
-- delivery.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (ready_at, created_at) WHERE status = 'pending';

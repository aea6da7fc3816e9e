-- Version 2: the due index carries what is asked of every pending row, so
-- neither the backlog gauge (size and age, read by every /metrics scrape)
-- nor a claim that skips paused or full endpoints looks up the table once
-- per pending delivery.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (ready_at, endpoint_id, created_at) WHERE status = 'pending';

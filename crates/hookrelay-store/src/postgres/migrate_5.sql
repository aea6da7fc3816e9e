-- Version 5: delivery statistics. Recording an attempt's outcome also
-- counts it in a row of its workspace, endpoint and minute, and in one of
-- its hour: attempts by outcome (succeeded; failed and retrying; failed for
-- good), the smallest and largest latency, and a latency histogram whose
-- bucket h<i> counts latencies up to the i-th bound of 1, 2, 3, 5, 10, 20,
-- 30, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000, 20000, 30000
-- and 60000 ms (h20: above 60 s). Attempts carry no workspace or endpoint,
-- so statistics read from them would join and read every attempt of the
-- window; these rows are few per endpoint and period whatever the traffic.
-- A query of a workspace reads its rows by time (the primary key), one of
-- an endpoint through the second index. Rows outlive their endpoint, and
-- are purged with the history. A row is updated many times in its minute
-- or hour without changing a key: free room in its page (fillfactor) lets
-- those updates stay on the page and leave the indexes alone (HOT).
CREATE TABLE stats_minutes (
    workspace_id  TEXT COLLATE "C" NOT NULL,
    -- The start of the minute (ms since the epoch, UTC).
    start_at      BIGINT NOT NULL,
    endpoint_id   TEXT COLLATE "C" NOT NULL,
    succeeded     BIGINT NOT NULL,
    retrying      BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    min_ms        BIGINT NOT NULL,
    max_ms        BIGINT NOT NULL,
    h00           BIGINT NOT NULL,
    h01           BIGINT NOT NULL,
    h02           BIGINT NOT NULL,
    h03           BIGINT NOT NULL,
    h04           BIGINT NOT NULL,
    h05           BIGINT NOT NULL,
    h06           BIGINT NOT NULL,
    h07           BIGINT NOT NULL,
    h08           BIGINT NOT NULL,
    h09           BIGINT NOT NULL,
    h10           BIGINT NOT NULL,
    h11           BIGINT NOT NULL,
    h12           BIGINT NOT NULL,
    h13           BIGINT NOT NULL,
    h14           BIGINT NOT NULL,
    h15           BIGINT NOT NULL,
    h16           BIGINT NOT NULL,
    h17           BIGINT NOT NULL,
    h18           BIGINT NOT NULL,
    h19           BIGINT NOT NULL,
    h20           BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, start_at, endpoint_id)
) WITH (fillfactor = 70);
CREATE INDEX stats_minutes_endpoint ON stats_minutes (workspace_id, endpoint_id, start_at);

CREATE TABLE stats_hours (
    workspace_id  TEXT COLLATE "C" NOT NULL,
    -- The start of the hour (ms since the epoch, UTC).
    start_at      BIGINT NOT NULL,
    endpoint_id   TEXT COLLATE "C" NOT NULL,
    succeeded     BIGINT NOT NULL,
    retrying      BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    min_ms        BIGINT NOT NULL,
    max_ms        BIGINT NOT NULL,
    h00           BIGINT NOT NULL,
    h01           BIGINT NOT NULL,
    h02           BIGINT NOT NULL,
    h03           BIGINT NOT NULL,
    h04           BIGINT NOT NULL,
    h05           BIGINT NOT NULL,
    h06           BIGINT NOT NULL,
    h07           BIGINT NOT NULL,
    h08           BIGINT NOT NULL,
    h09           BIGINT NOT NULL,
    h10           BIGINT NOT NULL,
    h11           BIGINT NOT NULL,
    h12           BIGINT NOT NULL,
    h13           BIGINT NOT NULL,
    h14           BIGINT NOT NULL,
    h15           BIGINT NOT NULL,
    h16           BIGINT NOT NULL,
    h17           BIGINT NOT NULL,
    h18           BIGINT NOT NULL,
    h19           BIGINT NOT NULL,
    h20           BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, start_at, endpoint_id)
) WITH (fillfactor = 70);
CREATE INDEX stats_hours_endpoint ON stats_hours (workspace_id, endpoint_id, start_at);

-- Version 6: delivery statistics. Recording an attempt's outcome also
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
-- are purged with the history.
CREATE TABLE stats_minutes (
    workspace_id  TEXT NOT NULL,
    -- The start of the minute (ms since the epoch, UTC).
    start_at      INTEGER NOT NULL,
    endpoint_id   TEXT NOT NULL,
    succeeded     INTEGER NOT NULL,
    retrying      INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    min_ms        INTEGER NOT NULL,
    max_ms        INTEGER NOT NULL,
    h00           INTEGER NOT NULL,
    h01           INTEGER NOT NULL,
    h02           INTEGER NOT NULL,
    h03           INTEGER NOT NULL,
    h04           INTEGER NOT NULL,
    h05           INTEGER NOT NULL,
    h06           INTEGER NOT NULL,
    h07           INTEGER NOT NULL,
    h08           INTEGER NOT NULL,
    h09           INTEGER NOT NULL,
    h10           INTEGER NOT NULL,
    h11           INTEGER NOT NULL,
    h12           INTEGER NOT NULL,
    h13           INTEGER NOT NULL,
    h14           INTEGER NOT NULL,
    h15           INTEGER NOT NULL,
    h16           INTEGER NOT NULL,
    h17           INTEGER NOT NULL,
    h18           INTEGER NOT NULL,
    h19           INTEGER NOT NULL,
    h20           INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, start_at, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX stats_minutes_endpoint ON stats_minutes (workspace_id, endpoint_id, start_at);

CREATE TABLE stats_hours (
    workspace_id  TEXT NOT NULL,
    -- The start of the hour (ms since the epoch, UTC).
    start_at      INTEGER NOT NULL,
    endpoint_id   TEXT NOT NULL,
    succeeded     INTEGER NOT NULL,
    retrying      INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    min_ms        INTEGER NOT NULL,
    max_ms        INTEGER NOT NULL,
    h00           INTEGER NOT NULL,
    h01           INTEGER NOT NULL,
    h02           INTEGER NOT NULL,
    h03           INTEGER NOT NULL,
    h04           INTEGER NOT NULL,
    h05           INTEGER NOT NULL,
    h06           INTEGER NOT NULL,
    h07           INTEGER NOT NULL,
    h08           INTEGER NOT NULL,
    h09           INTEGER NOT NULL,
    h10           INTEGER NOT NULL,
    h11           INTEGER NOT NULL,
    h12           INTEGER NOT NULL,
    h13           INTEGER NOT NULL,
    h14           INTEGER NOT NULL,
    h15           INTEGER NOT NULL,
    h16           INTEGER NOT NULL,
    h17           INTEGER NOT NULL,
    h18           INTEGER NOT NULL,
    h19           INTEGER NOT NULL,
    h20           INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, start_at, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX stats_hours_endpoint ON stats_hours (workspace_id, endpoint_id, start_at);

-- Version 3: fan-out rows (see src/sqlite/fanout.rs). An event published
-- without a lease to several endpoints keeps its deliveries in one row here,
-- due at `created_at`, until a claim (or a read) writes them to `deliveries`
-- all at once and deletes the row. Each entry is a pending delivery that has
-- never been attempted. `deliveries` holds one line per entry:
-- id TAB endpoint TAB rendered event type TAB API version.
CREATE TABLE fanouts (
    event_id     TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    test         INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    deliveries   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX fanouts_due ON fanouts (created_at);

-- hookrelay SQLite schema, version 1. Times are milliseconds since the epoch.
-- Ids are prefixed ULIDs, so ordering by id is ordering by creation time.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX workspaces_name ON workspaces (name);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

CREATE TABLE endpoints (
    id                     TEXT PRIMARY KEY,
    workspace_id           TEXT NOT NULL,
    url                    TEXT NOT NULL,
    name                   TEXT NOT NULL,
    status                 TEXT NOT NULL,
    disabled_reason        TEXT,
    enabled_events         TEXT NOT NULL,
    api_version            TEXT NOT NULL,
    advanced_options       TEXT NOT NULL,
    signature_scheme       TEXT NOT NULL,
    retry_schedule         TEXT,
    rate_limit_per_second  INTEGER,
    secret                 TEXT NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  INTEGER,
    created_at             INTEGER NOT NULL,
    created_by             TEXT,
    updated_at             INTEGER NOT NULL,
    failing_since          INTEGER,
    deleted_at             INTEGER
) WITHOUT ROWID;
CREATE INDEX endpoints_workspace ON endpoints (workspace_id, id);

CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    enabled_events  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (endpoint_id, resource_type, resource_id)
) WITHOUT ROWID;
CREATE INDEX subscriptions_workspace ON subscriptions (workspace_id, id);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    resource_type   TEXT,
    resource_id     TEXT,
    previous_data   TEXT,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    delivery_count  INTEGER NOT NULL,
    test            INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    workspace_id  TEXT NOT NULL,
    key           TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;

-- ready_at is when the row is next visible to claim_due: the scheduled
-- attempt time, or the end of the lease while a node holds it.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    api_version      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    ready_at         INTEGER NOT NULL,
    lease_owner      TEXT,
    manual           INTEGER NOT NULL DEFAULT 0,
    test             INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX deliveries_due ON deliveries (ready_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
    delivery_id       TEXT NOT NULL,
    attempt_number    INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    request_url       TEXT NOT NULL,
    request_headers   TEXT NOT NULL,
    response_status   INTEGER,
    response_headers  TEXT NOT NULL,
    response_body     TEXT,
    error_kind        TEXT,
    error_message     TEXT,
    PRIMARY KEY (delivery_id, attempt_number)
) WITHOUT ROWID;

CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    key         BLOB NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- hookrelay PostgreSQL schema, version 1: the SQLite schema, column for
-- column. Times are BIGINT milliseconds since the epoch. Ids are prefixed
-- ULIDs compared byte for byte (COLLATE "C", whatever the database's
-- collation), so ordering by id is ordering by creation time, as in SQLite.
-- Every name is unqualified: the tables live in the connection's
-- current_schema() (the first schema on its search_path).

CREATE TABLE workspaces (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX workspaces_name ON workspaces (name);

CREATE TABLE api_keys (
    id            TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

CREATE TABLE endpoints (
    id                     TEXT COLLATE "C" PRIMARY KEY,
    workspace_id           TEXT COLLATE "C" NOT NULL,
    url                    TEXT NOT NULL,
    name                   TEXT NOT NULL,
    status                 TEXT NOT NULL,
    disabled_reason        TEXT,
    enabled_events         TEXT NOT NULL,
    api_version            TEXT NOT NULL,
    advanced_options       TEXT NOT NULL,
    signature_scheme       TEXT NOT NULL,
    retry_schedule         TEXT,
    rate_limit_per_second  BIGINT,
    secret                 TEXT NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  BIGINT,
    created_at             BIGINT NOT NULL,
    created_by             TEXT,
    updated_at             BIGINT NOT NULL,
    failing_since          BIGINT,
    deleted_at             BIGINT
);
CREATE INDEX endpoints_workspace ON endpoints (workspace_id, id);

CREATE TABLE subscriptions (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL,
    endpoint_id     TEXT COLLATE "C" NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    enabled_events  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (endpoint_id, resource_type, resource_id)
);
CREATE INDEX subscriptions_workspace ON subscriptions (workspace_id, id);

-- payload and previous_data are kept byte for byte (signatures depend on it).
CREATE TABLE events (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    resource_type   TEXT,
    resource_id     TEXT,
    previous_data   TEXT,
    idempotency_key TEXT,
    created_at      BIGINT NOT NULL,
    delivery_count  INTEGER NOT NULL,
    test            BOOLEAN NOT NULL DEFAULT FALSE
);

-- One row per (workspace, key): publishers on any node race on this primary
-- key with INSERT ... ON CONFLICT, so exactly one of them creates the event.
CREATE TABLE idempotency_keys (
    workspace_id  TEXT COLLATE "C" NOT NULL,
    key           TEXT NOT NULL,
    event_id      TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- ready_at is when the row is next visible to claim_due: the scheduled
-- attempt time, or the end of the lease while a node holds it.
CREATE TABLE deliveries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    workspace_id     TEXT COLLATE "C" NOT NULL,
    event_id         TEXT COLLATE "C" NOT NULL,
    endpoint_id      TEXT COLLATE "C" NOT NULL,
    event_type       TEXT NOT NULL,
    api_version      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT,
    ready_at         BIGINT NOT NULL,
    lease_owner      TEXT COLLATE "C",
    manual           BOOLEAN NOT NULL DEFAULT FALSE,
    test             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- created_at rides along so the backlog's size and age (metrics) are read
-- from the index alone.
CREATE INDEX deliveries_due ON deliveries (ready_at) INCLUDE (created_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
    delivery_id       TEXT COLLATE "C" NOT NULL,
    attempt_number    INTEGER NOT NULL,
    started_at        BIGINT NOT NULL,
    duration_ms       BIGINT NOT NULL,
    request_url       TEXT NOT NULL,
    request_headers   TEXT NOT NULL,
    response_status   INTEGER,
    response_headers  TEXT NOT NULL,
    response_body     TEXT,
    error_kind        TEXT,
    error_message     TEXT,
    PRIMARY KEY (delivery_id, attempt_number)
);

CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    key         BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

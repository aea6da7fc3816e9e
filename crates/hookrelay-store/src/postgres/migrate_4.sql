-- Version 4: the dashboard's sign-in sessions and the customer portal's
-- one-time links. Only SHA-256 hashes of their tokens are stored, so the
-- database never holds a token that would let someone in.
CREATE TABLE dashboard_sessions (
    token_hash      TEXT COLLATE "C" PRIMARY KEY,
    -- NULL while an admin session has not picked a workspace.
    workspace_id    TEXT COLLATE "C",
    -- 'key' (signed in with a workspace key), 'admin' (the admin key) or
    -- 'portal' (opened from a portal link).
    kind            TEXT NOT NULL,
    -- The workspace key a 'key' session signed in with: revoking the key
    -- ends its sessions.
    api_key_id      TEXT COLLATE "C",
    read_only       BOOLEAN NOT NULL,
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    -- The session ends this long after last_seen_at.
    idle_timeout_ms BIGINT NOT NULL,
    -- The latest it may live, idle or not.
    expires_at      BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_api_key ON dashboard_sessions (api_key_id)
    WHERE api_key_id IS NOT NULL;

CREATE TABLE portal_links (
    token_hash    TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL,
    read_only     BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    -- The link must be opened before this, and the session it opens ends then.
    expires_at    BIGINT NOT NULL,
    -- Set when the link is opened: it opens once.
    used_at       BIGINT
);
CREATE INDEX portal_links_expiry ON portal_links (expires_at);

//! The dashboard's records: sign-in sessions and the customer portal's
//! one-time links, both known to the store only by the SHA-256 of their
//! bearer token ([`TokenHash`]), and the rules of when each is alive, the
//! same on every backend.

use hookrelay_core::ids::{ApiKeyId, WorkspaceId};
use hookrelay_core::secret::{Secret, TokenHash};
use hookrelay_core::time::Timestamp;

/// How a dashboard session was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// Signed in with a workspace API key: that workspace only.
    Key,
    /// Signed in with the org admin key: picks (and may switch) a workspace.
    Admin,
    /// Opened from a portal link: that link's workspace only.
    Portal,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Key => "key",
            SessionKind::Admin => "admin",
            SessionKind::Portal => "portal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "key" => Some(SessionKind::Key),
            "admin" => Some(SessionKind::Admin),
            "portal" => Some(SessionKind::Portal),
            _ => None,
        }
    }
}

/// A signed-in browser. Alive while `now < expires_at` and
/// `now < last_seen_at + idle_timeout_ms` ([`DashboardSession::alive_at`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSession {
    /// SHA-256 of the cookie's token; the token itself is never stored.
    pub token_hash: TokenHash,
    /// `None` while an admin session has not picked a workspace.
    pub workspace_id: Option<WorkspaceId>,
    pub kind: SessionKind,
    /// The key a [`SessionKind::Key`] session signed in with: revoking it
    /// ends the session.
    pub api_key_id: Option<ApiKeyId>,
    pub read_only: bool,
    /// What every form of the session must carry back.
    pub csrf_token: Secret,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_timeout_ms: i64,
    /// The absolute end, however busy the session is.
    pub expires_at: Timestamp,
}

impl DashboardSession {
    /// Whether the session is still alive at `now`.
    pub fn alive_at(&self, now: Timestamp) -> bool {
        now < self.expires_at && now < self.last_seen_at.plus_millis(self.idle_timeout_ms)
    }
}

/// A one-time link into the dashboard, scoped to one workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalLink {
    pub token_hash: TokenHash,
    pub workspace_id: WorkspaceId,
    pub read_only: bool,
    pub created_at: Timestamp,
    /// It must be opened before this; the session it opens ends then.
    pub expires_at: Timestamp,
    /// When it was opened (it opens once).
    pub used_at: Option<Timestamp>,
}

/// What opening a portal link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// This call opened it (`used_at` is now set): the only one that will.
    Opened(PortalLink),
    /// It was opened before.
    AlreadyUsed,
    /// It was never opened and its time is up.
    Expired,
    /// No such link (or it was purged).
    Unknown,
}

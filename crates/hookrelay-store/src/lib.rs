//! Storage: the interfaces every backend implements — [`DeliveryQueue`]
//! (publish, claim, renew, release, record, requeue: what the delivery
//! engine needs) and [`Store`] (tenancy, endpoints and subscriptions,
//! history, statistics, dashboard sessions and portal links, maintenance) —
//! the records they speak in, and the backends
//! themselves: `sqlite` (one process, one file) and `postgres` (any number
//! of nodes sharing one database).
//!
//! Secrets at rest are this crate's too: [`crypt`] seals endpoint secrets,
//! custom header values and server keys as a backend writes them and opens
//! them as it reads them, so nothing above sees a sealed value and the
//! database never sees a plaintext one.
//!
//! **Architecture invariant:** only this crate contains SQL. Everything above
//! it talks in domain records from `hookrelay-core`, and nothing above it
//! knows which backend it talks to.
//!
//! The queue is shaped by the hot path: [`DeliveryQueue::publish`] takes a
//! batch of events with their deliveries and commits them together (backends
//! group concurrent calls into one transaction and one fsync), deliveries
//! come back already leased to the publishing node so they can be handed to
//! its dispatcher in memory, and [`DeliveryQueue::record_outcomes`] writes
//! attempt results in batches.

use async_trait::async_trait;
use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{
    Attempt, Delivery, DeliveryStatus, Endpoint, EndpointStatus, Event, Subscription,
};
use hookrelay_core::secret::{ApiKeyHash, TokenHash};
use hookrelay_core::time::Timestamp;

pub mod crypt;
mod dashboard;
pub mod directory;
mod error;
mod list;
mod outcome;
pub mod postgres;
mod queue;
mod rows;
pub mod sqlite;
pub mod stats;
mod windows;

pub use dashboard::{DashboardSession, PortalLink, Redemption, SessionKind};
pub use error::{ErrorKind, Source, StoreError};
pub use queue::{
    Backlog, Claim, DeliveryQueue, DueDelivery, EndpointEffect, Lease, NewDelivery, NewEvent,
    Outcome, Published,
};

pub use stats::{Bucket, Latency, StatsBucket, Totals, Window, WindowError};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

/// A stored API key (never the plaintext).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub prefix: String,
    pub hash: ApiKeyHash,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Which page of a list to read.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: u32,
    /// Continue after this id (exclusive).
    pub after: Option<String>,
    pub dir: SortDir,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: 50,
            after: None,
            dir: SortDir::Desc,
        }
    }
}

/// One page of a list; `next` is the id to continue after, if there is more.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct EndpointFilter {
    pub status: Option<EndpointStatus>,
    pub api_version: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct SubscriptionFilter {
    pub endpoint_id: Option<EndpointId>,
    pub resource_id: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<EndpointId>,
    pub event_id: Option<EventId>,
    pub event_type: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// Per-endpoint delivery summary of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliverySummary {
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
}

/// Counts of what a retention purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
    /// Rows of the statistics rollups (see [`stats`]).
    pub stats_rows: u64,
}

/// A change made to a shared database by some node (PostgreSQL `NOTIFY`),
/// which every node sharing it hears (its own changes included). SQLite has
/// one process per file and never sends any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreChange {
    /// Unleased deliveries became due (released, recovered, published
    /// without a lease): an idle dispatcher should poll now.
    DeliveriesDue,
    /// Endpoints or subscriptions of this workspace changed: refresh its
    /// routing.
    Routing(WorkspaceId),
    /// The listener lost its connection and is back; changes may have been
    /// missed, so refresh everything and poll.
    Resync,
}

/// Everything hookrelay keeps: tenancy, endpoints and subscriptions, the
/// history of events and deliveries, maintenance, and (as its supertrait)
/// the [`DeliveryQueue`]. Implemented by each backend; every method is one
/// transaction.
#[async_trait]
pub trait Store: DeliveryQueue {
    // --- tenancy -------------------------------------------------------
    async fn create_workspace(&self, ws: &Workspace) -> Result<()>;
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>>;
    async fn find_workspace_by_name(&self, name: &str) -> Result<Option<Workspace>>;
    /// Inserts a key; a key with the same hash already stored is left as is.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    async fn find_api_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>>;
    async fn list_api_keys(
        &self,
        ws: &WorkspaceId,
        page: &PageRequest,
    ) -> Result<Page<ApiKeyRecord>>;
    /// Revokes a live key and ends the dashboard sessions signed in with
    /// it; `false` if there is no live key with that id.
    async fn revoke_api_key(&self, ws: &WorkspaceId, id: &ApiKeyId, at: Timestamp) -> Result<bool>;
    /// Every workspace, by id.
    async fn list_workspaces(&self, page: &PageRequest) -> Result<Page<Workspace>>;

    // --- dashboard sessions and portal links ---------------------------
    /// Stores a new session (a token hash already stored is a conflict).
    async fn create_dashboard_session(&self, s: &DashboardSession) -> Result<()>;
    /// The session with this token hash if it is alive at `now`
    /// ([`DashboardSession::alive_at`]); an expired one reads as `None`.
    async fn get_dashboard_session(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DashboardSession>>;
    /// Records activity: `last_seen_at = at`, never backwards, and only
    /// while the session is alive. A write: callers do it at most every
    /// so often per session, not on every request.
    async fn touch_dashboard_session(&self, hash: &TokenHash, at: Timestamp) -> Result<()>;
    /// Sets the workspace of an admin session (picking or switching);
    /// `false` if there is no such admin session.
    async fn set_dashboard_session_workspace(
        &self,
        hash: &TokenHash,
        ws: &WorkspaceId,
    ) -> Result<bool>;
    /// Ends a session (sign-out); `false` if there was none.
    async fn delete_dashboard_session(&self, hash: &TokenHash) -> Result<bool>;
    async fn create_portal_link(&self, link: &PortalLink) -> Result<()>;
    /// Opens a portal link: marks it used if it is unused and `now` is
    /// before its expiry, atomically, so of any number of concurrent calls
    /// (on any node) exactly one gets [`Redemption::Opened`].
    async fn redeem_portal_link(&self, hash: &TokenHash, now: Timestamp) -> Result<Redemption>;

    // --- endpoints -----------------------------------------------------
    /// Inserts an endpoint. With `max_per_workspace`, fails with
    /// [`StoreError::QuotaExceeded`] instead when its workspace already has
    /// that many live (not deleted) endpoints; counting and inserting are one
    /// atomic step, so concurrent inserts (from any node) cannot overshoot.
    async fn insert_endpoint(&self, e: &Endpoint, max_per_workspace: Option<u32>) -> Result<()>;
    /// Replaces the configuration of a live endpoint (everything but its id,
    /// workspace, creation time, creator and failure record) if its
    /// `updated_at` is still `if_updated_at` (optimistic concurrency: a change
    /// made meanwhile, such as an auto-disable, is never overwritten).
    /// Re-enabling a disabled endpoint clears its failure record.
    /// `false` if there is no such live endpoint or it changed meanwhile.
    async fn update_endpoint(&self, e: &Endpoint, if_updated_at: Timestamp) -> Result<bool>;
    async fn get_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> Result<Option<Endpoint>>;
    async fn list_endpoints(
        &self,
        ws: &WorkspaceId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>>;
    /// Deletes an endpoint and its subscriptions and cancels its pending
    /// deliveries; its history stays. `false` if there is no live endpoint.
    async fn delete_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &EndpointId,
        at: Timestamp,
    ) -> Result<bool>;
    /// Every live endpoint and subscription (of one workspace, or all), for
    /// the routing cache.
    async fn load_routing(
        &self,
        ws: Option<&WorkspaceId>,
    ) -> Result<(Vec<Endpoint>, Vec<Subscription>)>;

    // --- subscriptions -------------------------------------------------
    /// Creates, or updates the one for the same endpoint and resource.
    /// Returns the stored subscription and whether it was created. With
    /// `max_per_workspace`, creating one fails with
    /// [`StoreError::QuotaExceeded`] when its workspace already has that many
    /// subscriptions (an update never does); as for
    /// [`Store::insert_endpoint`], the count and the write are atomic.
    async fn upsert_subscription(
        &self,
        s: &Subscription,
        max_per_workspace: Option<u32>,
    ) -> Result<(Subscription, bool)>;
    async fn update_subscription_events(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
        events: &[String],
    ) -> Result<Option<Subscription>>;
    async fn get_subscription(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>>;
    async fn list_subscriptions(
        &self,
        ws: &WorkspaceId,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>>;
    async fn delete_subscription(&self, ws: &WorkspaceId, id: &SubscriptionId) -> Result<bool>;

    // --- history -------------------------------------------------------
    async fn get_event(
        &self,
        ws: &WorkspaceId,
        id: &EventId,
    ) -> Result<Option<(Event, Vec<DeliverySummary>)>>;
    async fn list_events(
        &self,
        ws: &WorkspaceId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>>;

    async fn get_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<Option<(Delivery, Vec<Attempt>)>>;
    async fn list_deliveries(
        &self,
        ws: &WorkspaceId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>>;

    // --- statistics ----------------------------------------------------
    /// The attempts of a workspace, or of one of its endpoints, in
    /// `[since, until)` widened to whole buckets ([`Window::new`], which
    /// also says how long a window may be; a longer one is
    /// [`ErrorKind::Invalid`]): every bucket of the window, in order, those
    /// without attempts zero-filled. Reads only the window's rollup rows (see
    /// [`stats`]). An endpoint's statistics stay readable after it is
    /// deleted, until retention removes them.
    async fn stats(
        &self,
        ws: &WorkspaceId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        until: Timestamp,
        bucket: Bucket,
    ) -> Result<Vec<StatsBucket>>;
    /// The attempts of each endpoint of the workspace in `[since, until)`
    /// (widened to whole minutes; at most as long as a window of day
    /// buckets), by endpoint id. Endpoints without attempts in the window
    /// are left out.
    async fn endpoint_totals(
        &self,
        ws: &WorkspaceId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(EndpointId, Totals)>>;

    // --- maintenance ---------------------------------------------------
    /// Removes finished history created before `before`, the statistics of
    /// the minutes and hours before the one `before` falls in, idempotency
    /// keys older than 24 h, and dashboard sessions and portal links that
    /// are over at `now`.
    async fn purge(&self, before: Timestamp, now: Timestamp) -> Result<Purged>;
    /// A named server key, created with `make` on first use and kept
    /// forever (sealed like every secret, see [`crypt`]).
    async fn server_key(&self, name: &str, make: Vec<u8>) -> Result<Vec<u8>>;

    // --- secrets at rest ([`crypt`]) -----------------------------------
    /// How the rows holding secrets (every endpoint, deleted ones
    /// included, and the server keys) keep them: in plaintext or sealed
    /// under which key ids. Reads only; opens nothing.
    async fn sealing(&self) -> Result<crypt::SealingCensus>;
    /// The id of the key new values are sealed under (`None`: no keyring,
    /// values are written in plaintext).
    fn sealing_key(&self) -> Option<String>;
    /// Re-seals, under the newest key of the store's keyring, every row
    /// holding a secret that is in plaintext or (with [`crypt::Reseal::All`])
    /// sealed under an older key,
    /// in small batches (each its own short transaction, so other writes
    /// go on meanwhile); a row changed since it was read is left to the
    /// writer who changed it (which sealed it under the newest key).
    /// Returns how many rows were rewritten. Without a keyring it does
    /// nothing. Fails, writing nothing more, at a value no key opens.
    async fn reseal(&self, scope: crypt::Reseal) -> Result<u64>;
    /// Waits for pending writes and closes.
    async fn close(&self);

    /// Changes other nodes make to a shared database, or `None` when the
    /// backend is single-node (SQLite).
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StoreChange>> {
        None
    }
}

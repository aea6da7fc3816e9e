//! Storage: the one interface every backend implements ([`Store`]), the
//! records it speaks in, and the backends themselves: `sqlite` (one process,
//! one file) and `postgres` (any number of nodes sharing one database).
//!
//! **Architecture invariant:** only this crate contains SQL. Everything above
//! it talks in domain records from `hookrelay-core`.
//!
//! The interface is shaped by the hot path: [`Store::publish`] takes a batch of
//! events with their deliveries and commits them together (backends group
//! concurrent calls into one transaction and one fsync), deliveries are created
//! already leased to the publishing node so they can be handed to its
//! dispatcher in memory, and [`Store::record_outcomes`] writes attempt results
//! in batches.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{
    Attempt, Delivery, DeliveryStatus, Endpoint, EndpointStatus, Event, Subscription,
};
use hookrelay_core::secret::ApiKeyHash;
use hookrelay_core::time::Timestamp;

pub mod directory;
mod error;
pub mod postgres;
pub mod sqlite;

pub use error::StoreError;

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

/// A node's claim on deliveries until a time.
#[derive(Clone, Debug)]
pub struct Lease {
    pub owner: String,
    pub until: Timestamp,
}

/// A delivery to create with its event.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    /// The event type as rendered for the endpoint.
    pub event_type: String,
    /// The endpoint's API version.
    pub api_version: String,
}

/// An event to publish, with the deliveries fan-out chose for it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event: Event,
    pub deliveries: Vec<NewDelivery>,
}

/// What [`Store::publish`] did with one event.
#[derive(Clone, Debug)]
pub enum Published {
    /// Stored with its deliveries (leased to the caller when a lease was given).
    Created(Event),
    /// Its idempotency key was used within 24 h; this is the first event, and
    /// nothing new was stored.
    Duplicate(Event),
}

impl Published {
    pub fn event(&self) -> &Event {
        match self {
            Published::Created(e) | Published::Duplicate(e) => e,
        }
    }
}

/// A delivery ready to attempt, with its event.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub event: Arc<Event>,
    /// A manual retry / recovery: one attempt outside the automatic schedule.
    pub manual: bool,
}

/// What one [`Store::claim`] may take: due deliveries of these workspaces,
/// at most so many of each, and at most so many of some endpoints.
///
/// The dispatcher decides the numbers (how much room each workspace and
/// endpoint has in its memory); the store only obeys them, so that a
/// workspace with a deep backlog cannot crowd the others out of a claim, and
/// an endpoint that can take little is not handed more than it can hold.
#[derive(Clone, Debug)]
pub struct Claim {
    /// Deliveries due at or before this time are taken.
    pub now: Timestamp,
    pub lease: Lease,
    /// The workspaces to take from, each with the most to take from it.
    pub workspaces: Vec<(WorkspaceId, u32)>,
    /// Endpoints with a limited room: at most this many of theirs (0: none).
    pub endpoints: HashMap<EndpointId, u32>,
    /// The room of every other endpoint (`None`: limited only by its
    /// workspace's number).
    pub default_room: Option<u32>,
}

impl Claim {
    /// Takes one delivery of `endpoint` out of `rooms` (keyed as the caller
    /// likes), filling in `default` for an endpoint first seen; false when it
    /// has no room left.
    pub fn take_room<K: std::hash::Hash + Eq>(
        rooms: &mut HashMap<K, u32>,
        endpoint: K,
        default: Option<u32>,
    ) -> bool {
        let left = match default {
            Some(d) => rooms.entry(endpoint).or_insert(d),
            None => match rooms.get_mut(&endpoint) {
                Some(n) => n,
                None => return true,
            },
        };
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    }

    /// Endpoints the claim takes nothing of.
    pub fn skipped(&self) -> impl Iterator<Item = &EndpointId> {
        self.endpoints
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(e, _)| e)
    }
}

/// The result of an attempt (or of deciding not to attempt), to record.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    /// Record it only while the delivery is still leased to this owner (the
    /// node that made the attempt): a node whose lease ran out and was taken
    /// over must not overwrite the new owner's work. `None`: whoever holds
    /// the lease (maintenance and tests).
    pub lease_owner: Option<String>,
    /// The attempt made, if one was.
    pub attempt: Option<Attempt>,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub endpoint_effect: Option<EndpointEffect>,
}

/// What an outcome does to its endpoint's health record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointEffect {
    /// A success: the endpoint is not failing any more.
    ClearFailing,
    /// A failure: failing since this time, unless it already was.
    MarkFailing(Timestamp),
    /// Failing too long: disable with reason `failing`.
    DisableFailing(Timestamp),
}

/// Per-endpoint delivery summary of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliverySummary {
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
}

/// The backlog, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries still pending (waiting, queued or in flight).
    pub pending: u64,
    /// When the oldest pending delivery was created.
    pub oldest_created_at: Option<Timestamp>,
}

/// Counts of what a retention purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
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

/// Everything hookrelay keeps. Implemented by each backend; every method is
/// one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
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
    /// Revokes a live key; `false` if there is none with that id.
    async fn revoke_api_key(&self, ws: &WorkspaceId, id: &ApiKeyId, at: Timestamp) -> Result<bool>;

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

    // --- events --------------------------------------------------------
    /// Stores events and their deliveries durably (committed before this
    /// returns). Deliveries are leased to `lease` when given, except those of
    /// events with at least [`Store::fanout_through_claims`] deliveries: they
    /// are left unleased, due at the event's time, for [`Store::claim`]. Each item
    /// succeeds or fails on its own.
    async fn publish(
        &self,
        events: Vec<NewEvent>,
        lease: Option<Lease>,
    ) -> Result<Vec<Result<Published>>>;
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

    // --- delivery engine -----------------------------------------------
    /// Up to `limit` workspaces that have pending deliveries due at `now`
    /// (not leased, or their lease ran out), in id order, starting after
    /// `after`. Reads only; the dispatcher's poller asks it before each
    /// claim, so that it can share its room among them.
    async fn due_workspaces(
        &self,
        now: Timestamp,
        after: Option<&WorkspaceId>,
        limit: u32,
    ) -> Result<Vec<WorkspaceId>>;
    /// Leases what `claim` allows of the due deliveries of its workspaces:
    /// per workspace the oldest first, skipping endpoints out of room. A
    /// claim of one workspace never reads another's rows.
    async fn claim(&self, claim: &Claim) -> Result<Vec<DueDelivery>>;
    /// Leases up to `limit` due deliveries of any workspace, skipping
    /// `exclude` endpoints: [`Store::claim`] over every due workspace in
    /// turn, for callers that need no fairness (tests, tools).
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
        exclude: &[EndpointId],
    ) -> Result<Vec<DueDelivery>> {
        let mut out = Vec::new();
        let endpoints: HashMap<EndpointId, u32> = exclude.iter().map(|e| (e.clone(), 0)).collect();
        for ws in self.due_workspaces(now, None, u32::MAX).await? {
            let left = limit.saturating_sub(out.len() as u32);
            if left == 0 {
                break;
            }
            let got = self
                .claim(&Claim {
                    now,
                    lease: lease.clone(),
                    workspaces: vec![(ws, left)],
                    endpoints: endpoints.clone(),
                    default_room: None,
                })
                .await?;
            out.extend(got);
        }
        Ok(out)
    }
    /// Extends the lease on deliveries still held by `lease.owner`.
    async fn renew_leases(&self, ids: &[DeliveryId], lease: &Lease) -> Result<()>;
    /// Gives deliveries back unattempted: due again at their scheduled time.
    async fn release(&self, ids: &[DeliveryId], owner: &str) -> Result<()>;
    /// Records attempt outcomes (only onto deliveries still pending).
    async fn record_outcomes(&self, outcomes: Vec<Outcome>) -> Result<()>;
    /// Makes a delivery pending again for one manual attempt now, leased to
    /// `lease`. `None` if it does not exist in the workspace.
    async fn requeue_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
        now: Timestamp,
        lease: &Lease,
    ) -> Result<Option<DueDelivery>>;
    /// Requeues (as manual attempts) the failed deliveries of an endpoint
    /// created in `[since, until)`. They are left unleased, due now.
    async fn recover_endpoint(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64>;
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
    /// Drops leases whose owner starts with `owner_prefix` (compared
    /// literally), or every lease with `None` (SQLite at start: one process
    /// owns the file), so their deliveries are due again.
    async fn release_stale_leases(&self, owner_prefix: Option<&str>) -> Result<u64>;

    // --- maintenance ---------------------------------------------------
    /// The size and age of the backlog.
    async fn backlog(&self) -> Result<Backlog>;
    /// Removes finished history created before `before`, and idempotency keys
    /// older than 24 h.
    async fn purge(&self, before: Timestamp, now: Timestamp) -> Result<Purged>;
    /// A named server key, created with `make` on first use and kept forever.
    async fn server_key(&self, name: &str, make: Vec<u8>) -> Result<Vec<u8>>;
    /// Waits for pending writes and closes.
    async fn close(&self);

    /// Events with at least this many deliveries are stored unleased by
    /// [`Store::publish`], whatever lease it is given, and left for
    /// [`Store::claim`] instead of being handed to the dispatcher in memory;
    /// `None` (the default): every publish is leased as asked. SQLite stores
    /// one fan-out row for such an event and writes its delivery rows when a
    /// claim takes them (`sqlite/fanout.rs`), so a wide publish costs one
    /// row instead of one per endpoint.
    fn fanout_through_claims(&self) -> Option<usize> {
        None
    }

    /// The database's own clock, for backends shared by several nodes
    /// (PostgreSQL): leases are compared against one clock, whatever each
    /// node's says. `None` when the database is this process (SQLite).
    async fn database_now(&self) -> Result<Option<Timestamp>> {
        Ok(None)
    }

    /// Changes other nodes make to a shared database, or `None` when the
    /// backend is single-node (SQLite).
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StoreChange>> {
        None
    }
}

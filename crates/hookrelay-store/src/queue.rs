//! The delivery queue: [`DeliveryQueue`], the small interface between the
//! store and the delivery engine (publish, claim, renew, release, record,
//! requeue), and the records it speaks in.
//!
//! How a backend keeps its queue is its own business: SQLite, for instance,
//! stores a wide fan-out as one row and its due-scan memory privately
//! (`sqlite/fanout.rs`, `sqlite/due.rs`); callers see only leased
//! deliveries and [`Published::left_for_claims`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use hookrelay_core::ids::{DeliveryId, EndpointId, WorkspaceId};
use hookrelay_core::model::{Attempt, Delivery, DeliveryStatus, Event};
use hookrelay_core::time::Timestamp;

use crate::Result;

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

impl NewDelivery {
    /// The delivery as stored with `event`: pending, never attempted, due
    /// at the event's time.
    pub fn pending(&self, event: &Event) -> Delivery {
        Delivery {
            id: self.id.clone(),
            workspace_id: event.workspace_id.clone(),
            event_id: event.id.clone(),
            endpoint_id: self.endpoint_id.clone(),
            event_type: self.event_type.clone(),
            api_version: self.api_version.clone(),
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            next_attempt_at: Some(event.created_at),
            created_at: event.created_at,
            test: event.test,
            manual: false,
        }
    }
}

/// An event to publish, with the deliveries fan-out chose for it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event: Event,
    pub deliveries: Vec<NewDelivery>,
}

/// What [`DeliveryQueue::publish`] did with one event.
#[derive(Clone, Debug)]
pub enum Published {
    /// Stored with its deliveries. `leased` are those leased to the
    /// publisher, for its dispatcher to attempt now; the others (all of
    /// them without a lease, or when the backend chose to leave a wide
    /// fan-out to claims) are stored unleased and due, for
    /// [`DeliveryQueue::claim`].
    Created {
        event: Arc<Event>,
        leased: Vec<DueDelivery>,
    },
    /// Its idempotency key was used within 24 h; this is the first event, and
    /// nothing new was stored.
    Duplicate(Event),
}

impl Published {
    pub fn event(&self) -> &Event {
        match self {
            Published::Created { event, .. } => event,
            Published::Duplicate(e) => e,
        }
    }

    /// Whether some of its deliveries were stored unleased and due: a
    /// dispatcher should poll for them.
    pub fn left_for_claims(&self) -> bool {
        match self {
            Published::Created { event, leased } => leased.len() < event.delivery_count as usize,
            Published::Duplicate(_) => false,
        }
    }

    /// The answer for a newly stored event: `deliveries` as the publisher's
    /// dispatcher will hold them when `leased`, none otherwise.
    pub(crate) fn stored(mut event: Event, deliveries: &[NewDelivery], leased: bool) -> Self {
        event.delivery_count = deliveries.len() as u32;
        let event = Arc::new(event);
        let leased = if leased {
            deliveries
                .iter()
                .map(|d| DueDelivery {
                    delivery: d.pending(&event),
                    event: event.clone(),
                    manual: false,
                })
                .collect()
        } else {
            Vec::new()
        };
        Published::Created { event, leased }
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

/// What one [`DeliveryQueue::claim`] may take: due deliveries of these workspaces,
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

/// The backlog, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries still pending (waiting, queued or in flight).
    pub pending: u64,
    /// When the oldest pending delivery was created.
    pub oldest_created_at: Option<Timestamp>,
}

/// The delivery queue: what the publishing API and the dispatcher need of
/// the store, and nothing else. Every method is one transaction.
///
/// A delivery is *due* when it is pending and `ready_at <= now`; holding one
/// (in a dispatcher's memory or in flight) means holding its lease, which
/// pushes `ready_at` to the lease's end. A recorded outcome clears the lease.
#[async_trait]
pub trait DeliveryQueue: Send + Sync + 'static {
    /// Stores events and their deliveries durably (committed before this
    /// returns), each item succeeding or failing on its own. With a lease,
    /// deliveries are leased to it and returned in [`Published::Created`]
    /// for the caller's dispatcher; a backend may instead leave them
    /// unleased and due for [`DeliveryQueue::claim`] (SQLite does for an
    /// event to many endpoints, storing one fan-out row in place of a row
    /// per delivery), which [`Published::left_for_claims`] tells.
    async fn publish(
        &self,
        events: Vec<NewEvent>,
        lease: Option<Lease>,
    ) -> Result<Vec<Result<Published>>>;

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
    /// `exclude` endpoints: [`DeliveryQueue::claim`] over every due workspace in
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
    /// Drops leases whose owner starts with `owner_prefix` (compared
    /// literally), or every lease with `None` (SQLite at start: one process
    /// owns the file), so their deliveries are due again.
    async fn release_stale_leases(&self, owner_prefix: Option<&str>) -> Result<u64>;

    /// The size and age of the backlog.
    async fn backlog(&self) -> Result<Backlog>;

    /// The database's own clock, for backends shared by several nodes
    /// (PostgreSQL): leases are compared against one clock, whatever each
    /// node's says. `None` when the database is this process (SQLite).
    async fn database_now(&self) -> Result<Option<Timestamp>> {
        Ok(None)
    }
}

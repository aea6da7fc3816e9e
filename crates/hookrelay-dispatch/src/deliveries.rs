//! The deliveries service: everything that puts deliveries into the queue
//! because someone asked — publishing events, test events, manual retries,
//! recovering a window of failures — from routing through the durable write
//! to handing what was leased to this node's dispatcher.
//!
//! The API's handlers parse their input, call one method here and render
//! the answer; none of them needs to know how the store keeps its queue
//! (whether a wide fan-out came back leased or was left for the poller) or
//! what the dispatcher wants to hear about it.

use std::sync::Arc;

use hookrelay_core::catalog::Catalog;
use hookrelay_core::ids::{DeliveryId, Ids, WorkspaceId};
use hookrelay_core::model::{Delivery, Endpoint, Event, ResourceRef};
use hookrelay_core::parsed::EventType;
use hookrelay_core::time::Timestamp;
use hookrelay_store::directory::Directory;
use hookrelay_store::{DeliveryQueue, NewDelivery, NewEvent, Published, Result};

use crate::Dispatcher;

/// An event as a publisher gives it, checked but not yet routed.
#[derive(Clone, Debug)]
pub struct Draft {
    pub event_type: EventType,
    /// The payload, a JSON object.
    pub payload: String,
    pub resource: Option<ResourceRef>,
    /// The previous state, a JSON object.
    pub previous_data: Option<String>,
    pub idempotency_key: Option<String>,
}

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct Deliveries {
    queue: Arc<dyn DeliveryQueue>,
    directory: Arc<Directory>,
    dispatcher: Dispatcher,
    ids: Arc<Ids>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

impl Deliveries {
    pub fn new(
        queue: Arc<dyn DeliveryQueue>,
        directory: Arc<Directory>,
        dispatcher: Dispatcher,
        ids: Arc<Ids>,
    ) -> Self {
        Self {
            queue,
            directory,
            dispatcher,
            ids,
        }
    }

    fn catalog(&self) -> &Catalog {
        self.directory.catalog()
    }

    /// Routes each draft to the workspace's endpoints that want it (through
    /// the in-memory directory: no database read), stores every event with
    /// its deliveries durably, and hands what the store leased to this node
    /// to the dispatcher. Each event stands or falls alone; the outer error
    /// is a failure of the whole write.
    pub async fn publish(
        &self,
        ws: &WorkspaceId,
        drafts: Vec<Draft>,
        now: Timestamp,
    ) -> Result<Vec<Result<Published>>> {
        let events = drafts.into_iter().map(|d| self.route(ws, d, now)).collect();
        self.commit(events).await
    }

    /// An event with the delivery to each endpoint routing chose, the type
    /// rendered for the endpoint's API version.
    fn route(&self, ws: &WorkspaceId, d: Draft, now: Timestamp) -> NewEvent {
        let catalog = self.catalog();
        let deliveries: Vec<NewDelivery> = self
            .directory
            .route(ws, &d.event_type, d.resource.as_ref())
            .iter()
            .map(|e| new_delivery(catalog, &self.ids, e, &d.event_type, now))
            .collect();
        NewEvent {
            event: Event {
                id: self.ids.at(now),
                workspace_id: ws.clone(),
                event_type: d.event_type,
                payload: d.payload,
                resource: d.resource,
                previous_data: d.previous_data,
                idempotency_key: d.idempotency_key,
                created_at: now,
                delivery_count: deliveries.len() as u32,
                test: false,
            },
            deliveries,
        }
    }

    /// Stores events, then gives the dispatcher what it now holds: the
    /// leased deliveries in memory, and a wake-up for any left to claims.
    async fn commit(&self, events: Vec<NewEvent>) -> Result<Vec<Result<Published>>> {
        let lease = self.dispatcher.lease();
        let mut results = self.queue.publish(events, Some(lease)).await?;
        let mut wake = false;
        let mut due = Vec::new();
        for p in results.iter_mut().flatten() {
            wake |= p.left_for_claims();
            if let Published::Created { leased, .. } = p {
                due.append(leased);
            }
        }
        self.dispatcher.submit(due);
        if wake {
            self.dispatcher.wake();
        }
        Ok(results)
    }

    /// Publishes a test event of canonical type `event_type` with
    /// `payload` (the catalog's example, say) to `endpoint` only: recorded
    /// in history with `test: true`, attempted once, retried only by hand.
    pub async fn send_test(
        &self,
        endpoint: &Endpoint,
        event_type: EventType,
        payload: String,
        now: Timestamp,
    ) -> Result<Delivery> {
        let new = new_delivery(self.catalog(), &self.ids, endpoint, &event_type, now);
        let event = Event {
            id: self.ids.at(now),
            workspace_id: endpoint.workspace_id.clone(),
            event_type,
            payload,
            resource: None,
            previous_data: None,
            idempotency_key: None,
            created_at: now,
            delivery_count: 1,
            test: true,
        };
        let delivery = new.pending(&event);
        let mut results = self
            .commit(vec![NewEvent {
                event,
                deliveries: vec![new],
            }])
            .await?;
        // One event in, one result out; without an idempotency key it
        // cannot be a duplicate.
        if let Some(Err(e)) = results.pop() {
            return Err(e);
        }
        Ok(delivery)
    }

    /// Sends a delivery again now, whatever its state: one manual attempt,
    /// leased to this node and handed to its dispatcher. `None`: no such
    /// delivery in the workspace.
    pub async fn retry(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Option<Delivery>> {
        let lease = self.dispatcher.lease();
        let Some(due) = self.queue.requeue_delivery(ws, id, now, &lease).await? else {
            return Ok(None);
        };
        let delivery = due.delivery.clone();
        self.dispatcher.submit(vec![due]);
        Ok(Some(delivery))
    }

    /// Requeues, as manual attempts due now, the failed deliveries of
    /// `endpoint` created in `[since, until)`, and wakes the poller to claim
    /// them. Answers how many.
    pub async fn recover(
        &self,
        endpoint: &Endpoint,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let n = self
            .queue
            .recover_endpoint(&endpoint.workspace_id, &endpoint.id, since, until, now)
            .await?;
        if n > 0 {
            self.dispatcher.wake();
        }
        Ok(n)
    }
}

/// The delivery of an event of canonical type `event_type` to `endpoint`.
fn new_delivery(
    catalog: &Catalog,
    ids: &Ids,
    endpoint: &Endpoint,
    event_type: &str,
    now: Timestamp,
) -> NewDelivery {
    NewDelivery {
        id: ids.at(now),
        endpoint_id: endpoint.id.clone(),
        event_type: catalog
            .rendered_name(event_type, &endpoint.api_version)
            .unwrap_or(event_type)
            .to_owned(),
        api_version: endpoint.api_version.to_string(),
    }
}

//! Fixtures shared by the conformance tests: fixed times, records with sensible
//! defaults, and small helpers for publishing, claiming, finishing deliveries
//! and walking paginated lists.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{
    AdvancedOptions, Attempt, Delivery, DeliveryStatus, Endpoint, EndpointSecrets, EndpointStatus,
    ErrorKind, Event, ResourceType, SignatureScheme, Subscription,
};
use hookrelay_core::secret::{ApiKeyHash, Secret};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{
    ApiKeyRecord, DueDelivery, Lease, NewDelivery, NewEvent, Outcome, Page, PageRequest, Published,
    Result, Store, Workspace,
};

pub const SEC: i64 = 1_000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// The suite's "now": 2027-01-15, far from the wall clock on purpose.
pub const T0: Timestamp = Timestamp(1_800_000_000_000);

/// `T0` plus `ms` milliseconds.
pub fn t(ms: i64) -> Timestamp {
    T0.plus_millis(ms)
}

pub const EVENT_TYPE: &str = "extract_run.processed";
pub const API_VERSION: &str = "2026-02-09";

/// Bounds every store call that could hang: a hang fails the test instead.
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 30 s"))
}

// --- tenancy ------------------------------------------------------------

pub fn workspace_record(name: &str, at: Timestamp) -> Workspace {
    Workspace {
        id: WorkspaceId::at(at.0),
        name: name.to_owned(),
        created_at: at,
    }
}

/// Creates a workspace and returns its id.
pub async fn workspace(store: &dyn Store, name: &str) -> WorkspaceId {
    let ws = workspace_record(name, T0);
    store.create_workspace(&ws).await.expect("create workspace");
    ws.id
}

pub fn api_key(ws: &WorkspaceId, plaintext: &str, at: Timestamp) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId::at(at.0),
        workspace_id: ws.clone(),
        name: format!("key {plaintext}"),
        prefix: plaintext.chars().take(11).collect(),
        hash: ApiKeyHash::of(plaintext),
        created_at: at,
        revoked_at: None,
    }
}

// --- endpoints ----------------------------------------------------------

/// An enabled extend-profile endpoint created at `at`, with an id of that time.
pub fn endpoint(ws: &WorkspaceId, at: Timestamp) -> Endpoint {
    Endpoint {
        id: EndpointId::at(at.0),
        workspace_id: ws.clone(),
        url: hookrelay_core::parsed::EndpointUrl::from_trusted(
            "https://receiver.example.com/hooks".into(),
        ),
        name: "receiver".to_owned(),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        enabled_events: vec![EVENT_TYPE.to_owned()],
        api_version: hookrelay_core::parsed::ApiVersion::from_trusted(API_VERSION.into()),
        advanced_options: AdvancedOptions::default(),
        signature_scheme: SignatureScheme::Extend,
        retry_schedule: None,
        rate_limit_per_second: None,
        secrets: EndpointSecrets::new(Secret::new(
            "wss_conformance_secret_0123456789abcdef".into(),
        )),
        created_at: at,
        created_by: None,
        updated_at: at,
        failing_since: None,
    }
}

/// Inserts an endpoint created at `at` and returns it.
pub async fn add_endpoint(store: &dyn Store, ws: &WorkspaceId, at: Timestamp) -> Endpoint {
    let e = endpoint(ws, at);
    store
        .insert_endpoint(&e, None)
        .await
        .expect("insert endpoint");
    e
}

pub async fn get_endpoint(store: &dyn Store, e: &Endpoint) -> Endpoint {
    store
        .get_endpoint(&e.workspace_id, &e.id)
        .await
        .expect("get endpoint")
        .expect("endpoint exists")
}

// --- subscriptions ----------------------------------------------------

/// A workflow-scoped subscription of `e` to `resource_id`, created at `at`.
pub fn subscription(e: &Endpoint, resource_id: &str, at: Timestamp) -> Subscription {
    Subscription {
        id: SubscriptionId::at(at.0),
        workspace_id: e.workspace_id.clone(),
        endpoint_id: e.id.clone(),
        resource_type: ResourceType::Workflow,
        resource_id: resource_id.to_owned(),
        enabled_events: vec!["workflow_run.completed".to_owned()],
        created_at: at,
    }
}

/// Upserts a new subscription and expects it to be created.
pub async fn add_subscription(
    store: &dyn Store,
    e: &Endpoint,
    resource_id: &str,
    at: Timestamp,
) -> Subscription {
    let s = subscription(e, resource_id, at);
    let (stored, created) = store.upsert_subscription(&s, None).await.expect("upsert");
    assert!(created, "a new subscription is created");
    assert_eq!(stored, s);
    s
}

// --- events -------------------------------------------------------------

pub fn event(ws: &WorkspaceId, at: Timestamp) -> Event {
    Event {
        id: EventId::at(at.0),
        workspace_id: ws.clone(),
        event_type: hookrelay_core::parsed::EventType::from_trusted(EVENT_TYPE.into()),
        payload: r#"{"object":"extract_run","id":"ex_1","status":"PROCESSED"}"#.to_owned(),
        resource: None,
        previous_data: None,
        idempotency_key: None,
        created_at: at,
        delivery_count: 0,
        test: false,
    }
}

/// The event with one delivery (id of the event's time) per endpoint.
pub fn new_event(ev: Event, endpoints: &[&Endpoint]) -> NewEvent {
    let deliveries = endpoints
        .iter()
        .map(|e| NewDelivery {
            id: DeliveryId::at(ev.created_at.0),
            endpoint_id: e.id.clone(),
            event_type: ev.event_type.to_string(),
            api_version: e.api_version.to_string(),
        })
        .collect();
    NewEvent {
        event: ev,
        deliveries,
    }
}

/// Publishes one event and expects it to be created.
pub async fn publish_new(store: &dyn Store, ne: NewEvent, lease: Option<Lease>) -> Event {
    let mut out = store.publish(vec![ne], lease).await.expect("publish");
    assert_eq!(out.len(), 1, "one result per event");
    match out.pop().expect("one result").expect("publish item") {
        Published::Created { event: e, .. } => (*e).clone(),
        Published::Duplicate(e) => panic!("expected a new event, got duplicate of {}", e.id),
    }
}

/// Publishes (unleased) an event created at `at` to `endpoints`; returns it
/// and its delivery ids, in the order of `endpoints`.
pub async fn publish(
    store: &dyn Store,
    ws: &WorkspaceId,
    at: Timestamp,
    endpoints: &[&Endpoint],
) -> (Event, Vec<DeliveryId>) {
    let ne = new_event(event(ws, at), endpoints);
    let ids = ne.deliveries.iter().map(|d| d.id.clone()).collect();
    (publish_new(store, ne, None).await, ids)
}

/// Publishes one event with a single delivery to `e`; returns the delivery id.
pub async fn publish_to(store: &dyn Store, e: &Endpoint, at: Timestamp) -> DeliveryId {
    let (_, mut ids) = publish(store, &e.workspace_id, at, &[e]).await;
    ids.pop().expect("one delivery")
}

pub async fn get_delivery(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &DeliveryId,
) -> (Delivery, Vec<Attempt>) {
    store
        .get_delivery(ws, id)
        .await
        .expect("get delivery")
        .expect("delivery exists")
}

// --- delivery engine ----------------------------------------------------

pub fn lease(owner: &str, until: Timestamp) -> Lease {
    Lease {
        owner: owner.to_owned(),
        until,
    }
}

/// Claims (up to 1,000) due deliveries at `now` for `owner` with a 30 s lease.
pub async fn claim(store: &dyn Store, now: Timestamp, owner: &str) -> Vec<DueDelivery> {
    store
        .claim_due(now, &lease(owner, now.plus_millis(30 * SEC)), 1_000, &[])
        .await
        .expect("claim_due")
}

/// The ids [`claim`] got, sorted.
pub async fn claim_ids(store: &dyn Store, now: Timestamp, owner: &str) -> Vec<DeliveryId> {
    let mut ids: Vec<_> = claim(store, now, owner)
        .await
        .into_iter()
        .map(|d| d.delivery.id)
        .collect();
    ids.sort();
    ids
}

/// An attempt started at `at` that got `status` (`None`: timed out).
pub fn attempt(at: Timestamp, status: Option<u16>) -> Attempt {
    let ok = matches!(status, Some(s) if (200..300).contains(&s));
    Attempt {
        attempt_number: 0,
        started_at: at,
        duration_ms: 120,
        request_url: "https://receiver.example.com/hooks".to_owned(),
        request_headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "x-extend-request-timestamp".to_owned(),
                at.secs().to_string(),
            ),
        ],
        response_status: status,
        response_headers: status
            .map(|_| vec![("content-type".to_owned(), "text/plain".to_owned())])
            .unwrap_or_default(),
        response_body: status.map(|s| format!("answer {s}")),
        error_kind: match status {
            _ if ok => None,
            Some(_) => Some(ErrorKind::HttpStatus),
            None => Some(ErrorKind::Timeout),
        },
        error_message: (!ok).then(|| "did not succeed".to_owned()),
    }
}

/// An outcome with an attempt started at `at` that answered `http`.
pub fn outcome(
    delivery: &DeliveryId,
    endpoint: &EndpointId,
    at: Timestamp,
    http: Option<u16>,
    status: DeliveryStatus,
    attempt_count: u32,
    next_attempt_at: Option<Timestamp>,
) -> Outcome {
    Outcome {
        delivery_id: delivery.clone(),
        endpoint_id: endpoint.clone(),
        lease_owner: None,
        attempt: Some(attempt(at, http)),
        status,
        attempt_count,
        next_attempt_at,
        endpoint_effect: None,
    }
}

/// Records one final attempt (200 → succeeded, 500 → failed) at `at`.
pub async fn finish(
    store: &dyn Store,
    delivery: &DeliveryId,
    endpoint: &EndpointId,
    status: DeliveryStatus,
    at: Timestamp,
) {
    let http = match status {
        DeliveryStatus::Succeeded => 200,
        _ => 500,
    };
    store
        .record_outcomes(vec![outcome(
            delivery,
            endpoint,
            at,
            Some(http),
            status,
            1,
            None,
        )])
        .await
        .expect("record outcome");
}

// --- pagination ---------------------------------------------------------

/// Reads a whole list page by page (`limit` per page, direction `dir`),
/// checking each page against the contract: at most `limit` items, and a
/// `next` that is the last item's id exactly when the page is full and more
/// follow. Returns every id in the order read.
pub async fn walk<T, F, Fut>(
    dir: SortDir,
    limit: u32,
    id_of: impl Fn(&T) -> String,
    mut read: F,
) -> Vec<String>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut after = None;
    let mut out = Vec::new();
    for _ in 0..1_000 {
        let page = read(PageRequest {
            limit,
            after: after.clone(),
            dir,
        })
        .await
        .expect("read page");
        assert!(
            page.items.len() <= limit as usize,
            "a page holds at most `limit` items"
        );
        out.extend(page.items.iter().map(&id_of));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.items.len(),
                    limit as usize,
                    "only a full page may have a next page"
                );
                assert_eq!(
                    Some(&next),
                    page.items.last().map(&id_of).as_ref(),
                    "`next` is the id to continue after"
                );
                after = Some(next);
            }
            None => return out,
        }
    }
    panic!("pagination never ended");
}

/// Checks that `got` is `expected` in `dir` order, each exactly once.
pub fn assert_complete_order(got: &[String], expected: &[String], dir: SortDir) {
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "no item appears twice: {got:?}");
    let mut want = expected.to_vec();
    want.sort();
    if dir == SortDir::Desc {
        want.reverse();
    }
    assert_eq!(got, want, "every item once, in {dir:?} order");
}

//! At least once, everywhere: the delivery engine built from its parts (a
//! real store, its routing cache, a real receiver) where a whole server
//! could not set the scene: a routing cache that has not heard of an
//! endpoint, a node whose clock is minutes ahead, a stopped engine behind
//! `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use hookrelay_api::{ApiConfig, AppInner, AppState};
use hookrelay_core::catalog::Catalog;
use hookrelay_core::ids::{DeliveryId, EndpointId, EventId, WorkspaceId};
use hookrelay_core::model::{
    AdvancedOptions, DeliveryStatus, Endpoint, EndpointSecrets, EndpointStatus, Event,
    SignatureScheme,
};
use hookrelay_core::secret::Secret;
use hookrelay_core::time::{Clock, SystemClock, Timestamp};
use hookrelay_dispatch::{DispatchConfig, DispatchMetrics, Dispatcher, DispatcherTasks};
use hookrelay_store::directory::Directory;
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::{DueDelivery, Lease, NewDelivery, NewEvent, Published, Store, Workspace};

use crate::support::{eventually, PgSchema, Receiver};

const TYPE: &str = "extract_run.processed";

/// A clock `ahead` milliseconds ahead of the wall clock.
struct Ahead(i64);

impl Clock for Ahead {
    fn now(&self) -> Timestamp {
        SystemClock.now().plus_millis(self.0)
    }
}

async fn add_workspace(store: &dyn Store) -> WorkspaceId {
    let now = SystemClock.now();
    let ws = WorkspaceId::at(now.0);
    store
        .create_workspace(&Workspace {
            id: ws.clone(),
            name: "acme".into(),
            created_at: now,
        })
        .await
        .unwrap();
    ws
}

async fn add_endpoint(store: &dyn Store, ws: &WorkspaceId, url: &str) -> Endpoint {
    let now = SystemClock.now();
    let e = Endpoint {
        id: EndpointId::at(now.0),
        workspace_id: ws.clone(),
        url: hookrelay_core::parsed::EndpointUrl::from_trusted(url.to_owned()),
        name: "receiver".into(),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        enabled_events: vec![TYPE.into()],
        api_version: hookrelay_core::parsed::ApiVersion::from_trusted("2026-02-09".into()),
        advanced_options: AdvancedOptions::default(),
        signature_scheme: SignatureScheme::Extend,
        retry_schedule: Some(vec![3600]),
        rate_limit_per_second: None,
        secrets: EndpointSecrets::new(Secret::new("wss_engine_test_secret_0123456789".into())),
        created_at: now,
        created_by: None,
        updated_at: now,
        failing_since: None,
    };
    store.insert_endpoint(&e, None).await.unwrap();
    e
}

/// Publishes one event to `e` (leased to `lease`, or due at once); returns
/// the delivery as the engine would get it.
async fn publish(store: &dyn Store, e: &Endpoint, lease: Option<Lease>, tag: &str) -> DueDelivery {
    let now = SystemClock.now();
    let event = Event {
        id: EventId::at(now.0),
        workspace_id: e.workspace_id.clone(),
        event_type: hookrelay_core::parsed::EventType::from_trusted(TYPE.into()),
        payload: format!(r#"{{"tag":"{tag}"}}"#),
        resource: None,
        previous_data: None,
        idempotency_key: None,
        created_at: now,
        delivery_count: 1,
        test: false,
    };
    let d = NewDelivery {
        id: DeliveryId::at(now.0),
        endpoint_id: e.id.clone(),
        event_type: TYPE.into(),
        api_version: e.api_version.to_string(),
    };
    let id = d.id.clone();
    let mut out = store
        .publish(
            vec![NewEvent {
                event,
                deliveries: vec![d],
            }],
            lease,
        )
        .await
        .unwrap();
    let Ok(Published::Created { event: ev, .. }) = out.pop().unwrap() else {
        panic!("published")
    };
    let (delivery, _) = store
        .get_delivery(&e.workspace_id, &id)
        .await
        .unwrap()
        .unwrap();
    DueDelivery {
        delivery,
        event: ev,
        manual: false,
    }
}

struct Engine {
    directory: Arc<Directory>,
    dispatcher: Dispatcher,
    tasks: DispatcherTasks,
}

fn start(store: Arc<dyn Store>, directory: Arc<Directory>, clock: Arc<dyn Clock>) -> Engine {
    let mut registry = prometheus_client::registry::Registry::default();
    let (dispatcher, tasks) = Dispatcher::start(
        store,
        directory.clone(),
        clock,
        DispatchConfig {
            allow_private: true,
            poll_interval: Duration::from_millis(100),
            ..DispatchConfig::default()
        },
        Arc::new(DispatchMetrics::new(&mut registry)),
    );
    Engine {
        directory,
        dispatcher,
        tasks,
    }
}

async fn wait_status(store: &dyn Store, ws: &WorkspaceId, id: &DeliveryId, want: DeliveryStatus) {
    eventually(Duration::from_secs(10), || async {
        let (d, _) = store.get_delivery(ws, id).await.unwrap().unwrap();
        if d.status == want {
            Ok(())
        } else {
            Err(format!("{id} is {:?}, not {want:?}", d.status))
        }
    })
    .await
}

/// A delivery for an endpoint the node's routing cache does not know yet
/// (created elsewhere, notification not applied) is delivered: the node
/// reads the endpoint from the database. Only an endpoint that is really
/// gone has its delivery cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_the_routing_cache_does_not_know_is_read_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    let ws = add_workspace(&*store).await;
    let directory = Arc::new(
        Directory::load(store.clone(), Arc::new(Catalog::builtin()))
            .await
            .unwrap(),
    );
    let engine = start(store.clone(), directory, Arc::new(SystemClock));
    let r = Receiver::start().await;
    // Made behind the cache's back.
    let unknown = add_endpoint(&*store, &ws, &format!("{}/unknown", r.url)).await;
    assert!(engine.directory.endpoint(&unknown.id).is_none());
    let due = publish(&*store, &unknown, Some(engine.dispatcher.lease()), "new").await;
    let id = due.delivery.id.clone();
    engine.dispatcher.submit(vec![due]);
    let got = r.wait_for(1, Duration::from_secs(10)).await;
    assert!(got[0].path_and_query.ends_with("/unknown"));
    wait_status(&*store, &ws, &id, DeliveryStatus::Succeeded).await;
    assert!(
        engine.directory.endpoint(&unknown.id).is_some(),
        "the cache learned it"
    );

    // Deleted behind the cache's back: cancelled, nothing sent.
    let gone = add_endpoint(&*store, &ws, &format!("{}/gone", r.url)).await;
    let due = publish(&*store, &gone, Some(engine.dispatcher.lease()), "gone").await;
    let id = due.delivery.id.clone();
    assert!(store
        .delete_endpoint(&ws, &gone.id, SystemClock.now())
        .await
        .unwrap());
    engine.dispatcher.submit(vec![due]);
    eventually(Duration::from_secs(10), || async {
        match engine.dispatcher.held() {
            0 => Ok(()),
            n => Err(format!("{n} deliveries still held")),
        }
    })
    .await;
    wait_status(&*store, &ws, &id, DeliveryStatus::Cancelled).await;
    assert_eq!(
        r.received().len(),
        1,
        "nothing was sent to the deleted endpoint"
    );
    engine.tasks.shutdown().await;
    store.close().await;
}

/// A node whose clock runs two minutes ahead neither takes over another
/// node's live lease nor hands out leases that end early: lease times are
/// set and compared on the database's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_follow_the_databases_clock_not_the_nodes() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(
        hookrelay_store::postgres::PostgresStore::connect(&schema.url())
            .await
            .unwrap(),
    );
    let ws = add_workspace(&*store).await;
    let r = Receiver::start().await;
    let e = add_endpoint(&*store, &ws, &format!("{}/hook", r.url)).await;
    // Node A holds a delivery for the next 60 s of the database's clock.
    let db_now = store
        .database_now()
        .await
        .unwrap()
        .expect("a database clock");
    let held_by_a = publish(
        &*store,
        &e,
        Some(Lease {
            owner: "node-a".into(),
            until: db_now.plus_millis(60_000),
        }),
        "a",
    )
    .await;

    let directory = Arc::new(
        Directory::load(store.clone(), Arc::new(Catalog::builtin()))
            .await
            .unwrap(),
    );
    let ahead = 120_000;
    let b = start(store.clone(), directory, Arc::new(Ahead(ahead)));
    // B's leases end a lease's time after the database's now, not its own.
    eventually(Duration::from_secs(10), || async {
        let db_now = store.database_now().await.unwrap().unwrap();
        let off = b.dispatcher.lease().until.0 - db_now.0 - 60_000;
        if off.abs() < 2_000 {
            Ok(())
        } else {
            Err(format!("B's lease is {off} ms off"))
        }
    })
    .await;
    // A delivery due now is claimed by B, and with it nothing of A's.
    let due_now = publish(&*store, &e, None, "due").await;
    let got = r.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["payload"]["tag"], "due");
    wait_status(
        &*store,
        &ws,
        &due_now.delivery.id,
        DeliveryStatus::Succeeded,
    )
    .await;
    assert_eq!(r.received().len(), 1, "A's live lease was not taken over");
    let (still, _) = store
        .get_delivery(&ws, &held_by_a.delivery.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.status, DeliveryStatus::Pending);
    b.tasks.shutdown().await;
    store.close().await;
}

/// `/readyz` answers 503 while the node's delivery engine is not running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_dispatcher_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    let catalog = Arc::new(Catalog::builtin());
    let directory = Arc::new(
        Directory::load(store.clone(), catalog.clone())
            .await
            .unwrap(),
    );
    let engine = start(store.clone(), directory.clone(), Arc::new(SystemClock));
    let mut registry = prometheus_client::registry::Registry::default();
    let ops_metrics = hookrelay_api::OpsMetrics::new(&mut registry);
    let state = AppState {
        inner: Arc::new(AppInner {
            ops_metrics,
            signed_urls: Arc::new(hookrelay_core::signed_url::SignedUrls::new(
                vec![7; 32],
                "http://127.0.0.1",
            )),
            store: store.clone(),
            directory,
            dispatcher: engine.dispatcher.clone(),
            catalog,
            clock: Arc::new(SystemClock),
            ids: Arc::new(hookrelay_core::ids::Ids::new(Arc::new(SystemClock))),
            config: ApiConfig::default(),
            registry: Arc::new(registry),
            keys: Default::default(),
            openapi: hookrelay_api::OPENAPI_JSON,
            limiter: hookrelay_api::limit::RateLimiter::new(hookrelay_api::limit::RateLimit {
                per_second: 0,
                burst: 0,
            }),
            dashboard: Default::default(),
            listen: Default::default(),
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    let app = hookrelay_api::router(state);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let http = reqwest::Client::new();
    let ready = http.get(&url).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    engine.tasks.shutdown().await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "dispatcher_not_running");
    assert_eq!(body["retryable"], true);
    store.close().await;
}

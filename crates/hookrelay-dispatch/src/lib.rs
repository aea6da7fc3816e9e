//! The delivery engine: takes deliveries that are due (handed over in memory
//! right after they were committed, or claimed from the store by the poller),
//! sends them with per-endpoint concurrency and rate limits, and records each
//! outcome in batches.
//!
//! Pieces, each a task with one job:
//! - the **scheduler** ([`scheduler`]) carries out the fairness policy
//!   ([`policy`]: what is held in memory for whom, who gets the next attempt
//!   slot), starts attempts and knows every attempt task it started (so
//!   shutdown can wait for them);
//! - the **poller** claims due deliveries from the store when there is room
//!   (retries, restarts, fan-outs, deliveries given back when memory was
//!   short), one workspace at a time, sharing the room among the workspaces
//!   that have deliveries due;
//! - the **lease keeper** renews the leases of every delivery this node holds
//!   (and, on a shared database, keeps this node's lease times on the
//!   database's clock);
//! - the **recorder** writes outcomes in batches.
//!
//! Each attempt ([`sender`]) signs and sends through the engine's own HTTP
//! client ([`client`]: HTTP/1.1, keep-alive pool per origin, rustls), which
//! connects only to addresses the destination [`guard`] lets through.
//!
//! **Architecture invariant:** no store transaction is held across an
//! outbound HTTP call; an attempt only reads the in-memory directory.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookrelay_core::catalog::Envelope;
use hookrelay_core::ids::{DeliveryId, EndpointId, Ids, WorkspaceId};
use hookrelay_core::model::Endpoint;
use hookrelay_core::time::{Clock, Timestamp};
use hookrelay_store::directory::Directory;
use hookrelay_store::{Claim, DueDelivery, Lease, Store};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod client;
mod deliveries;
pub mod guard;
pub mod metrics;
pub mod policy;
mod recorder;
mod render;
pub mod scheduler;
pub mod sender;

pub use deliveries::{Deliveries, Draft};
pub use metrics::DispatchMetrics;
pub use render::{delivery_body, render_for, render_payload_for, EventEntry};

/// Settings of the delivery engine.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// This process's name in leases.
    pub node_id: String,
    /// Per-attempt timeout.
    pub request_timeout: Duration,
    /// Allow loopback/private destinations (dev mode).
    pub allow_private: bool,
    /// Retry delays (seconds) for endpoints without their own.
    pub default_schedule: Vec<u32>,
    /// Relative jitter of retry delays.
    pub jitter: f64,
    /// Attempts in flight at once, over all endpoints.
    pub max_in_flight: usize,
    /// Attempts in flight at once, over all endpoints of one workspace.
    pub max_in_flight_per_workspace: usize,
    /// Attempts in flight at once to one endpoint.
    pub endpoint_concurrency: usize,
    /// Deliveries held in memory (queued, in flight, or with their outcome
    /// not yet written); beyond this they wait in the store.
    pub max_held: usize,
    /// Deliveries held in memory for one workspace (at most; less when
    /// other workspaces need room too).
    pub max_held_per_workspace: usize,
    /// Deliveries held in memory for one endpoint (at most; less when it
    /// cannot send them soon).
    pub max_held_per_endpoint: usize,
    /// How long a lease lasts; renewed every third of it.
    pub lease: Duration,
    /// How often the poller looks for due deliveries when nobody wakes it.
    pub poll_interval: Duration,
    /// Disable an endpoint whose deliveries have all failed for this long (0 = never).
    pub auto_disable_after: Duration,
    /// How long shutdown waits for attempts in flight before giving them back.
    pub shutdown_grace: Duration,
    pub user_agent: String,
    /// Failed attempts in a row that pause an endpoint (0 = never).
    pub breaker_threshold: u32,
    /// The longest pause between probes of a failing endpoint.
    pub breaker_max_cooldown: Duration,
    /// Mints signed payload URLs (payload format `url`).
    pub signed_urls: Option<Arc<hookrelay_core::signed_url::SignedUrls>>,
    /// Root certificates (DER) trusted for HTTPS endpoints besides the web PKI's.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            node_id: format!("node-{}", ulid::Ulid::new()),
            request_timeout: Duration::from_secs(30),
            allow_private: false,
            default_schedule: hookrelay_core::retry::DEFAULT_SCHEDULE.to_vec(),
            jitter: hookrelay_core::retry::DEFAULT_JITTER,
            max_in_flight: 256,
            max_in_flight_per_workspace: 64,
            endpoint_concurrency: 32,
            max_held: 20_000,
            max_held_per_workspace: 10_000,
            max_held_per_endpoint: 5_000,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            auto_disable_after: Duration::from_secs(5 * 86_400),
            shutdown_grace: Duration::from_secs(10),
            user_agent: concat!("hookrelay/", env!("CARGO_PKG_VERSION")).to_owned(),
            signed_urls: None,
            breaker_threshold: 10,
            breaker_max_cooldown: Duration::from_secs(5),
            extra_roots: Vec::new(),
        }
    }
}

impl DispatchConfig {
    /// The numbers the fairness policy enforces.
    pub fn limits(&self) -> policy::Limits {
        policy::Limits {
            max_in_flight: self.max_in_flight.max(1),
            max_in_flight_per_workspace: self.max_in_flight_per_workspace.max(1),
            endpoint_concurrency: self.endpoint_concurrency.max(1),
            max_held: self.max_held.max(1),
            max_held_per_workspace: self.max_held_per_workspace.max(1),
            max_held_per_endpoint: self.max_held_per_endpoint.max(1),
            breaker_threshold: self.breaker_threshold,
            breaker_max_cooldown: self.breaker_max_cooldown,
        }
    }
}

/// How many of the engine's long-lived tasks still run; each holds an
/// [`AliveGuard`] that counts itself out when the task ends, however it ends.
pub(crate) struct Alive {
    live: Arc<AtomicUsize>,
}

/// The engine's long-lived tasks: scheduler, poller, lease keeper, recorder.
const TASKS: usize = 4;

impl Alive {
    fn new() -> Self {
        Self {
            live: Arc::new(AtomicUsize::new(TASKS)),
        }
    }

    pub(crate) fn guard(&self) -> AliveGuard {
        AliveGuard(self.live.clone())
    }

    fn all(&self) -> bool {
        self.live.load(Ordering::Acquire) == TASKS
    }
}

pub(crate) struct AliveGuard(Arc<AtomicUsize>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the engine shares between its tasks.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub directory: Arc<Directory>,
    pub clock: Arc<dyn Clock>,
    pub config: DispatchConfig,
    /// Where attempts go (the HTTP client, or a fake in unit tests).
    pub transport: sender::Transport,
    pub metrics: Arc<DispatchMetrics>,
    /// Delivery ids this node holds (queued or in flight), for lease renewal.
    /// (FxHash: looked up several times per delivery; the keys are ids this
    /// server minted.)
    pub held: Mutex<rustc_hash::FxHashMap<DeliveryId, EndpointId>>,
    /// Known failing-since per endpoint (for auto-disable without reading the store).
    pub health: Mutex<rustc_hash::FxHashMap<EndpointId, Option<Timestamp>>>,
    pub wake_poller: Notify,
    pub alive: Alive,
    /// The database's clock minus this node's (ms): lease times are set and
    /// compared on the database's clock, so that nodes whose clocks disagree
    /// still agree on when a lease ends. 0 on a database of our own.
    pub clock_offset: AtomicI64,
}

impl Shared {
    /// Now, on the clock leases are compared against.
    pub fn lease_now(&self) -> Timestamp {
        self.clock
            .now()
            .plus_millis(self.clock_offset.load(Ordering::Relaxed))
    }

    /// A lease for this node from now.
    pub fn lease(&self) -> Lease {
        Lease {
            owner: self.config.node_id.clone(),
            until: self
                .lease_now()
                .plus_millis(self.config.lease.as_millis() as i64),
        }
    }

    /// Measures how far the database's clock is from this node's.
    async fn sync_clock(&self) {
        let before = self.clock.now();
        match self.store.database_now().await {
            Ok(Some(db)) => {
                let after = self.clock.now();
                let mid = before.0 + (after.0 - before.0) / 2;
                self.clock_offset.store(db.0 - mid, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the database's clock failed"),
        }
    }

    pub fn schedule_for(&self, endpoint: &Endpoint) -> Vec<u32> {
        if let Some(s) = &endpoint.retry_schedule {
            return s.clone();
        }
        let envelope = self
            .directory
            .catalog()
            .version(&endpoint.api_version)
            .map(|v| v.envelope);
        match envelope {
            Some(Envelope::V1) => hookrelay_core::retry::V1_SCHEDULE.to_vec(),
            _ => self.config.default_schedule.clone(),
        }
    }
}

/// A handle to the running engine.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<scheduler::Msg>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("node_id", &self.shared.config.node_id)
            .finish()
    }
}

/// The engine's tasks, to wait for at shutdown.
pub struct DispatcherTasks {
    scheduler: JoinHandle<()>,
    poller: JoinHandle<()>,
    keeper: JoinHandle<()>,
    recorder: JoinHandle<()>,
    stop: CancellationToken,
    tx: mpsc::UnboundedSender<scheduler::Msg>,
}

impl Dispatcher {
    /// Starts the engine's tasks.
    pub fn start(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        clock: Arc<dyn Clock>,
        config: DispatchConfig,
        metrics: Arc<DispatchMetrics>,
    ) -> (Self, DispatcherTasks) {
        // The binary checks the extra roots when it reads its configuration.
        let client = client::Client::new(config.allow_private, &config.extra_roots)
            .expect("the extra root certificates were checked at configuration");
        let relay = client::Client::new(true, &config.extra_roots)
            .expect("the extra root certificates were checked at configuration");
        let transport = sender::Transport::Http { client, relay };
        Self::start_on(store, directory, clock, config, metrics, transport)
    }

    /// Starts the engine's tasks, its attempts going to `transport`.
    fn start_on(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        clock: Arc<dyn Clock>,
        config: DispatchConfig,
        metrics: Arc<DispatchMetrics>,
        transport: sender::Transport,
    ) -> (Self, DispatcherTasks) {
        let shared = Arc::new(Shared {
            store,
            directory,
            clock,
            config,
            transport,
            metrics,
            held: Mutex::default(),
            health: Mutex::default(),
            wake_poller: Notify::new(),
            alive: Alive::new(),
            clock_offset: AtomicI64::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let scheduler = tokio::spawn(scheduler::run(shared.clone(), rx, out_tx, tx.downgrade()));
        let recorder = tokio::spawn(recorder::run(shared.clone(), out_rx, tx.downgrade()));
        let poller = tokio::spawn(poller(shared.clone(), tx.clone(), stop.clone()));
        let keeper = tokio::spawn(lease_keeper(shared.clone(), stop.clone()));
        let d = Dispatcher {
            shared,
            tx: tx.clone(),
        };
        let tasks = DispatcherTasks {
            scheduler,
            poller,
            keeper,
            recorder,
            stop,
            tx,
        };
        (d, tasks)
    }

    pub fn node_id(&self) -> &str {
        &self.shared.config.node_id
    }

    /// The lease new deliveries get when they are handed over in memory.
    pub fn lease(&self) -> Lease {
        self.shared.lease()
    }

    /// Learns the database's clock (see [`Store::database_now`]), so that
    /// the leases of the first deliveries handed over already end on it.
    /// The server calls it before it serves; the engine keeps it up to date.
    ///
    /// [`Store::database_now`]: hookrelay_store::DeliveryQueue::database_now
    pub async fn sync_clock(&self) {
        self.shared.sync_clock().await;
    }

    /// Whether every task of the engine is running (not stopped, none died).
    pub fn is_running(&self) -> bool {
        self.shared.alive.all()
    }

    /// The service that publishes, retries and recovers through this engine.
    /// `ids` names the events and deliveries it creates.
    pub fn deliveries(&self, ids: Arc<Ids>) -> Deliveries {
        Deliveries::new(
            self.shared.store.clone(),
            self.shared.directory.clone(),
            self.clone(),
            ids,
        )
    }

    /// Hands over deliveries already leased to this node.
    pub fn submit(&self, due: Vec<DueDelivery>) {
        if due.is_empty() {
            return;
        }
        let _ = self.tx.send(scheduler::Msg::Jobs(render::entries(due)));
    }

    /// Asks the poller to look for due deliveries now.
    pub fn wake(&self) {
        self.shared.wake_poller.notify_one();
    }

    /// Forgets what is known of an endpoint's failures (it was re-enabled).
    pub fn forget_health(&self, endpoint: &EndpointId) {
        self.shared
            .health
            .lock()
            .expect("health lock")
            .remove(endpoint);
    }

    /// The retry schedule (seconds between attempts) this engine follows
    /// for `endpoint`: its own, or the default of its API version.
    pub fn retry_schedule(&self, endpoint: &Endpoint) -> Vec<u32> {
        self.shared.schedule_for(endpoint)
    }

    /// Deliveries held in memory right now.
    pub fn held(&self) -> usize {
        self.shared.held.lock().expect("held lock").len()
    }
}

impl DispatcherTasks {
    /// Stops taking work, waits for attempts in flight (up to the grace
    /// period), gives back what was not attempted, and flushes outcomes.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.poller.await;
        let _ = self.keeper.await;
        let (done_tx, done_rx) = oneshot::channel();
        let _ = self.tx.send(scheduler::Msg::Shutdown(done_tx));
        let _ = done_rx.await;
        drop(self.tx);
        let _ = self.scheduler.await;
        let _ = self.recorder.await;
    }
}

/// Workspaces the poller asks the store about at once.
const DUE_PAGE: u32 = 256;
/// Deliveries one round of the poller claims at most, shared among the
/// workspaces it claims for.
const CLAIM_MAX: usize = 1_000;
/// Below this much free room the poller does not claim, so that a claim (a
/// write to the store) is not spent on a handful of deliveries.
const CLAIM_MIN: usize = 16;

async fn poller(
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<scheduler::Msg>,
    stop: CancellationToken,
) {
    let _alive = shared.alive.guard();
    // Claims compare lease times on the database's clock: learn it first.
    shared.sync_clock().await;
    let mut interval = tokio::time::interval(shared.config.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Where the next page of due workspaces starts: with more due
    // workspaces than one page, each round serves the next page.
    let mut cursor: Option<WorkspaceId> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {}
            _ = shared.wake_poller.notified() => {}
        }
        loop {
            if stop.is_cancelled() {
                return;
            }
            let now = shared.lease_now();
            let due = match shared
                .store
                .due_workspaces(now, cursor.as_ref(), DUE_PAGE)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for due deliveries failed");
                    break;
                }
            };
            let wrapped = cursor.is_some();
            cursor = if due.len() as u32 == DUE_PAGE {
                due.iter().max().cloned()
            } else {
                None
            };
            if due.is_empty() {
                if wrapped {
                    continue;
                }
                break;
            }
            let (reply, rx) = oneshot::channel();
            if tx.send(scheduler::Msg::Room(due, reply)).is_err() {
                return;
            }
            let Ok(room) = rx.await else { return };
            let workspaces = share(room.free.min(CLAIM_MAX), room.workspaces);
            if workspaces.is_empty() {
                if cursor.is_some() {
                    continue;
                }
                break;
            }
            // One claim per workspace, all at once: each with only its own
            // endpoints' rooms (what a claim learns of skipped endpoints is
            // kept per workspace).
            let lease = shared.lease();
            let mut rooms = room.endpoints;
            let claims = workspaces.iter().map(|(ws, n)| {
                let claim = Claim {
                    now,
                    lease: lease.clone(),
                    workspaces: vec![(ws.clone(), *n)],
                    endpoints: rooms.remove(ws).unwrap_or_default(),
                    default_room: Some(room.default_room),
                };
                let store = shared.store.clone();
                async move { store.claim(&claim).await }
            });
            let results = futures::future::join_all(claims).await;
            let mut took_any = false;
            let mut failed = false;
            let mut claimed = Vec::with_capacity(workspaces.len());
            for ((ws, allotted), res) in workspaces.into_iter().zip(results) {
                match res {
                    Ok(due) => {
                        claimed.push((ws, allotted, due.len()));
                        if !due.is_empty() {
                            took_any = true;
                            let _ = tx.send(scheduler::Msg::Jobs(render::entries(due)));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming due deliveries failed");
                        failed = true;
                    }
                }
            }
            let _ = tx.send(scheduler::Msg::Claimed(claimed));
            if failed || (!took_any && cursor.is_none()) {
                break;
            }
        }
    }
}

/// Shares `free` among workspaces, each getting at most its own room: an
/// equal share each, the share of those that need less going to the others
/// (water filling). Workspaces that get nothing are left out.
fn share(free: usize, rooms: Vec<(WorkspaceId, u32)>) -> Vec<(WorkspaceId, u32)> {
    if free < CLAIM_MIN {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..rooms.len()).collect();
    order.sort_by_key(|&i| rooms[i].1);
    let mut left = free;
    let mut given = vec![0u32; rooms.len()];
    for (k, &i) in order.iter().enumerate() {
        let fair = left / (rooms.len() - k);
        let g = (rooms[i].1 as usize).min(fair);
        given[i] = g as u32;
        left -= g;
    }
    rooms
        .into_iter()
        .zip(given)
        .filter(|(_, g)| *g > 0)
        .map(|((ws, _), g)| (ws, g))
        .collect()
}

async fn lease_keeper(shared: Arc<Shared>, stop: CancellationToken) {
    let _alive = shared.alive.guard();
    let period = shared.config.lease / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        shared.sync_clock().await;
        let ids: Vec<DeliveryId> = shared
            .held
            .lock()
            .expect("held lock")
            .keys()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let lease = shared.lease();
        for chunk in ids.chunks(5000) {
            if let Err(e) = shared.store.renew_leases(chunk, &lease).await {
                tracing::warn!(error = %e, "renewing leases failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookrelay_core::catalog::Catalog;
    use hookrelay_core::ids::EventId;
    use hookrelay_core::model::{
        AdvancedOptions, DeliveryStatus, EndpointSecrets, EndpointStatus, ErrorKind, Event,
        SignatureScheme,
    };
    use hookrelay_core::secret::Secret;
    use hookrelay_core::time::SystemClock;
    use hookrelay_store::sqlite::SqliteStore;
    use hookrelay_store::{NewDelivery, NewEvent, Published, Workspace};

    /// An attempt that panics is a failed attempt (`internal`): recorded
    /// with its retry scheduled, its slot and its place in memory freed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_attempt_that_panics_is_recorded_as_a_failed_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
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
        let ep = Endpoint {
            id: EndpointId::at(now.0),
            workspace_id: ws.clone(),
            url: hookrelay_core::parsed::EndpointUrl::from_trusted(
                "https://receiver.example.com/hook".into(),
            ),
            name: "r".into(),
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            enabled_events: vec!["extract_run.processed".into()],
            api_version: hookrelay_core::parsed::ApiVersion::from_trusted("2026-02-09".into()),
            advanced_options: AdvancedOptions::default(),
            signature_scheme: SignatureScheme::Extend,
            retry_schedule: Some(vec![3600]),
            rate_limit_per_second: None,
            secrets: EndpointSecrets::new(Secret::new("wss_panic_test_secret_0123456789".into())),
            created_at: now,
            created_by: None,
            updated_at: now,
            failing_since: None,
        };
        store.insert_endpoint(&ep, None).await.unwrap();
        let catalog = Arc::new(Catalog::builtin());
        let directory = Arc::new(Directory::load(store.clone(), catalog).await.unwrap());
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(DispatchMetrics::new(&mut registry));
        let (d, tasks) = Dispatcher::start_on(
            store.clone(),
            directory,
            Arc::new(SystemClock),
            DispatchConfig::default(),
            metrics.clone(),
            sender::Transport::Fake(Arc::new(Panics)),
        );

        let event = Event {
            id: EventId::at(now.0),
            workspace_id: ws.clone(),
            event_type: hookrelay_core::parsed::EventType::from_trusted(
                "extract_run.processed".into(),
            ),
            payload: "{}".into(),
            resource: None,
            previous_data: None,
            idempotency_key: None,
            created_at: now,
            delivery_count: 1,
            test: false,
        };
        let delivery = NewDelivery {
            id: DeliveryId::at(now.0),
            endpoint_id: ep.id.clone(),
            event_type: event.event_type.to_string(),
            api_version: ep.api_version.to_string(),
        };
        let id = delivery.id.clone();
        let published = store
            .publish(
                vec![NewEvent {
                    event,
                    deliveries: vec![delivery],
                }],
                Some(d.lease()),
            )
            .await
            .unwrap();
        let Ok(Published::Created { event: ev, .. }) = &published[0] else {
            panic!("published")
        };
        let (delivery, _) = store.get_delivery(&ws, &id).await.unwrap().unwrap();
        d.submit(vec![DueDelivery {
            delivery,
            event: ev.clone(),
            manual: false,
        }]);

        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (got, attempts) = loop {
            let (got, attempts) = store.get_delivery(&ws, &id).await.unwrap().unwrap();
            if !attempts.is_empty() && d.held() == 0 {
                break (got, attempts);
            }
            assert!(std::time::Instant::now() < deadline, "never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].error_kind, Some(ErrorKind::Internal));
        assert_eq!(
            got.status,
            DeliveryStatus::Pending,
            "retried like any failure"
        );
        assert_eq!(got.attempt_count, 1);
        let next = got.next_attempt_at.expect("a retry is scheduled");
        assert!(
            next.0 > now.0 + 3_000_000,
            "after the endpoint's hour: {next:?}"
        );
        assert_eq!(metrics.in_flight.get(), 0, "its slot is free");
        assert!(d.is_running(), "the engine carries on");
        tasks.shutdown().await;
        assert!(!d.is_running(), "stopped");
        store.close().await;
    }

    /// Every attempt panics.
    struct Panics;

    impl sender::FakeSend for Panics {
        fn send(
            &self,
            _: &Endpoint,
            _: &str,
            _: bytes::Bytes,
            _: Timestamp,
        ) -> futures::future::BoxFuture<'static, sender::Sent> {
            panic!("an attempt that fails on purpose")
        }
    }

    fn ws(n: &str) -> WorkspaceId {
        WorkspaceId::from_trusted(format!("ws_{n}"))
    }

    #[test]
    fn room_is_shared_equally_and_what_one_needs_not_goes_to_the_others() {
        let got = share(
            1_000,
            vec![(ws("a"), 5_000), (ws("b"), 100), (ws("c"), 5_000)],
        );
        assert_eq!(got, vec![(ws("a"), 450), (ws("b"), 100), (ws("c"), 450)]);
        let got = share(1_000, vec![(ws("a"), 0), (ws("b"), 2_000)]);
        assert_eq!(got, vec![(ws("b"), 1_000)], "a has no room: left out");
        assert!(
            share(10, vec![(ws("a"), 100)]).is_empty(),
            "too little to claim"
        );
    }
}

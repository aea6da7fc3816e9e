//! The scheduler driven on paused tokio time: the test plays the delivery
//! queue around it (hands it jobs the way the poller and the API do, takes
//! the outcomes it sends the recorder and reports them recorded), and a fake
//! transport answers its attempts. The policy's own rules have step tests in
//! [`crate::policy`]; these check that the scheduler task carries them out
//! on the clock: when attempts start, and what each outcome says.
//!
//! The directory is the real one over a SQLite store in a temporary
//! directory, filled before the scheduler starts; nothing here waits on the
//! store once time matters.

use hookrelay_core::parsed::{ApiVersion, EndpointUrl, EventType};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use hookrelay_core::catalog::Catalog;
use hookrelay_core::ids::{DeliveryId, EndpointId, EventId, Ids, WorkspaceId};
use hookrelay_core::model::{
    AdvancedOptions, Attempt, Delivery, DeliveryStatus, Endpoint, EndpointSecrets, EndpointStatus,
    ErrorKind, Event, SignatureScheme,
};
use hookrelay_core::retry::MAX_RETRY_AFTER_SECS;
use hookrelay_core::secret::Secret;
use hookrelay_core::time::{Clock, ManualClock, Timestamp};
use hookrelay_store::directory::Directory;
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::{EndpointEffect, Outcome, Store, Workspace};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{run, Msg};
use crate::render::{EventEntry, Job};
use crate::sender::{FakeSend, Sent, Transport};
use crate::{Alive, DispatchConfig, DispatchMetrics, Shared};

/// The wall-clock time the tests' manual clock starts at.
const T0: Timestamp = Timestamp(1_800_000_000_000);
const EVENT_TYPE: &str = "extract_run.processed";
const API_VERSION: &str = "2026-02-09";

/// How the fake endpoint answers one attempt.
#[derive(Clone, Copy, Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    /// How long it takes to answer (paused time).
    takes: Duration,
    /// No answer: the attempt ends as the request timeout would end it.
    times_out: bool,
}

const OK: Answer = Answer {
    status: 200,
    retry_after: None,
    takes: Duration::ZERO,
    times_out: false,
};
const FAIL: Answer = Answer { status: 500, ..OK };

fn retry_after(status: u16, secs: u64) -> Answer {
    Answer {
        status,
        retry_after: Some(secs),
        ..OK
    }
}

/// Answers after `d`.
fn slow(answer: Answer, d: Duration) -> Answer {
    Answer { takes: d, ..answer }
}

/// One attempt the fake saw.
#[derive(Clone, Debug)]
struct Call {
    endpoint: EndpointId,
    /// When it started, from the harness's start.
    at: Duration,
}

/// Answers from a script (then `default`), and records every call.
struct FakeEndpoints {
    start: Instant,
    script: Mutex<VecDeque<Answer>>,
    default: Answer,
    calls: Mutex<Vec<Call>>,
}

impl FakeSend for FakeEndpoints {
    fn send(
        &self,
        endpoint: &Endpoint,
        _event_id: &str,
        _body: Bytes,
        now: Timestamp,
    ) -> BoxFuture<'static, Sent> {
        self.calls.lock().unwrap().push(Call {
            endpoint: endpoint.id.clone(),
            at: Instant::now() - self.start,
        });
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(self.default);
        let url = endpoint.url.clone();
        Box::pin(async move {
            tokio::time::sleep(answer.takes).await;
            let ok = (200..300).contains(&answer.status) && !answer.times_out;
            let error_kind = match (ok, answer.times_out) {
                (true, _) => None,
                (false, true) => Some(ErrorKind::Timeout),
                (false, false) => Some(ErrorKind::HttpStatus),
            };
            Sent {
                attempt: Attempt {
                    attempt_number: 0,
                    started_at: now,
                    duration_ms: answer.takes.as_millis() as u32,
                    request_url: url.to_string(),
                    request_headers: Vec::new(),
                    response_status: (!answer.times_out).then_some(answer.status),
                    response_headers: Vec::new(),
                    response_body: None,
                    error_kind,
                    error_message: None,
                },
                retry_after: answer.retry_after,
            }
        })
    }
}

/// Endpoint number `n` of workspace `ws`, with `tune` applied.
fn endpoint(ws: &WorkspaceId, n: usize, tune: impl FnOnce(&mut Endpoint)) -> Endpoint {
    let mut e = Endpoint {
        id: EndpointId::at(T0.0),
        workspace_id: ws.clone(),
        url: EndpointUrl::from_trusted(format!("https://receiver-{n}.example.com/hook")),
        name: format!("r{n}"),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        enabled_events: vec![EVENT_TYPE.into()],
        api_version: ApiVersion::from_trusted(API_VERSION.into()),
        advanced_options: AdvancedOptions::default(),
        signature_scheme: SignatureScheme::Extend,
        retry_schedule: None,
        rate_limit_per_second: None,
        secrets: EndpointSecrets::new(Secret::new("wss_scheduler_test_secret_0123456".into())),
        created_at: T0,
        created_by: None,
        updated_at: T0,
        failing_since: None,
    };
    tune(&mut e);
    e
}

struct Harness {
    tx: mpsc::UnboundedSender<Msg>,
    out: mpsc::UnboundedReceiver<Outcome>,
    fake: Arc<FakeEndpoints>,
    clock: Arc<ManualClock>,
    shared: Arc<Shared>,
    ids: Ids,
    task: tokio::task::JoinHandle<()>,
    _store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A scheduler for `endpoints` (their workspaces are created), with
    /// `config` and attempts answered by `script`, then `default`.
    async fn start(
        config: DispatchConfig,
        endpoints: &[Endpoint],
        script: Vec<Answer>,
        default: Answer,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
        let mut workspaces: Vec<&WorkspaceId> = endpoints.iter().map(|e| &e.workspace_id).collect();
        workspaces.dedup();
        for ws in workspaces {
            store
                .create_workspace(&Workspace {
                    id: ws.clone(),
                    name: ws.to_string(),
                    created_at: T0,
                })
                .await
                .unwrap();
        }
        for e in endpoints {
            store.insert_endpoint(e, None).await.unwrap();
        }
        let directory = Arc::new(
            Directory::load(store.clone(), Arc::new(Catalog::builtin()))
                .await
                .unwrap(),
        );
        let clock = Arc::new(ManualClock::new(T0));
        let fake = Arc::new(FakeEndpoints {
            start: Instant::now(),
            script: Mutex::new(script.into()),
            default,
            calls: Mutex::default(),
        });
        let mut registry = prometheus_client::registry::Registry::default();
        let shared = Arc::new(Shared {
            store: store.clone(),
            directory,
            clock: clock.clone(),
            config,
            transport: Transport::Fake(fake.clone()),
            metrics: Arc::new(DispatchMetrics::new(&mut registry)),
            held: Mutex::default(),
            health: Mutex::default(),
            wake_poller: tokio::sync::Notify::new(),
            alive: Alive::new(),
            clock_offset: Default::default(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (out_tx, out) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(shared.clone(), rx, out_tx, tx.downgrade()));
        Self {
            tx,
            out,
            fake,
            ids: Ids::seeded(clock.clone(), 1),
            clock,
            shared,
            task,
            _store: store,
            _dir: dir,
        }
    }

    /// Hands the scheduler `n` deliveries to `e` (of one new event) that
    /// already had `attempts` attempts.
    fn submit(&self, e: &Endpoint, n: usize, attempts: u32) -> Vec<DeliveryId> {
        let jobs: Vec<Job> = (0..n).map(|_| self.job(e, attempts)).collect();
        let ids = jobs.iter().map(|j| j.delivery.id.clone()).collect();
        self.tx.send(Msg::Jobs(jobs)).unwrap();
        ids
    }

    fn job(&self, e: &Endpoint, attempts: u32) -> Job {
        let now = self.clock.now();
        let event = Arc::new(Event {
            id: self.ids.at::<EventId>(now),
            workspace_id: e.workspace_id.clone(),
            event_type: EventType::from_trusted(EVENT_TYPE.into()),
            payload: "{}".into(),
            resource: None,
            previous_data: None,
            idempotency_key: None,
            created_at: now,
            delivery_count: 1,
            test: false,
        });
        Job {
            delivery: Delivery {
                id: self.ids.at(now),
                workspace_id: e.workspace_id.clone(),
                event_id: event.id.clone(),
                endpoint_id: e.id.clone(),
                event_type: EVENT_TYPE.into(),
                api_version: e.api_version.to_string(),
                status: DeliveryStatus::Pending,
                attempt_count: attempts,
                next_attempt_at: None,
                created_at: now,
                test: false,
                manual: false,
            },
            entry: Arc::new(EventEntry::new(event)),
            manual: false,
        }
    }

    /// The next outcome the scheduler hands the recorder; reported recorded
    /// at once, as the recorder does once it is written.
    async fn outcome(&mut self) -> Outcome {
        let o = tokio::time::timeout(Duration::from_secs(3600), self.out.recv())
            .await
            .expect("an outcome within the hour")
            .expect("the scheduler runs");
        self.tx
            .send(Msg::Recorded(vec![o.delivery_id.clone()]))
            .unwrap();
        o
    }

    async fn outcomes(&mut self, n: usize) -> Vec<Outcome> {
        let mut all = Vec::with_capacity(n);
        for _ in 0..n {
            all.push(self.outcome().await);
        }
        all
    }

    fn calls(&self) -> Vec<Call> {
        self.fake.calls.lock().unwrap().clone()
    }

    /// When each attempt started, in whole milliseconds from the start.
    fn call_times(&self) -> Vec<u128> {
        self.calls().iter().map(|c| c.at.as_millis()).collect()
    }

    /// Nothing in flight, nothing queued, every outcome out.
    async fn assert_idle(&mut self) {
        tokio::task::yield_now().await;
        assert!(self.out.try_recv().is_err(), "no outcome left over");
        assert_eq!(self.shared.metrics.in_flight.get(), 0);
    }

    async fn stop(self) {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.tx.send(Msg::Shutdown(done)).unwrap();
        rx.await.unwrap();
        drop(self.tx);
        self.task.await.unwrap();
    }
}

fn config(tune: impl FnOnce(&mut DispatchConfig)) -> DispatchConfig {
    let mut c = DispatchConfig {
        node_id: "node-test".into(),
        ..DispatchConfig::default()
    };
    tune(&mut c);
    c
}

fn ws(n: &str) -> WorkspaceId {
    WorkspaceId::from_trusted(format!("{}{n}", WorkspaceId::PREFIX))
}

/// After `breaker_threshold` failures in a row the endpoint gets nothing
/// for a second; then one probe; a failed probe doubles the pause; a
/// successful one closes the breaker and the queue flows again.
#[tokio::test(start_paused = true)]
async fn breaker_opens_after_the_threshold_probes_half_open_and_closes_on_success() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let cfg = config(|c| {
        c.breaker_threshold = 3;
        c.breaker_max_cooldown = Duration::from_secs(5);
        // One attempt at a time, so the failures come in a known order.
        c.endpoint_concurrency = 1;
    });
    let mut h = Harness::start(
        cfg,
        std::slice::from_ref(&e),
        vec![FAIL, FAIL, FAIL, FAIL],
        OK,
    )
    .await;

    h.submit(&e, 3, 0);
    let failed = h.outcomes(3).await;
    assert!(failed.iter().all(|o| o.status == DeliveryStatus::Pending));
    assert_eq!(h.call_times(), [0, 0, 0]);
    assert_eq!(
        h.shared.metrics.circuit_opened.get(),
        1,
        "the breaker opened"
    );

    // Open: a delivery handed over now waits for the pause to end.
    h.submit(&e, 1, 0);
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(h.calls().len(), 3, "nothing is attempted while it is open");
    let probe = h.outcome().await;
    assert_eq!(probe.status, DeliveryStatus::Pending, "the probe failed");
    assert_eq!(h.call_times()[3], 1_000, "half open after one second");

    // The failed probe doubled the pause: the next probe comes 2 s later.
    h.submit(&e, 1, 0);
    let probe = h.outcome().await;
    assert_eq!(probe.status, DeliveryStatus::Succeeded);
    assert_eq!(h.call_times()[4], 3_000, "the pause doubled to two seconds");
    assert_eq!(h.shared.metrics.circuit_opened.get(), 1, "opened once");

    // Closed again: everything goes at once.
    h.submit(&e, 3, 0);
    let rest = h.outcomes(3).await;
    assert!(rest.iter().all(|o| o.status == DeliveryStatus::Succeeded));
    assert_eq!(h.call_times()[5..], [3_000, 3_000, 3_000]);
    h.assert_idle().await;
    h.stop().await;
}

/// A breaker probe that keeps failing backs off up to the longest pause.
#[tokio::test(start_paused = true)]
async fn breaker_pauses_double_up_to_the_longest_pause() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let cfg = config(|c| {
        c.breaker_threshold = 1;
        c.breaker_max_cooldown = Duration::from_secs(5);
        c.endpoint_concurrency = 1;
    });
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), FAIL).await;
    for _ in 0..6 {
        h.submit(&e, 1, 0);
        h.outcome().await;
    }
    // Opens after the first failure: 1 s, then 2, 4, 5 (capped), 5.
    assert_eq!(h.call_times(), [0, 1_000, 3_000, 7_000, 12_000, 17_000]);
    h.stop().await;
}

/// `rateLimitPerSecond` spaces attempts: a burst of the rate, then one
/// every 1/rate seconds.
#[tokio::test(start_paused = true)]
async fn rate_limit_spaces_attempts_by_its_token_bucket() {
    let e = endpoint(&ws("a"), 1, |e| e.rate_limit_per_second = Some(2));
    let cfg = config(|c| c.endpoint_concurrency = 8);
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), OK).await;
    h.submit(&e, 7, 0);
    let done = h.outcomes(7).await;
    assert!(done.iter().all(|o| o.status == DeliveryStatus::Succeeded));
    assert_eq!(
        h.call_times(),
        [0, 0, 500, 1_000, 1_500, 2_000, 2_500],
        "two at once (the bucket starts full), then one every half second"
    );
    h.assert_idle().await;
    h.stop().await;
}

/// Without a rate limit, attempts go as fast as slots allow.
#[tokio::test(start_paused = true)]
async fn an_unlimited_endpoint_is_not_spaced() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let cfg = config(|c| c.endpoint_concurrency = 8);
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), OK).await;
    h.submit(&e, 7, 0);
    h.outcomes(7).await;
    assert_eq!(h.call_times(), [0; 7]);
    h.stop().await;
}

/// A failed attempt is retried after its schedule's delay, jittered within
/// ±jitter; the last entry of the schedule spent, the delivery fails.
#[tokio::test(start_paused = true)]
async fn retries_follow_the_schedule_with_bounded_jitter_then_give_up() {
    let e = endpoint(&ws("a"), 1, |e| e.retry_schedule = Some(vec![10, 60]));
    let cfg = config(|c| {
        c.jitter = 0.1;
        c.breaker_threshold = 0;
    });
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), FAIL).await;

    h.submit(&e, 50, 0);
    let first = h.outcomes(50).await;
    let delays: Vec<i64> = first
        .iter()
        .map(|o| {
            assert_eq!(o.status, DeliveryStatus::Pending);
            assert_eq!(o.attempt_count, 1);
            o.next_attempt_at.expect("a retry").0 - T0.0
        })
        .collect();
    assert!(
        delays.iter().all(|d| (9_000..=11_000).contains(d)),
        "10 s ± 10 %: {delays:?}"
    );
    let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
    assert!(distinct.len() > 10, "jitter spreads a burst: {distinct:?}");

    h.submit(&e, 20, 1);
    for o in h.outcomes(20).await {
        let d = o.next_attempt_at.expect("a retry").0 - T0.0;
        assert!((54_000..=66_000).contains(&d), "60 s ± 10 %: {d}");
        assert_eq!(o.attempt_count, 2);
    }

    h.submit(&e, 1, 2);
    let last = h.outcome().await;
    assert_eq!(last.status, DeliveryStatus::Failed, "the schedule is spent");
    assert_eq!(last.next_attempt_at, None);
    assert_eq!(last.attempt_count, 3);
    h.stop().await;
}

/// `Retry-After` can only push a retry later, and no later than the cap.
#[tokio::test(start_paused = true)]
async fn retry_after_pushes_the_retry_later_within_its_cap() {
    let e = endpoint(&ws("a"), 1, |e| e.retry_schedule = Some(vec![10]));
    let cfg = config(|c| {
        c.jitter = 0.0;
        c.breaker_threshold = 0;
        c.endpoint_concurrency = 1;
    });
    let script = vec![
        retry_after(503, 120),
        retry_after(429, 1),
        retry_after(503, 10_000_000),
    ];
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), script, FAIL).await;
    h.submit(&e, 3, 0);
    let next: Vec<i64> = h
        .outcomes(3)
        .await
        .iter()
        .map(|o| o.next_attempt_at.expect("a retry").0 - T0.0)
        .collect();
    assert_eq!(
        next,
        [120_000, 10_000, MAX_RETRY_AFTER_SECS as i64 * 1_000],
        "later than the schedule: honoured; sooner: ignored; beyond the cap: capped"
    );
    h.stop().await;
}

/// Two workspaces with work take turns through the real scheduler, however
/// deep one's queue is; within a workspace, its endpoints take turns.
#[tokio::test(start_paused = true)]
async fn workspaces_take_turns_and_so_do_their_endpoints() {
    let (a, b) = (ws("a"), ws("b"));
    let a1 = endpoint(&a, 1, |_| {});
    let a2 = endpoint(&a, 2, |_| {});
    let b1 = endpoint(&b, 3, |_| {});
    let cfg = config(|c| {
        // One slot: the order attempts start in is the policy's turn order.
        c.max_in_flight = 1;
        c.max_in_flight_per_workspace = 1;
    });
    let answer = slow(OK, Duration::from_millis(100));
    let mut h = Harness::start(
        cfg,
        &[a1.clone(), a2.clone(), b1.clone()],
        Vec::new(),
        answer,
    )
    .await;
    // A's backlog arrives first, all of it, in one hand-over.
    let mut jobs: Vec<Job> = (0..10).map(|_| h.job(&a1, 0)).collect();
    jobs.extend((0..10).map(|_| h.job(&a2, 0)));
    jobs.extend((0..5).map(|_| h.job(&b1, 0)));
    h.tx.send(Msg::Jobs(jobs)).unwrap();
    h.outcomes(25).await;

    let calls = h.calls();
    let who: Vec<&str> = calls
        .iter()
        .map(|c| match &c.endpoint {
            id if *id == a1.id => "a1",
            id if *id == a2.id => "a2",
            _ => "b1",
        })
        .collect();
    assert_eq!(
        who[..12],
        ["a1", "b1", "a2", "b1", "a1", "b1", "a2", "b1", "a1", "b1", "a2", "a1"],
        "B gets every other slot until it runs out; A's endpoints alternate"
    );
    let times: Vec<u128> = h.call_times();
    assert_eq!(times[..3], [0, 100, 200], "one at a time, back to back");
    h.assert_idle().await;
    h.stop().await;
}

/// An endpoint's health: the first failure marks it failing, failures for
/// `auto_disable_after` disable it, and a success clears it.
#[tokio::test(start_paused = true)]
async fn endpoint_health_marks_failing_disables_after_the_limit_and_clears_on_success() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let f = endpoint(&ws("a"), 2, |_| {});
    let cfg = config(|c| {
        c.auto_disable_after = Duration::from_secs(3_600);
        c.breaker_threshold = 0;
        c.endpoint_concurrency = 1;
    });
    let mut h = Harness::start(cfg, &[e.clone(), f.clone()], vec![FAIL, FAIL, OK], FAIL).await;

    h.submit(&e, 1, 0);
    assert_eq!(
        h.outcome().await.endpoint_effect,
        Some(EndpointEffect::MarkFailing(T0))
    );
    h.submit(&e, 1, 0);
    assert_eq!(h.outcome().await.endpoint_effect, None, "already failing");
    h.submit(&e, 1, 0);
    assert_eq!(
        h.outcome().await.endpoint_effect,
        Some(EndpointEffect::ClearFailing)
    );

    h.submit(&f, 1, 0);
    assert_eq!(
        h.outcome().await.endpoint_effect,
        Some(EndpointEffect::MarkFailing(T0))
    );
    h.clock.advance_millis(3_600_000);
    h.submit(&f, 1, 0);
    let later = T0.plus_millis(3_600_000);
    assert_eq!(
        h.outcome().await.endpoint_effect,
        Some(EndpointEffect::DisableFailing(later)),
        "failing for an hour"
    );
    h.stop().await;
}

/// Each timeout halves the attempts an endpoint may have in flight (from
/// the initial four, never below one), so a hanging endpoint holds a slot,
/// not many.
#[tokio::test(start_paused = true)]
async fn timeouts_shrink_an_endpoints_slots_to_one() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let cfg = config(|c| {
        c.endpoint_concurrency = 8;
        c.breaker_threshold = 0;
    });
    let hang = Answer {
        times_out: true,
        ..slow(OK, Duration::from_secs(1))
    };
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), hang).await;
    h.submit(&e, 8, 0);
    let done = h.outcomes(8).await;
    assert!(done.iter().all(|o| o.status == DeliveryStatus::Pending));
    assert_eq!(
        h.call_times(),
        [0, 0, 0, 0, 1_000, 2_000, 3_000, 4_000],
        "four at first; after four timeouts, one at a time"
    );
    h.stop().await;
}

/// Shutdown waits for attempts in flight and records their outcomes.
#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_attempts_in_flight() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let cfg = config(|c| c.shutdown_grace = Duration::from_secs(10));
    let answer = slow(OK, Duration::from_secs(2));
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), answer).await;
    h.submit(&e, 3, 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(h.calls().len(), 3);
    let (done, stopped) = tokio::sync::oneshot::channel();
    h.tx.send(Msg::Shutdown(done)).unwrap();
    stopped.await.unwrap();
    let ended = (Instant::now() - h.fake.start).as_millis();
    assert!(
        (2_000..=2_001).contains(&ended),
        "until they ended: {ended} ms"
    );
    let mut outcomes = Vec::new();
    while let Ok(o) = h.out.try_recv() {
        outcomes.push(o);
    }
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes
        .iter()
        .all(|o| o.status == DeliveryStatus::Succeeded));
}

/// Attempts still in flight when the grace period ends are abandoned: no
/// outcome, and their deliveries leave memory (given back to the store).
#[tokio::test(start_paused = true)]
async fn shutdown_abandons_attempts_after_the_grace_period() {
    let e = endpoint(&ws("a"), 1, |_| {});
    let cfg = config(|c| c.shutdown_grace = Duration::from_secs(10));
    let answer = slow(OK, Duration::from_secs(60));
    let mut h = Harness::start(cfg, std::slice::from_ref(&e), Vec::new(), answer).await;
    h.submit(&e, 2, 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(h.calls().len(), 2);
    let (done, mut stopped) = tokio::sync::oneshot::channel();
    h.tx.send(Msg::Shutdown(done)).unwrap();
    tokio::time::advance(Duration::from_millis(9_900)).await;
    assert!(
        stopped.try_recv().is_err(),
        "waiting within the grace period"
    );
    assert_eq!(h.shared.held.lock().unwrap().len(), 2);
    stopped.await.unwrap();
    // (Not to the millisecond: giving the deliveries back waits for the
    // real store, and paused time may move on meanwhile.)
    let ended = Instant::now() - h.fake.start;
    assert!(ended >= Duration::from_secs(10), "{ended:?}");
    assert!(
        h.out.try_recv().is_err(),
        "no outcome for an abandoned attempt"
    );
    assert_eq!(h.shared.held.lock().unwrap().len(), 0, "given back");
}

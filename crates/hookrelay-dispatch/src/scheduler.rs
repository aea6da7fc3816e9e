//! The scheduler: per-endpoint FIFO queues, per-endpoint concurrency and
//! rate limits, a global cap on attempts in flight, and the set of attempt
//! tasks it started.
//!
//! A hanging endpoint can only ever occupy its own concurrency slots, so the
//! others keep flowing; the global cap is sized well above one endpoint's.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hookrelay_core::ids::{DeliveryId, EndpointId};
use hookrelay_core::model::{DeliveryStatus, EndpointStatus};
use hookrelay_core::retry::{next_attempt_at, should_auto_disable};
use hookrelay_store::{EndpointEffect, Outcome};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::render::Job;
use crate::{sender, Shared};

/// Messages to the scheduler.
pub enum Msg {
    /// Deliveries this node holds the lease of.
    Jobs(Vec<Job>),
    /// How much room is there? (for the poller)
    Room(oneshot::Sender<Room>),
    /// Stop: give back queued work, wait for attempts in flight.
    Shutdown(oneshot::Sender<()>),
    /// The recorder is done with these deliveries' outcomes (written, or
    /// failed to be written: then the lease runs out and they are attempted
    /// again). Until then each still counts as held.
    Recorded(Vec<DeliveryId>),
}

/// Free capacity, and endpoints whose queue is full (the poller skips them).
#[derive(Debug)]
pub struct Room {
    pub free: usize,
    pub full: Vec<EndpointId>,
}

struct Bucket {
    rate: u32,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Self {
            rate,
            tokens: f64::from(rate.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes a token, or says when the next one will be there.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let rate = f64::from(self.rate.max(1));
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// A per-endpoint circuit breaker: after `breaker_threshold` failed attempts
/// in a row the endpoint gets no attempts for a cool-down (1 s, doubling to
/// `breaker_max_cooldown`), then one probe; a success closes it. Deliveries
/// that wait meanwhile are not attempted, so a dead endpoint neither burns
/// their retries nor the server's time.
#[derive(Debug)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Duration,
    probing: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            failures: 0,
            open_until: None,
            cooldown: Duration::from_secs(1),
            probing: false,
        }
    }
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    in_flight: usize,
    timer_armed: bool,
    /// The poller was told this queue is full, so it stopped claiming for
    /// it: wake it when the queue runs low, not a poll interval later.
    capped: bool,
}

struct State {
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Outcome>,
    queues: HashMap<EndpointId, Queue>,
    /// Token buckets of rate-limited endpoints (they outlive idle queues).
    buckets: HashMap<EndpointId, Bucket>,
    /// Circuit breakers of endpoints that failed lately.
    breakers: HashMap<EndpointId, Breaker>,
    /// Endpoints that have work but wait for a global slot, in arrival order.
    runnable: VecDeque<EndpointId>,
    runnable_set: HashSet<EndpointId>,
    timers: BTreeMap<Instant, Vec<EndpointId>>,
    /// Attempt tasks; each ends with its outcome, which `finished` hands to
    /// the recorder.
    attempts: JoinSet<Outcome>,
    in_flight: usize,
    /// Deliveries queued, in flight, or finished with their outcome not yet
    /// recorded: outcomes wait for the store's writer, so counting them
    /// keeps memory bounded (and their leases renewed) when the writer
    /// falls behind.
    held: usize,
    /// Finished attempts whose outcome the recorder has not yet settled.
    unrecorded: HashSet<DeliveryId>,
    /// The poller stopped because nothing more could be held: wake it when
    /// half of that room is free again.
    capped: bool,
    shutting_down: bool,
}

/// The scheduler task.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    out: mpsc::UnboundedSender<Outcome>,
) {
    let mut st = State {
        shared,
        out,
        queues: HashMap::new(),
        buckets: HashMap::new(),
        breakers: HashMap::new(),
        runnable: VecDeque::new(),
        runnable_set: HashSet::new(),
        timers: BTreeMap::new(),
        attempts: JoinSet::new(),
        in_flight: 0,
        held: 0,
        unrecorded: HashSet::new(),
        capped: false,
        shutting_down: false,
    };
    let mut shutdown_done: Option<oneshot::Sender<()>> = None;
    let mut deadline: Option<Instant> = None;
    loop {
        let next_timer = st.timers.keys().next().copied();
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Jobs(jobs)) => st.accept(jobs),
                Some(Msg::Room(reply)) => { let _ = reply.send(st.room()); }
                Some(Msg::Recorded(ids)) => st.recorded(ids),
                Some(Msg::Shutdown(done)) => {
                    st.shutting_down = true;
                    st.give_back_queued();
                    deadline = Some(Instant::now() + st.shared.config.shutdown_grace);
                    shutdown_done = Some(done);
                }
                None => {
                    // Every handle is gone: finish what is in flight, then stop.
                    if !st.shutting_down {
                        st.shutting_down = true;
                        st.give_back_queued();
                        deadline = Some(Instant::now() + st.shared.config.shutdown_grace);
                    }
                }
            },
            Some(res) = st.attempts.join_next(), if !st.attempts.is_empty() => {
                if let Ok(outcome) = res {
                    st.finished(outcome);
                }
            }
            _ = tokio::time::sleep_until(next_timer.unwrap_or_else(far_future)), if next_timer.is_some() => {
                st.fire_timers();
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() && !st.attempts.is_empty() => {
                // Grace is over: abandon attempts in flight and give their
                // deliveries back (not those with an outcome on its way).
                st.attempts.abort_all();
                while let Some(res) = st.attempts.join_next().await {
                    // Those that finished before the abort are recorded.
                    if let Ok(outcome) = res {
                        st.finished(outcome);
                    }
                }
                let ids: Vec<DeliveryId> = {
                    let mut held = st.shared.held.lock().expect("held lock");
                    let ids: Vec<DeliveryId> = held
                        .keys()
                        .filter(|id| !st.unrecorded.contains(*id))
                        .cloned()
                        .collect();
                    for id in &ids {
                        held.remove(id);
                    }
                    ids
                };
                st.held -= ids.len();
                st.in_flight = 0;
                if !ids.is_empty() {
                    let _ = st.shared.store.release(&ids, &st.shared.config.node_id).await;
                }
            }
        }
        st.publish_gauges();
        if st.shutting_down && st.attempts.is_empty() {
            if let Some(done) = shutdown_done.take() {
                let _ = done.send(());
            }
            break;
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl State {
    fn accept(&mut self, jobs: Vec<Job>) {
        let cfg = &self.shared.config;
        let mut spill = Vec::new();
        let mut touched = Vec::new();
        {
            let mut held = self.shared.held.lock().expect("held lock");
            for job in jobs {
                let id = job.delivery.id.clone();
                if held.contains_key(&id) {
                    continue; // already queued or in flight here
                }
                let ep = job.delivery.endpoint_id.clone();
                let q = self.queues.entry(ep.clone()).or_default();
                if self.shutting_down
                    || self.held >= cfg.max_held
                    || q.jobs.len() >= cfg.max_held_per_endpoint
                {
                    // Given back to the store: claim it again once there is room.
                    q.capped |= q.jobs.len() >= cfg.max_held_per_endpoint;
                    self.capped |= self.held >= cfg.max_held;
                    spill.push(id);
                    continue;
                }
                held.insert(id, ep.clone());
                self.held += 1;
                q.jobs.push_back(job);
                touched.push(ep);
            }
        }
        if !spill.is_empty() {
            let store = self.shared.store.clone();
            let owner = self.shared.config.node_id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.release(&spill, &owner).await {
                    tracing::warn!(error = %e, "releasing spilled deliveries failed");
                }
            });
        }
        touched.dedup();
        for ep in touched {
            self.start(&ep);
        }
    }

    fn room(&mut self) -> Room {
        let cfg = &self.shared.config;
        let free = if self.shutting_down {
            0
        } else {
            cfg.max_held.saturating_sub(self.held)
        };
        // The poller stops below 16 free slots; see `finished`.
        self.capped |= free < 16;
        Room {
            free,
            full: self
                .queues
                .iter_mut()
                .filter(|(_, q)| q.jobs.len() >= cfg.max_held_per_endpoint / 2)
                .map(|(id, q)| {
                    q.capped = true;
                    id.clone()
                })
                // Paused endpoints take nothing more from the store meanwhile.
                .chain(
                    self.breakers
                        .iter()
                        .filter(|(_, b)| b.open_until.is_some_and(|u| Instant::now() < u))
                        .map(|(id, _)| id.clone()),
                )
                .collect(),
        }
    }

    /// Starts as many attempts for `ep` as its limits allow.
    fn start(&mut self, ep: &EndpointId) {
        if self.shutting_down {
            return;
        }
        let conc = self.shared.config.endpoint_concurrency;
        let rate = self
            .shared
            .directory
            .endpoint(ep)
            .and_then(|e| e.rate_limit_per_second);
        let Some(q) = self.queues.get_mut(ep) else {
            return;
        };
        match rate {
            Some(r) => {
                let b = self
                    .buckets
                    .entry(ep.clone())
                    .or_insert_with(|| Bucket::new(r));
                if b.rate != r {
                    *b = Bucket::new(r);
                }
            }
            None => {
                self.buckets.remove(ep);
            }
        }
        let mut bucket = self.buckets.get_mut(ep);
        let mut conc = conc;
        if let Some(b) = self.breakers.get_mut(ep) {
            let now = Instant::now();
            match b.open_until {
                Some(until) if now < until => {
                    if !q.timer_armed && !q.jobs.is_empty() {
                        q.timer_armed = true;
                        self.timers.entry(until).or_default().push(ep.clone());
                    }
                    return;
                }
                Some(_) => {
                    // Half open: one probe at a time until one succeeds.
                    b.probing = true;
                    conc = 1;
                }
                None => {}
            }
        }
        while q.in_flight < conc && !q.jobs.is_empty() {
            if self.in_flight >= self.shared.config.max_in_flight {
                if self.runnable_set.insert(ep.clone()) {
                    self.runnable.push_back(ep.clone());
                }
                return;
            }
            if let Some(b) = bucket.as_deref_mut() {
                if let Err(when) = b.take(Instant::now()) {
                    if !q.timer_armed {
                        q.timer_armed = true;
                        self.timers.entry(when).or_default().push(ep.clone());
                    }
                    return;
                }
            }
            let job = q.jobs.pop_front().expect("non-empty");
            if q.capped && q.jobs.len() <= self.shared.config.max_held_per_endpoint / 4 {
                // Running low while the store may hold more for it.
                q.capped = false;
                self.shared.wake_poller.notify_one();
            }
            q.in_flight += 1;
            self.in_flight += 1;
            let shared = self.shared.clone();
            self.attempts
                .spawn(async move { process(&shared, job).await });
        }
        if q.jobs.is_empty() && q.in_flight == 0 && !q.timer_armed {
            self.queues.remove(ep);
        }
    }

    fn finished(&mut self, outcome: Outcome) {
        let ep = &outcome.endpoint_id.clone();
        let id = outcome.delivery_id.clone();
        let ok = outcome.attempt.as_ref().map(|a| a.succeeded());
        // Sent from here, not from the attempt's task, so that the recorder
        // never settles an outcome the scheduler has not yet seen finish.
        let _ = self.out.send(outcome);
        match ok {
            Some(true) => {
                self.breakers.remove(ep);
            }
            Some(false) => {
                let threshold = self.shared.config.breaker_threshold;
                let max = self.shared.config.breaker_max_cooldown;
                let b = self.breakers.entry(ep.clone()).or_default();
                b.failures += 1;
                if threshold > 0
                    && (b.probing || (b.open_until.is_none() && b.failures >= threshold))
                {
                    if b.probing {
                        b.cooldown = (b.cooldown * 2).min(max);
                    } else {
                        self.shared.metrics.circuit_opened.inc();
                        tracing::info!(endpoint = %ep, "endpoint failing: pausing its deliveries");
                    }
                    b.probing = false;
                    b.open_until = Some(Instant::now() + b.cooldown.min(max));
                }
            }
            None => {}
        }
        self.in_flight -= 1;
        // Still held until the recorder settles its outcome (`recorded`).
        self.unrecorded.insert(id);
        if let Some(q) = self.queues.get_mut(ep) {
            q.in_flight -= 1;
        }
        self.start(ep);
        while self.in_flight < self.shared.config.max_in_flight {
            let Some(next) = self.runnable.pop_front() else {
                break;
            };
            self.runnable_set.remove(&next);
            self.start(&next);
        }
    }

    /// The recorder settled these outcomes: their deliveries leave memory.
    fn recorded(&mut self, ids: Vec<DeliveryId>) {
        {
            let mut held = self.shared.held.lock().expect("held lock");
            for id in &ids {
                if self.unrecorded.remove(id) {
                    held.remove(id);
                    self.held -= 1;
                }
            }
        }
        if self.capped && self.held <= self.shared.config.max_held / 2 {
            self.capped = false;
            self.shared.wake_poller.notify_one();
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<Instant> = self.timers.range(..=now).map(|(k, _)| *k).collect();
        for k in due {
            for ep in self.timers.remove(&k).unwrap_or_default() {
                if let Some(q) = self.queues.get_mut(&ep) {
                    q.timer_armed = false;
                }
                self.start(&ep);
            }
        }
    }

    fn give_back_queued(&mut self) {
        let mut ids = Vec::new();
        for q in self.queues.values_mut() {
            for job in q.jobs.drain(..) {
                ids.push(job.delivery.id);
            }
        }
        {
            let mut held = self.shared.held.lock().expect("held lock");
            for id in &ids {
                held.remove(id);
            }
        }
        self.held -= ids.len();
        if !ids.is_empty() {
            let store = self.shared.store.clone();
            let owner = self.shared.config.node_id.clone();
            // Awaited by nobody but finished before the store closes: the
            // store's writer drains every queued write before it stops.
            tokio::spawn(async move {
                let _ = store.release(&ids, &owner).await;
            });
        }
    }

    fn publish_gauges(&self) {
        self.shared.metrics.held.set(self.held as i64);
        self.shared.metrics.in_flight.set(self.in_flight as i64);
    }
}

/// Makes (or skips) one attempt and decides what happens next.
async fn process(shared: &Shared, job: Job) -> Outcome {
    let d = &job.delivery;
    let mut outcome = Outcome {
        delivery_id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        attempt: None,
        status: DeliveryStatus::Cancelled,
        attempt_count: d.attempt_count,
        next_attempt_at: None,
        endpoint_effect: None,
    };
    let Some(endpoint) = shared.directory.endpoint(&d.endpoint_id) else {
        // Deleted: nothing to send to.
        shared.metrics.outcome("cancelled");
        return outcome;
    };
    if endpoint.status == EndpointStatus::Disabled && !d.test && !job.manual {
        // Disabled endpoints get nothing; the delivery can be recovered later.
        outcome.status = DeliveryStatus::Failed;
        shared.metrics.outcome("failed");
        return outcome;
    }
    let catalog = shared.directory.catalog();
    let started = shared.clock.now();
    let body = crate::render::delivery_body(
        catalog,
        &job.entry.event,
        &endpoint.api_version,
        endpoint.advanced_options.payload.as_ref(),
        shared.config.signed_urls.as_deref(),
        || job.entry.body(catalog, &endpoint.api_version),
        started,
    );
    let sent = sender::send(
        &shared.client,
        &endpoint,
        job.entry.event.id.as_str(),
        body,
        started,
        sender::SendSettings {
            timeout: shared.config.request_timeout,
            user_agent: &shared.config.user_agent,
        },
    )
    .await;
    let ok = sent.attempt.succeeded();
    shared
        .metrics
        .attempt_seconds
        .observe(f64::from(sent.attempt.duration_ms) / 1000.0);
    if let Some(kind) = sent.attempt.error_kind {
        shared
            .metrics
            .attempt_errors
            .get_or_create(&crate::metrics::ErrorLabels {
                kind: kind.as_str().to_owned(),
            })
            .inc();
    }
    let made = d.attempt_count + 1;
    let now = shared.clock.now();
    outcome.attempt_count = made;
    if ok {
        outcome.status = DeliveryStatus::Succeeded;
    } else if job.manual || d.test {
        outcome.status = DeliveryStatus::Failed;
    } else {
        let schedule = shared.schedule_for(&endpoint);
        let next = next_attempt_at(
            &schedule,
            made,
            now,
            sent.retry_after,
            shared.config.jitter,
            &mut rand::thread_rng(),
        );
        match next {
            Some(t) => {
                outcome.status = DeliveryStatus::Pending;
                outcome.next_attempt_at = Some(t);
            }
            None => outcome.status = DeliveryStatus::Failed,
        }
    }
    outcome.endpoint_effect = health_effect(shared, &endpoint, ok, outcome.status, now);
    shared.metrics.outcome(match outcome.status {
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Pending => "retrying",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Cancelled => "cancelled",
    });
    outcome.attempt = Some(sent.attempt);
    outcome
}

/// Tracks whether an endpoint is failing and decides when to disable it:
/// after `auto_disable_after` of nothing but failures, or — for v1 API
/// endpoints — as soon as one delivery has exhausted its retries.
fn health_effect(
    shared: &Shared,
    endpoint: &hookrelay_core::model::Endpoint,
    ok: bool,
    status: DeliveryStatus,
    now: hookrelay_core::time::Timestamp,
) -> Option<EndpointEffect> {
    let mut health = shared.health.lock().expect("health lock");
    let since = health
        .entry(endpoint.id.clone())
        .or_insert(endpoint.failing_since);
    if ok {
        return since.take().map(|_| EndpointEffect::ClearFailing);
    }
    let is_v1 = shared
        .directory
        .catalog()
        .version(&endpoint.api_version)
        .is_some_and(|v| v.envelope == hookrelay_core::catalog::Envelope::V1);
    let first = since.is_none();
    let started = *since.get_or_insert(now);
    if endpoint.status == EndpointStatus::Enabled
        && ((is_v1 && status == DeliveryStatus::Failed)
            || should_auto_disable(
                Some(started),
                now,
                shared.config.auto_disable_after.as_millis() as i64,
            ))
    {
        return Some(EndpointEffect::DisableFailing(now));
    }
    first.then_some(EndpointEffect::MarkFailing(now))
}

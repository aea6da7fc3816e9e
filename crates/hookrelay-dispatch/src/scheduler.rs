//! The scheduler task: carries out the fairness policy ([`crate::policy`]).
//! It takes deliveries into memory or gives them back to the store, starts
//! the attempts the policy picks, answers the poller's questions about room,
//! drops a disabled or deleted endpoint's deliveries as soon as the
//! directory says so, and knows every attempt task it started (so shutdown
//! can wait for them).
//!
//! An attempt that panics is caught in its own task and becomes a failed
//! attempt (`errorKind: "internal"`): its slot is freed and its outcome
//! recorded like any other, so its lease is released and it is retried.
//!
//! Its unit tests (`scheduler/tests.rs`) run it on paused tokio time, with a
//! fake transport in place of the HTTP client and the test in the place of
//! the poller and the recorder.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hookrelay_core::ids::{DeliveryId, EndpointId, WorkspaceId};
use hookrelay_core::model::{Attempt, DeliveryStatus, EndpointStatus, ErrorKind};
use hookrelay_core::retry::{next_attempt_at, should_auto_disable};
use hookrelay_store::{EndpointEffect, Outcome};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::policy::{self, Ended, Policy, Queued, Room};
use crate::render::Job;
use crate::{sender, Shared};

/// Messages to the scheduler.
pub enum Msg {
    /// Deliveries this node holds the lease of.
    Jobs(Vec<Job>),
    /// How much room is there for the due deliveries of these workspaces?
    /// (for the poller)
    Room(Vec<WorkspaceId>, oneshot::Sender<Room>),
    /// Stop: give back queued work, wait for attempts in flight.
    Shutdown(oneshot::Sender<()>),
    /// The recorder is done with these deliveries' outcomes (written, or
    /// failed to be written: then the lease runs out and they are attempted
    /// again). Until then each still counts as held.
    Recorded(Vec<DeliveryId>),
    /// What the poller's claims took, per workspace: (workspace, what it
    /// had room for, what it took).
    Claimed(Vec<(WorkspaceId, u32, usize)>),
    /// An endpoint missing from the directory is gone from the store too
    /// (deleted): its queued deliveries leave memory.
    Gone(EndpointId),
    /// An endpoint missing from the directory is still in the store.
    Checked(EndpointId),
}

impl Queued for Job {
    fn endpoint(&self) -> &EndpointId {
        &self.delivery.endpoint_id
    }
    fn workspace(&self) -> &WorkspaceId {
        &self.delivery.workspace_id
    }
}

struct State {
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Outcome>,
    policy: Policy<Job>,
    /// Attempt tasks; each ends with its outcome, which `finished` hands to
    /// the recorder.
    attempts: JoinSet<Outcome>,
    /// Finished attempts whose outcome the recorder has not yet settled, and
    /// their workspace: they count as held until then, so outcomes waiting
    /// for a busy writer cannot pile up without bound.
    unrecorded: rustc_hash::FxHashMap<DeliveryId, WorkspaceId>,
    /// Endpoints missing from the directory being looked up in the store.
    checking: rustc_hash::FxHashSet<EndpointId>,
    /// To send itself what a lookup found.
    to_self: mpsc::WeakUnboundedSender<Msg>,
    shutting_down: bool,
}

/// The scheduler task.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    out: mpsc::UnboundedSender<Outcome>,
    to_self: mpsc::WeakUnboundedSender<Msg>,
) {
    let _alive = shared.alive.guard();
    let policy = Policy::new(shared.config.limits());
    let mut directory = shared.directory.watch();
    let mut st = State {
        shared,
        out,
        policy,
        attempts: JoinSet::new(),
        unrecorded: Default::default(),
        checking: Default::default(),
        to_self,
        shutting_down: false,
    };
    let mut tick = tokio::time::interval(policy::WINDOW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut directory_open = true;
    let mut shutdown_done: Option<oneshot::Sender<()>> = None;
    let mut deadline: Option<Instant> = None;
    loop {
        let next_timer = st.policy.next_timer();
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Jobs(jobs)) => st.accept(jobs),
                Some(Msg::Room(due, reply)) => { let _ = reply.send(st.room(&due)); }
                Some(Msg::Recorded(ids)) => st.recorded(ids),
                Some(Msg::Gone(ep)) => {
                    st.checking.remove(&ep);
                    if st.shared.directory.endpoint(&ep).is_none() {
                        let jobs = st.policy.drain(&ep);
                        st.give_back(jobs);
                    }
                }
                Some(Msg::Checked(ep)) => {
                    st.checking.remove(&ep);
                }
                Some(Msg::Claimed(took)) => {
                    for (ws, allotted, n) in took {
                        st.policy.claimed(&ws, allotted, n);
                    }
                }
                Some(Msg::Shutdown(done)) => {
                    st.begin_shutdown();
                    deadline = Some(Instant::now() + st.shared.config.shutdown_grace);
                    shutdown_done = Some(done);
                }
                None => {
                    // Every handle is gone: finish what is in flight, then stop.
                    if !st.shutting_down {
                        st.begin_shutdown();
                        deadline = Some(Instant::now() + st.shared.config.shutdown_grace);
                    }
                }
            },
            Some(res) = st.attempts.join_next(), if !st.attempts.is_empty() => {
                // Panics are caught inside the attempt's task; an `Err` here
                // is an attempt aborted at shutdown.
                if let Ok(outcome) = res {
                    st.finished(outcome);
                }
            }
            _ = tokio::time::sleep_until(next_timer.unwrap_or_else(far_future)), if next_timer.is_some() => {
                st.policy.fire_timers(Instant::now());
            }
            _ = tick.tick() => st.tick(),
            changed = directory.changed(), if directory_open => {
                match changed {
                    Ok(()) => st.review_endpoints(),
                    Err(_) => directory_open = false,
                }
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
                        .filter(|id| !st.unrecorded.contains_key(*id))
                        .cloned()
                        .collect();
                    for id in &ids {
                        held.remove(id);
                    }
                    ids
                };
                if !ids.is_empty() {
                    let _ = st.shared.store.release(&ids, &st.shared.config.node_id).await;
                }
            }
        }
        st.pump();
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
    /// Starts every attempt the policy allows now.
    fn pump(&mut self) {
        if !self.shutting_down {
            let now = Instant::now();
            while let Some(job) = self.policy.next(now) {
                let shared = self.shared.clone();
                self.attempts.spawn(attempt(shared, job));
            }
        }
        if self.policy.take_wake() {
            self.shared.wake_poller.notify_one();
        }
        self.shared.metrics.held.set(self.policy.held() as i64);
        self.shared
            .metrics
            .in_flight
            .set(self.policy.in_flight() as i64);
    }

    fn accept(&mut self, jobs: Vec<Job>) {
        let now = Instant::now();
        let mut spill = Vec::new();
        let mut disabled = Vec::new();
        {
            let mut held = self.shared.held.lock().expect("held lock");
            for job in jobs {
                let id = job.delivery.id.clone();
                if held.contains_key(&id) {
                    continue; // already queued or in flight here
                }
                if self.shutting_down {
                    spill.push(id);
                    continue;
                }
                let ep = job.delivery.endpoint_id.clone();
                // Without it in the directory, the attempt looks it up.
                if let Some(e) = self.shared.directory.endpoint(&ep) {
                    if e.status == EndpointStatus::Disabled && !job.delivery.test && !job.manual {
                        disabled.push(job);
                        continue;
                    }
                    self.policy
                        .configure(&ep, &e.workspace_id, e.rate_limit_per_second, now);
                }
                match self.policy.offer(job, now) {
                    Ok(()) => {
                        held.insert(id, ep);
                    }
                    // Given back to the store: claimed again once there is room.
                    Err(job) => spill.push(job.delivery.id),
                }
            }
        }
        self.release(spill);
        self.fail_disabled(disabled);
    }

    /// Deliveries of a disabled endpoint are not attempted: they fail at
    /// once (recoverable later), without taking a slot.
    fn fail_disabled(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            self.shared.metrics.outcome("failed");
            let d = &job.delivery;
            let _ = self.out.send(Outcome {
                delivery_id: d.id.clone(),
                endpoint_id: d.endpoint_id.clone(),
                lease_owner: Some(self.shared.config.node_id.clone()),
                attempt: None,
                status: DeliveryStatus::Failed,
                attempt_count: d.attempt_count,
                next_attempt_at: None,
                endpoint_effect: None,
            });
        }
    }

    /// Gives deliveries back to the store unattempted (in the background:
    /// the store's writer drains every queued write before it stops).
    fn release(&self, ids: Vec<DeliveryId>) {
        if ids.is_empty() {
            return;
        }
        let store = self.shared.store.clone();
        let owner = self.shared.config.node_id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.release(&ids, &owner).await {
                tracing::warn!(error = %e, "giving deliveries back to the store failed");
            }
        });
    }

    /// Takes jobs out of memory and gives them back to the store.
    fn give_back(&mut self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let ids: Vec<DeliveryId> = {
            let mut held = self.shared.held.lock().expect("held lock");
            jobs.into_iter()
                .map(|j| {
                    held.remove(&j.delivery.id);
                    j.delivery.id
                })
                .collect()
        };
        self.release(ids);
    }

    fn room(&mut self, due: &[WorkspaceId]) -> Room {
        if self.shutting_down {
            return Room::default();
        }
        let (room, evicted) = self.policy.room(due, Instant::now());
        self.give_back(evicted);
        room
    }

    fn tick(&mut self) {
        let back = self.policy.tick(Instant::now());
        self.give_back(back);
    }

    /// The directory changed: a disabled endpoint's queued deliveries fail
    /// at once, a deleted one's go back to the store (which cancelled them),
    /// and rate limits follow their endpoint. An endpoint the directory does
    /// not list may only be unknown to it yet (created on another node): the
    /// store says whether it is gone.
    fn review_endpoints(&mut self) {
        let now = Instant::now();
        for ep in self.policy.queued_endpoints() {
            match self.shared.directory.endpoint(&ep) {
                None => self.check_gone(ep),
                Some(e) if e.status == EndpointStatus::Disabled => {
                    let jobs = self.policy.drain(&ep);
                    let (keep, fail): (Vec<Job>, Vec<Job>) =
                        jobs.into_iter().partition(|j| j.delivery.test || j.manual);
                    {
                        let mut held = self.shared.held.lock().expect("held lock");
                        for j in &fail {
                            held.remove(&j.delivery.id);
                        }
                    }
                    self.fail_disabled(fail);
                    let mut back = Vec::new();
                    for j in keep {
                        if let Err(j) = self.policy.offer(j, now) {
                            back.push(j);
                        }
                    }
                    self.give_back(back);
                }
                Some(e) => {
                    self.policy
                        .configure(&ep, &e.workspace_id, e.rate_limit_per_second, now);
                }
            }
        }
    }

    /// Asks the store whether an endpoint missing from the directory still
    /// exists; if not, [`Msg::Gone`] drops its queued deliveries.
    fn check_gone(&mut self, ep: EndpointId) {
        let Some(ws) = self.policy.workspace_of(&ep).cloned() else {
            return;
        };
        if !self.checking.insert(ep.clone()) {
            return;
        }
        let (store, to_self) = (self.shared.store.clone(), self.to_self.clone());
        tokio::spawn(async move {
            let gone = matches!(store.get_endpoint(&ws, &ep).await, Ok(None));
            if let Some(tx) = to_self.upgrade() {
                if gone {
                    let _ = tx.send(Msg::Gone(ep));
                } else {
                    // Still there (or unknown): its attempts will read it.
                    let _ = tx.send(Msg::Checked(ep));
                }
            }
        });
    }

    fn finished(&mut self, outcome: Outcome) {
        let ep = outcome.endpoint_id.clone();
        let id = outcome.delivery_id.clone();
        let ended = match &outcome.attempt {
            None => Ended::NotAttempted,
            Some(a) if a.succeeded() => Ended::Succeeded,
            Some(a) if a.error_kind == Some(ErrorKind::Timeout) => Ended::TimedOut,
            Some(_) => Ended::Failed,
        };
        let ws = self.policy.workspace_of(&ep).cloned();
        // Sent from here, not from the attempt's task, so that the recorder
        // never settles an outcome the scheduler has not yet seen finish.
        let _ = self.out.send(outcome);
        if self
            .policy
            .finished(&ep, ended, Instant::now())
            .breaker_opened
        {
            self.shared.metrics.circuit_opened.inc();
            tracing::info!(endpoint = %ep, "endpoint failing: pausing its deliveries");
        }
        // Still held until the recorder settles its outcome (`recorded`).
        if let Some(ws) = ws {
            self.unrecorded.insert(id, ws);
        }
    }

    /// The recorder settled these outcomes: their deliveries leave memory.
    fn recorded(&mut self, ids: Vec<DeliveryId>) {
        let mut per_ws: HashMap<WorkspaceId, usize> = HashMap::new();
        {
            let mut held = self.shared.held.lock().expect("held lock");
            for id in &ids {
                if let Some(ws) = self.unrecorded.remove(id) {
                    held.remove(id);
                    *per_ws.entry(ws).or_default() += 1;
                }
            }
        }
        for (ws, n) in per_ws {
            self.policy.recorded(&ws, n);
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        let jobs = self.policy.drain_all();
        self.give_back(jobs);
    }
}

/// Makes one attempt in its own task. A panic anywhere in it is caught here
/// and recorded as a failed attempt, so the slot, the lease and the
/// delivery's retries carry on as for any failure.
async fn attempt(shared: Arc<Shared>, job: Job) -> Outcome {
    let d = &job.delivery;
    let started = shared.clock.now();
    let mut fallback = Outcome {
        delivery_id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        lease_owner: Some(shared.config.node_id.clone()),
        attempt: None,
        status: DeliveryStatus::Failed,
        attempt_count: d.attempt_count + 1,
        next_attempt_at: None,
        endpoint_effect: None,
    };
    let retries = !(job.manual || d.test);
    let previous = d.attempt_count;
    match AssertUnwindSafe(process(&shared, job)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(delivery = %fallback.delivery_id, panic = %what, "an attempt panicked");
            let now = shared.clock.now();
            let endpoint = shared.directory.endpoint(&fallback.endpoint_id);
            fallback.attempt = Some(Attempt {
                attempt_number: 0,
                started_at: started,
                duration_ms: (now.0 - started.0).clamp(0, i64::from(u32::MAX)) as u32,
                request_url: endpoint.as_ref().map(|e| e.url.to_string()).unwrap_or_default(),
                request_headers: Vec::new(),
                response_status: None,
                response_headers: Vec::new(),
                response_body: None,
                error_kind: Some(ErrorKind::Internal),
                error_message: Some(
                    "hookrelay failed while making this attempt; it is retried like any failed attempt"
                        .to_owned(),
                ),
            });
            if retries {
                let schedule = endpoint.as_deref().map_or_else(
                    || shared.config.default_schedule.clone(),
                    |e| shared.schedule_for(e),
                );
                if let Some(t) = next_attempt_at(
                    &schedule,
                    previous + 1,
                    now,
                    None,
                    shared.config.jitter,
                    &mut rand::thread_rng(),
                ) {
                    fallback.status = DeliveryStatus::Pending;
                    fallback.next_attempt_at = Some(t);
                }
            }
            shared.metrics.outcome(match fallback.status {
                DeliveryStatus::Pending => "retrying",
                _ => "failed",
            });
            fallback
        }
    }
}

/// How long to wait before trying a delivery again whose endpoint could not
/// be read from the store.
const STORE_TROUBLE_DELAY_MS: i64 = 5_000;

/// Makes (or skips) one attempt and decides what happens next.
async fn process(shared: &Shared, job: Job) -> Outcome {
    let d = &job.delivery;
    let mut outcome = Outcome {
        delivery_id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        lease_owner: Some(shared.config.node_id.clone()),
        attempt: None,
        status: DeliveryStatus::Cancelled,
        attempt_count: d.attempt_count,
        next_attempt_at: None,
        endpoint_effect: None,
    };
    let endpoint = match shared.directory.endpoint(&d.endpoint_id) {
        Some(e) => e,
        // Not in this node's routing cache (another node created it and the
        // notification is not here yet, or the cache missed one): the store
        // decides. Only a deleted endpoint's delivery is cancelled.
        None => match shared
            .directory
            .reload_endpoint(&d.workspace_id, &d.endpoint_id)
            .await
        {
            Ok(Some(e)) => e,
            Ok(None) => {
                shared.metrics.outcome("cancelled");
                return outcome;
            }
            Err(e) => {
                tracing::warn!(error = %e, endpoint = %d.endpoint_id, "reading an endpoint failed; trying its delivery again shortly");
                outcome.status = DeliveryStatus::Pending;
                outcome.next_attempt_at =
                    Some(shared.clock.now().plus_millis(STORE_TROUBLE_DELAY_MS));
                return outcome;
            }
        },
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
    let sent = shared
        .transport
        .send(
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

#[cfg(test)]
mod tests;

//! The fairness policy: what the dispatcher holds in memory for whom, and
//! who gets the next attempt slot.
//!
//! Pure bookkeeping over explicit instants: no IO, no tasks, no clock of its
//! own. The scheduler task ([`crate::scheduler`]) feeds it what happens
//! (deliveries offered, attempts finished, outcomes recorded, a second gone
//! by) and carries out what it decides (start this attempt, give these
//! deliveries back to the store); the unit tests below drive it step by step.
//!
//! The rules:
//!
//! - **Slots go round-robin**: workspaces with work take turns, one attempt
//!   each, and within a workspace its endpoints take turns. An attempt needs
//!   a free global slot (`max_in_flight`), a slot of its workspace (below
//!   `max_in_flight_per_workspace`, or beyond it while the free global
//!   slots would still hold another workspace's cap: a workspace alone may
//!   use the whole server, but one workspace's hanging endpoints never take
//!   the last slots), a free slot of its endpoint, a token of the
//!   endpoint's rate limit, and a closed breaker. An endpoint's slots start
//!   at [`INITIAL_WINDOW`] and grow by one with each success up to
//!   `endpoint_concurrency`; each timeout halves them (one while its breaker
//!   probes). So an endpoint that hangs holds a few slots, and a fast one
//!   reaches its full concurrency within a few dozen answers.
//! - **An endpoint holds what it can send soon**: at most what it sent in
//!   the last [`LOOKAHEAD`] while it had work waiting (measured every
//!   second, forgotten as soon as its queue runs empty), or what its rate
//!   limit lets through in that time, never less than its concurrency, never
//!   more than `max_held_per_endpoint`; while its breaker has it paused, one
//!   (for the probe). Whatever it holds beyond that is given back to the
//!   store, where it waits without costing memory.
//! - **A workspace holds its fair share**, and more while nobody else needs
//!   it: at most `max_held_per_workspace`; and, while other workspaces have
//!   deliveries due in the store that their claims had no room to take
//!   ("wanting"), no more than leaves each of them an equal share of
//!   `max_held`. When a workspace starts wanting, those above that give
//!   their newest queued deliveries back.
//!
//! So whatever one workspace's endpoints do (throttled, paused, hanging until
//! the timeout, or thousands of deliveries deep), the others find room in
//! memory and free slots within a second or two.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use hookrelay_core::ids::{EndpointId, WorkspaceId};
use rustc_hash::FxHashMap;
use tokio::time::Instant;

/// How far ahead an endpoint's memory reaches: it holds at most what it
/// sent in this long.
pub const LOOKAHEAD: Duration = Duration::from_secs(2);
/// How often the policy measures what each endpoint sent.
pub const WINDOW: Duration = Duration::from_secs(1);
/// The slots an endpoint starts with (see the module docs).
pub const INITIAL_WINDOW: usize = 4;
/// A workspace the store reported deliveries due for counts as wanting room
/// for this long. The poller reports it again whenever it finds it due, so
/// this bounds how long a workspace nobody reports any more keeps room
/// reserved for it.
const WANTS_ROOM_FOR: Duration = Duration::from_secs(10);
/// An endpoint with nothing held and nothing in flight is forgotten after
/// this long (its rate-limit bucket and measurements with it).
const FORGET_AFTER: Duration = Duration::from_secs(300);

/// What the policy needs to know of a queued delivery.
pub trait Queued {
    fn endpoint(&self) -> &EndpointId;
    fn workspace(&self) -> &WorkspaceId;
}

/// The numbers the policy enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_in_flight: usize,
    pub max_in_flight_per_workspace: usize,
    pub endpoint_concurrency: usize,
    pub max_held: usize,
    pub max_held_per_workspace: usize,
    pub max_held_per_endpoint: usize,
    /// Failed attempts in a row that pause an endpoint (0 = never).
    pub breaker_threshold: u32,
    /// The longest pause between probes of a failing endpoint.
    pub breaker_max_cooldown: Duration,
}

/// A token bucket: `rate` attempts per second, bursts of up to `rate`.
#[derive(Debug)]
struct Bucket {
    rate: u32,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32, now: Instant) -> Self {
        Self {
            rate,
            tokens: f64::from(rate.max(1)),
            last: now,
        }
    }

    /// Takes a token, or says when the next one will be there.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let rate = f64::from(self.rate.max(1));
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
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

impl Breaker {
    /// Open, or half open until a probe succeeds: it takes no more work.
    fn paused(&self) -> bool {
        self.open_until.is_some()
    }
}

/// What an endpoint sent since it last had work waiting (the window starts
/// again when its queue fills after running empty).
#[derive(Debug)]
struct Meter {
    since: Instant,
    done: u32,
    /// It had deliveries waiting the whole window: what it sent is what it
    /// can send.
    busy: bool,
}

struct Ep<J> {
    ws: WorkspaceId,
    jobs: VecDeque<J>,
    in_flight: usize,
    rate: Option<u32>,
    bucket: Option<Bucket>,
    breaker: Breaker,
    meter: Meter,
    /// Attempts it finished since the last tick, and in the second before.
    this_second: u32,
    last_second: u32,
    /// How many it may hold queued, from what it sent while busy; `None`
    /// when it kept up with its work.
    measured: Option<usize>,
    /// Attempts it may have in flight now (see the module docs).
    window: usize,
    /// Waiting for a rate-limit token or the end of a breaker pause.
    timer: Option<Instant>,
    /// In its workspace's ready list.
    in_ready: bool,
    /// The poller was told it has no room: wake the poller when it runs low.
    capped: bool,
    last_used: Instant,
}

impl<J> Ep<J> {
    fn new(ws: WorkspaceId, now: Instant) -> Self {
        Self {
            window: INITIAL_WINDOW,
            ws,
            jobs: VecDeque::new(),
            in_flight: 0,
            rate: None,
            bucket: None,
            breaker: Breaker::default(),
            meter: Meter {
                since: now,
                done: 0,
                busy: false,
            },
            this_second: 0,
            last_second: 0,
            measured: None,
            timer: None,
            in_ready: false,
            capped: false,
            last_used: now,
        }
    }

    /// Attempts it may start in all (in flight included).
    fn slots(&self, concurrency: usize) -> usize {
        if self.breaker.probing {
            1
        } else {
            self.window.clamp(1, concurrency.max(1))
        }
    }

    fn pop(&mut self) -> Option<J> {
        let j = self.jobs.pop_front();
        if self.jobs.is_empty() {
            // It kept up with all it had: whatever was measured while it
            // could not no longer holds.
            self.meter.busy = false;
            self.measured = None;
        }
        j
    }
}

#[derive(Debug, Default)]
struct Ws {
    in_flight: usize,
    /// Queued, in flight, or finished with the outcome not yet recorded.
    held: usize,
    /// Endpoints that could start an attempt now, in turn order.
    ready: VecDeque<EndpointId>,
    in_ring: bool,
    /// At its slot cap, waiting for the global reserve to allow more.
    over_cap: bool,
    /// The poller was told it has no room: wake the poller when it has.
    capped: bool,
}

/// Room for the poller's next claim.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Room {
    /// How many more deliveries may be held in all.
    pub free: usize,
    /// Per workspace asked about, how many more it may hold.
    pub workspaces: Vec<(WorkspaceId, u32)>,
    /// Per workspace asked about, its endpoints with a limited room (0: none).
    pub endpoints: HashMap<WorkspaceId, HashMap<EndpointId, u32>>,
    /// The room of an endpoint not in `endpoints`.
    pub default_room: u32,
}

/// See the module docs.
///
/// Its maps hash with FxHash: every delivery passes through several lookups,
/// and the keys are ids this server minted (random ULIDs), which no client
/// can choose to collide.
pub struct Policy<J> {
    limits: Limits,
    eps: FxHashMap<EndpointId, Ep<J>>,
    wss: FxHashMap<WorkspaceId, Ws>,
    /// Workspaces with a ready endpoint and a free slot, in turn order.
    ring: VecDeque<WorkspaceId>,
    /// Workspaces with a ready endpoint, at their slot cap: back in the ring
    /// when the global reserve allows (see `may_start`).
    over_cap: VecDeque<WorkspaceId>,
    timers: BTreeMap<Instant, Vec<EndpointId>>,
    in_flight: usize,
    held: usize,
    /// Workspaces holding something.
    holding: usize,
    /// Workspaces the store said have deliveries due that their claim had
    /// no room to take all of, and when.
    wanting: FxHashMap<WorkspaceId, Instant>,
    /// Workspaces holding something or wanting room (counted by `settle`).
    active: usize,
    /// What the wanting workspaces are short of their share (counted by
    /// `settle`): memory kept for them.
    reserve: usize,
    /// The poller stopped for want of room in all: wake it when half is free.
    capped: bool,
    /// The poller should look for work now.
    wake: bool,
}

impl<J: Queued> Policy<J> {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            eps: FxHashMap::default(),
            wss: FxHashMap::default(),
            ring: VecDeque::new(),
            over_cap: VecDeque::new(),
            timers: BTreeMap::new(),
            in_flight: 0,
            held: 0,
            holding: 0,
            wanting: FxHashMap::default(),
            active: 0,
            reserve: 0,
            capped: false,
            wake: false,
        }
    }

    /// Attempts in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Deliveries held (queued, in flight, or with an outcome not yet recorded).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether the poller should look for work now (and forget that it should).
    pub fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake)
    }

    /// The next time a paused or throttled endpoint may start again.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.keys().next().copied()
    }

    /// Endpoints with deliveries queued.
    pub fn queued_endpoints(&self) -> Vec<EndpointId> {
        self.eps
            .iter()
            .filter(|(_, e)| !e.jobs.is_empty())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The workspace of an endpoint the policy knows.
    pub fn workspace_of(&self, ep: &EndpointId) -> Option<&WorkspaceId> {
        self.eps.get(ep).map(|e| &e.ws)
    }

    /// Sets an endpoint's rate limit (attempts per second; `None`: none).
    pub fn configure(
        &mut self,
        ep: &EndpointId,
        ws: &WorkspaceId,
        rate: Option<u32>,
        now: Instant,
    ) {
        let e = self
            .eps
            .entry(ep.clone())
            .or_insert_with(|| Ep::new(ws.clone(), now));
        if e.rate != rate {
            e.rate = rate;
            e.bucket = rate.map(|r| Bucket::new(r, now));
        }
    }

    /// The most an endpoint may hold queued now.
    fn allowance(&self, e: &Ep<J>) -> usize {
        if e.breaker.paused() {
            return 1;
        }
        let floor = self.limits.endpoint_concurrency.max(1);
        let mut a = self.limits.max_held_per_endpoint;
        if let Some(r) = e.rate {
            let ahead = (f64::from(r) * LOOKAHEAD.as_secs_f64()).ceil() as usize;
            a = a.min(ahead.max(floor));
        }
        if let Some(m) = e.measured {
            a = a.min(m.max(floor));
        }
        a
    }

    /// The most an endpoint may hold when the poller claims for it: its
    /// allowance, but no more than twice what it sent lately (at least
    /// its concurrency), so that an endpoint nobody has measured yet
    /// (a deep backlog after a restart, a fan-out from the store) is not
    /// handed thousands of deliveries before its first second shows whether
    /// it can take them. A fast endpoint's room grows with every claim.
    fn claim_allowance(&self, e: &Ep<J>) -> usize {
        let lately = 2 * (e.this_second.max(e.last_second) as usize);
        self.allowance(e).min(lately.max(self.initial_room()))
    }

    /// The room of an endpoint the policy knows nothing of yet: its
    /// concurrency, which is also the least any endpoint may hold (so a
    /// throttled endpoint is never claimed more than it keeps).
    fn initial_room(&self) -> usize {
        self.limits.endpoint_concurrency.max(1)
    }

    /// The most a workspace holding `ws_held` (and short of its share by
    /// `own_deficit`, if it wants room) may hold now: its equal share of
    /// memory among the active workspaces, or more while memory is free
    /// beyond what the other wanting workspaces are short of (so a busy
    /// workspace alone uses what nobody else needs); never more than
    /// `max_held_per_workspace`.
    fn workspace_cap(&self, ws_held: usize, own_deficit: usize) -> usize {
        let free = self.limits.max_held.saturating_sub(self.held);
        let others = self.reserve.saturating_sub(own_deficit);
        self.share()
            .max((ws_held + free).saturating_sub(others))
            .min(self.limits.max_held_per_workspace)
    }

    /// An equal share of memory among the active workspaces.
    fn share(&self) -> usize {
        (self.limits.max_held / self.active.max(1)).max(1)
    }

    /// How far `ws` is below its share, if it wants room.
    fn deficit(&self, ws: &WorkspaceId, held: usize) -> usize {
        if self.wanting.contains_key(ws) {
            self.share().saturating_sub(held)
        } else {
            0
        }
    }

    /// The cap of workspace `ws` now.
    fn cap_of(&self, ws: &WorkspaceId) -> usize {
        let held = self.wss.get(ws).map_or(0, |w| w.held);
        self.workspace_cap(held, self.deficit(ws, held))
    }

    /// Counts the active workspaces and what the wanting ones are short of.
    fn settle(&mut self) {
        let idle_wanting = self
            .wanting
            .keys()
            .filter(|w| self.wss.get(*w).is_none_or(|x| x.held == 0))
            .count();
        self.active = self.holding + idle_wanting;
        let share = self.share();
        self.reserve = self
            .wanting
            .keys()
            .map(|w| share.saturating_sub(self.wss.get(w).map_or(0, |x| x.held)))
            .sum();
    }

    /// Takes a delivery into memory, or hands it back (`Err`) when there is
    /// no room for it: it then stays in the store for a later claim.
    pub fn offer(&mut self, job: J, now: Instant) -> Result<(), J> {
        if self.held >= self.limits.max_held {
            self.capped = true;
            return Err(job);
        }
        let ws_id = job.workspace().clone();
        let ep_id = job.endpoint().clone();
        let ws_held = self.wss.get(&ws_id).map_or(0, |w| w.held);
        let cap = self.workspace_cap(ws_held, self.deficit(&ws_id, ws_held));
        if ws_held >= cap {
            self.wss.entry(ws_id).or_default().capped = true;
            return Err(job);
        }
        self.eps
            .entry(ep_id.clone())
            .or_insert_with(|| Ep::new(ws_id.clone(), now));
        let allowance = self.allowance(&self.eps[&ep_id]);
        let e = self.eps.get_mut(&ep_id).expect("just inserted");
        if e.jobs.len() >= allowance {
            e.capped = true;
            return Err(job);
        }
        if e.jobs.is_empty() {
            // Work starts waiting: what it sends from now on is what it can.
            e.meter = Meter {
                since: now,
                done: 0,
                busy: true,
            };
        }
        e.jobs.push_back(job);
        e.last_used = now;
        self.held += 1;
        let ws = self.wss.entry(ws_id.clone()).or_default();
        if ws.held == 0 {
            self.holding += 1;
        }
        ws.held += 1;
        self.make_ready(&ep_id);
        Ok(())
    }

    /// Puts `ep` in its workspace's ready list if it could start now, and
    /// its workspace in the ring if it has a free slot.
    fn make_ready(&mut self, ep_id: &EndpointId) {
        let conc = self.limits.endpoint_concurrency;
        let Some(e) = self.eps.get_mut(ep_id) else {
            return;
        };
        let limit = e.slots(conc);
        if e.jobs.is_empty() || e.in_flight >= limit || e.timer.is_some() || e.in_ready {
            return;
        }
        e.in_ready = true;
        let ws_id = e.ws.clone();
        self.wss
            .entry(ws_id.clone())
            .or_default()
            .ready
            .push_back(ep_id.clone());
        self.ring_in(&ws_id);
    }

    /// Whether a workspace with `ws_in_flight` attempts may start another:
    /// below its cap, or beyond it while the global slots left would still
    /// hold another workspace's cap (so a workspace alone may use the whole
    /// server, and one workspace's slow endpoints never take the last slots).
    fn may_start(limits: &Limits, in_flight: usize, ws_in_flight: usize) -> bool {
        let cap = limits.max_in_flight_per_workspace;
        ws_in_flight < cap || in_flight + cap < limits.max_in_flight
    }

    /// Puts a workspace with ready endpoints in the ring if it may start an
    /// attempt, or among those waiting for the reserve if it may not.
    fn ring_in(&mut self, id: &WorkspaceId) {
        let Some(ws) = self.wss.get_mut(id) else {
            return;
        };
        if ws.in_ring || ws.over_cap || ws.ready.is_empty() {
            return;
        }
        if Self::may_start(&self.limits, self.in_flight, ws.in_flight) {
            ws.in_ring = true;
            self.ring.push_back(id.clone());
        } else {
            ws.over_cap = true;
            self.over_cap.push_back(id.clone());
        }
    }

    /// Slots came free: workspaces waiting at their cap may try again.
    fn reserve_freed(&mut self) {
        let cap = self.limits.max_in_flight_per_workspace;
        if self.over_cap.is_empty() || self.in_flight + cap >= self.limits.max_in_flight {
            return;
        }
        for id in std::mem::take(&mut self.over_cap) {
            if let Some(ws) = self.wss.get_mut(&id) {
                ws.over_cap = false;
            }
            self.ring_in(&id);
        }
    }

    fn arm(&mut self, ep_id: &EndpointId, at: Instant) {
        if let Some(e) = self.eps.get_mut(ep_id) {
            if e.timer.is_none() {
                e.timer = Some(at);
                self.timers.entry(at).or_default().push(ep_id.clone());
            }
        }
    }

    /// The next attempt to start, if a slot is free and someone may use it:
    /// the next workspace in turn, its next endpoint in turn.
    pub fn next(&mut self, now: Instant) -> Option<J> {
        while self.in_flight < self.limits.max_in_flight {
            let ws_id = self.ring.pop_front()?;
            let Some(ws) = self.wss.get_mut(&ws_id) else {
                continue;
            };
            ws.in_ring = false;
            if !Self::may_start(&self.limits, self.in_flight, ws.in_flight) {
                // Back when one of its attempts ends or the reserve allows.
                self.ring_in(&ws_id);
                continue;
            }
            while let Some(ep_id) = self.wss.get_mut(&ws_id).and_then(|w| w.ready.pop_front()) {
                let Some(e) = self.eps.get_mut(&ep_id) else {
                    continue;
                };
                e.in_ready = false;
                let limit = e.slots(self.limits.endpoint_concurrency);
                if e.jobs.is_empty() || e.in_flight >= limit || e.timer.is_some() {
                    continue;
                }
                if let Some(until) = e.breaker.open_until {
                    if now < until {
                        self.arm(&ep_id, until);
                        continue;
                    }
                    // Half open: one probe at a time until one succeeds.
                    e.breaker.probing = true;
                    if e.in_flight >= 1 {
                        continue;
                    }
                }
                if let Some(b) = e.bucket.as_mut() {
                    if let Err(at) = b.take(now) {
                        self.arm(&ep_id, at);
                        continue;
                    }
                }
                let job = e.pop().expect("not empty");
                e.in_flight += 1;
                e.last_used = now;
                if e.capped && e.jobs.len() <= self.claim_allowance(&self.eps[&ep_id]) / 4 {
                    // Running low while the store may hold more for it.
                    let e = self.eps.get_mut(&ep_id).expect("present");
                    e.capped = false;
                    self.wake = true;
                }
                self.in_flight += 1;
                let ws = self.wss.get_mut(&ws_id).expect("present");
                ws.in_flight += 1;
                self.make_ready(&ep_id);
                self.ring_in(&ws_id);
                return Some(job);
            }
        }
        None
    }

    /// An attempt of `ep` ended (or was not made). The delivery stays held
    /// until [`Policy::recorded`].
    pub fn finished(&mut self, ep_id: &EndpointId, ended: Ended, now: Instant) -> Finished {
        let mut report = Finished::default();
        let Some(e) = self.eps.get_mut(ep_id) else {
            return report;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        e.meter.done += 1;
        e.this_second += 1;
        e.last_used = now;
        match ended {
            Ended::Succeeded => {
                e.window = (e.window + 1).min(self.limits.endpoint_concurrency.max(1));
            }
            Ended::TimedOut => e.window = (e.window / 2).max(1),
            Ended::Failed | Ended::NotAttempted => {}
        }
        let ok = match ended {
            Ended::Succeeded => Some(true),
            Ended::Failed | Ended::TimedOut => Some(false),
            Ended::NotAttempted => None,
        };
        match ok {
            Some(true) => e.breaker = Breaker::default(),
            Some(false) => {
                let threshold = self.limits.breaker_threshold;
                let max = self.limits.breaker_max_cooldown;
                let b = &mut e.breaker;
                b.failures += 1;
                if threshold > 0
                    && (b.probing || (b.open_until.is_none() && b.failures >= threshold))
                {
                    if b.probing {
                        b.cooldown = (b.cooldown * 2).min(max);
                    } else {
                        report.breaker_opened = true;
                    }
                    b.probing = false;
                    b.open_until = Some(now + b.cooldown.min(max));
                }
            }
            None => {}
        }
        let ws_id = e.ws.clone();
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(ws) = self.wss.get_mut(&ws_id) {
            ws.in_flight = ws.in_flight.saturating_sub(1);
        }
        if let Some(ws) = self.wss.get_mut(&ws_id) {
            // Its cap may allow it again: out of the reserve's queue.
            if ws.over_cap && ws.in_flight < self.limits.max_in_flight_per_workspace {
                ws.over_cap = false;
                self.over_cap.retain(|w| w != &ws_id);
            }
        }
        self.make_ready(ep_id);
        self.ring_in(&ws_id);
        self.reserve_freed();
        report
    }

    /// The outcomes of `n` deliveries of `ws` were recorded: they leave memory.
    pub fn recorded(&mut self, ws_id: &WorkspaceId, n: usize) {
        self.forget_held(ws_id, n);
        let cap = self.cap_of(ws_id);
        if let Some(ws) = self.wss.get_mut(ws_id) {
            if ws.capped && ws.held <= cap / 2 {
                ws.capped = false;
                self.wake = true;
            }
        }
        if self.capped && self.held <= self.limits.max_held / 2 {
            self.capped = false;
            self.wake = true;
        }
    }

    /// Paused and throttled endpoints whose time has come may start again.
    pub fn fire_timers(&mut self, now: Instant) {
        let due: Vec<Instant> = self.timers.range(..=now).map(|(k, _)| *k).collect();
        for k in due {
            for ep_id in self.timers.remove(&k).unwrap_or_default() {
                if let Some(e) = self.eps.get_mut(&ep_id) {
                    e.timer = None;
                }
                self.make_ready(&ep_id);
            }
        }
    }

    /// Removes queued deliveries (newest first) beyond `keep` from one
    /// endpoint; they leave memory.
    fn trim(&mut self, ep_id: &EndpointId, keep: usize, out: &mut Vec<J>) {
        let Some(e) = self.eps.get_mut(ep_id) else {
            return;
        };
        let mut n = 0;
        while e.jobs.len() > keep {
            out.push(e.jobs.pop_back().expect("longer than keep"));
            n += 1;
        }
        if n == 0 {
            return;
        }
        if e.jobs.is_empty() {
            e.meter.busy = false;
        }
        // The store holds more for it now: claim again once it runs low.
        e.capped = true;
        let ws_id = e.ws.clone();
        self.forget_held(&ws_id, n);
    }

    fn forget_held(&mut self, ws_id: &WorkspaceId, n: usize) {
        self.held = self.held.saturating_sub(n);
        if let Some(ws) = self.wss.get_mut(ws_id) {
            let before = ws.held;
            ws.held = ws.held.saturating_sub(n);
            if before > 0 && ws.held == 0 {
                self.holding = self.holding.saturating_sub(1);
            }
        }
    }

    /// Every queued delivery of an endpoint, out of memory (its endpoint was
    /// disabled or deleted, or the dispatcher stops).
    pub fn drain(&mut self, ep_id: &EndpointId) -> Vec<J> {
        let mut out = Vec::new();
        self.trim(ep_id, 0, &mut out);
        if let Some(e) = self.eps.get_mut(ep_id) {
            e.capped = false;
        }
        out
    }

    /// Every queued delivery, out of memory.
    pub fn drain_all(&mut self) -> Vec<J> {
        let ids: Vec<EndpointId> = self.eps.keys().cloned().collect();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.drain(&id));
        }
        out
    }

    /// Gives back queued deliveries of `ws` (from its longest queues, newest
    /// first) until it holds at most `cap`.
    fn shed(&mut self, ws_id: &WorkspaceId, cap: usize, out: &mut Vec<J>) {
        loop {
            let held = self.wss.get(ws_id).map_or(0, |w| w.held);
            if held <= cap {
                return;
            }
            let longest = self
                .eps
                .iter()
                .filter(|(_, e)| &e.ws == ws_id && !e.jobs.is_empty())
                .max_by_key(|(_, e)| e.jobs.len())
                .map(|(id, e)| (id.clone(), e.jobs.len()));
            let Some((ep_id, len)) = longest else {
                return;
            };
            let excess = held - cap;
            self.trim(&ep_id, len.saturating_sub(excess), out);
        }
    }

    /// Once a second: measures what each endpoint sent, gives back what
    /// endpoints and workspaces hold beyond their allowance, and forgets
    /// endpoints long idle. Returns the deliveries given back.
    pub fn tick(&mut self, now: Instant) -> Vec<J> {
        let mut out = Vec::new();
        self.wanting
            .retain(|_, at| now.saturating_duration_since(*at) < WANTS_ROOM_FOR);
        self.settle();
        let ids: Vec<EndpointId> = self.eps.keys().cloned().collect();
        for id in &ids {
            let e = self.eps.get_mut(id).expect("listed");
            e.last_second = std::mem::take(&mut e.this_second);
            let elapsed = now.saturating_duration_since(e.meter.since);
            if elapsed >= WINDOW {
                e.measured = (e.meter.busy && !e.jobs.is_empty()).then(|| {
                    let per_sec = f64::from(e.meter.done) / elapsed.as_secs_f64();
                    (per_sec * LOOKAHEAD.as_secs_f64()).ceil() as usize
                });
                e.meter = Meter {
                    since: now,
                    done: 0,
                    busy: !e.jobs.is_empty(),
                };
            }
            let allowance = self.allowance(&self.eps[id]);
            self.trim(id, allowance, &mut out);
        }
        self.shed_over_caps(&mut out);
        // Long idle endpoints are forgotten, a failing one too once nothing
        // of it has been tried for that long (its breaker starts afresh).
        self.eps.retain(|_, e| {
            !(e.jobs.is_empty()
                && e.in_flight == 0
                && e.timer.is_none()
                && now.saturating_duration_since(e.last_used) >= FORGET_AFTER)
        });
        self.wss.retain(|_, w| {
            w.held > 0 || w.in_flight > 0 || w.in_ring || w.over_cap || !w.ready.is_empty()
        });
        out
    }

    /// Workspaces above their cap give their newest queued deliveries back.
    fn shed_over_caps(&mut self, out: &mut Vec<J>) {
        let over: Vec<(WorkspaceId, usize)> = self
            .wss
            .iter()
            .map(|(id, w)| (id, w.held))
            .filter(|(id, held)| *held > self.workspace_cap(*held, self.deficit(id, *held)))
            .map(|(id, held)| (id.clone(), self.workspace_cap(held, self.deficit(id, held))))
            .collect();
        for (ws, cap) in over {
            self.shed(&ws, cap, out);
        }
    }

    /// The poller's claim for `ws` took `took` of the `allotted` it had room
    /// for: if it took less, the workspace has nothing more waiting that it
    /// can take now, and wants no more room than it holds.
    pub fn claimed(&mut self, ws: &WorkspaceId, allotted: u32, took: usize) {
        if took < allotted as usize && self.wanting.remove(ws).is_some() {
            self.settle();
        }
    }

    /// Room for a claim from the store, whose due deliveries belong to
    /// `due` workspaces. Those count as wanting room from now on: workspaces
    /// above the smaller share this makes give their newest queued
    /// deliveries back (returned).
    pub fn room(&mut self, due: &[WorkspaceId], now: Instant) -> (Room, Vec<J>) {
        for ws in due {
            self.wanting.insert(ws.clone(), now);
        }
        self.settle();
        let mut evicted = Vec::new();
        self.shed_over_caps(&mut evicted);
        let free = self.limits.max_held.saturating_sub(self.held);
        // The poller claims nothing below its `CLAIM_MIN` (16) of free room.
        if free < 16 {
            self.capped = true;
        }
        let mut room = Room {
            free,
            default_room: self.initial_room() as u32,
            ..Room::default()
        };
        for ws_id in due {
            let held = self.wss.get(ws_id).map_or(0, |w| w.held);
            let left = self.cap_of(ws_id).saturating_sub(held);
            if left == 0 {
                self.wss.entry(ws_id.clone()).or_default().capped = true;
            }
            room.workspaces.push((ws_id.clone(), left as u32));
        }
        let asked: std::collections::HashSet<&WorkspaceId> = due.iter().collect();
        let ids: Vec<EndpointId> = self
            .eps
            .iter()
            .filter(|(_, e)| asked.contains(&e.ws))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let allowance = self.claim_allowance(&self.eps[&id]);
            let e = self.eps.get_mut(&id).expect("listed");
            // Paused: one for its next probe. Half full already: nothing
            // now, so that claims are not spent on a few deliveries at a time.
            let left = if e.breaker.paused() {
                usize::from(e.jobs.is_empty())
            } else if e.jobs.len() >= allowance / 2 {
                e.capped = true;
                0
            } else {
                allowance - e.jobs.len()
            };
            room.endpoints
                .entry(e.ws.clone())
                .or_default()
                .insert(id, left as u32);
        }
        (room, evicted)
    }
}

/// How an attempt ended, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Succeeded,
    /// No answer within the timeout.
    TimedOut,
    /// Any other failure.
    Failed,
    /// No attempt was made (the delivery was settled without one).
    NotAttempted,
}

/// What [`Policy::finished`] noticed.
#[derive(Debug, Default)]
pub struct Finished {
    /// The endpoint failed too often: its breaker opened.
    pub breaker_opened: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct J {
        ws: WorkspaceId,
        ep: EndpointId,
        n: usize,
    }

    impl Queued for J {
        fn endpoint(&self) -> &EndpointId {
            &self.ep
        }
        fn workspace(&self) -> &WorkspaceId {
            &self.ws
        }
    }

    fn ws(name: &str) -> WorkspaceId {
        WorkspaceId::from_trusted(format!("ws_{name}"))
    }

    fn ep(name: &str) -> EndpointId {
        EndpointId::from_trusted(format!("ep_{name}"))
    }

    fn limits() -> Limits {
        Limits {
            max_in_flight: 8,
            max_in_flight_per_workspace: 4,
            endpoint_concurrency: 2,
            max_held: 1_000,
            max_held_per_workspace: 500,
            max_held_per_endpoint: 200,
            breaker_threshold: 3,
            breaker_max_cooldown: Duration::from_secs(5),
        }
    }

    /// Offers `n` deliveries of endpoint `e` in workspace `w`; returns how
    /// many were taken.
    fn offer(p: &mut Policy<J>, w: &str, e: &str, n: usize, now: Instant) -> usize {
        (0..n)
            .filter(|i| {
                p.offer(
                    J {
                        ws: ws(w),
                        ep: ep(e),
                        n: *i,
                    },
                    now,
                )
                .is_ok()
            })
            .count()
    }

    /// Starts every attempt the policy allows; returns them.
    fn start_all(p: &mut Policy<J>, now: Instant) -> Vec<J> {
        std::iter::from_fn(|| p.next(now)).collect()
    }

    #[test]
    fn free_slots_go_round_robin_across_workspaces_and_endpoints() {
        let now = Instant::now();
        let mut p = Policy::new(Limits {
            max_in_flight: 6,
            max_in_flight_per_workspace: 6,
            endpoint_concurrency: 6,
            ..limits()
        });
        offer(&mut p, "a", "a1", 10, now);
        offer(&mut p, "a", "a2", 10, now);
        offer(&mut p, "b", "b1", 10, now);
        let started: Vec<(String, String)> = start_all(&mut p, now)
            .into_iter()
            .map(|j| (j.ws.to_string(), j.ep.to_string()))
            .collect();
        // Workspaces alternate; a's endpoints alternate within a's turns.
        let order: Vec<&str> = started.iter().map(|(_, e)| e.as_str()).collect();
        assert_eq!(
            order,
            ["ep_a1", "ep_b1", "ep_a2", "ep_b1", "ep_a1", "ep_b1"]
        );
        assert_eq!(p.in_flight(), 6);
        assert!(p.next(now).is_none(), "the global cap is reached");
        // A slot that frees goes to the next in turn.
        p.finished(&ep("b1"), Ended::Succeeded, now);
        assert_eq!(p.next(now).unwrap().ep, ep("a2"));
    }

    #[test]
    fn a_workspace_never_takes_more_than_its_slots() {
        let now = Instant::now();
        let mut p = Policy::new(limits());
        for i in 0..4 {
            offer(&mut p, "a", &format!("hang{i}"), 10, now);
        }
        let started = start_all(&mut p, now);
        assert_eq!(started.len(), 4, "a's four slots, whatever it has waiting");
        // Slots left for b, which arrives later.
        offer(&mut p, "b", "b1", 10, now);
        let b = start_all(&mut p, now);
        assert_eq!(b.len(), 2, "b's endpoint concurrency");
        assert!(b.iter().all(|j| j.ws == ws("b")));
    }

    #[test]
    fn an_endpoint_starts_with_a_few_slots_grows_with_answers_and_halves_on_timeouts() {
        let now = Instant::now();
        let mut p = Policy::new(Limits {
            max_in_flight: 100,
            max_in_flight_per_workspace: 100,
            endpoint_concurrency: 32,
            ..limits()
        });
        offer(&mut p, "a", "e", 150, now);
        assert_eq!(start_all(&mut p, now).len(), INITIAL_WINDOW);
        // An answer frees its slot and adds one.
        p.finished(&ep("e"), Ended::Succeeded, now);
        assert_eq!(start_all(&mut p, now).len(), 2);
        assert_eq!(p.in_flight(), 5);
        // A timeout halves them: 2, with 4 still in flight.
        p.finished(&ep("e"), Ended::TimedOut, now);
        assert!(p.next(now).is_none());
        for _ in 0..3 {
            p.finished(&ep("e"), Ended::TimedOut, now);
        }
        assert_eq!(p.in_flight(), 1);
        assert!(p.next(now).is_none(), "one slot left, and it is taken");
        // Answers again: the slots double with each round of them, up to
        // its concurrency.
        p.finished(&ep("e"), Ended::Succeeded, now);
        let mut rounds = Vec::new();
        for _ in 0..5 {
            let started = start_all(&mut p, now);
            rounds.push(started.len());
            for j in &started {
                p.finished(&j.ep, Ended::Succeeded, now);
            }
        }
        assert_eq!(rounds, [2, 4, 8, 16, 32]);
    }

    #[test]
    fn an_endpoints_rate_limit_spaces_its_attempts() {
        let mut now = Instant::now();
        let mut p = Policy::new(limits());
        p.configure(&ep("slow"), &ws("a"), Some(1), now);
        offer(&mut p, "a", "slow", 5, now);
        assert_eq!(start_all(&mut p, now).len(), 1, "a burst of one");
        p.finished(&ep("slow"), Ended::Succeeded, now);
        assert!(p.next(now).is_none());
        let at = p.next_timer().expect("waits for a token");
        assert_eq!(at - now, Duration::from_secs(1));
        now = at;
        p.fire_timers(now);
        assert_eq!(start_all(&mut p, now).len(), 1);
    }

    #[test]
    fn a_failing_endpoint_is_paused_then_probed_once() {
        let mut now = Instant::now();
        let mut p = Policy::new(limits());
        offer(&mut p, "a", "dead", 20, now);
        assert_eq!(start_all(&mut p, now).len(), 2);
        assert!(!p.finished(&ep("dead"), Ended::Failed, now).breaker_opened);
        assert!(!p.finished(&ep("dead"), Ended::Failed, now).breaker_opened);
        assert_eq!(start_all(&mut p, now).len(), 2);
        assert!(
            p.finished(&ep("dead"), Ended::Failed, now).breaker_opened,
            "three failures in a row"
        );
        p.finished(&ep("dead"), Ended::Failed, now);
        assert!(p.next(now).is_none(), "paused");
        assert_eq!(p.next_timer(), Some(now + Duration::from_secs(1)));
        now += Duration::from_secs(1);
        p.fire_timers(now);
        assert_eq!(start_all(&mut p, now).len(), 1, "one probe");
        p.finished(&ep("dead"), Ended::Succeeded, now);
        assert_eq!(start_all(&mut p, now).len(), 2, "closed again");
    }

    #[test]
    fn a_throttled_endpoint_holds_what_its_rate_sends_ahead() {
        let now = Instant::now();
        let mut p = Policy::new(limits());
        p.configure(&ep("three"), &ws("a"), Some(3), now);
        assert_eq!(offer(&mut p, "a", "three", 100, now), 6, "3/s for 2 s");
        p.configure(&ep("one"), &ws("a"), Some(1), now);
        assert_eq!(
            offer(&mut p, "a", "one", 100, now),
            2,
            "its concurrency at least"
        );
        p.configure(&ep("fast"), &ws("a"), Some(1_000), now);
        assert_eq!(
            offer(&mut p, "a", "fast", 300, now),
            200,
            "the endpoint cap at most"
        );
    }

    #[test]
    fn a_hanging_endpoint_is_trimmed_to_its_concurrency_after_a_window() {
        let mut now = Instant::now();
        let mut p = Policy::new(limits());
        assert_eq!(offer(&mut p, "a", "hang", 150, now), 150);
        start_all(&mut p, now);
        assert_eq!(p.in_flight(), 2);
        // A second goes by without an answer while 148 wait.
        now += WINDOW;
        let back = p.tick(now);
        assert_eq!(back.len(), 146, "it keeps what fills its slots again");
        assert!(back.iter().all(|j| j.ep == ep("hang")));
        assert_eq!(back[0].n, 149, "the newest go back first");
        assert_eq!(p.held(), 4);
        assert_eq!(offer(&mut p, "a", "hang", 10, now), 0, "and takes no more");
        // Answers come and it runs out of work: it kept up, so it may hold
        // as many as any endpoint again, at once (a backlog drains at full
        // speed, not at what was measured while it hung).
        p.finished(&ep("hang"), Ended::Succeeded, now);
        p.finished(&ep("hang"), Ended::Succeeded, now);
        start_all(&mut p, now);
        assert_eq!(offer(&mut p, "a", "hang", 300, now), 200);
    }

    #[test]
    fn a_paused_endpoint_keeps_one_delivery_for_its_probe() {
        let mut now = Instant::now();
        let mut p = Policy::new(limits());
        offer(&mut p, "a", "dead", 50, now);
        start_all(&mut p, now);
        p.finished(&ep("dead"), Ended::Failed, now);
        p.finished(&ep("dead"), Ended::Failed, now);
        start_all(&mut p, now);
        assert!(p.finished(&ep("dead"), Ended::Failed, now).breaker_opened);
        let back = p.tick(now);
        assert_eq!(back.len(), 50 - 4 - 1, "one kept for the probe");
        assert_eq!(p.eps[&ep("dead")].jobs.len(), 1);
        let (room, _) = p.room(&[ws("a")], now);
        assert_eq!(
            room.endpoints[&ws("a")].get(&ep("dead")),
            Some(&0),
            "nothing more claimed for it while paused"
        );
        // The attempt still out fails too; then its probe fails and takes
        // the one it kept: one more, for the next.
        p.finished(&ep("dead"), Ended::Failed, now);
        now += Duration::from_secs(1);
        p.fire_timers(now);
        assert_eq!(start_all(&mut p, now).len(), 1);
        p.finished(&ep("dead"), Ended::Failed, now);
        let (room, _) = p.room(&[ws("a")], now);
        assert_eq!(room.endpoints[&ws("a")].get(&ep("dead")), Some(&1));
    }

    #[test]
    fn a_workspace_holds_at_most_its_share_when_others_want_room() {
        let now = Instant::now();
        let mut p = Policy::new(limits());
        for i in 0..5 {
            offer(&mut p, "a", &format!("e{i}"), 200, now);
        }
        assert_eq!(p.held(), 500, "alone: its own cap");
        // b has deliveries due in the store: 1,000 / 2 = 500, a is at its
        // share and gives nothing back.
        let (room, evicted) = p.room(&[ws("b")], now);
        assert_eq!(evicted.len(), 0);
        assert_eq!(room.workspaces, vec![(ws("b"), 500)]);
        // A third workspace wants room: shares of 333. What b and c are
        // short of (666) is kept free for them; a keeps the rest (334).
        let (room, evicted) = p.room(&[ws("b"), ws("c")], now);
        assert_eq!(evicted.len(), 500 - 334);
        assert!(evicted.iter().all(|j| j.ws == ws("a")));
        assert_eq!(room.workspaces, vec![(ws("b"), 333), (ws("c"), 333)]);
        assert_eq!(room.free, 1_000 - 334);
        // And a's new deliveries are refused meanwhile.
        assert_eq!(offer(&mut p, "a", "e9", 5, now), 0);
        // c's claim finds nothing it can take: it wants no room, and a may
        // use what c no longer needs.
        p.claimed(&ws("c"), 333, 0);
        assert_eq!(offer(&mut p, "a", "e9", 500, now), 500 - 334);
    }

    #[test]
    fn a_busy_workspace_alone_uses_the_memory_nobody_else_needs() {
        let now = Instant::now();
        let mut p = Policy::new(Limits {
            max_held_per_workspace: 1_000,
            ..limits()
        });
        for i in 0..5 {
            offer(&mut p, "a", &format!("e{i}"), 200, now);
        }
        assert_eq!(p.held(), 1_000);
        // Many workspaces due whose claims take nothing (their endpoints
        // are paused, say) do not shrink it.
        let idle: Vec<WorkspaceId> = (0..100).map(|i| ws(&format!("idle{i}"))).collect();
        let (_, evicted) = p.room(&idle, now);
        assert_eq!(
            evicted.len(),
            100 * 9,
            "at first each is kept its share (1,000 / 101 = 9)"
        );
        for w in &idle {
            p.claimed(w, 9, 0);
        }
        assert_eq!(
            offer(&mut p, "a", "e9", 1_000, now),
            200,
            "then a may hold it all again (200: one endpoint's cap)"
        );
    }

    #[test]
    fn a_workspace_alone_may_use_every_slot_but_the_reserve() {
        let now = Instant::now();
        let mut p = Policy::new(Limits {
            max_in_flight: 16,
            max_in_flight_per_workspace: 4,
            endpoint_concurrency: 4,
            ..limits()
        });
        for i in 0..8 {
            offer(&mut p, "a", &format!("e{i}"), 10, now);
        }
        assert_eq!(
            start_all(&mut p, now).len(),
            12,
            "16 less another workspace's 4"
        );
        offer(&mut p, "b", "b1", 10, now);
        assert_eq!(start_all(&mut p, now).len(), 4, "b's cap, from the reserve");
        // A slot of a's frees while the reserve is taken: it stays b's.
        p.finished(&ep("e0"), Ended::Succeeded, now);
        assert!(start_all(&mut p, now).iter().all(|j| j.ws == ws("b")));
    }

    #[test]
    fn room_excludes_paused_and_half_full_endpoints() {
        let now = Instant::now();
        let mut p = Policy::new(limits());
        offer(&mut p, "a", "full", 100, now);
        offer(&mut p, "a", "light", 10, now);
        offer(&mut p, "a", "dead", 10, now);
        // Three failures in a row pause it.
        for _ in 0..3 {
            let j = start_all(&mut p, now)
                .into_iter()
                .find(|j| j.ep == ep("dead"))
                .expect("one of dead's started");
            for other in ["full", "light"] {
                while p.eps[&ep(other)].in_flight > 0 {
                    p.finished(&ep(other), Ended::Succeeded, now);
                }
            }
            p.finished(&j.ep, Ended::Failed, now);
        }
        let (room, _) = p.room(&[ws("a")], now);
        assert_eq!(
            room.endpoints[&ws("a")].get(&ep("dead")),
            Some(&0),
            "paused"
        );
        assert_eq!(room.endpoints[&ws("a")].get(&ep("full")), Some(&0));
        // Not measured yet: room for its concurrency (2), and it holds 10.
        assert_eq!(room.endpoints[&ws("a")].get(&ep("light")), Some(&0));
    }

    #[test]
    fn claims_give_an_endpoint_room_for_twice_what_it_sent_lately() {
        let now = Instant::now();
        let mut p = Policy::new(limits());
        let (room, _) = p.room(&[ws("a")], now);
        assert_eq!(room.default_room, 2, "an unknown endpoint: its concurrency");
        offer(&mut p, "a", "e", 60, now);
        let mut sent = 0;
        while sent < 50 {
            for j in start_all(&mut p, now) {
                p.finished(&j.ep, Ended::Succeeded, now);
                sent += 1;
            }
        }
        let (room, _) = p.room(&[ws("a")], now);
        let queued = 60 - sent;
        assert_eq!(
            room.endpoints[&ws("a")].get(&ep("e")),
            Some(&(2 * sent - queued))
        );
    }

    #[test]
    fn recording_wakes_the_poller_when_a_capped_workspace_has_room_again() {
        let now = Instant::now();
        let mut p = Policy::new(Limits {
            max_held_per_workspace: 4,
            ..limits()
        });
        assert_eq!(offer(&mut p, "a", "e", 10, now), 4);
        assert!(!p.take_wake());
        let started = start_all(&mut p, now);
        for j in &started {
            p.finished(&j.ep, Ended::Succeeded, now);
        }
        p.recorded(&ws("a"), started.len());
        assert!(p.take_wake(), "a has room again");
    }

    #[test]
    fn draining_an_endpoint_frees_its_room() {
        let now = Instant::now();
        let mut p = Policy::new(limits());
        offer(&mut p, "a", "gone", 50, now);
        offer(&mut p, "a", "kept", 5, now);
        let out = p.drain(&ep("gone"));
        assert_eq!(out.len(), 50);
        assert_eq!(p.held(), 5);
        let started = start_all(&mut p, now);
        assert!(started.iter().all(|j| j.ep == ep("kept")));
    }
}

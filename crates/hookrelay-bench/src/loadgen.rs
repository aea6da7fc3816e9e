//! The load generator: POSTs built by a caller-supplied function, either in a
//! closed loop (N workers, each sending its next request as soon as the last
//! one is answered) or in an open loop (paced at a fixed rate, whatever the
//! answers do). A closed-loop worker drives its own keep-alive connection
//! ([`Conns`]); open-loop requests share the pooled client. Each worker keeps
//! its own tallies, merged at the end, so the hot path takes no lock; answers
//! are kept as raw bytes and parsed later.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use tokio::task::JoinSet;

use crate::http::{self, Client, Conns};
use crate::unix_nanos;

/// Builds request `i`: where to POST it and its body. Called right before the
/// request is sent, so it can stamp the send time into the body.
pub type MakeRequest = Arc<dyn Fn(usize) -> (Uri, Bytes) + Send + Sync>;

/// How requests are started.
#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// `concurrency` requests in flight at all times.
    Closed { concurrency: usize },
    /// One request every `1 / per_second` seconds.
    Open { per_second: f64 },
}

/// One load to generate.
pub struct Load {
    pub requests: usize,
    pub pacing: Pacing,
    pub make: MakeRequest,
    pub auth: Option<HeaderValue>,
    /// Keep the bodies of 2xx answers (to read event ids from).
    pub keep_bodies: bool,
    /// Counts 2xx answers as they come (for progress sampling).
    pub progress: Arc<AtomicU64>,
}

/// What happened.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Unix nanoseconds just before the first request.
    pub started_at: u64,
    /// From the first request to the last answer.
    pub wall: Duration,
    /// Nanoseconds per answered request, sorted.
    pub latencies: Vec<u64>,
    /// 2xx answers.
    pub ok: usize,
    /// Other answers by status.
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no answer (connection errors).
    pub errors: usize,
    /// The first non-2xx answer or error, for the report.
    pub first_problem: Option<String>,
    /// (request index, body) of 2xx answers, when kept.
    pub bodies: Vec<(usize, Bytes)>,
}

struct Shared {
    make: MakeRequest,
    auth: Option<HeaderValue>,
    keep_bodies: bool,
    progress: Arc<AtomicU64>,
}

#[derive(Default)]
struct Part {
    latencies: Vec<u64>,
    ok: usize,
    statuses: BTreeMap<u16, usize>,
    errors: usize,
    first_problem: Option<String>,
    bodies: Vec<(usize, Bytes)>,
    last: Option<Instant>,
}

/// How a request goes out: through the shared pool (open loop: one task
/// per request) or on the worker's own connections (closed loop).
enum Via<'a> {
    Pool(&'a Client),
    Own(&'a mut Conns),
}

async fn one(via: Via<'_>, s: &Shared, i: usize, part: &mut Part) {
    let (uri, body) = (s.make)(i);
    let t = Instant::now();
    let r = match via {
        Via::Pool(client) => http::send(client, Method::POST, uri, s.auth.as_ref(), body).await,
        Via::Own(conns) => conns.send(Method::POST, &uri, s.auth.as_ref(), body).await,
    };
    let end = Instant::now();
    part.last = Some(part.last.map_or(end, |l| l.max(end)));
    match r {
        Ok((status, body)) => {
            part.latencies.push((end - t).as_nanos() as u64);
            if status.is_success() {
                part.ok += 1;
                s.progress.fetch_add(1, Ordering::Relaxed);
                if s.keep_bodies {
                    part.bodies.push((i, body));
                }
            } else {
                *part.statuses.entry(status.as_u16()).or_default() += 1;
                if part.first_problem.is_none() {
                    let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                    part.first_problem = Some(format!("{status}: {text}"));
                }
            }
        }
        Err(e) => {
            part.errors += 1;
            if part.first_problem.is_none() {
                part.first_problem = Some(format!("{e:#}"));
            }
        }
    }
}

/// Generates the load and waits for every answer.
pub async fn run(client: &Client, load: Load) -> LoadResult {
    let shared = Arc::new(Shared {
        make: load.make,
        auth: load.auth,
        keep_bodies: load.keep_bodies,
        progress: load.progress,
    });
    let n = load.requests;
    let started_at = unix_nanos();
    let start = Instant::now();
    let mut set = JoinSet::new();
    match load.pacing {
        Pacing::Closed { concurrency } => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..concurrency.clamp(1, n.max(1)) {
                let (shared, next) = (shared.clone(), next.clone());
                set.spawn(async move {
                    let mut part = Part::default();
                    let mut conns = Conns::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        one(Via::Own(&mut conns), &shared, i, &mut part).await;
                    }
                    part
                });
            }
        }
        Pacing::Open { per_second } => {
            let period = Duration::from_secs_f64(1.0 / per_second.max(1e-3));
            for i in 0..n {
                tokio::time::sleep_until((start + period.mul_f64(i as f64)).into()).await;
                let (client, shared) = (client.clone(), shared.clone());
                set.spawn(async move {
                    let mut part = Part::default();
                    one(Via::Pool(&client), &shared, i, &mut part).await;
                    part
                });
            }
        }
    }
    let mut out = LoadResult {
        started_at,
        ..LoadResult::default()
    };
    let mut last = start;
    while let Some(part) = set.join_next().await {
        let Ok(p) = part else { continue };
        out.latencies.extend(p.latencies);
        out.ok += p.ok;
        for (s, c) in p.statuses {
            *out.statuses.entry(s).or_default() += c;
        }
        out.errors += p.errors;
        if out.first_problem.is_none() {
            out.first_problem = p.first_problem;
        }
        out.bodies.extend(p.bodies);
        if let Some(l) = p.last {
            last = last.max(l);
        }
    }
    out.wall = last - start;
    out.latencies.sort_unstable();
    out.bodies.sort_unstable_by_key(|(i, _)| *i);
    out
}

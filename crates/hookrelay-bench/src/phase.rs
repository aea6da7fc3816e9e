//! Running one phase — a fresh server (or `--nodes` servers) and receiver,
//! the endpoints, the load, the wait for every delivery — and the raw-limit
//! phase, and turning what they measured into figures. On a postgres
//! `--database-url` each phase runs in a fresh schema ([`crate::pg`]),
//! dropped at the end of the phase, also when it fails.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hyper::Uri;

use crate::bodies::{delivered_body, publish_maker, raw_id, requests_for};
use crate::http::{self, Client};
use crate::loadgen::{self, Load, LoadResult, Pacing};
use crate::receiver::Receiver;
use crate::report::{ms, percentile, Report, Sample, Unit};
use crate::scenario::{Bench, Ingest, Phase, PhaseOut, HANG_PREFIX};
use crate::server::{self, Cluster, ServerLog};
use crate::tally::{accepted, wait_and_tally, Accepted, Expect, Tally};
use crate::unix_nanos;
use crate::{pg, procfs};

/// Failed attempts that will be retried.
const RETRYING: &str = "hookrelay_delivery_outcomes_total{outcome=\"retrying\"}";
const QUEUE_DEPTH: &str = "hookrelay_queue_depth";
/// Deliveries that ran out of retries.
const EXHAUSTED: &str = "hookrelay_delivery_outcomes_total{outcome=\"failed\"}";
/// Failed attempts of any kind.
const ATTEMPT_ERRORS: &str = "hookrelay_attempt_errors_total";
/// How long the backlog phase waits for every delivery to fail once.
const FIRST_ATTEMPTS_LIMIT: Duration = Duration::from_secs(300);
/// How long a multi-node phase waits for every node to route to the new
/// endpoints before the load starts.
const ROUTING_LIMIT: Duration = Duration::from_secs(30);

/// The name of the server's SQLite writer thread (`hookrelay-store`'s engine).
const SQLITE_WRITER: &str = "sqlite-writer";

/// CPU seconds of the processes at one moment (the servers node 0 first).
#[derive(Debug, Default, Clone)]
struct CpuMark {
    servers: Vec<Option<f64>>,
    /// The servers' SQLite writer threads (none on PostgreSQL).
    writers: Vec<Option<f64>>,
    receiver: Option<f64>,
    bench: Option<f64>,
}

impl CpuMark {
    fn read(servers: &[u32], receiver: Option<u32>, clk_tck: f64) -> CpuMark {
        let of = |pid: Option<u32>| pid.and_then(|p| procfs::cpu_seconds(Some(p), clk_tck));
        CpuMark {
            servers: servers.iter().map(|&p| of(Some(p))).collect(),
            writers: servers
                .iter()
                .map(|&p| procfs::thread_cpu_seconds(p, SQLITE_WRITER, clk_tck))
                .collect(),
            receiver: of(receiver),
            bench: procfs::cpu_seconds(None, clk_tck),
        }
    }

    fn server(&self, node: usize) -> Option<f64> {
        self.servers.get(node).copied().flatten()
    }

    fn writer(&self, node: usize) -> Option<f64> {
        self.writers.get(node).copied().flatten()
    }
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).map(|(a, b)| b - a)
}

/// The sum, if every value is there (and there is at least one).
fn sum_all(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut any = false;
    let mut sum = 0.0;
    for v in values {
        sum += v?;
        any = true;
    }
    any.then_some(sum)
}

/// What the receiver-down part of a backlog phase saw.
#[derive(Debug, Default)]
struct Outage {
    /// From the end of ingest until every delivery was pending and the endpoint had failed.
    first_attempts_s: Option<f64>,
    failed_attempts: Option<f64>,
    exhausted: Option<f64>,
}

/// Everything one phase measured.
struct Measured {
    load: LoadResult,
    accepted: Accepted,
    expected: usize,
    tally: Tally,
    hung: u64,
    /// When the receiver started listening (unix ns).
    up_at: u64,
    outage: Option<Outage>,
    /// `VmHWM` of each node, node 0 first.
    peak_rss_kib: Vec<Option<u64>>,
    cpu0: CpuMark,
    cpu1: CpuMark,
    /// Each node's log, node 0 first.
    logs: Vec<ServerLog>,
    /// Marker deliveries made while checking the nodes' routing.
    marker_deliveries: u64,
    /// Events the noisy workspace published, and the deliveries its
    /// receiver got (hanging requests included).
    noise: Option<(u64, u64)>,
    samples: Vec<Sample>,
    notes: Vec<String>,
}

/// Runs a phase and adds its figures (keys and labels prefixed by the phase's).
pub async fn run(b: &Bench, ph: &Phase, rep: &mut Report) -> anyhow::Result<PhaseOut> {
    let m = measure(b, ph).await?;
    Ok(figures(ph, m, rep))
}

/// A fresh schema on PostgreSQL (dropped afterwards, whatever happened), or
/// the database as given.
async fn measure(b: &Bench, ph: &Phase) -> anyhow::Result<Measured> {
    let url = b.opts.database_url.as_deref();
    let Some(url) = url.filter(|u| pg::is_postgres(u)) else {
        return measure_on(b, ph, url).await;
    };
    let schema = pg::Schema::create(url).await?;
    // Everything `measure_on` started (servers, receiver) is stopped or
    // killed by the time it returns, so the schema is free to drop.
    let res = measure_on(b, ph, Some(&schema.server_url)).await;
    let name = schema.name.clone();
    match (schema.drop().await, res) {
        (Ok(()), res) => res,
        (Err(e), Ok(mut m)) => {
            m.notes.push(format!("{e:#}"));
            Ok(m)
        }
        (Err(e), Err(r)) => {
            eprintln!("warning: {e:#}");
            Err(r.context(format!("in schema {name}")))
        }
    }
}

async fn measure_on(b: &Bench, ph: &Phase, database_url: Option<&str>) -> anyhow::Result<Measured> {
    let client = &b.client;
    let tck = b.machine.clk_tck;
    let hang = (!ph.hang_paths.is_empty()).then_some(HANG_PREFIX);
    let mut notes = Vec::new();

    // The receiver first (or only its port, when it starts down).
    let mut receiver = None;
    let recv_addr = if ph.receiver_down {
        server::free_port()?
    } else {
        let r = Receiver::start(&b.opts.exe, "127.0.0.1:0".parse()?, hang).await?;
        let a = r.addr;
        receiver = Some(r);
        a
    };
    let mut cluster =
        Cluster::start(&b.opts.server_bin, database_url, b.opts.nodes, client).await?;
    let endpoints = ph.paths.len() + ph.hang_paths.len();
    for (i, p) in ph.paths.iter().chain(&ph.hang_paths).enumerate() {
        cluster
            .first()
            .create_endpoint(
                client,
                &format!("http://{recv_addr}{p}"),
                &format!("bench {i}"),
                ph.retry_schedule.as_deref(),
            )
            .await?;
    }
    // Other nodes learn of the endpoints through the database's change
    // notifications: make sure they have before the load starts.
    let marker_deliveries = if cluster.nodes.len() > 1 {
        cluster
            .wait_for_routing(client, endpoints, ROUTING_LIMIT)
            .await?
    } else {
        0
    };
    let pids = cluster.pids();
    let bases = cluster.bases();
    let auth = cluster.first().auth().clone();

    // Workspace A's noise, on a receiver of its own, before the load.
    let noise = match ph.noise {
        Some(n) => {
            let r = Receiver::start(&b.opts.exe, "127.0.0.1:0".parse()?, Some(HANG_PREFIX)).await?;
            let running = crate::noise::start(client, cluster.first(), r.addr, n).await?;
            Some((r, running))
        }
        None => None,
    };

    // Sample the server's RSS (and the progress) every second.
    let progress = Arc::new(AtomicU64::new(0));
    let per_request = match ph.ingest {
        Ingest::Batch { size, .. } => size as u64,
        _ => 1,
    } * ph.paths.len() as u64;
    let recv_seen = Arc::new(Mutex::new(receiver.as_ref().map(|r| r.addr)));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sample_loop(
        client.clone(),
        pids.clone(),
        bases.clone(),
        progress.clone(),
        per_request,
        recv_seen.clone(),
        samples.clone(),
    ));

    let mut cpu0 = CpuMark::read(&pids, receiver.as_ref().map(|r| r.pid), tck);
    let load = Load {
        requests: requests_for(ph.ingest, ph.events),
        pacing: match ph.ingest {
            Ingest::Single { concurrency } | Ingest::Batch { concurrency, .. } => {
                Pacing::Closed { concurrency }
            }
            Ingest::Paced { per_second } => Pacing::Open { per_second },
        },
        make: publish_maker(&bases, ph.ingest, ph.events)?,
        auth: Some(auth),
        keep_bodies: true,
        progress,
    };
    let load = loadgen::run(client, load).await;
    let acc = accepted(&load);
    let expected = acc.ids.len() * ph.paths.len();

    let mut outage = None;
    if ph.receiver_down {
        // The backlog has piled up once every delivery is pending and the
        // server has seen the endpoint fail (it then pauses it: deliveries
        // wait unattempted rather than each failing once). The queue depth
        // is the database's (read from node 0; it includes any marker
        // deliveries); the outcome counters are per node (summed).
        let mut o = Outage::default();
        let t0 = Instant::now();
        let target = (expected as u64 + marker_deliveries) as f64;
        while t0.elapsed() < FIRST_ATTEMPTS_LIMIT {
            let pending = server::metric(client, &bases[0], QUEUE_DEPTH).await;
            let failed = server::metric_over(client, &bases, RETRYING).await;
            if pending.unwrap_or(0.0) >= target && failed.unwrap_or(0.0) >= 1.0 {
                o.first_attempts_s = Some(t0.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if o.first_attempts_s.is_none() {
            notes.push(format!(
                "the backlog was not complete after {FIRST_ATTEMPTS_LIMIT:?}; the receiver came up anyway"
            ));
        }
        o.failed_attempts = server::metric_sum_over(client, &bases, ATTEMPT_ERRORS).await;
        let r = Receiver::start(&b.opts.exe, recv_addr, hang).await?;
        cpu0.receiver = procfs::cpu_seconds(Some(r.pid), tck);
        *recv_seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(r.addr);
        receiver = Some(r);
        outage = Some(o);
    }
    let receiver = receiver.context("no receiver")?;
    let expect = Expect {
        ids: &acc.ids,
        paths: &ph.paths,
        count: expected,
        idle: ph.idle,
    };
    let mut cpu1 = CpuMark::default();
    let (records, tally) = wait_and_tally(client, &receiver, expect, || {
        cpu1 = CpuMark::read(&pids, Some(receiver.pid), tck);
    })
    .await?;
    let peak_rss_kib = pids
        .iter()
        .map(|&p| procfs::status_kib(p, "VmHWM"))
        .collect();
    sampler.abort();
    let noise = match noise {
        Some((r, running)) => {
            let published = running.stop().await?;
            let got = r
                .records(client)
                .await
                .map(|rec| rec.recs.len() as u64 + rec.hung);
            r.stop().await;
            Some((published, got.unwrap_or(0)))
        }
        None => None,
    };
    if let Some(o) = &mut outage {
        o.exhausted = Some(
            server::metric_over(client, &bases, EXHAUSTED)
                .await
                .unwrap_or(0.0),
        );
    }
    let up_at = receiver.up_at;
    receiver.stop().await;
    let logs = cluster.stop(client).await;
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Measured {
        load,
        accepted: acc,
        expected,
        tally,
        hung: records.hung,
        up_at,
        outage,
        peak_rss_kib,
        cpu0,
        cpu1,
        logs,
        marker_deliveries,
        noise,
        samples,
        notes,
    })
}

fn figures(ph: &Phase, m: Measured, rep: &mut Report) -> PhaseOut {
    let (k, l) = (ph.key, ph.label);
    let mut figs = Report::default();
    let mut add = |key: &str, label: &str, unit: Unit, v: Option<f64>| {
        figs.add(&format!("{k}{key}"), &format!("{l}{label}"), unit, v);
    };
    let (t, accepted) = (&m.tally, m.accepted.ids.len());
    let ingest_s = m.load.wall.as_secs_f64();
    add(
        "events_accepted",
        "events accepted",
        Unit::Count,
        Some(accepted as f64),
    );
    add(
        "events_rejected",
        "events rejected or unanswered",
        Unit::Count,
        Some(ph.events.saturating_sub(accepted) as f64),
    );
    add(
        "ingest_s",
        "ingest wall time (s)",
        Unit::Secs,
        Some(ingest_s),
    );
    add(
        "ingest_events_per_s",
        "ingest events/s",
        Unit::PerSec,
        (ingest_s > 0.0).then(|| accepted as f64 / ingest_s),
    );
    let api = |p: f64| ms(percentile(&m.load.latencies, p));
    add(
        "api_p50_ms",
        "publish API latency p50 (ms)",
        Unit::Ms,
        api(50.0),
    );
    add(
        "api_p99_ms",
        "publish API latency p99 (ms)",
        Unit::Ms,
        api(99.0),
    );
    add(
        "deliveries_expected",
        "deliveries expected",
        Unit::Count,
        Some(m.expected as f64),
    );
    add(
        "deliveries_received",
        "deliveries received (unique)",
        Unit::Count,
        Some(t.received as f64),
    );
    let deliveries_per_s = t.rate_since(m.load.started_at);
    add(
        "deliveries_per_s",
        "deliveries/s (first send → last delivery)",
        Unit::PerSec,
        deliveries_per_s,
    );
    let e2e = |p: f64| ms(percentile(&t.latencies, p));
    add(
        "e2e_p50_ms",
        "end-to-end latency p50 (ms)",
        Unit::Ms,
        e2e(50.0),
    );
    add(
        "e2e_p90_ms",
        "end-to-end latency p90 (ms)",
        Unit::Ms,
        e2e(90.0),
    );
    add(
        "e2e_p99_ms",
        "end-to-end latency p99 (ms)",
        Unit::Ms,
        e2e(99.0),
    );
    add(
        "e2e_max_ms",
        "end-to-end latency max (ms)",
        Unit::Ms,
        e2e(100.0),
    );
    add("lost", "lost deliveries", Unit::Count, Some(t.lost as f64));
    add(
        "duplicated",
        "duplicated deliveries",
        Unit::Count,
        Some(t.duplicated as f64),
    );
    if t.unexpected > 0 {
        add(
            "unexpected",
            "unexpected requests at the receiver",
            Unit::Count,
            Some(t.unexpected as f64),
        );
    }
    if let Some((published, got)) = m.noise {
        add(
            "noise_events",
            "workspace A: events published",
            Unit::Count,
            Some(published as f64),
        );
        add(
            "noise_requests",
            "workspace A: requests its receiver got (hanging included)",
            Unit::Count,
            Some(got as f64),
        );
    }
    if !ph.hang_paths.is_empty() {
        add(
            "hung_requests",
            "requests held open by /hang",
            Unit::Count,
            Some(m.hung as f64),
        );
    }
    let mut drain_per_s = None;
    if let Some(o) = &m.outage {
        let secs = |from: u64, to: u64| (to >= from).then(|| (to - from) as f64 / 1e9);
        add(
            "outage_s",
            "receiver down for (s)",
            Unit::Secs,
            secs(m.load.started_at, m.up_at),
        );
        add(
            "first_attempts_done_s",
            "backlog complete, after ingest (s)",
            Unit::Secs,
            o.first_attempts_s,
        );
        add(
            "failed_attempts_while_down",
            "failed attempts while the receiver was down",
            Unit::Count,
            o.failed_attempts,
        );
        add(
            "exhausted",
            "deliveries that ran out of retries",
            Unit::Count,
            o.exhausted,
        );
        add(
            "drain_s",
            "drain time: receiver up → last delivery (s)",
            Unit::Secs,
            secs(m.up_at, t.last_arrival),
        );
        drain_per_s = t.rate_since(m.up_at);
        add(
            "drain_per_s",
            "drain deliveries/s (receiver up → last)",
            Unit::PerSec,
            drain_per_s,
        );
        add(
            "drain_wait_s",
            "receiver up → first delivery (s)",
            Unit::Secs,
            secs(m.up_at, t.first_arrival),
        );
        add(
            "drain_active_per_s",
            "drain deliveries/s (first → last delivery)",
            Unit::PerSec,
            t.rate_since(t.first_arrival),
        );
    }
    // Server figures are the sum over the nodes (with one node: the
    // server's); with several, each node's follows as `<key>_node<i>`.
    let nodes = m.logs.len().max(m.peak_rss_kib.len());
    let sum_label = |label: &str, unit: &str| match (nodes > 1, unit) {
        (false, "") => label.to_owned(),
        (false, u) => format!("{label} ({u})"),
        (true, "") => format!("{label} (sum of {nodes} nodes)"),
        (true, u) => format!("{label} ({u}, sum of {nodes} nodes)"),
    };
    let rss = |i: usize| {
        m.peak_rss_kib
            .get(i)
            .copied()
            .flatten()
            .map(|k| k as f64 / 1024.0)
    };
    add(
        "server_peak_rss_mib",
        &sum_label("server peak RSS", "MiB"),
        Unit::MiB,
        sum_all((0..nodes).map(rss)),
    );
    if nodes > 1 {
        for i in 0..nodes {
            add(
                &format!("server_peak_rss_mib_node{i}"),
                &format!("server peak RSS (MiB): node {i}"),
                Unit::MiB,
                rss(i),
            );
        }
    }
    let cpu = |i: usize| diff(m.cpu0.server(i), m.cpu1.server(i));
    add(
        "cpu_server_s",
        &sum_label("CPU s: server", ""),
        Unit::Secs,
        sum_all((0..nodes).map(cpu)),
    );
    let writer = |i: usize| diff(m.cpu0.writer(i), m.cpu1.writer(i));
    // Only SQLite servers have the thread.
    if let Some(w) = sum_all((0..nodes).map(writer)) {
        add(
            "cpu_server_writer_s",
            &sum_label("CPU s: server's SQLite writer thread", ""),
            Unit::Secs,
            Some(w),
        );
    }
    if nodes > 1 {
        for i in 0..nodes {
            add(
                &format!("cpu_server_s_node{i}"),
                &format!("CPU s: server node {i}"),
                Unit::Secs,
                cpu(i),
            );
        }
    }
    add(
        "cpu_receiver_s",
        "CPU s: receiver",
        Unit::Secs,
        diff(m.cpu0.receiver, m.cpu1.receiver),
    );
    add(
        "cpu_bench_s",
        "CPU s: bench (load generator)",
        Unit::Secs,
        diff(m.cpu0.bench, m.cpu1.bench),
    );
    add(
        "server_log_lines",
        &sum_label("server log lines", "warn+"),
        Unit::Count,
        Some(m.logs.iter().map(|l| l.lines).sum::<usize>() as f64),
    );
    if nodes > 1 {
        for (i, log) in m.logs.iter().enumerate() {
            add(
                &format!("server_log_lines_node{i}"),
                &format!("server log lines (warn+): node {i}"),
                Unit::Count,
                Some(log.lines as f64),
            );
        }
        add(
            "marker_deliveries",
            "marker deliveries (routing check, not counted)",
            Unit::Count,
            Some(m.marker_deliveries as f64),
        );
    }
    rep.figures.extend(figs.figures);

    let mut notes = m.notes;
    if let (Some(gap), true) = (
        ph.retry_schedule.as_ref().and_then(|s| s.first()),
        m.outage.is_some(),
    ) {
        if t.last_arrival.saturating_sub(m.up_at) < u64::from(*gap) * 2_000_000_000 {
            notes.push(format!(
                "the drain took less than two retry gaps ({gap} s): its rate is bounded by the retry schedule, not the server; use more --events or a smaller --retry-delay"
            ));
        }
    }
    if let Some(p) = &m.accepted.problem {
        notes.push(format!("first rejected publish: {p}"));
    }
    if let Some(p) = &m.load.first_problem {
        notes.push(format!("first failed publish request: {p}"));
    }
    if t.lost > 0 {
        notes.push(format!(
            "{} of {} deliveries never arrived (gave up after {:?} without progress)",
            t.lost, m.expected, ph.idle
        ));
    }
    for (i, log) in m.logs.iter().enumerate() {
        let who = if m.logs.len() > 1 {
            format!("node {i} log")
        } else {
            "server log".to_owned()
        };
        notes.extend(log.samples.iter().map(|s| format!("{who}: {s}")));
    }
    rep.notes
        .extend(notes.into_iter().map(|n| format!("{l}{n}")));
    if ph.receiver_down || rep.samples.is_empty() {
        rep.samples = m.samples;
    }
    PhaseOut {
        deliveries_per_s,
        drain_per_s,
        e2e_p50_ms: e2e(50.0),
        e2e_p99_ms: e2e(99.0),
    }
}

/// The raw limit: the phase's deliveries (same bodies, same count) posted by
/// the same load generator straight to a fresh receiver, with no server.
pub async fn raw(b: &Bench, ph: &Phase, rep: &mut Report) -> anyhow::Result<Option<f64>> {
    let client = &b.client;
    let tck = b.machine.clk_tck;
    let receiver = Receiver::start(&b.opts.exe, "127.0.0.1:0".parse()?, None).await?;
    let np = ph.paths.len();
    let n = ph.events * np;
    let ids: Vec<String> = (0..ph.events).map(raw_id).collect();
    let base = format!("http://{}", receiver.addr);
    let uris = ph
        .paths
        .iter()
        .map(|p| format!("{base}{p}").parse::<Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    // Request j is event j / np to path j % np: each event to every path.
    let make: loadgen::MakeRequest = Arc::new(move |j| {
        let (e, p) = (j / np, j % np);
        let body = delivered_body(&raw_id(e), e, unix_nanos());
        (uris[p].clone(), Bytes::from(body))
    });
    let cpu0 = CpuMark::read(&[], Some(receiver.pid), tck);
    let load = Load {
        requests: n,
        pacing: ph.ingest.raw_pacing(np),
        make,
        auth: None,
        keep_bodies: false,
        progress: Arc::new(AtomicU64::new(0)),
    };
    let res = loadgen::run(client, load).await;
    let expect = Expect {
        ids: &ids,
        paths: &ph.paths,
        count: n,
        idle: ph.idle,
    };
    let mut cpu1 = CpuMark::default();
    let (_, t) = wait_and_tally(client, &receiver, expect, || {
        cpu1 = CpuMark::read(&[], Some(receiver.pid), tck);
    })
    .await?;
    receiver.stop().await;

    let per_s = t.rate_since(res.started_at);
    rep.add(
        "raw_deliveries_per_s",
        "RAW LIMIT deliveries/s (bench → receiver)",
        Unit::PerSec,
        per_s,
    );
    let e2e = |p: f64| ms(percentile(&t.latencies, p));
    rep.add(
        "raw_e2e_p50_ms",
        "raw end-to-end p50 (ms)",
        Unit::Ms,
        e2e(50.0),
    );
    rep.add(
        "raw_e2e_p99_ms",
        "raw end-to-end p99 (ms)",
        Unit::Ms,
        e2e(99.0),
    );
    rep.add("raw_lost", "raw lost", Unit::Count, Some(t.lost as f64));
    rep.add(
        "raw_cpu_receiver_s",
        "raw CPU s: receiver",
        Unit::Secs,
        diff(cpu0.receiver, cpu1.receiver),
    );
    rep.add(
        "raw_cpu_bench_s",
        "raw CPU s: bench",
        Unit::Secs,
        diff(cpu0.bench, cpu1.bench),
    );
    if let Some(p) = &res.first_problem {
        rep.notes.push(format!("raw: first failed request: {p}"));
    }
    Ok(per_s)
}

/// Every second: the servers' RSS (summed, and per node), how many
/// deliveries are expected so far, how many arrived, and the servers'
/// held gauges (summed) and the queue depth (the database's, from node 0).
async fn sample_loop(
    client: Client,
    pids: Vec<u32>,
    bases: Vec<String>,
    progress: Arc<AtomicU64>,
    per_request: u64,
    receiver: Arc<Mutex<Option<SocketAddr>>>,
    out: Arc<Mutex<Vec<Sample>>>,
) {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limit = Duration::from_millis(500);
    loop {
        tick.tick().await;
        // Stop when node 0 is gone; a missing other node counts as 0.
        let node_rss: Vec<f64> = pids
            .iter()
            .map(|&p| procfs::status_kib(p, "VmRSS").map_or(0.0, |k| k as f64 / 1024.0))
            .collect();
        if procfs::status_kib(pids[0], "VmRSS").is_none() {
            return;
        }
        let addr = *receiver.lock().unwrap_or_else(PoisonError::into_inner);
        let delivered = match addr {
            Some(a) => {
                let url = format!("http://{a}/count");
                match tokio::time::timeout(limit, http::get_ok(&client, &url)).await {
                    Ok(Ok(b)) => std::str::from_utf8(&b)
                        .ok()
                        .and_then(|s| s.trim().parse().ok()),
                    _ => None,
                }
            }
            None => None,
        };
        let held = tokio::time::timeout(
            limit,
            server::metric_over(&client, &bases, "hookrelay_dispatch_held"),
        )
        .await
        .ok()
        .flatten();
        let queue = tokio::time::timeout(
            limit,
            server::metric(&client, &bases[0], "hookrelay_queue_depth"),
        )
        .await
        .ok()
        .flatten();
        out.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Sample {
                t: start.elapsed().as_secs_f64(),
                rss_mib: node_rss.iter().sum(),
                node_rss_mib: if node_rss.len() > 1 {
                    node_rss
                } else {
                    Vec::new()
                },
                expected: progress.load(Ordering::Relaxed) * per_request,
                delivered,
                held,
                queue,
            });
    }
}

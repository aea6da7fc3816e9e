//! `hookrelay-bench`: the project's benchmark tool. It starts a release
//! `hookrelay serve` on a fresh database (or, with `--nodes N`, N of them on
//! one shared PostgreSQL database), a recording receiver in a separate
//! process, and a load generator in this one; measures ingest, delivery
//! throughput, end-to-end and API latency, loss, memory and CPU (per server
//! process and summed); and measures the tool's own ceiling (the raw limit)
//! in every run. See README.md.
//!
//! Module map: `scenario` (what each scenario is: its phases), `phase`
//! (running a phase or the raw limit, and its figures), `bodies` (what is
//! posted), `loadgen` (closed/open-loop POSTs), `receiver` (the receiver
//! process and the bench's handle on it), `server` (the hookrelay child
//! processes), `pg` (the per-phase PostgreSQL schema), `tally` (accepted ids,
//! waiting, lost/duplicated), `procfs` (CPU and memory readings), `report`
//! (table and JSON), `http` (the client); `stats` (the statistics queries
//! over a large seeded history, the store alone: no server).

mod bodies;
mod http;
mod loadgen;
mod noise;
mod pg;
mod phase;
mod procfs;
mod receiver;
mod report;
mod scenario;
mod server;
mod stats;
mod tally;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::receiver::ReceiverArgs;
use crate::scenario::{Bench, Options, Scenario};

/// Wall-clock time as unix nanoseconds (the clock both processes share).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[derive(Debug, Parser)]
#[command(
    name = "hookrelay-bench",
    about = "Benchmarks a release `hookrelay serve` against a local recording receiver",
    after_help = "Only 127.0.0.1 is ever contacted (and the --database-url host, if given). \
Build first: cargo build --release -p hookrelay -p hookrelay-bench\n\n\
Several nodes: --database-url postgres://USER@HOST:PORT/DB --nodes 2 starts two servers \
on one fresh schema of that database; endpoints are created through node 0, the load \
goes round-robin to every node, and server RSS/CPU are reported per node and summed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 20,000 events, 1 endpoint, one POST /events each, closed loop, concurrency 50.
    Single(Common),
    /// 200,000 events through POST /events/batch (100 per request), 1 endpoint, 8 requests in flight.
    Batch(Common),
    /// 2,000 events, each to 100 endpoints (200,000 deliveries), concurrency 50.
    Fanout(Common),
    /// 50 events/s for 20 s (open loop), 1 endpoint: delivery latency.
    Probe(Common),
    /// `probe` alone, then beside an endpoint that never answers: the healthy p99 in both.
    SlowNeighbour(Common),
    /// `probe` alone, then while another workspace floods throttled and hanging endpoints
    /// with a deep backlog: the probe's p50/p99 in both.
    NoisyNeighbour(Common),
    /// 200,000 deliveries pile up while the receiver is down, then it comes back: drain rate and memory.
    Backlog(Common),
    /// The store alone (no server): seeds 1,000,000 attempts through publish and
    /// record_outcomes, then times the statistics queries.
    Stats(stats::StatsArgs),
    /// (internal) the recording receiver process.
    #[command(hide = true)]
    Receiver(ReceiverArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Number of events (scales the scenario; defaults: single 20000, batch 200000,
    /// fanout 2000, probe/slow-neighbour/noisy-neighbour 1000 (= 20 s), backlog 200000).
    #[arg(long)]
    events: Option<usize>,
    /// Repeat the whole scenario K times (fresh server each time) and print the medians.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Append one JSON line per run (and one with the medians) to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run the server on this database (HOOKRELAY_DATABASE_URL) instead of a fresh SQLite file.
    /// On a postgres:// URL every phase gets a fresh schema `bench_…` (created and dropped
    /// with DROP SCHEMA … CASCADE by the bench; the servers get it through
    /// `options=-csearch_path%3D<schema>` appended to the URL).
    #[arg(long)]
    database_url: Option<String>,
    /// Start N `hookrelay serve` processes on the same database (N > 1 needs a postgres://
    /// --database-url). Node 0 starts first and applies the migrations; endpoints are created
    /// through it and the bench waits until every node routes to them; publishes go
    /// round-robin to the nodes. Server RSS, CPU and log figures are the sum over the nodes,
    /// each node's listed below.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// The hookrelay binary [default: `hookrelay` next to this binary].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Override the scenario's publish concurrency (requests in flight).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Give up waiting for deliveries after this many seconds without progress
    /// [default: 10; backlog 30].
    #[arg(long)]
    idle_timeout: Option<f64>,
    /// backlog only: seconds between the endpoint's 20 retries [default: 10].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=604_800))]
    retry_delay: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (scenario, common) = match cli.command {
        Command::Receiver(args) => return receiver::run(args),
        Command::Stats(args) => return stats::run(args),
        Command::Single(c) => (Scenario::Single, c),
        Command::Batch(c) => (Scenario::Batch, c),
        Command::Fanout(c) => (Scenario::Fanout, c),
        Command::Probe(c) => (Scenario::Probe, c),
        Command::SlowNeighbour(c) => (Scenario::SlowNeighbour, c),
        Command::NoisyNeighbour(c) => (Scenario::NoisyNeighbour, c),
        Command::Backlog(c) => (Scenario::Backlog, c),
    };
    let opts = options(scenario, common)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(bench(opts))
}

fn options(scenario: Scenario, c: Common) -> anyhow::Result<Options> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let server_bin = match c.server_bin {
        Some(p) => p,
        None => exe
            .parent()
            .context("this binary has no directory")?
            .join("hookrelay"),
    };
    anyhow::ensure!(
        server_bin.is_file(),
        "no server binary at {} (run `cargo build --release -p hookrelay` or pass --server-bin)",
        server_bin.display()
    );
    let events = c.events.unwrap_or(scenario.default_events());
    anyhow::ensure!(events > 0, "--events must be at least 1");
    anyhow::ensure!(c.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(c.concurrency != Some(0), "--concurrency must be at least 1");
    anyhow::ensure!(c.nodes > 0, "--nodes must be at least 1");
    if c.nodes > 1 {
        match c.database_url.as_deref() {
            Some(u) if pg::is_postgres(u) => {}
            Some(u) => anyhow::bail!(
                "--nodes {} needs a PostgreSQL --database-url (postgres://…): the nodes must share one database, and {} is not one they can share",
                c.nodes,
                pg::redact(u)
            ),
            None => anyhow::bail!(
                "--nodes {} needs --database-url postgres://…: the nodes must share one PostgreSQL database (without it each server gets its own SQLite file)",
                c.nodes
            ),
        }
    }
    let idle_timeout = match c.idle_timeout {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(_) => anyhow::bail!("--idle-timeout must be a positive number of seconds"),
        None => None,
    };
    Ok(Options {
        scenario,
        events,
        runs: c.runs,
        json: c.json,
        database_url: c.database_url,
        nodes: c.nodes,
        server_bin,
        exe,
        concurrency: c.concurrency,
        idle_timeout,
        retry_delay: c.retry_delay,
    })
}

async fn bench(opts: Options) -> anyhow::Result<()> {
    let bench = Bench::new(opts, procfs::Machine::read());
    let o = &bench.opts;
    let m = &bench.machine;
    println!("hookrelay-bench {}", o.scenario.name());
    for line in bench.describe() {
        println!("  {line}");
    }
    println!("  {}", bench.describe_database());
    println!(
        "  machine: {} CPUs ({}), Linux {}, {}",
        m.nproc, m.cpu, m.kernel, m.date
    );
    println!(
        "  server: {} (built {})",
        o.server_bin.display(),
        procfs::modified_rfc3339(&o.server_bin).unwrap_or_else(|| "?".into())
    );
    let head = bench.json_head();
    let mut reports = Vec::new();
    for run in 1..=o.runs {
        eprintln!("run {run}/{} ...", o.runs);
        let rep = bench
            .run_once()
            .await
            .with_context(|| format!("run {run}"))?;
        if let Some(path) = &o.json {
            report::append_json(path, &rep.to_json(&head, run, o.runs))?;
        }
        reports.push(rep);
    }
    println!();
    report::print_table(&reports);
    for (i, r) in reports.iter().enumerate() {
        scenario::print_run_notes(i + 1, r, o.scenario);
    }
    if let (Some(path), true) = (&o.json, o.runs > 1) {
        let v = report::medians_json(&head, &reports);
        report::append_json(path, &v)?;
    }
    Ok(())
}

//! `hookrelay-bench stats`: what reading delivery statistics costs over a
//! large history. Seeds a fresh store (a SQLite file, or a scratch schema
//! on `--database-url`) with events, deliveries and their attempts' outcomes
//! through the store's own `publish` and `record_outcomes`, as the server
//! writes them (so the rollup rows are the ones recording makes), spread
//! evenly over the last `--days` days; then times `Store::stats` for a 24 h
//! window in minute and hour buckets and a 30-day window in day buckets,
//! for the workspace and for one endpoint, and `Store::endpoint_totals` for
//! the last 24 h (the dashboard's endpoint list). No server runs: this is
//! the store alone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hookrelay_core::ids::{DeliveryId, EndpointId, EventId, WorkspaceId};
use hookrelay_core::model::{
    AdvancedOptions, Attempt, DeliveryStatus, Endpoint, EndpointSecrets, EndpointStatus, ErrorKind,
    Event, SignatureScheme,
};
use hookrelay_core::parsed::{ApiVersion, EndpointUrl, EventType};
use hookrelay_core::secret::Secret;
use hookrelay_core::time::{Clock, SystemClock, Timestamp};
use hookrelay_store::postgres::PostgresStore;
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::{Bucket, NewDelivery, NewEvent, Outcome, Store, Workspace};

use crate::{pg, procfs};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Events per `publish` call (and outcomes per `record_outcomes` call).
const BATCH: usize = 1_000;
/// Batches in flight at once.
const IN_FLIGHT: usize = 4;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Attempts to seed (one event, delivery and attempt each).
    #[arg(long, default_value_t = 1_000_000)]
    attempts: usize,
    /// Endpoints of the measured workspace. A second workspace, with as many
    /// endpoints, gets every tenth attempt: it is there only to be left out.
    #[arg(long, default_value_t = 20)]
    endpoints: usize,
    /// Days the attempts are spread over, ending now.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Timed runs of each query (after one untimed run).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Seed a fresh schema `bench_…` of this PostgreSQL database (dropped at
    /// the end) instead of a SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Put the SQLite file in this directory and keep it [default: a
    /// temporary directory, removed at the end].
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// A deterministic generator (SplitMix64): every run seeds the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn endpoint(ws: &WorkspaceId, at: Timestamp, i: usize) -> Endpoint {
    Endpoint {
        id: EndpointId::at(at.0),
        workspace_id: ws.clone(),
        url: EndpointUrl::from_trusted(format!("https://bench.invalid/hooks/{i}")),
        name: format!("bench {i}"),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        enabled_events: vec!["extract_run.processed".to_owned()],
        api_version: ApiVersion::from_trusted("2026-02-09".into()),
        advanced_options: AdvancedOptions::default(),
        signature_scheme: SignatureScheme::Extend,
        retry_schedule: None,
        rate_limit_per_second: None,
        secrets: EndpointSecrets::new(Secret::new("wss_bench_secret_0123456789abcdef0123".into())),
        created_at: at,
        created_by: None,
        updated_at: at,
        failing_since: None,
    }
}

/// One seeded attempt: its delivery's event, and the outcome recorded.
fn seeded(ws: &WorkspaceId, ep: &EndpointId, at: Timestamp, rng: &mut Rng) -> (NewEvent, Outcome) {
    let event = Event {
        id: EventId::at(at.0),
        workspace_id: ws.clone(),
        event_type: EventType::from_trusted("extract_run.processed".into()),
        payload: r#"{"object":"extract_run","id":"ex_1","status":"PROCESSED"}"#.to_owned(),
        resource: None,
        previous_data: None,
        idempotency_key: None,
        created_at: at,
        delivery_count: 0,
        test: false,
    };
    let delivery = NewDelivery {
        id: DeliveryId::at(at.0),
        endpoint_id: ep.clone(),
        event_type: "extract_run.processed".to_owned(),
        api_version: "2026-02-09".to_owned(),
    };
    // 90 % succeed, 7 % fail and are retried, 3 % fail for good; most take
    // 20–200 ms, one in fifty 1–10 s.
    let (status, http) = match rng.below(100) {
        0..90 => (DeliveryStatus::Succeeded, 200),
        90..97 => (DeliveryStatus::Pending, 503),
        _ => (DeliveryStatus::Failed, 500),
    };
    let duration_ms = if rng.below(50) == 0 {
        1_000 + rng.below(9_000)
    } else {
        20 + rng.below(180)
    } as u32;
    let ok = status == DeliveryStatus::Succeeded;
    let outcome = Outcome {
        delivery_id: delivery.id.clone(),
        endpoint_id: ep.clone(),
        lease_owner: None,
        attempt: Some(Attempt {
            attempt_number: 0,
            started_at: at,
            duration_ms,
            request_url: "https://bench.invalid/hooks".to_owned(),
            request_headers: Vec::new(),
            response_status: Some(http),
            response_headers: Vec::new(),
            response_body: None,
            error_kind: (!ok).then_some(ErrorKind::HttpStatus),
            error_message: None,
        }),
        status,
        attempt_count: 1,
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| at.plus_millis(MINUTE)),
        endpoint_effect: None,
    };
    (
        NewEvent {
            event,
            deliveries: vec![delivery],
        },
        outcome,
    )
}

/// Publishes the batch's events, then records their outcomes.
async fn write_batch(store: Arc<dyn Store>, batch: Vec<(NewEvent, Outcome)>) -> anyhow::Result<()> {
    let (events, outcomes): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    for r in store.publish(events, None).await? {
        r?;
    }
    store.record_outcomes(outcomes).await?;
    Ok(())
}

/// What one query is.
struct Query {
    what: &'static str,
    endpoint: bool,
    days: i64,
    bucket: Option<Bucket>,
}

const QUERIES: &[Query] = &[
    Query {
        what: "stats, workspace, 24 h, minute",
        endpoint: false,
        days: 1,
        bucket: Some(Bucket::Minute),
    },
    Query {
        what: "stats, workspace, 24 h, hour",
        endpoint: false,
        days: 1,
        bucket: Some(Bucket::Hour),
    },
    Query {
        what: "stats, workspace, 30 d, day",
        endpoint: false,
        days: 30,
        bucket: Some(Bucket::Day),
    },
    Query {
        what: "stats, endpoint, 24 h, minute",
        endpoint: true,
        days: 1,
        bucket: Some(Bucket::Minute),
    },
    Query {
        what: "stats, endpoint, 24 h, hour",
        endpoint: true,
        days: 1,
        bucket: Some(Bucket::Hour),
    },
    Query {
        what: "stats, endpoint, 30 d, day",
        endpoint: true,
        days: 30,
        bucket: Some(Bucket::Day),
    },
    Query {
        what: "endpoint_totals, 24 h",
        endpoint: false,
        days: 1,
        bucket: None,
    },
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.attempts > 0, "--attempts must be at least 1");
    anyhow::ensure!(args.endpoints > 0, "--endpoints must be at least 1");
    anyhow::ensure!(args.days > 0, "--days must be at least 1");
    anyhow::ensure!(args.repeat > 0, "--repeat must be at least 1");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(bench(args))
}

async fn bench(args: StatsArgs) -> anyhow::Result<()> {
    let m = procfs::Machine::read();
    println!("hookrelay-bench stats");
    println!(
        "  {} attempts over {} days, {} endpoints measured (+{} in another workspace, every tenth attempt)",
        args.attempts, args.days, args.endpoints, args.endpoints
    );
    println!(
        "  machine: {} CPUs ({}), Linux {}, {}",
        m.nproc, m.cpu, m.kernel, m.date
    );
    let mut tmp = None;
    let mut schema = None;
    let store: Arc<dyn Store> = match args.database_url.as_deref() {
        Some(url) => {
            anyhow::ensure!(pg::is_postgres(url), "--database-url must be postgres://…");
            let s = pg::Schema::create(url).await?;
            println!(
                "  database: postgres ({}), schema {}",
                pg::redact(url),
                s.name
            );
            let store = PostgresStore::connect(&s.server_url)
                .await
                .context("connecting to the bench schema")?;
            schema = Some(s);
            Arc::new(store)
        }
        None => {
            let dir = match &args.dir {
                Some(d) => d.clone(),
                None => {
                    let t = tempfile::tempdir().context("a temporary directory")?;
                    let p = t.path().to_owned();
                    tmp = Some(t);
                    p
                }
            };
            let path = dir.join("stats-bench.db");
            anyhow::ensure!(
                !path.exists(),
                "{} exists: give an empty --dir",
                path.display()
            );
            println!("  database: sqlite ({})", path.display());
            Arc::new(SqliteStore::open(&path).context("opening the SQLite file")?)
        }
    };
    let result = measure(&args, store.clone()).await;
    store.close().await;
    if let Some(dir) = &args.dir {
        println!("  kept {}", dir.display());
    }
    drop(tmp);
    if let Some(s) = schema {
        s.drop().await?;
    }
    result
}

async fn measure(args: &StatsArgs, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let start = now.plus_millis(-i64::from(args.days) * DAY);
    let mut workspaces = Vec::new();
    for (i, name) in ["bench-measured", "bench-other"].into_iter().enumerate() {
        let ws = Workspace {
            id: WorkspaceId::at(start.0 - 10 + i as i64),
            name: name.to_owned(),
            created_at: start,
        };
        store.create_workspace(&ws).await?;
        let mut eps = Vec::new();
        for j in 0..args.endpoints {
            let e = endpoint(&ws.id, start, j);
            store.insert_endpoint(&e, None).await?;
            eps.push(e.id);
        }
        workspaces.push((ws.id, eps));
    }

    // Seeding: attempt i starts at an even step through the window.
    let span = now.0 - start.0;
    let began = Instant::now();
    let mut rng = Rng(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_report = Instant::now();
    for i in 0..args.attempts {
        let at = Timestamp(start.0 + (i as i128 * span as i128 / args.attempts as i128) as i64);
        let (ws, eps) = &workspaces[usize::from(i % 10 == 9)];
        let ep = &eps[rng.below(eps.len() as u64) as usize];
        batch.push(seeded(ws, ep, at, &mut rng));
        if batch.len() == BATCH || i + 1 == args.attempts {
            if tasks.len() >= IN_FLIGHT {
                tasks.join_next().await.expect("a task")??;
            }
            tasks.spawn(write_batch(store.clone(), std::mem::take(&mut batch)));
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!("  seeded {} of {} ...", i + 1, args.attempts);
                last_report = Instant::now();
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let took = began.elapsed();
    println!(
        "  seeded {} attempts (publish + record_outcomes) in {:.1} s: {:.0} attempts/s",
        args.attempts,
        took.as_secs_f64(),
        args.attempts as f64 / took.as_secs_f64()
    );

    let (ws, eps) = &workspaces[0];
    println!();
    println!(
        "  {:<32} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "query", "median", "p90", "max", "buckets", "attempts"
    );
    for q in QUERIES {
        let since = now.plus_millis(-q.days * DAY);
        let endpoint = q.endpoint.then(|| &eps[0]);
        let mut times = Vec::with_capacity(args.repeat);
        let mut shape = (0, 0);
        for run in 0..=args.repeat {
            let t = Instant::now();
            shape = match q.bucket {
                Some(b) => {
                    let got = store.stats(ws, endpoint, since, now, b).await?;
                    (
                        got.len(),
                        got.iter().map(|b| b.totals.attempts()).sum::<u64>(),
                    )
                }
                None => {
                    let got = store.endpoint_totals(ws, since, now).await?;
                    (
                        got.len(),
                        got.iter().map(|(_, t)| t.attempts()).sum::<u64>(),
                    )
                }
            };
            if run > 0 {
                times.push(t.elapsed());
            }
        }
        times.sort();
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!(
            "  {:<32} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>8} {:>10}",
            q.what,
            ms(at(0.5)),
            ms(at(0.9)),
            ms(at(1.0)),
            shape.0,
            shape.1
        );
    }
    println!("  (buckets: of the answer; for endpoint_totals, endpoints)");
    Ok(())
}

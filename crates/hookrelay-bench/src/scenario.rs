//! The scenarios: each is one or more *phases* (a fresh server and receiver,
//! endpoints, a load, waiting for the deliveries, tallying them) followed by a
//! *raw* phase (the same load generator posting the same delivered bodies
//! straight to a receiver), which is the ceiling the tool itself can measure.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::http::{self, Client};
use crate::loadgen::Pacing;
use crate::procfs::{self, Machine};
use crate::report::{self, Report, Unit};
use crate::{pg, phase};

/// Concurrency of the raw-limit load where the scenario's own load is not one
/// request per delivery (batch, fan-out, backlog).
pub const RAW_CONCURRENCY: usize = 50;
/// Endpoints under this path prefix are never answered by the receiver.
pub const HANG_PREFIX: &str = "/hang";
/// The backlog scenario's default delay between retries (20 of them).
pub const BACKLOG_RETRY_SECS: u32 = 10;

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Single,
    Batch,
    Fanout,
    Probe,
    SlowNeighbour,
    NoisyNeighbour,
    Backlog,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Single => "single",
            Scenario::Batch => "batch",
            Scenario::Fanout => "fanout",
            Scenario::Probe => "probe",
            Scenario::SlowNeighbour => "slow-neighbour",
            Scenario::NoisyNeighbour => "noisy-neighbour",
            Scenario::Backlog => "backlog",
        }
    }

    pub fn default_events(self) -> usize {
        match self {
            Scenario::Single => 20_000,
            Scenario::Batch => 200_000,
            Scenario::Fanout => 2_000,
            Scenario::Probe | Scenario::SlowNeighbour | Scenario::NoisyNeighbour => 1_000,
            Scenario::Backlog => 200_000,
        }
    }
}

/// Validated options for a benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: Scenario,
    pub events: usize,
    pub runs: usize,
    pub json: Option<PathBuf>,
    pub database_url: Option<String>,
    /// How many `hookrelay serve` processes share the database (> 1 only on
    /// PostgreSQL).
    pub nodes: usize,
    pub server_bin: PathBuf,
    /// This binary, re-executed as the receiver.
    pub exe: PathBuf,
    pub concurrency: Option<usize>,
    pub idle_timeout: Option<Duration>,
    /// Backlog only: seconds between the 20 retries.
    pub retry_delay: Option<u32>,
}

/// How events are published.
#[derive(Debug, Clone, Copy)]
pub enum Ingest {
    /// One `POST /events` per event, closed loop.
    Single { concurrency: usize },
    /// `POST /events/batch` with `size` events each, closed loop.
    Batch { size: usize, concurrency: usize },
    /// One `POST /events` per event at a fixed rate (open loop).
    Paced { per_second: f64 },
}

impl Ingest {
    fn describe(self) -> String {
        match self {
            Ingest::Single { concurrency } => {
                format!("POST /events, closed loop, concurrency {concurrency}")
            }
            Ingest::Batch { size, concurrency } => format!(
                "POST /events/batch ({size} events each), closed loop, concurrency {concurrency}"
            ),
            Ingest::Paced { per_second } => {
                format!("POST /events, open loop, {per_second} events/s")
            }
        }
    }

    /// The raw-limit load: one POST per delivery.
    pub fn raw_pacing(self, paths: usize) -> Pacing {
        match self {
            Ingest::Single { concurrency } if paths == 1 => Pacing::Closed { concurrency },
            Ingest::Single { .. } | Ingest::Batch { .. } => Pacing::Closed {
                concurrency: RAW_CONCURRENCY,
            },
            Ingest::Paced { per_second } => Pacing::Open {
                per_second: per_second * paths as f64,
            },
        }
    }
}

/// One server (or `--nodes` servers on one database), one receiver, one load.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Prefix of this phase's figure keys and labels ("" or e.g. "alone_").
    pub key: &'static str,
    pub label: &'static str,
    pub events: usize,
    pub ingest: Ingest,
    /// Endpoint paths whose deliveries are expected and counted.
    pub paths: Vec<String>,
    /// Endpoint paths under [`HANG_PREFIX`] (never answered, not counted).
    pub hang_paths: Vec<String>,
    pub retry_schedule: Option<Vec<u32>>,
    /// Keep the receiver down until every delivery has failed once.
    pub receiver_down: bool,
    /// Stop waiting for deliveries after this long without progress.
    pub idle: Duration,
    /// Another workspace floods endpoints that cannot keep up meanwhile.
    pub noise: Option<crate::noise::Noise>,
}

/// What a phase hands to the figures that compare phases.
#[derive(Debug, Default, Clone, Copy)]
pub struct PhaseOut {
    pub deliveries_per_s: Option<f64>,
    pub drain_per_s: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
}

/// Shared by every phase of every run.
pub struct Bench {
    pub opts: Options,
    pub machine: Machine,
    pub client: Client,
}

impl Bench {
    pub fn new(opts: Options, machine: Machine) -> Bench {
        Bench {
            opts,
            machine,
            client: http::client(1024),
        }
    }

    fn phases(&self) -> Vec<Phase> {
        let o = &self.opts;
        let idle = |d: u64| o.idle_timeout.unwrap_or(Duration::from_secs(d));
        let conc = |d: usize| o.concurrency.unwrap_or(d);
        let one = |path: &str| vec![path.to_owned()];
        let base = Phase {
            key: "",
            label: "",
            events: o.events,
            ingest: Ingest::Single {
                concurrency: conc(50),
            },
            paths: one("/single"),
            hang_paths: Vec::new(),
            retry_schedule: None,
            receiver_down: false,
            idle: idle(10),
            noise: None,
        };
        let probe = Phase {
            ingest: Ingest::Paced { per_second: 50.0 },
            paths: one("/probe"),
            ..base.clone()
        };
        match o.scenario {
            Scenario::Single => vec![base],
            Scenario::Batch => vec![Phase {
                ingest: Ingest::Batch {
                    size: 100,
                    concurrency: conc(8),
                },
                paths: one("/batch"),
                ..base
            }],
            Scenario::Fanout => vec![Phase {
                paths: (0..100).map(|i| format!("/fanout/{i}")).collect(),
                ..base
            }],
            Scenario::Probe => vec![probe],
            Scenario::SlowNeighbour => vec![
                Phase {
                    key: "alone_",
                    label: "alone: ",
                    paths: one("/healthy"),
                    ..probe.clone()
                },
                Phase {
                    key: "hang_",
                    label: "beside /hang: ",
                    paths: one("/healthy"),
                    hang_paths: one(HANG_PREFIX),
                    ..probe
                },
            ],
            Scenario::NoisyNeighbour => vec![
                Phase {
                    key: "alone_",
                    label: "alone: ",
                    ..probe.clone()
                },
                Phase {
                    key: "noisy_",
                    label: "beside workspace A: ",
                    noise: Some(crate::noise::NOISE),
                    ..probe
                },
            ],
            Scenario::Backlog => vec![Phase {
                ingest: Ingest::Batch {
                    size: 100,
                    concurrency: conc(8),
                },
                paths: one("/backlog"),
                retry_schedule: Some(vec![o.retry_delay.unwrap_or(BACKLOG_RETRY_SECS); 20]),
                receiver_down: true,
                idle: idle(30),
                ..base
            }],
        }
    }

    /// What the scenario does, for the table's header and the JSON.
    pub fn describe(&self) -> Vec<String> {
        self.phases()
            .iter()
            .map(|p| {
                let mut s = format!(
                    "{}{} events, {} counted endpoint(s), {}",
                    p.label,
                    p.events,
                    p.paths.len(),
                    p.ingest.describe()
                );
                if !p.hang_paths.is_empty() {
                    s.push_str(&format!(
                        ", plus {} hanging endpoint(s)",
                        p.hang_paths.len()
                    ));
                }
                if let Some(r) = &p.retry_schedule {
                    s.push_str(&format!(", retrySchedule {r:?}"));
                }
                if let Some(n) = &p.noise {
                    s.push_str(&format!(
                        ", while workspace A publishes {} events (then {}/s) to {} endpoints limited to 1 attempt/s and {} never answered (its own receiver)",
                        n.backlog_events,
                        n.per_second,
                        n.throttled,
                        n.hanging
                    ));
                }
                if p.receiver_down {
                    s.push_str(", receiver down until every delivery has failed once");
                }
                s
            })
            .collect()
    }

    /// One run: every phase on a fresh server (or set of nodes) and a fresh
    /// database (SQLite file or PostgreSQL schema), then the raw limit.
    pub async fn run_once(&self) -> anyhow::Result<Report> {
        let mut rep = Report::default();
        rep.extra
            .insert("startedAt".into(), json!(procfs::now_rfc3339()));
        let phases = self.phases();
        let mut outs = Vec::new();
        for ph in &phases {
            outs.push(phase::run(self, ph, &mut rep).await?);
        }
        let raw = phase::raw(self, &phases[0], &mut rep).await?;
        let frac = |x: Option<f64>| match (x, raw) {
            (Some(x), Some(r)) if r > 0.0 => Some(x / r),
            _ => None,
        };
        match self.opts.scenario {
            Scenario::SlowNeighbour | Scenario::NoisyNeighbour => {
                let (a, b) = (outs[0], outs[1]);
                let beside = if self.opts.scenario == Scenario::SlowNeighbour {
                    "beside /hang"
                } else {
                    "beside workspace A"
                };
                if self.opts.scenario == Scenario::NoisyNeighbour {
                    let p50 = match (a.e2e_p50_ms, b.e2e_p50_ms) {
                        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
                        _ => None,
                    };
                    rep.add(
                        "p50_ratio",
                        "probe p50: beside workspace A ÷ alone",
                        Unit::Ratio,
                        p50,
                    );
                }
                let ratio = match (a.e2e_p99_ms, b.e2e_p99_ms) {
                    (Some(a), Some(b)) if a > 0.0 => Some(b / a),
                    _ => None,
                };
                rep.add(
                    "p99_ratio",
                    &format!("healthy p99: {beside} ÷ alone"),
                    Unit::Ratio,
                    ratio,
                );
                rep.add(
                    "fraction_of_raw",
                    "alone deliveries/s ÷ raw limit",
                    Unit::Ratio,
                    frac(a.deliveries_per_s),
                );
            }
            Scenario::Backlog => {
                rep.add(
                    "fraction_of_raw",
                    "drain/s ÷ raw limit",
                    Unit::Ratio,
                    frac(outs[0].drain_per_s),
                );
            }
            _ => rep.add(
                "fraction_of_raw",
                "deliveries/s ÷ raw limit",
                Unit::Ratio,
                frac(outs[0].deliveries_per_s),
            ),
        }
        Ok(rep)
    }

    /// The database line of the header: its kind, where, and the nodes.
    pub fn describe_database(&self) -> String {
        let o = &self.opts;
        let db = match o.database_url.as_deref() {
            None => "sqlite (a fresh file per phase)".to_owned(),
            Some(u) if pg::is_postgres(u) => {
                format!("postgres {} (a fresh schema per phase)", pg::redact(u))
            }
            Some(u) => format!("{} {}", pg::kind(Some(u)), pg::redact(u)),
        };
        let sums = if o.nodes > 1 {
            "; server RSS/CPU/log figures are sums over the nodes, per node below them"
        } else {
            ""
        };
        format!("database: {db}, nodes: {}{sums}", o.nodes)
    }

    /// The fixed part of every JSON line. `nodes`, `databaseKind` and
    /// `serverFigures` were added with `--nodes`: the `server_*`/`cpu_server_s`
    /// figures are sums over the nodes, and with more than one node each
    /// node's figure has the same key with `_node<i>` appended.
    pub fn json_head(&self) -> serde_json::Value {
        let db = self.opts.database_url.as_deref();
        json!({
            "scenario": self.opts.scenario.name(),
            "events": self.opts.events,
            "description": self.describe(),
            "machine": self.machine,
            "serverBin": self.opts.server_bin.display().to_string(),
            "serverBuiltAt": procfs::modified_rfc3339(&self.opts.server_bin),
            "database": db.map_or_else(|| "sqlite (fresh temp dir)".to_owned(), pg::redact),
            "databaseKind": pg::kind(db),
            "databaseFreshSchema": db.is_some_and(pg::is_postgres),
            "nodes": self.opts.nodes,
            "serverFigures": "sum over the nodes; per node: the same key + _node<i> (only when nodes > 1)",
        })
    }
}

/// Prints what a run found, then its notes.
pub fn print_run_notes(run: usize, rep: &Report, scenario: Scenario) {
    if scenario == Scenario::Backlog {
        report::print_samples(run, &rep.samples);
    }
    for n in &rep.notes {
        println!("run {run}: {n}");
    }
}

//! The hookrelay server under test: a release `hookrelay serve` child process
//! on a fresh SQLite database in a temporary directory (or a given database
//! URL), on a free loopback port, with a fixed API key; and the few API calls
//! the bench makes to set it up. With `--nodes N` a [`Cluster`] of N such
//! processes shares one PostgreSQL database: node 0 starts first (and applies
//! the migrations), endpoints are created through it, and the others must
//! learn of them (LISTEN/NOTIFY) before the load starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde::Deserialize;
use serde_json::json;

use crate::bodies;
use crate::http::{self, Client};

/// The bootstrap key the bench gives the server (`HOOKRELAY_API_KEY`).
pub const API_KEY: &str = "sk_bench_0000000000000000000000000000000000000000";
/// The org admin key the bench gives the server (`HOOKRELAY_ADMIN_KEY`), to
/// create other workspaces.
pub const ADMIN_KEY: &str = "admin_bench_00000000000000000000000000000000";

/// A free loopback port (bound and released: good enough on one machine).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?)
}

/// A running `hookrelay serve`.
pub struct Server {
    child: tokio::process::Child,
    /// Its process id, for `/proc`.
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    auth: HeaderValue,
    log: PathBuf,
    created: Vec<String>,
    shared_db: bool,
    _dir: tempfile::TempDir,
}

/// What the server logged (at `warn` and above).
#[derive(Debug, Default, Clone)]
pub struct ServerLog {
    pub lines: usize,
    /// Up to five distinct messages (timestamps cut off).
    pub samples: Vec<String>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

impl Server {
    /// Starts the server and waits until `GET /healthz` answers.
    pub async fn start(
        bin: &Path,
        database_url: Option<&str>,
        client: &Client,
    ) -> anyhow::Result<Server> {
        let mut last = None;
        // A port picked by `free_port` can be taken in between: try again.
        for _ in 0..3 {
            match Self::start_once(bin, database_url, client).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("server did not start")))
    }

    async fn start_once(
        bin: &Path,
        database_url: Option<&str>,
        client: &Client,
    ) -> anyhow::Result<Server> {
        anyhow::ensure!(
            bin.is_file(),
            "no server binary at {} (run `cargo build --release -p hookrelay` or pass --server-bin)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("hookrelay-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        let addr = free_port()?;
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log)?;
        let db = match database_url {
            Some(u) => u.to_owned(),
            None => format!("sqlite://{}/hookrelay.db", dir.path().display()),
        };
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("serve").current_dir(dir.path());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("HOOKRELAY_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOOKRELAY_LISTEN", addr.to_string())
            .env("HOOKRELAY_DATABASE_URL", db)
            .env("HOOKRELAY_DEV", "1")
            .env("HOOKRELAY_API_KEY", API_KEY)
            .env("HOOKRELAY_ADMIN_KEY", ADMIN_KEY)
            .env("HOOKRELAY_LOG", "warn")
            // The bench measures the server, not the API rate limiter.
            .env("HOOKRELAY_API_RATE_LIMIT", "0")
            // A fixed key: PostgreSQL needs one (on SQLite, a start without
            // one would write a key file beside the database).
            .env(
                "HOOKRELAY_ENCRYPTION_KEY",
                "YmVuY2gta2V5LW9mLWhvb2tyZWxheS0wMTIzNDU2Nzg=",
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("server pid")?;
        let base = format!("http://{addr}");
        let health: Uri = format!("{base}/healthz").parse()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the server exited ({status}) before answering /healthz:\n{}",
                    tail(&log, 20)
                );
            }
            let r = http::send(client, Method::GET, health.clone(), None, Bytes::new()).await;
            if matches!(r, Ok((s, _)) if s.is_success()) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill().await;
                bail!(
                    "the server did not answer /healthz within 30 s:\n{}",
                    tail(&log, 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            child,
            pid,
            base,
            auth: HeaderValue::from_str(&format!("Bearer {API_KEY}"))?,
            log,
            created: Vec::new(),
            shared_db: database_url.is_some(),
            _dir: dir,
        })
    }

    /// The `Authorization` header for the bench key.
    pub fn auth(&self) -> &HeaderValue {
        &self.auth
    }

    /// `POST /webhook_endpoints` for `extract_run.processed`; returns its id.
    pub async fn create_endpoint(
        &mut self,
        client: &Client,
        url: &str,
        name: &str,
        retry_schedule: Option<&[u32]>,
    ) -> anyhow::Result<String> {
        let mut body = json!({
            "url": url,
            "name": name,
            "enabledEvents": ["extract_run.processed"],
            "apiVersion": "2026-02-09",
        });
        if let Some(s) = retry_schedule {
            body["retrySchedule"] = json!(s);
        }
        let uri: Uri = format!("{}/webhook_endpoints", self.base).parse()?;
        let (status, resp) = http::send(
            client,
            Method::POST,
            uri,
            Some(&self.auth),
            Bytes::from(body.to_string()),
        )
        .await?;
        if !status.is_success() {
            bail!(
                "creating endpoint {url}: {status}: {}",
                String::from_utf8_lossy(&resp)
            );
        }
        let id = serde_json::from_slice::<Created>(&resp)
            .context("reading the created endpoint")?
            .id;
        self.created.push(id.clone());
        Ok(id)
    }

    /// On a shared database, deletes the endpoints it created (so a later
    /// run on that database does not deliver to them).
    pub async fn delete_created(&mut self, client: &Client) {
        if self.shared_db {
            for id in std::mem::take(&mut self.created) {
                if let Ok(uri) = format!("{}/webhook_endpoints/{id}", self.base).parse::<Uri>() {
                    let _ = http::send(client, Method::DELETE, uri, Some(&self.auth), Bytes::new())
                        .await;
                }
            }
        }
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) and reads its log. On a
    /// shared database the endpoints it created are deleted first, so the next
    /// run does not deliver to them.
    pub async fn stop(mut self, client: &Client) -> ServerLog {
        self.delete_created(client).await;
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        read_log(&self.log)
    }
}

/// N `hookrelay serve` processes on one database (N = 1: just the server).
pub struct Cluster {
    /// Node 0 first; endpoints are created through it.
    pub nodes: Vec<Server>,
}

#[derive(Deserialize)]
struct EventView {
    #[serde(default)]
    deliveries: Vec<serde_json::Value>,
}

impl Cluster {
    /// Starts node 0 and waits for its `/healthz` (so it has applied the
    /// migrations), then the other nodes one by one.
    pub async fn start(
        bin: &Path,
        database_url: Option<&str>,
        nodes: usize,
        client: &Client,
    ) -> anyhow::Result<Cluster> {
        let mut out = Vec::with_capacity(nodes);
        for i in 0..nodes.max(1) {
            let s = Server::start(bin, database_url, client).await;
            out.push(if nodes > 1 {
                s.with_context(|| format!("starting node {i} of {nodes}"))?
            } else {
                s?
            });
        }
        Ok(Cluster { nodes: out })
    }

    /// Node 0.
    pub fn first(&mut self) -> &mut Server {
        &mut self.nodes[0]
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.pid).collect()
    }

    pub fn bases(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base.clone()).collect()
    }

    /// Waits until every node routes `extract_run.processed` to at least
    /// `endpoints` endpoints: publishes a marker event through the node
    /// ([`bodies::marker_body`]) and reads it back with `GET /events/{id}`
    /// from the same node until its `deliveries` are all there (a node that
    /// has not yet heard of the endpoints gives the event fewer deliveries;
    /// then another marker is published). Returns how many marker deliveries
    /// were made in all (they reach the receiver, which ignores them, and
    /// count in the server's queue and outcome metrics).
    pub async fn wait_for_routing(
        &self,
        client: &Client,
        endpoints: usize,
        timeout: Duration,
    ) -> anyhow::Result<u64> {
        let deadline = Instant::now() + timeout;
        let mut made = 0u64;
        for (i, node) in self.nodes.iter().enumerate() {
            let publish: Uri = format!("{}/events", node.base).parse()?;
            loop {
                let last = match marker_deliveries(client, node, &publish, i).await {
                    Ok((id, n)) => {
                        made += n as u64;
                        if n >= endpoints {
                            break;
                        }
                        format!("marker event {id} got {n} of {endpoints} deliveries")
                    }
                    Err(e) => format!("{e:#}"),
                };
                if Instant::now() >= deadline {
                    bail!(
                        "node {i} ({}) did not route to the {endpoints} endpoint(s) created through node 0 within {timeout:?} \
                         (it learns of them through PostgreSQL LISTEN/NOTIFY); last: {last}",
                        node.base
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(made)
    }

    /// Deletes the endpoints (through node 0, which created them) and then
    /// stops every node; returns their logs, node 0 first.
    pub async fn stop(mut self, client: &Client) -> Vec<ServerLog> {
        if let Some(n) = self.nodes.first_mut() {
            n.delete_created(client).await;
        }
        let mut set = tokio::task::JoinSet::new();
        for (i, node) in self.nodes.into_iter().enumerate() {
            let client = client.clone();
            set.spawn(async move { (i, node.stop(&client).await) });
        }
        let mut logs = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                logs.push(r);
            }
        }
        logs.sort_by_key(|(i, _)| *i);
        logs.into_iter().map(|(_, l)| l).collect()
    }
}

/// Publishes one marker event through `node`; returns its id and how many
/// deliveries `GET /events/{id}` on the same node shows.
async fn marker_deliveries(
    client: &Client,
    node: &Server,
    publish: &Uri,
    i: usize,
) -> anyhow::Result<(String, usize)> {
    let (status, body) = http::send(
        client,
        Method::POST,
        publish.clone(),
        Some(&node.auth),
        Bytes::from(bodies::marker_body(i)),
    )
    .await
    .context("publishing a marker event")?;
    if !status.is_success() {
        bail!(
            "publishing a marker event: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let id = serde_json::from_slice::<Created>(&body)
        .context("reading the marker event's id")?
        .id;
    let uri: Uri = format!("{}/events/{id}", node.base).parse()?;
    let (status, body) = http::send(client, Method::GET, uri, Some(&node.auth), Bytes::new())
        .await
        .context("reading the marker event back")?;
    if !status.is_success() {
        bail!(
            "GET /events/{id}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let n = serde_json::from_slice::<EventView>(&body)
        .context("reading the marker event's deliveries")?
        .deliveries
        .len();
    Ok((id, n))
}

/// `GET <base>/metrics`: the value of one series (`name` with its labels,
/// e.g. `x_total{kind="a"}`).
pub async fn metric(client: &Client, base: &str, name: &str) -> Option<f64> {
    let body = http::get_ok(client, &format!("{base}/metrics"))
        .await
        .ok()?;
    let text = std::str::from_utf8(&body).ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix(name)?.strip_prefix(' ')?;
        v.trim().parse().ok()
    })
}

/// One series summed over the nodes (`None` if no node answered).
pub async fn metric_over(client: &Client, bases: &[String], name: &str) -> Option<f64> {
    let mut sum = None;
    for b in bases {
        if let Some(v) = metric(client, b, name).await {
            sum = Some(sum.unwrap_or(0.0) + v);
        }
    }
    sum
}

/// [`metric_sum`] summed over the nodes (`None` if no node answered).
pub async fn metric_sum_over(client: &Client, bases: &[String], name: &str) -> Option<f64> {
    let mut sum = None;
    for b in bases {
        if let Some(v) = metric_sum(client, b, name).await {
            sum = Some(sum.unwrap_or(0.0) + v);
        }
    }
    sum
}

/// The sum of every series of a metric, whatever its labels.
pub async fn metric_sum(client: &Client, base: &str, name: &str) -> Option<f64> {
    let body = http::get_ok(client, &format!("{base}/metrics"))
        .await
        .ok()?;
    let text = std::str::from_utf8(&body).ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(name)?;
                let value = match rest.strip_prefix('{') {
                    Some(r) => r.split_once("} ")?.1,
                    None => rest.strip_prefix(' ')?,
                };
                value.trim().parse::<f64>().ok()
            })
            .sum(),
    )
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read_log(path: &Path) -> ServerLog {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut log = ServerLog::default();
    for line in text.lines() {
        let line = strip_ansi(line);
        // `<timestamp> <LEVEL> <target>: <message>`; the start-up banner and
        // anything else without a level is not counted.
        let mut words = line.split_whitespace();
        let (Some(_ts), Some(level)) = (words.next(), words.next()) else {
            continue;
        };
        if !matches!(level, "WARN" | "ERROR") {
            continue;
        }
        log.lines += 1;
        let msg = format!("{level} {}", words.collect::<Vec<_>>().join(" "));
        if log.samples.len() < 5 && !log.samples.contains(&msg) {
            log.samples.push(msg.chars().take(300).collect());
        }
    }
    log
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

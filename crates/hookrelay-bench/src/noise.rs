//! Workspace A's noise for `noisy-neighbour`: a workspace of its own whose
//! endpoints cannot keep up (throttled to one attempt a second, or never
//! answered), a deep backlog published before the probe starts, and more of
//! it published all along the probe. Its deliveries go to a receiver of
//! their own, so the probe's tally sees only the probe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde_json::{json, Value};

use crate::bodies::{payload, EVENT_TYPE};
use crate::http::{self, Client};
use crate::scenario::HANG_PREFIX;
use crate::server::{Server, ADMIN_KEY};

/// What workspace A does.
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    /// Endpoints limited to one attempt a second.
    pub throttled: usize,
    /// Endpoints never answered (each attempt waits for the request timeout).
    pub hanging: usize,
    /// Events published to all of them before the probe starts.
    pub backlog_events: usize,
    /// Events published to all of them per second while the probe runs.
    pub per_second: usize,
}

/// The scenario's noise: 16 endpoints, 10,000 events deep (160,000
/// deliveries), 200 more events (3,200 deliveries) every second.
pub const NOISE: Noise = Noise {
    throttled: 8,
    hanging: 8,
    backlog_events: 10_000,
    per_second: 200,
};

/// Events per batch request A publishes.
const BATCH: usize = 500;

async fn post(
    client: &Client,
    base: &str,
    path: &str,
    auth: &HeaderValue,
    body: Value,
) -> anyhow::Result<Value> {
    let uri: Uri = format!("{base}{path}").parse()?;
    let (status, resp) = http::send(
        client,
        Method::POST,
        uri,
        Some(auth),
        Bytes::from(body.to_string()),
    )
    .await?;
    if !status.is_success() {
        bail!("POST {path}: {status}: {}", String::from_utf8_lossy(&resp));
    }
    serde_json::from_slice(&resp).with_context(|| format!("reading the answer to POST {path}"))
}

fn batch(n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let p: Value = serde_json::from_str(&payload(i, 0)).expect("payload is JSON");
            json!({"eventType": EVENT_TYPE, "payload": p})
        })
        .collect();
    json!({ "events": events })
}

/// Workspace A, set up and flooding.
pub struct Running {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Events A published (backlog and trickle).
    pub published: Arc<AtomicU64>,
}

impl Running {
    /// Stops publishing; returns how many events A published in all.
    pub async fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.context("the noise publisher")??;
        Ok(self.published.load(Ordering::Relaxed))
    }
}

/// Creates workspace A on `server` (with the admin key), its endpoints at
/// `receiver` (which hangs under [`HANG_PREFIX`]), publishes its backlog,
/// and keeps publishing until stopped.
pub async fn start(
    client: &Client,
    server: &Server,
    receiver: SocketAddr,
    noise: Noise,
) -> anyhow::Result<Running> {
    let base = server.base.clone();
    let admin = HeaderValue::from_str(&format!("Bearer {ADMIN_KEY}"))?;
    let ws = post(
        client,
        &base,
        "/workspaces",
        &admin,
        json!({"name": "noisy"}),
    )
    .await?;
    let ws_id = ws["id"].as_str().context("workspace id")?.to_owned();
    let uri: Uri = format!("{base}/api_keys").parse()?;
    let req = hyper::Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(hyper::header::AUTHORIZATION, admin.clone())
        .header("x-extend-workspace-id", &ws_id)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(Bytes::from(
            json!({"name": "noisy"}).to_string(),
        )))?;
    let (status, body) = http::request(client, req).await?;
    if !status.is_success() {
        bail!(
            "creating workspace A's key: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let key: Value = serde_json::from_slice(&body)?;
    let auth = HeaderValue::from_str(&format!("Bearer {}", key["key"].as_str().context("key")?))?;
    let endpoint = |url: String, extra: Value| {
        let mut b = json!({"url": url, "name": "noise", "enabledEvents": [EVENT_TYPE], "apiVersion": "2026-02-09"});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                b[k] = v;
            }
        }
        b
    };
    for i in 0..noise.throttled {
        post(
            client,
            &base,
            "/webhook_endpoints",
            &auth,
            endpoint(
                format!("http://{receiver}/noise/{i}"),
                json!({"rateLimitPerSecond": 1}),
            ),
        )
        .await?;
    }
    for i in 0..noise.hanging {
        post(
            client,
            &base,
            "/webhook_endpoints",
            &auth,
            endpoint(format!("http://{receiver}{HANG_PREFIX}/{i}"), json!({})),
        )
        .await?;
    }
    let published = Arc::new(AtomicU64::new(0));
    let mut left = noise.backlog_events;
    while left > 0 {
        let n = left.min(BATCH);
        post(client, &base, "/events/batch", &auth, batch(n)).await?;
        published.fetch_add(n as u64, Ordering::Relaxed);
        left -= n;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let (client, stop, published) = (client.clone(), stop.clone(), published.clone());
        async move {
            // A tenth of a second's worth, ten times a second.
            let per_tick = noise.per_second.div_ceil(10).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                post(&client, &base, "/events/batch", &auth, batch(per_tick)).await?;
                published.fetch_add(per_tick as u64, Ordering::Relaxed);
            }
            Ok(())
        }
    });
    Ok(Running {
        stop,
        task,
        published,
    })
}

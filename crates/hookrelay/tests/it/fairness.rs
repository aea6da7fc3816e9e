//! Sharing safely: whatever one workspace's endpoints do (throttled,
//! paused by their circuit breaker, hanging until the timeout, thousands of
//! deliveries deep), another workspace's new deliveries, fan-outs, retries
//! and deliveries claimed after a restart start within a few seconds. Each
//! scenario runs on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{
    eventually, spawn_serve, Backend, PgSchema, Receiver, Reply, TestServer, ADMIN, KEY,
};

const TYPE: &str = "extract_run.processed";
/// "Within a few seconds".
const SOON: Duration = Duration::from_secs(5);

fn endpoint_body(url: &str, extra: Value) -> Value {
    let mut body = json!({
        "url": url,
        "name": "endpoint",
        "enabledEvents": [TYPE],
        "apiVersion": "2026-02-09",
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    body
}

fn batch(n: usize, tag: &str) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"eventType": TYPE, "payload": {"tag": tag, "n": i}}))
        .collect();
    json!({ "events": events })
}

/// Workspace A floods 8 endpoints limited to one attempt a second with
/// 8,000 deliveries, forty times what this server may hold in memory. A
/// fan-out of workspace B to 8 endpoints still arrives at once; and when A
/// disables its endpoints, their deliveries leave memory.
async fn a_throttled_flood_does_not_delay_another_workspaces_fanout(backend: Backend) {
    let Some(s) = TestServer::on(backend, |c| c.max_held = 200).await else {
        return;
    };
    let a = Receiver::start().await;
    let mut a_ids = Vec::new();
    for i in 0..8 {
        let ep = s
            .endpoint(
                &format!("{}/a{i}", a.url),
                &[TYPE],
                json!({"rateLimitPerSecond": 1}),
            )
            .await;
        a_ids.push(ep["id"].as_str().unwrap().to_owned());
    }
    s.post_as(KEY, "/events/batch", batch(1_000, "a")).await;

    let (_, b_key) = s.workspace("b").await;
    let b = Receiver::start().await;
    for i in 0..8 {
        s.post_as(
            &b_key,
            "/webhook_endpoints",
            endpoint_body(&format!("{}/b{i}", b.url), json!({})),
        )
        .await;
    }
    let published = Instant::now();
    s.post_as(
        &b_key,
        "/events",
        json!({"eventType": TYPE, "payload": {"tag": "b"}}),
    )
    .await;
    b.wait_for(8, SOON).await;
    eprintln!(
        "{backend:?}: B's fan-out arrived after {:?}",
        published.elapsed()
    );
    assert!(s.gauge("hookrelay_dispatch_held").await <= 200.0);

    // A disables half its endpoints and deletes the others: what they held
    // leaves memory at once (at one attempt a second, attempting it would
    // take half a minute).
    for (i, id) in a_ids.iter().enumerate() {
        if i % 2 == 0 {
            s.post(
                &format!("/webhook_endpoints/{id}"),
                json!({"status": "disabled"}),
            )
            .await;
        } else {
            let (status, v) = s.delete(&format!("/webhook_endpoints/{id}")).await;
            assert_eq!(status, 200, "{v}");
        }
    }
    eventually(SOON, || async {
        let held = s.gauge("hookrelay_dispatch_held").await;
        if held == 0.0 {
            Ok(())
        } else {
            Err(format!(
                "a disabled or deleted endpoint's deliveries stay in memory: {held} held"
            ))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_throttled_flood_does_not_delay_another_workspaces_fanout() {
    a_throttled_flood_does_not_delay_another_workspaces_fanout(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_throttled_flood_does_not_delay_another_workspaces_fanout() {
    a_throttled_flood_does_not_delay_another_workspaces_fanout(Backend::Postgres).await;
}

/// Workspace A's endpoints hang until the timeout (enough of them to fill
/// every attempt slot of this server) or fail until their breakers pause
/// them, thousands of deliveries deep. A never holds more slots than the
/// server's less another workspace's cap, and workspace B's delivery, which
/// fails once, and its retry a second later arrive on time.
async fn hanging_and_paused_endpoints_do_not_delay_another_workspaces_retry(backend: Backend) {
    let Some(s) = TestServer::on(backend, |c| {
        c.max_in_flight = 40;
        c.max_in_flight_per_workspace = 10;
    })
    .await
    else {
        return;
    };
    let hang = Receiver::start_replying(Reply::Hang).await;
    let dead = Receiver::start_replying(Reply::Status(500)).await;
    // 8 × 4 (the slots an endpoint starts with) and 4 × 4: more than the
    // server's 40.
    for i in 0..8 {
        s.endpoint(&format!("{}/hang{i}", hang.url), &[TYPE], json!({}))
            .await;
    }
    for i in 0..4 {
        s.endpoint(&format!("{}/dead{i}", dead.url), &[TYPE], json!({}))
            .await;
    }
    s.post_as(KEY, "/events/batch", batch(500, "a")).await;
    hang.wait_for(24, SOON).await;
    let a_in_flight = s.gauge("hookrelay_dispatch_in_flight").await;
    assert!(
        a_in_flight <= 30.0,
        "A takes at most 40 less B's 10: {a_in_flight}"
    );

    let (_, b_key) = s.workspace("b").await;
    let b = Receiver::start().await;
    b.script(vec![Reply::Status(500)]);
    s.post_as(
        &b_key,
        "/webhook_endpoints",
        endpoint_body(&format!("{}/b", b.url), json!({"retrySchedule": [1]})),
    )
    .await;
    let published = Instant::now();
    s.post_as(
        &b_key,
        "/events",
        json!({"eventType": TYPE, "payload": {"tag": "b"}}),
    )
    .await;
    let got = b.wait_for(2, SOON).await;
    eprintln!(
        "{backend:?}: B's first attempt after {:?}, its retry after {:?}",
        got[0].at.duration_since(published),
        got[1].at.duration_since(published)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hanging_and_paused_endpoints_do_not_delay_another_workspaces_retry() {
    hanging_and_paused_endpoints_do_not_delay_another_workspaces_retry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_hanging_and_paused_endpoints_do_not_delay_another_workspaces_retry() {
    hanging_and_paused_endpoints_do_not_delay_another_workspaces_retry(Backend::Postgres).await;
}

/// A server dies (SIGKILL) with workspace A's throttled flood (24,000
/// deliveries, older than B's) in its database and workspace B's delivery
/// in flight. The next server claims B's delivery within a few seconds (on
/// PostgreSQL once the dead node's 3 s lease has run out), not after A's
/// backlog: claims taking the oldest first, 1,000 a second, would take 24 s.
async fn after_a_restart_another_workspaces_delivery_is_claimed_soon(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let schema;
    let db = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("hookrelay.db").display()),
        Backend::Postgres => {
            let Some(s) = PgSchema::create().await else {
                return;
            };
            schema = s;
            schema.url()
        }
    };
    let env = [
        ("HOOKRELAY_ADMIN_KEY", ADMIN),
        ("HOOKRELAY_LEASE_SECONDS", "3"),
    ];
    let first = spawn_serve(&db, &env);
    first.wait_healthy().await;
    let s = TestServer::remote(&first.url);
    let a = Receiver::start().await;
    for i in 0..8 {
        s.post_as(
            KEY,
            "/webhook_endpoints",
            endpoint_body(&format!("{}/a{i}", a.url), json!({"rateLimitPerSecond": 1})),
        )
        .await;
    }
    for i in 0..3 {
        s.post_as(KEY, "/events/batch", batch(1_000, &format!("a{i}")))
            .await;
    }
    let (_, b_key) = s.workspace("b").await;
    let b = Receiver::start().await;
    b.script(vec![Reply::Hang]);
    s.post_as(
        &b_key,
        "/webhook_endpoints",
        endpoint_body(&format!("{}/b", b.url), json!({})),
    )
    .await;
    s.post_as(
        &b_key,
        "/events",
        json!({"eventType": TYPE, "payload": {"tag": "b"}}),
    )
    .await;
    b.wait_for(1, SOON).await;
    first.signal(libc::SIGKILL);
    drop(first);

    let restarted = Instant::now();
    let second = spawn_serve(&db, &env);
    second.wait_healthy().await;
    let got = b.wait_for(2, SOON + Duration::from_secs(3)).await;
    eprintln!(
        "{backend:?}: B's delivery attempted again {:?} after the restart began",
        got[1].at.duration_since(restarted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_after_a_restart_another_workspaces_delivery_is_claimed_soon() {
    after_a_restart_another_workspaces_delivery_is_claimed_soon(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_a_restart_another_workspaces_delivery_is_claimed_soon() {
    after_a_restart_another_workspaces_delivery_is_claimed_soon(Backend::Postgres).await;
}

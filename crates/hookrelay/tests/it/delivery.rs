//! The dispatcher — signing at send time, timeouts, what counts as
//! success, retries, Retry-After, custom headers, isolation, rate limits.

use std::time::{Duration, Instant};

use hookrelay_core::time::{Clock, SystemClock};
use serde_json::{json, Value};

use crate::support::{verify_extend, Receiver, Reply, TestServer};

const WAIT: Duration = Duration::from_secs(15);

fn ts(r: &crate::support::Received) -> i64 {
    r.header("x-extend-request-timestamp")
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_attempt_is_signed_at_send_time() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    r.script(vec![Reply::Status(500)]);
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": [1]}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap();
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(2, WAIT).await;
    assert_eq!(got[0].body, got[1].body, "same body, same eventId");
    assert!(
        ts(&got[1]) > ts(&got[0]),
        "a retry carries a fresh timestamp"
    );
    assert_ne!(
        got[0].header("x-extend-request-signature"),
        got[1].header("x-extend-request-signature")
    );
    for g in &got {
        verify_extend(g, secret).expect("each attempt verifies");
        let age = SystemClock.now().secs() - ts(g);
        assert!(
            (0..10).contains(&age),
            "timestamp is the send time: age {age}"
        );
    }
    assert!(verify_extend(&got[0], "wss_wrong").is_err());
}

#[tokio::test]
async fn only_2xx_is_success_and_redirects_are_not_followed() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    r.script(vec![
        Reply::WithHeaders(302, vec![("location", format!("{}/elsewhere", r.url))]),
        Reply::Status(400),
        Reply::Status(503),
        Reply::Status(204),
    ]);
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [1, 1, 1, 1]}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let d = s.delivery_of(ev["id"].as_str().unwrap()).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| {
            d["status"] == "succeeded"
        })
        .await;
    let statuses: Vec<_> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responseStatus"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!(302), json!(400), json!(503), json!(204)]
    );
    for a in &d["attempts"].as_array().unwrap()[..3] {
        assert_eq!(a["errorKind"], "http_status");
    }
    assert_eq!(d["attempts"][3]["errorKind"], serde_json::Value::Null);
    assert_eq!(d["attemptCount"], 4);
    assert_eq!(d["nextAttemptAt"], serde_json::Value::Null);
    assert!(
        r.received().iter().all(|g| g.path_and_query == "/hook"),
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn the_endpoint_schedule_runs_out_then_the_delivery_fails() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Status(500)).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [1, 1]}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending = s.wait_delivery(&id, WAIT, |d| d["attemptCount"] == 1).await;
    assert_eq!(pending["status"], "pending");
    assert!(pending["nextAttemptAt"].is_string());
    let d = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "failed")
        .await;
    assert_eq!(
        d["attemptCount"], 3,
        "one attempt plus one per schedule entry"
    );
    let got = r.received();
    assert_eq!(got.len(), 3);
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(850) && gap < Duration::from_secs(4),
        "{gap:?}"
    );
}

#[tokio::test]
async fn the_server_default_schedule_applies_without_an_endpoint_schedule() {
    let s = TestServer::start_with(|c| c.retry_schedule = vec![1]).await;
    let r = Receiver::start_replying(Reply::Status(500)).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "failed")
        .await;
    assert_eq!(d["attemptCount"], 2);
}

#[tokio::test]
async fn retry_after_pushes_the_next_attempt_later() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    r.script(vec![Reply::WithHeaders(
        503,
        vec![("retry-after", "3".into())],
    )]);
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [1]}),
    )
    .await;
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(2, WAIT).await;
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(2900),
        "Retry-After: 3 honoured, waited {gap:?}"
    );
}

#[tokio::test]
async fn timeouts_are_failures_with_their_own_kind() {
    let s = TestServer::start_with(|c| c.request_timeout = Duration::from_secs(1)).await;
    let r = Receiver::start_replying(Reply::Hang).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": []}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "failed")
        .await;
    let a = &d["attempts"][0];
    assert_eq!(a["errorKind"], "timeout");
    assert_eq!(a["responseStatus"], serde_json::Value::Null);
    let ms = a["durationMs"].as_u64().unwrap();
    assert!((900..3000).contains(&ms), "{ms}");
}

#[tokio::test]
async fn refused_connections_are_connect_errors() {
    let s = TestServer::start().await;
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    s.endpoint(
        &format!("http://127.0.0.1:{port}/x"),
        &["extract_run.processed"],
        json!({"retrySchedule": []}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "failed")
        .await;
    assert_eq!(d["attempts"][0]["errorKind"], "connect");
}

#[tokio::test]
async fn custom_headers_are_sent_and_the_query_string_kept() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/hooks/in?api_version=2026-02-09&tenant=a%20b", r.url),
        &["extract_run.processed"],
        json!({"advancedOptions": {"headers": {"X-Tenant": "acme", "Authorization": "Bearer downstream"}}}),
    )
    .await;
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(1, WAIT).await;
    assert_eq!(
        got[0].path_and_query,
        "/hooks/in?api_version=2026-02-09&tenant=a%20b"
    );
    assert_eq!(got[0].header("x-tenant").as_deref(), Some("acme"));
    assert_eq!(
        got[0].header("authorization").as_deref(),
        Some("Bearer downstream")
    );
    assert!(got[0]
        .header("user-agent")
        .unwrap()
        .starts_with("hookrelay/"));
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_delay_another() {
    let s = TestServer::start_with(|c| {
        c.request_timeout = Duration::from_secs(20);
        c.endpoint_concurrency = 4;
    })
    .await;
    let hang = Receiver::start_replying(Reply::Hang).await;
    let healthy = Receiver::start().await;
    s.endpoint(
        &format!("{}/slow", hang.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    s.endpoint(
        &format!("{}/fast", healthy.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let started = Instant::now();
    for i in 0..40 {
        s.publish("extract_run.processed", json!({"id": i})).await;
    }
    let got = healthy.wait_for(40, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(8),
        "healthy endpoint got all 40 in {elapsed:?}"
    );
    let worst = got
        .iter()
        .map(|g| g.at.duration_since(started))
        .max()
        .unwrap();
    assert!(worst < Duration::from_secs(8), "{worst:?}");
    // The hanging endpoint holds exactly its own concurrency, no more: it
    // has its four, and no fifth arrives while they hang (the pause is the
    // window in which one would show).
    hang.wait_for(4, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hang.received().len(),
        4,
        "per-endpoint concurrency is bounded"
    );
}

/// CPU time (ns) used so far by each of this process's threads named
/// `prefix…`, by thread id.
#[cfg(target_os = "linux")]
fn cpu_of_threads(prefix: &str) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            let ns = stat.split_whitespace().next().and_then(|n| n.parse().ok());
            out.insert(
                task.file_name().to_string_lossy().into_owned(),
                ns.unwrap_or(0),
            );
        }
    }
    out
}

/// Attempts run on the dispatcher's own runtime, so they never queue with
/// API requests for the same worker threads (ARCHITECTURE.md, step 5). This
/// test's server answers its API on the test's own runtime; the attempts'
/// CPU shows up on threads named `hr-dispatch`.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn attempts_run_on_the_dispatchers_own_threads() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let before = cpu_of_threads("hr-dispatch");
    for i in 0..100 {
        s.publish("extract_run.processed", json!({"id": i})).await;
    }
    r.wait_for(100, WAIT).await;
    // Per thread: other tests' servers stop (and their threads end) meanwhile.
    let used: u64 = cpu_of_threads("hr-dispatch")
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    assert!(
        used >= 1_000_000,
        "100 attempts took {used} ns on the dispatcher's threads"
    );
}

#[tokio::test]
async fn rate_limits_space_out_deliveries() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"rateLimitPerSecond": 4}),
    )
    .await;
    for i in 0..12 {
        s.publish("extract_run.processed", json!({"id": i})).await;
    }
    let got = r.wait_for(12, WAIT).await;
    let span = got.last().unwrap().at.duration_since(got[0].at);
    // A burst of 4, then 4 per second: the last of 12 comes after ~2 s.
    assert!(span >= Duration::from_millis(1700), "{span:?}");
}

#[tokio::test]
async fn a_failing_endpoint_is_paused_instead_of_hammered_and_resumes() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Status(503)).await;
    let healthy = Receiver::start().await;
    s.endpoint(
        &format!("{}/down", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}),
    )
    .await;
    s.endpoint(
        &format!("{}/ok", healthy.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            s.publish("extract_run.processed", json!({"id": i})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    healthy.wait_for(20, WAIT).await;
    s.wait_metric("hookrelay_circuit_breaker_opened_total 1", WAIT)
        .await;
    // What is under test is how often the failing endpoint is tried over
    // a stretch of time, so this waits a fixed stretch.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Without a pause, every delivery would be retried every second (60+
    // requests by now); paused after 10 failures in a row, it gets a probe
    // now and then (1 s, then 2 s apart) and the rest wait unattempted.
    let hits = r.received().len();
    assert!(
        (10..=16).contains(&hits),
        "{hits} requests to the failing endpoint"
    );
    let text = s.metrics().await;
    assert!(
        text.contains("hookrelay_circuit_breaker_opened_total 1"),
        "{text}"
    );
    // When it recovers, everything waiting goes through.
    r.set_default(Reply::Status(200));
    s.wait_deliveries(
        "status=succeeded&maxPageSize=100",
        Duration::from_secs(20),
        |ds| ds.len() == 40,
    )
    .await;
    for d in s.deliveries("maxPageSize=100").await {
        assert!(
            d["attemptCount"].as_u64().unwrap() <= 4,
            "waiting did not burn retries: {d}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_beyond_what_memory_holds_drain_without_waiting_for_a_poll() {
    // More than the 5,000 deliveries one endpoint may hold in memory: the rest
    // go back to the table. The poller runs once an hour here, so they are
    // delivered only if the dispatcher asks for them as its queue runs low.
    const EVENTS: usize = 6_000;
    let s = TestServer::start_with(|s| s.poll_interval = Duration::from_secs(3600)).await;
    // Slow at first, so the endpoint's queue fills up while events arrive.
    let r = Receiver::start_replying(Reply::Delay(Duration::from_secs(2), 200)).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    for b in 0..EVENTS / 500 {
        let events: Vec<Value> = (0..500)
            .map(|i| json!({"eventType": "extract_run.processed", "payload": {"n": b * 500 + i}}))
            .collect();
        let (status, body) = s.post("/events/batch", json!({ "events": events })).await;
        assert_eq!(status, 202, "{body}");
    }
    r.set_default(Reply::Status(200));
    let got = r.wait_for(EVENTS, Duration::from_secs(60)).await;
    let unique: std::collections::HashSet<String> = got
        .iter()
        .map(|g| g.json()["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(unique.len(), EVENTS);
}

/// A delivery counts as held in memory (and keeps its lease renewed) until
/// its outcome is written, not just until its attempt ends: outcomes wait for
/// the store's writer, and counting them keeps memory bounded (the
/// dispatcher takes no more work) when it falls behind.
#[tokio::test]
async fn a_delivery_stays_held_until_its_outcome_is_written() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Delay(Duration::from_millis(300), 204)).await;
    s.endpoint(
        &format!("{}/x", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    s.publish("extract_run.processed", json!({ "id": 1 })).await;
    // While the endpoint takes its time, another connection takes the
    // database's write lock: the outcome cannot be written until it goes.
    let lock = rusqlite::Connection::open(s.db_path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    s.wait_metric(
        "hookrelay_delivery_outcomes_total{outcome=\"succeeded\"} 1",
        WAIT,
    )
    .await;
    // The attempt has ended; its outcome waits for the writer, and the
    // delivery stays held all along (a stretch of time is the point).
    for _ in 0..20 {
        let text = s.metrics().await;
        assert!(text.contains("hookrelay_dispatch_held 1"), "{text}");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    lock.execute_batch("ROLLBACK").unwrap();
    s.wait_metric("hookrelay_dispatch_held 0", WAIT).await;
    // Released only once written.
    let ds = s.deliveries("limit=10").await;
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0]["status"], "succeeded", "{}", ds[0]);
}

//! The statistics routes through a real server delivering to real
//! receivers: attempts that succeed, are retried and fail show up in
//! `GET /stats` and `GET /webhook_endpoints/{id}/stats`, with their
//! latency, in their workspace only; bad windows are refused.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use hookrelay_core::time::{Clock, SystemClock};

use crate::support::{Backend, Receiver, Reply, TestServer};

const WAIT: Duration = Duration::from_secs(15);

/// The sum of a count over every bucket of a stats answer.
fn sum(v: &Value, field: &str) -> u64 {
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("data in {v}"))
        .iter()
        .map(|b| {
            b[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} in {b}"))
        })
        .sum()
}

async fn get_as(s: &TestServer, key: &str, path: &str) -> (StatusCode, Value) {
    let (status, v, _) = s.request(Method::GET, path, Some(key), None).await;
    (status, v)
}

async fn stats_show_what_was_delivered(backend: Backend) {
    let Some(s) = TestServer::on(backend, |_| {}).await else {
        return;
    };
    // A: the first attempt fails (retried after 1 s), the retry succeeds
    // after 200 ms. B: fails, with no retries.
    let ra = Receiver::start_replying(Reply::Delay(Duration::from_millis(200), 200)).await;
    ra.script(vec![Reply::Status(500)]);
    let rb = Receiver::start_replying(Reply::Status(500)).await;
    let a = s
        .endpoint(
            &format!("{}/a", ra.url),
            &["extract_run.processed"],
            json!({"retrySchedule": [1]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = s
        .endpoint(
            &format!("{}/b", rb.url),
            &["extract_run.processed"],
            json!({"retrySchedule": []}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.publish("extract_run.processed", json!({"id": "run_1"}))
        .await;
    let done = s
        .wait_deliveries("", WAIT, |ds| {
            ds.len() == 2 && ds.iter().all(|d| d["status"] != "pending")
        })
        .await;
    let status_of = |ep: &str| {
        done.iter()
            .find(|d| d["webhookEndpointId"] == ep)
            .map(|d| d["status"].clone())
    };
    assert_eq!(status_of(&a), Some(json!("succeeded")));
    assert_eq!(status_of(&b), Some(json!("failed")));

    // The workspace, by default the last 24 hours in hour buckets.
    let (status, ws) = s.get("/stats").await;
    assert_eq!(status, StatusCode::OK, "{ws}");
    assert_eq!(ws["object"], "stats");
    assert_eq!(ws["bucket"], "hour");
    assert_eq!(ws["webhookEndpointId"], Value::Null);
    let buckets = ws["data"].as_array().unwrap().len();
    assert!((24..=25).contains(&buckets), "{buckets} hour buckets");
    assert_eq!(
        (
            sum(&ws, "succeeded"),
            sum(&ws, "retrying"),
            sum(&ws, "failed")
        ),
        (1, 1, 1)
    );
    assert_eq!(sum(&ws, "total"), 3);

    // Endpoint A in minutes over the last hour: its slow success is its
    // largest latency.
    let since = SystemClock.now().plus_millis(-3_600_000).to_rfc3339();
    let (status, ea) = s
        .get(&format!(
            "/webhook_endpoints/{a}/stats?bucket=minute&since={since}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{ea}");
    assert_eq!(ea["webhookEndpointId"], a.as_str());
    assert_eq!(
        (
            sum(&ea, "succeeded"),
            sum(&ea, "retrying"),
            sum(&ea, "failed")
        ),
        (1, 1, 0)
    );
    let p95s: Vec<u64> = ea["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["latencyP95Ms"].as_u64())
        .collect();
    assert!(
        p95s.iter().any(|&p| p >= 200),
        "the 200 ms success shows in a p95: {p95s:?}"
    );
    let empty = ea["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["total"] == 0)
        .expect("most minutes of the hour had no attempts");
    assert_eq!(empty["latencyP50Ms"], Value::Null);

    let (_, eb) = s
        .get(&format!("/webhook_endpoints/{b}/stats?bucket=day"))
        .await;
    assert_eq!(
        (
            sum(&eb, "succeeded"),
            sum(&eb, "retrying"),
            sum(&eb, "failed")
        ),
        (0, 0, 1)
    );

    // Another workspace sees none of it, and not A at all.
    let (_, other_key) = s.workspace("other").await;
    let (status, other) = get_as(&s, &other_key, "/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sum(&other, "total"), 0);
    let (status, v) = get_as(&s, &other_key, &format!("/webhook_endpoints/{a}/stats")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");

    // A deleted endpoint's attempts still count for its workspace.
    let (status, _) = s.delete(&format!("/webhook_endpoints/{b}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, ws) = s.get("/stats?bucket=day").await;
    assert_eq!(sum(&ws, "failed"), 1);
    let (status, _) = s.get(&format!("/webhook_endpoints/{b}/stats")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sqlite_stats_show_what_was_delivered() {
    stats_show_what_was_delivered(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_stats_show_what_was_delivered() {
    stats_show_what_was_delivered(Backend::Postgres).await;
}

#[tokio::test]
async fn stats_refuse_bad_windows() {
    let s = TestServer::start().await;
    for (query, says) in [
        ("bucket=week", "bucket must be one of: minute, hour, day"),
        ("since=yesterday", "since must be an RFC 3339 time"),
        (
            "since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z",
            "until must be after since",
        ),
        (
            "bucket=minute&since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:01Z",
            "a window of minute buckets may be at most 24 hours",
        ),
        (
            "bucket=hour&since=2026-01-01T00:00:00Z&until=2026-02-02T00:00:00Z",
            "a window of hour buckets may be at most 31 days",
        ),
        (
            "bucket=day&since=2025-01-01T00:00:00Z&until=2026-03-01T00:00:00Z",
            "a window of day buckets may be at most 400 days",
        ),
    ] {
        let (status, v) = s.get(&format!("/stats?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["code"], "invalid_request", "{query}");
        assert_eq!(v["message"], says, "{query}");
    }
    // Exactly the longest window, in whole buckets: one answer per bucket.
    let (status, v) = s
        .get("/stats?bucket=minute&since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 1440);
    assert_eq!(v["since"], "2026-03-01T00:00:00.000Z");
    assert_eq!(v["until"], "2026-03-02T00:00:00.000Z");
    // Not whole buckets: widened (here, in another offset, to midnight UTC).
    let (status, v) = s
        .get("/stats?bucket=day&since=2026-03-01T10:00:00%2B02:00&until=2026-03-03T00:00:00.001Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["since"], "2026-03-01T00:00:00.000Z");
    assert_eq!(v["until"], "2026-03-04T00:00:00.000Z");
    assert_eq!(v["data"][2]["start"], "2026-03-03T00:00:00.000Z");
    // An unknown endpoint, or a malformed id.
    for id in ["webhook_endpoint_01JNX3Q6W0K8V2C7E5R9T4Y1ZB", "nope"] {
        let (status, v) = s.get(&format!("/webhook_endpoints/{id}/stats")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    }
    let (status, _, _) = s.request(Method::GET, "/stats", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

//! Destination guard, body limits, malformed input.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{Receiver, TestServer, KEY};

#[tokio::test]
async fn private_destinations_are_refused_at_send_time_outside_dev_mode() {
    let s = TestServer::start_with(|c| {
        c.dev = false;
        c.allow_private_destinations = false;
    })
    .await;
    let r = Receiver::start().await;
    let port = r.port;
    let mut ids = Vec::new();
    // An IP literal, and a name that resolves to loopback.
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let ep = s
            .endpoint(
                &format!("https://{host}:{port}/hook"),
                &["extract_run.processed"],
                json!({"retrySchedule": []}),
            )
            .await;
        ids.push(ep["id"].as_str().unwrap().to_owned());
    }
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    for ep in &ids {
        let ds = s.deliveries(&format!("webhookEndpointId={ep}")).await;
        let d = s
            .wait_delivery(
                ds[0]["id"].as_str().unwrap(),
                Duration::from_secs(10),
                |d| d["status"] == "failed",
            )
            .await;
        assert_eq!(
            d["attempts"][0]["errorKind"], "blocked_destination",
            "{d:#}"
        );
        // The tenant learns that the address is not allowed, not which
        // address its host resolved to.
        let msg = d["attempts"][0]["errorMessage"].as_str().unwrap();
        assert!(msg.contains("not allowed"), "{msg}");
        for address in ["127.0.0.1", "::1", "127.", "::"] {
            assert!(!msg.contains(address), "{msg} names {address}");
        }
    }
    assert!(
        r.received().is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_and_nothing_is_stored() {
    let s = TestServer::start_with(|c| c.max_event_bytes = 2048).await;
    let big = "x".repeat(4096);
    let (status, v) = s
        .post(
            "/events",
            json!({"eventType": "extract_run.processed", "payload": {"blob": big}}),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(v["code"], "payload_too_large");
    assert!(v["requestId"].is_string());
    let (status, _) = s
        .post(
            "/events",
            json!({"eventType": "extract_run.processed", "payload": {"blob": "small"}}),
        )
        .await;
    assert_eq!(status, 202);
    // In a batch, a too-large item fails alone.
    let (status, v) = s
        .post(
            "/events/batch",
            json!({"events": [
                {"eventType": "extract_run.processed", "payload": {"blob": big}},
                {"eventType": "extract_run.processed", "payload": {"id": 1}}
            ]}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(v["data"][0]["error"]["code"], "payload_too_large");
    assert_eq!(v["data"][1]["object"], "event");
    let (_, events) = s.get("/events").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_default_event_limit_is_one_mebibyte() {
    let s = TestServer::start().await;
    let big = "x".repeat(1024 * 1024 + 10);
    let (status, v) = s
        .post(
            "/events",
            json!({"eventType": "extract_run.processed", "payload": {"blob": big}}),
        )
        .await;
    assert_eq!(status, 413, "{v}");
    let ok = "x".repeat(900 * 1024);
    let (status, _) = s
        .post(
            "/events",
            json!({"eventType": "extract_run.processed", "payload": {"blob": ok}}),
        )
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn malformed_json_gets_400_in_our_shape() {
    let s = TestServer::start().await;
    for (path, body) in [
        ("/events", "{\"eventType\": "),
        ("/events", "not json"),
        ("/events", ""),
        ("/webhook_endpoints", "{\"url\": [}"),
        ("/webhook_subscriptions", "[]"),
        ("/events/batch", "{\"events\": 5}"),
    ] {
        let resp = s
            .http
            .post(format!("{}{}", s.url, path))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path} {body:?}");
        let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(
            matches!(v["code"].as_str(), Some("invalid_json" | "invalid_request")),
            "{v}"
        );
        assert_eq!(v["retryable"], false);
        assert_eq!(v["requestId"], rid);
    }
    let (status, v, _) = s
        .request(Method::PUT, "/webhook_endpoints", Some(KEY), None)
        .await;
    assert_eq!(status, 405);
    assert_eq!(v["code"], "method_not_allowed");
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let s = TestServer::start().await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let resp = s
            .http
            .get(format!("{}{}", s.url, path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    // One delivery that failed once and waits an hour for its retry.
    let down = Receiver::start_replying(crate::support::Reply::Status(500)).await;
    s.endpoint(
        &format!("{}/x", down.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [3600]}),
    )
    .await;
    s.publish("extract_run.processed", json!({"id": 1})).await;
    down.wait_for(1, Duration::from_secs(10)).await;
    // The outcome is recorded and the delivery has left memory.
    s.wait_metric("hookrelay_dispatch_held 0", Duration::from_secs(10))
        .await;
    s.wait_metric(
        "hookrelay_delivery_outcomes_total{outcome=\"retrying\"} 1",
        Duration::from_secs(10),
    )
    .await;
    let text = s.metrics().await;
    for line in [
        "hookrelay_queue_depth 1",
        "hookrelay_delivery_outcomes_total{outcome=\"retrying\"} 1",
        "hookrelay_attempt_errors_total{kind=\"http_status\"} 1",
        "hookrelay_attempt_duration_seconds_count 1",
        "hookrelay_dispatch_held 0",
        "hookrelay_oldest_pending_age_seconds",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    let doc: serde_json::Value = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

/// The backlog gauge reads the store at most once per interval, whatever
/// the scrape rate.
#[tokio::test]
async fn the_backlog_gauge_is_read_at_most_once_per_interval() {
    let s = TestServer::start_with(|c| c.metrics_backlog_every = Duration::from_secs(3600)).await;
    assert!(s.metrics().await.contains("hookrelay_queue_depth 0"));
    let down = Receiver::start_replying(crate::support::Reply::Status(500)).await;
    s.endpoint(
        &format!("{}/x", down.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [3600]}),
    )
    .await;
    s.publish("extract_run.processed", json!({"id": 1})).await;
    down.wait_for(1, Duration::from_secs(10)).await;
    let text = s.metrics().await;
    assert!(
        text.contains("hookrelay_queue_depth 0"),
        "the value read an hour ago stands: {text}"
    );
}

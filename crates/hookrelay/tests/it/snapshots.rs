//! Snapshot tests of every response shape the API sends: each route's
//! success answer and the error body, taken from a real server delivering to
//! a real receiver and compared with the `.snap` files in `snapshots/`.
//!
//! A snapshot records the status and the whole JSON body, so adding,
//! renaming or removing a field (or changing a status) fails the test until
//! the snapshot is reviewed (`cargo insta review`) and committed. What
//! differs from run to run (ids, times, secrets, request ids, ports, page
//! tokens, durations, signature headers) is redacted, but only when it is a
//! string: a field that is `null` stays `null` in the snapshot, so an
//! optional field that starts being filled (or stops) is a change too.

use std::time::Duration;

use insta::internals::{Content, ContentPath};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Receiver, Reply, TestServer, ADMIN, KEY};

const WAIT: Duration = Duration::from_secs(15);

/// Replaces a string value with `label`; leaves `null`, numbers and
/// structures alone so their shape stays in the snapshot, and map keys too
/// (a wildcard selector is also offered each key, as `.$key`).
fn string_as(label: &'static str) -> impl Fn(Content, ContentPath<'_>) -> Content {
    move |value, path| match value.as_str() {
        Some(_) if !path.to_string().ends_with(".$key") => Content::from(label),
        _ => value,
    }
}

/// Replaces a number with `label`; leaves `null` alone.
fn number_as(label: &'static str) -> impl Fn(Content, ContentPath<'_>) -> Content {
    move |value, _| match value {
        Content::None | Content::Unit => value,
        Content::Some(ref inner) if matches!(**inner, Content::None | Content::Unit) => value,
        _ => Content::from(label),
    }
}

/// Keeps a URL's shape but not the receiver's (random) port.
fn url_without_port(value: Content, _: ContentPath<'_>) -> Content {
    match value.as_str() {
        Some(url) => Content::from(redact_port(url)),
        None => value,
    }
}

/// `http://127.0.0.1:PORT/x` → `http://127.0.0.1:[port]/x`.
fn redact_port(url: &str) -> String {
    let Some(at) = url.find("127.0.0.1:") else {
        return url.to_owned();
    };
    let start = at + "127.0.0.1:".len();
    let digits = url[start..].bytes().take_while(u8::is_ascii_digit).count();
    format!("{}[port]{}", &url[..start], &url[start + digits..])
}

/// The redactions every snapshot here is taken with.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_sort_maps(true);
    s.set_prepend_module_to_snapshot(false);
    let strings: &[(&str, &'static str)] = &[
        // Ids (minted from the clock and randomness).
        (".**.id", "[id]"),
        (".**.eventId", "[id]"),
        (".**.webhookEndpointId", "[id]"),
        (".**.event_id", "[id]"),
        (".**.webhook_id", "[id]"),
        (".**.delivery_id", "[id]"),
        (".**.requestId", "[request id]"),
        (".**.nextPageToken", "[page token]"),
        // Times.
        (".**.createdAt", "[time]"),
        (".**.created_at", "[time]"),
        (".**.nextAttemptAt", "[time]"),
        (".**.startedAt", "[time]"),
        (".**.since", "[time]"),
        (".**.start", "[time]"),
        (".**.until", "[time]"),
        (".**.newSecretActiveAt", "[time]"),
        (".**.previousSecretExpiresAt", "[time]"),
        (".**.expiresAt", "[time]"),
        // Secrets and keys.
        (".**.signingSecret", "[secret]"),
        (".**.secret", "[secret]"),
        (".**.key", "[api key]"),
        (".**.prefix", "[api key prefix]"),
        // What an attempt sent and got: signatures, timestamps, the
        // delivered body (its own ids and times) and the receiver's headers.
        // Full paths: a deep wildcard only compares as many trailing
        // segments as the path has, so `.**.a.b.*` would match `.x` too.
        (".body.attempts[].request.headers.*", "[header]"),
        (".body.attempts[].request.body", "[body]"),
        (".body.attempts[].responseHeaders.*", "[header]"),
    ];
    for (selector, label) in strings {
        s.add_redaction(selector, insta::dynamic_redaction(string_as(label)));
    }
    s.add_redaction(".**.durationMs", "[ms]");
    // Latencies measured: a number is redacted, `null` (no attempts) kept.
    for selector in [".**.latencyP50Ms", ".**.latencyP95Ms"] {
        s.add_redaction(selector, insta::dynamic_redaction(number_as("[ms]")));
    }
    s.add_redaction(".**.url", insta::dynamic_redaction(url_without_port));
    s
}

/// Asserts the snapshot `name` of an answer (status and body).
fn snap(name: &str, status: u16, body: &Value) {
    let answer = json!({ "status": status, "body": body });
    settings().bind(|| insta::assert_json_snapshot!(name, answer));
}

async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, v, _) = s.request(method, path, key, body).await;
    (status.as_u16(), v)
}

/// Calls a route with [`KEY`] and snapshots the answer; returns its body.
async fn snap_call(
    s: &TestServer,
    name: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, v) = call(s, method, path, Some(KEY), body).await;
    snap(name, status, &v);
    v
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("id in {v}"))
        .to_owned()
}

#[tokio::test]
async fn health_shapes() {
    let s = TestServer::start().await;
    for route in ["healthz", "readyz"] {
        let (status, v) = call(&s, Method::GET, &format!("/{route}"), None, None).await;
        snap(route, status, &v);
    }
}

#[tokio::test]
async fn endpoint_shapes() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let created = snap_call(
        &s,
        "endpoint_create",
        Method::POST,
        "/webhook_endpoints",
        Some(json!({
            "url": format!("{}/hooks", r.url),
            "name": "snapshot endpoint",
            "enabledEvents": ["extract_run.processed"],
            "apiVersion": "2026-02-09",
        })),
    )
    .await;
    let ep = id(&created);
    snap_call(
        &s,
        "endpoint_get",
        Method::GET,
        &format!("/webhook_endpoints/{ep}"),
        None,
    )
    .await;
    snap_call(&s, "endpoint_list", Method::GET, "/webhook_endpoints", None).await;
    snap_call(
        &s,
        "endpoint_update",
        Method::POST,
        &format!("/webhook_endpoints/{ep}"),
        Some(json!({"name": "renamed", "rateLimitPerSecond": 5})),
    )
    .await;
    snap_call(
        &s,
        "endpoint_rotate_secret",
        Method::POST,
        &format!("/webhook_endpoints/{ep}/rotate_secret"),
        Some(json!({"graceSeconds": 60})),
    )
    .await;
    let test = snap_call(
        &s,
        "endpoint_test",
        Method::POST,
        &format!("/webhook_endpoints/{ep}/test"),
        Some(json!({})),
    )
    .await;
    s.wait_delivery(&id(&test), WAIT, |d| d["status"] == "succeeded")
        .await;
    snap_call(
        &s,
        "endpoint_recover",
        Method::POST,
        &format!("/webhook_endpoints/{ep}/recover"),
        Some(json!({"since": "2000-01-01T00:00:00Z"})),
    )
    .await;
    snap_call(
        &s,
        "endpoint_delete",
        Method::DELETE,
        &format!("/webhook_endpoints/{ep}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn subscription_shapes() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = id(&s.endpoint(&r.url, &[], json!({})).await);
    let sub = snap_call(
        &s,
        "subscription_create",
        Method::POST,
        "/webhook_subscriptions",
        Some(json!({
            "webhookEndpointId": ep,
            "resourceType": "workflow",
            "resourceId": "workflow_123",
            "enabledEvents": ["workflow_run.completed"],
        })),
    )
    .await;
    let sub = id(&sub);
    snap_call(
        &s,
        "subscription_get",
        Method::GET,
        &format!("/webhook_subscriptions/{sub}"),
        None,
    )
    .await;
    snap_call(
        &s,
        "subscription_list",
        Method::GET,
        "/webhook_subscriptions",
        None,
    )
    .await;
    snap_call(
        &s,
        "subscription_update",
        Method::POST,
        &format!("/webhook_subscriptions/{sub}"),
        Some(json!({"enabledEvents": ["workflow_run.completed", "workflow_run.failed"]})),
    )
    .await;
    snap_call(
        &s,
        "subscription_delete",
        Method::DELETE,
        &format!("/webhook_subscriptions/{sub}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn event_and_delivery_shapes() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(&r.url, &["extract_run.processed"], json!({}))
        .await;
    let event = snap_call(
        &s,
        "event_publish",
        Method::POST,
        "/events",
        Some(json!({
            "eventType": "extract_run.processed",
            "payload": {"runId": "run_1", "status": "PROCESSED"},
            "idempotencyKey": "snapshot-1",
        })),
    )
    .await;
    let ev = id(&event);
    let delivery = s.delivery_of(&ev).await;
    let d = id(&delivery);
    s.wait_delivery(&d, WAIT, |d| d["status"] == "succeeded")
        .await;
    // One event of the batch is refused, so both item shapes are recorded.
    snap_call(
        &s,
        "event_batch",
        Method::POST,
        "/events/batch",
        Some(json!({"events": [
            {"eventType": "extract_run.processed", "payload": {"id": "run_2"}},
            {"eventType": "nope.nothing", "payload": {"id": "run_3"}},
        ]})),
    )
    .await;
    s.wait_settled(WAIT).await;
    snap_call(&s, "event_get", Method::GET, &format!("/events/{ev}"), None).await;
    snap_call(&s, "event_list", Method::GET, "/events?maxPageSize=1", None).await;
    snap_call(
        &s,
        "delivery_get",
        Method::GET,
        &format!("/webhook_deliveries/{d}"),
        None,
    )
    .await;
    snap_call(
        &s,
        "delivery_list",
        Method::GET,
        &format!("/webhook_deliveries?eventId={ev}"),
        None,
    )
    .await;
    snap_call(
        &s,
        "delivery_retry",
        Method::POST,
        &format!("/webhook_deliveries/{d}/retry"),
        Some(json!({})),
    )
    .await;
    snap_call(&s, "event_types", Method::GET, "/event_types", None).await;
}

#[tokio::test]
async fn stats_shapes() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let created = s
        .endpoint(&r.url, &["extract_run.processed"], json!({}))
        .await;
    let ep = id(&created);
    let event = s
        .publish("extract_run.processed", json!({"runId": "run_1"}))
        .await;
    let d = id(&s.delivery_of(&id(&event)).await);
    s.wait_delivery(&d, WAIT, |d| d["status"] == "succeeded")
        .await;
    // A window without attempts: every bucket, zero, no latency.
    snap_call(
        &s,
        "stats_workspace",
        Method::GET,
        "/stats?since=2026-03-01T00:00:00Z&until=2026-03-01T03:00:00Z",
        None,
    )
    .await;
    // The last day: the one attempt's bucket. The others are left out of
    // the snapshot, since how many there are depends on the time of day.
    let (status, mut v) = call(
        &s,
        Method::GET,
        &format!("/webhook_endpoints/{ep}/stats?bucket=day"),
        Some(KEY),
        None,
    )
    .await;
    let data = v["data"].as_array_mut().expect("data");
    data.retain(|b| b["total"] != 0);
    snap("stats_endpoint", status, &v);
}

#[tokio::test]
async fn admin_shapes() {
    let s = TestServer::start().await;
    let (status, ws) = call(
        &s,
        Method::POST,
        "/workspaces",
        Some(ADMIN),
        Some(json!({"name": "snapshots"})),
    )
    .await;
    snap("workspace_create", status, &ws);
    let admin = |method: Method, path: &str| {
        s.http
            .request(method, format!("{}{path}", s.url))
            .bearer_auth(ADMIN)
            .header("x-extend-workspace-id", ws["id"].as_str().unwrap())
    };
    let answer = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.expect("JSON answer"))
    };
    let (status, key) = answer(
        admin(Method::POST, "/api_keys")
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    snap("api_key_create", status, &key);
    let (status, list) = answer(admin(Method::GET, "/api_keys").send().await.unwrap()).await;
    snap("api_key_list", status, &list);
    let (status, revoked) = answer(
        admin(Method::DELETE, &format!("/api_keys/{}", id(&key)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    snap("api_key_revoke", status, &revoked);
}

#[tokio::test]
async fn portal_shapes() {
    let s = TestServer::start().await;
    let (status, mut link) = call(
        &s,
        Method::POST,
        "/portal_sessions",
        Some(KEY),
        Some(json!({"expiresInSeconds": 600, "readOnly": true})),
    )
    .await;
    // The token is random: keep the URL's shape, not its token.
    let url = link["url"].as_str().expect("url").to_owned();
    let prefix = format!("{}/dashboard/portal/", s.url);
    let token = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    assert_eq!(token.len(), 43, "{url}");
    link["url"] = json!(format!("{prefix}[token]"));
    snap("portal_session_create", status, &link);
}

#[tokio::test]
async fn v1_shapes() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let created = snap_call(
        &s,
        "v1_create",
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": format!("{}/v1", r.url), "events": ["user.created"]})),
    )
    .await;
    let wh = id(&created);
    snap_call(&s, "v1_list", Method::GET, "/v1/webhooks", None).await;
    snap_call(
        &s,
        "v1_get",
        Method::GET,
        &format!("/v1/webhooks/{wh}"),
        None,
    )
    .await;
    snap_call(
        &s,
        "v1_patch",
        Method::PATCH,
        &format!("/v1/webhooks/{wh}"),
        Some(json!({"events": ["user.created", "user.updated"]})),
    )
    .await;
    snap_call(
        &s,
        "v1_test",
        Method::POST,
        "/v1/webhooks/test",
        Some(json!({"webhook_id": wh, "event_type": "user.created"})),
    )
    .await;
    s.wait_settled(WAIT).await;
    snap_call(
        &s,
        "v1_delete",
        Method::DELETE,
        &format!("/v1/webhooks/{wh}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn error_shapes() {
    let s = TestServer::start_with(|c| c.max_event_bytes = 2048).await;
    // 400: a body that is not JSON.
    let resp = s
        .http
        .post(format!("{}/events", s.url))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    snap(
        "error_400_invalid_json",
        status,
        &resp.json().await.unwrap(),
    );
    // 400: a well-formed body the route refuses.
    let (status, v) = call(
        &s,
        Method::POST,
        "/events/batch",
        Some(KEY),
        Some(json!({"events": []})),
    )
    .await;
    snap("error_400_invalid_request", status, &v);
    let (status, v) = call(&s, Method::GET, "/webhook_endpoints", None, None).await;
    snap("error_401", status, &v);
    let (status, v) = call(
        &s,
        Method::GET,
        "/webhook_endpoints/webhook_endpoint_01J00000000000000000000000",
        Some(KEY),
        None,
    )
    .await;
    snap("error_404", status, &v);
    let (status, v) = call(&s, Method::GET, "/no/such/route", Some(KEY), None).await;
    snap("error_404_route", status, &v);
    let (status, v) = call(
        &s,
        Method::PUT,
        "/webhook_endpoints",
        Some(KEY),
        Some(json!({})),
    )
    .await;
    snap("error_405", status, &v);
    let (status, v) = call(
        &s,
        Method::POST,
        "/events",
        Some(KEY),
        Some(json!({"eventType": "nope.nothing", "payload": {}})),
    )
    .await;
    snap("error_422", status, &v);
    let (status, v) = call(
        &s,
        Method::POST,
        "/events",
        Some(KEY),
        Some(json!({"eventType": "extract_run.processed", "payload": {"blob": "x".repeat(4096)}})),
    )
    .await;
    snap("error_413", status, &v);
    let (status, v) = call(&s, Method::GET, "/payloads/not-a-token", None, None).await;
    snap("error_403_payload_link", status, &v);
}

/// The optional parts the other tests leave empty: an endpoint with every
/// option set, a failed attempt (error, response body), a disabled endpoint,
/// and the payload behind a signed link.
#[tokio::test]
async fn filled_in_shapes() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Body(500, "receiver down".into())).await;
    let created = snap_call(
        &s,
        "endpoint_create_with_options",
        Method::POST,
        "/webhook_endpoints",
        Some(json!({
            "url": format!("{}/opts", r.url),
            "name": "every option",
            "enabledEvents": ["extract_run.processed"],
            "apiVersion": "2026-02-09",
            "signatureScheme": "standard-webhooks",
            "retrySchedule": [],
            "rateLimitPerSecond": 10,
            "advancedOptions": {
                "headers": {"X-Tenant": "acme"},
                "payload": {"format": "url", "urlThresholdBytes": 10},
            },
        })),
    )
    .await;
    let ep = id(&created);
    let event = s
        .publish(
            "extract_run.processed",
            json!({"object": "extract_run", "runId": "run_big", "output": "y".repeat(100)}),
        )
        .await;
    let d = id(&s.delivery_of(&id(&event)).await);
    s.wait_delivery(&d, WAIT, |d| d["status"] == "failed").await;
    snap_call(
        &s,
        "delivery_get_failed",
        Method::GET,
        &format!("/webhook_deliveries/{d}"),
        None,
    )
    .await;

    // The delivered body carries a signed link instead of the payload.
    let got = r.wait_for(1, WAIT).await;
    let link = got[0].json()["payload"]["data"]
        .as_str()
        .expect("signed link")
        .to_owned();
    let resp = reqwest::get(&link).await.expect("GET signed link");
    let status = resp.status().as_u16();
    snap("payload_fetch", status, &resp.json().await.expect("JSON"));

    snap_call(
        &s,
        "endpoint_disable",
        Method::POST,
        &format!("/webhook_endpoints/{ep}"),
        Some(json!({"status": "disabled"})),
    )
    .await;
}

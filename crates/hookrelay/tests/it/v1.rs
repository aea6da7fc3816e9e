//! The v1 webhooks API — its envelope, body-HMAC signatures, retry
//! schedule, disable-after-exhaustion, and a shared history.

use std::time::Duration;

use hookrelay_webhooks::{verify, Profile, VerifyOptions};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{eventually, Receiver, Reply, TestServer, KEY};

const WAIT: Duration = Duration::from_secs(15);

async fn call(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (st, v, _) = s.request(method, path, Some(KEY), body).await;
    (st.as_u16(), v)
}

#[tokio::test]
async fn v1_webhooks_can_be_created_listed_patched_and_deleted() {
    let s = TestServer::start().await;
    let (st, w) = call(
        &s,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/v1", "events": ["user.created", "user.updated"], "secret": "my-own-secret-0123456789"})),
    )
    .await;
    assert_eq!(st, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"), "{id}");
    assert_eq!(w["url"], "http://127.0.0.1:9/v1");
    assert_eq!(w["events"], json!(["user.created", "user.updated"]));
    assert_eq!(w["status"], "enabled");
    assert!(w["created_at"].is_string());
    assert_eq!(w["secret"], "my-own-secret-0123456789");

    let (st, gen) = call(
        &s,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/g", "events": ["payment.failed"]})),
    )
    .await;
    assert_eq!(st, 201);
    assert!(
        gen["secret"].as_str().unwrap().len() >= 32,
        "a generated secret is returned"
    );

    let (st, v) = call(
        &s,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/x", "events": ["extract_run.processed"]})),
    )
    .await;
    assert_eq!(st, 422, "Extend events are not v1 events: {v}");
    let (st, _) = call(
        &s,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/x", "events": [], "secret": "short"})),
    )
    .await;
    assert_eq!(st, 400);

    let (st, list) = call(&s, Method::GET, "/v1/webhooks", None).await;
    assert_eq!(st, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(list["data"][0].get("secret").is_none());
    // They are endpoints like any other.
    let (st, ep) = s.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(ep["signatureScheme"], "body-hmac");
    assert_eq!(ep["apiVersion"], "v1");

    let (st, p) = call(
        &s,
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        Some(json!({"events": ["resource.deleted"], "status": "disabled"})),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["events"], json!(["resource.deleted"]));
    assert_eq!(p["status"], "disabled");
    assert_eq!(p["url"], "http://127.0.0.1:9/v1");
    let (st, d) = call(&s, Method::DELETE, &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(d["id"], id.as_str());
    let (st, _) = call(&s, Method::GET, &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn v1_deliveries_use_the_v1_envelope_and_body_hmac() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let secret = "whsecret-for-the-v1-test-000";
    let (_, w) = call(
        &s,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": format!("{}/v1", r.url), "events": ["user.updated"], "secret": secret})),
    )
    .await;
    let (st, ev) = s
        .post(
            "/events",
            json!({"eventType": "user.updated", "payload": {"id": "usr_1", "name": "New"}, "previousData": {"name": "Old"}}),
        )
        .await;
    assert_eq!(st, 202, "{ev}");
    let got = r.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["id"], ev["id"]);
    assert_eq!(body["type"], "user.updated");
    assert_eq!(
        body["data"]["object"],
        json!({"id": "usr_1", "name": "New"})
    );
    assert_eq!(body["previous_data"], json!({"name": "Old"}));
    assert!(body["created_at"].is_string());
    let sig = got[0].header("x-webhook-signature").unwrap();
    assert_eq!(
        sig,
        hookrelay_webhooks::signing::body_hmac_signature(secret, &got[0].body)
    );
    verify(
        Profile::BodyHmac,
        &got[0].body,
        &got[0].header_pairs(),
        secret,
        &VerifyOptions::default(),
    )
    .unwrap();
    // The same history as every endpoint.
    let ds = s
        .deliveries(&format!("webhookEndpointId={}", w["id"].as_str().unwrap()))
        .await;
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0]["eventType"], "user.updated");

    // A test event through the v1 route.
    let (st, t) = call(
        &s,
        Method::POST,
        "/v1/webhooks/test",
        Some(json!({"webhook_id": w["id"], "event_type": "user.updated"})),
    )
    .await;
    assert_eq!(st, 202, "{t}");
    let got = r.wait_for(2, WAIT).await;
    assert_eq!(got[1].json()["type"], "user.updated");
    assert!(got[1].json()["data"]["object"].is_object());
}

#[tokio::test]
async fn v1_retries_follow_its_schedule_and_exhaustion_disables_the_webhook() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Status(500)).await;
    let (_, w) = call(
        &s,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": format!("{}/v1", r.url), "events": ["payment.failed"]})),
    )
    .await;
    let id = w["id"].as_str().unwrap().to_owned();
    let ev = s.publish("payment.failed", json!({"id": "pay_1"})).await;
    let d = s.delivery_of(ev["id"].as_str().unwrap()).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| d["attemptCount"] == 1)
        .await;
    // Immediately, then after 1 minute (±10 % jitter).
    let next = hookrelay_core::time::Timestamp::parse_rfc3339(d["nextAttemptAt"].as_str().unwrap())
        .unwrap();
    let first = hookrelay_core::time::Timestamp::parse_rfc3339(
        d["attempts"][0]["startedAt"].as_str().unwrap(),
    )
    .unwrap();
    let wait = next.millis() - first.millis();
    assert!((53_000..=67_000).contains(&wait), "{wait} ms");

    // Five failed attempts of one delivery disable the webhook. Shorten the
    // schedule through the Extend-compatible route to see it happen.
    let (st, _) = s
        .post(
            &format!("/webhook_endpoints/{id}"),
            json!({"retrySchedule": [1, 1, 1, 1]}),
        )
        .await;
    assert_eq!(st, 200);
    let ev = s.publish("payment.failed", json!({"id": "pay_2"})).await;
    let d = s.delivery_of(ev["id"].as_str().unwrap()).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| d["status"] == "failed")
        .await;
    assert_eq!(d["attemptCount"], 5);
    let w = eventually(WAIT, || async {
        let (_, w) = call(&s, Method::GET, &format!("/v1/webhooks/{id}"), None).await;
        if w["status"] == "disabled" {
            Ok(w)
        } else {
            Err(format!("not disabled: {w}"))
        }
    })
    .await;
    assert_eq!(w["disabled_reason"], "failing");
}

//! Input limits and quotas: nesting depth, the whole event's size, string
//! lengths, per-workspace quotas, and the cap on stored response headers.
//! Every refusal is a 4xx in the error shape, names its limit, and stores
//! nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Backend, Receiver, Reply, TestServer, ADMIN, KEY};

/// POSTs a raw body with [`KEY`]; returns the status and the JSON answer.
async fn post_raw(s: &TestServer, path: &str, body: String) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}{}", s.url, path))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON answer"))
}

/// `n` nested arrays around `inner`.
fn nested(n: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(n), "]".repeat(n))
}

/// Asserts a refusal in the error shape whose message names all of `words`
/// and quotes nothing long.
fn assert_refused(status: u16, v: &Value, want: u16, code: &str, words: &[&str]) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["retryable"], false, "{v}");
    assert!(v["requestId"].is_string(), "{v}");
    let msg = v["message"].as_str().unwrap();
    for w in words {
        assert!(msg.contains(w), "{msg:?} does not name {w:?}");
    }
    assert!(
        msg.len() < 400,
        "the message echoes the input: {} bytes",
        msg.len()
    );
}

async fn event_count(s: &TestServer) -> usize {
    let (status, v) = s.get("/events?maxPageSize=1000").await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn sqlite_json_nested_deeper_than_128_is_refused_anywhere_in_a_body() {
    json_nested_deeper_than_128_is_refused_anywhere_in_a_body(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_json_nested_deeper_than_128_is_refused_anywhere_in_a_body() {
    json_nested_deeper_than_128_is_refused_anywhere_in_a_body(Backend::Postgres).await;
}

async fn json_nested_deeper_than_128_is_refused_anywhere_in_a_body(backend: Backend) {
    let Some(s) = TestServer::on(backend, |_| {}).await else {
        return;
    };
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let deep = nested(100_000, "1");
    let bodies = [
        (
            "/events",
            format!(r#"{{"eventType":"extract_run.processed","payload":{{"a":{deep}}}}}"#),
        ),
        (
            "/events",
            format!(
                r#"{{"eventType":"extract_run.processed","payload":{{}},"previousData":{{"a":{}}}}}"#,
                nested(200, "")
            ),
        ),
        (
            "/events/batch",
            format!(
                r#"{{"events":[{{"eventType":"extract_run.processed","payload":{{}}}},{{"eventType":"extract_run.processed","payload":{{"a":{}}}}}]}}"#,
                nested(130, "")
            ),
        ),
        (
            "/webhook_endpoints",
            format!(
                r#"{{"url":"{}/x","name":"n","enabledEvents":[],"apiVersion":"2026-02-09","extra":{deep}}}"#,
                r.url
            ),
        ),
    ];
    for (path, body) in bodies {
        let (status, v) = post_raw(&s, path, body).await;
        assert_refused(status, &v, 400, "invalid_json", &["128"]);
    }
    assert_eq!(event_count(&s).await, 0, "nothing stored");
    let (_, eps) = s.get("/webhook_endpoints").await;
    assert_eq!(eps["data"].as_array().unwrap().len(), 1);

    // At the limit: the body nests 128 deep (the payload 127), with
    // brackets in strings that must not count.
    let payload = format!(r#"{{"s":"[[[[{{{{","a":{}}}"#, nested(126, r#""]]]""#));
    let body = format!(r#"{{"eventType":"extract_run.processed","payload":{payload}}}"#);
    let (status, v) = post_raw(&s, "/events", body).await;
    assert_eq!(status, 202, "{v}");
    let got = r.wait_for(1, Duration::from_secs(10)).await;
    let delivered = String::from_utf8(got[0].body.to_vec()).unwrap();
    assert!(delivered.contains(&payload), "delivered whole: {delivered}");
}

/// Found by the event_intake fuzz target (FUZZING.md): a body with anything
/// after its JSON value, such as two events where one is expected, was
/// accepted and the rest silently dropped.
#[tokio::test]
async fn anything_after_the_json_body_is_refused() {
    let s = TestServer::start().await;
    let one = r#"{"eventType":"extract_run.processed","payload":{"id":"a"}}"#;
    let batch = format!(r#"{{"events":[{one}]}}"#);
    for (path, body) in [
        ("/events", format!("{one}, {one}")),
        ("/events", format!("{one}{one}")),
        ("/events", format!("{one} trailing")),
        ("/events/batch", format!("{batch}, {batch}")),
        ("/events/batch", format!("{batch}]")),
        (
            "/webhook_endpoints",
            r#"{"url":"https://example.com/x","name":"n","enabledEvents":[],"apiVersion":"2026-02-09"} {}"#.to_owned(),
        ),
    ] {
        let (status, v) = post_raw(&s, path, body).await;
        assert_refused(status, &v, 400, "invalid_json", &["trailing"]);
    }
    assert_eq!(event_count(&s).await, 0, "nothing stored");
    // Whitespace after the value is still fine.
    let (status, v) = post_raw(&s, "/events", format!("{one}\r\n ")).await;
    assert_eq!(status, 202, "{v}");
}

#[tokio::test]
async fn sqlite_previous_data_counts_toward_the_event_size_limit() {
    previous_data_counts_toward_the_event_size_limit(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_previous_data_counts_toward_the_event_size_limit() {
    previous_data_counts_toward_the_event_size_limit(Backend::Postgres).await;
}

async fn previous_data_counts_toward_the_event_size_limit(backend: Backend) {
    // The default limit (1 MiB), as in the report: a batch item whose
    // previousData alone is over it.
    let Some(s) = TestServer::on(backend, |_| {}).await else {
        return;
    };
    let big = "x".repeat(1536 * 1024);
    let (status, v) = s
        .post(
            "/events/batch",
            json!({"events": [
                {"eventType": "extract_run.processed", "payload": {"id": 1},
                 "previousData": {"blob": big}},
                {"eventType": "extract_run.processed", "payload": {"id": 2}},
                // Each half under the limit, the two together over it.
                {"eventType": "extract_run.processed", "payload": {"blob": "y".repeat(600 * 1024)},
                 "previousData": {"blob": "z".repeat(600 * 1024)}},
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    for i in [0, 2] {
        let err = &v["data"][i]["error"];
        assert_eq!(err["code"], "payload_too_large", "{err}");
        let msg = err["message"].as_str().unwrap();
        assert!(
            msg.contains("1048576") && msg.contains("previousData"),
            "{msg}"
        );
    }
    assert_eq!(v["data"][1]["object"], "event");
    assert_eq!(event_count(&s).await, 1, "only the item within the limit");
}

#[tokio::test]
async fn every_string_field_has_a_maximum_length() {
    let s = TestServer::start().await;
    let ep = s
        .endpoint(
            "http://127.0.0.1:9/hook",
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let (status, v1) = s
        .post(
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/v1", "events": ["user.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{v1}");
    let v1_id = v1["id"].as_str().unwrap().to_owned();

    let huge = "h".repeat(100_000);
    let endpoint = |field: &str, value: Value| {
        let mut b = json!({"url": "http://127.0.0.1:9/x", "name": "n",
            "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09"});
        b[field] = value;
        b
    };
    let event = |field: &str, value: Value| {
        let mut b = json!({"eventType": "extract_run.processed", "payload": {}});
        b[field] = value;
        b
    };
    // (method, path, body, words the message must contain)
    let cases: Vec<(Method, String, Option<Value>, &[&str])> = vec![
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint("name", json!("n".repeat(257)))),
            &["name", "256"],
        ),
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint("url", json!(format!("http://127.0.0.1:9/{huge}")))),
            &["url", "2048"],
        ),
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint("apiVersion", json!(huge))),
            &["apiVersion", "64"],
        ),
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint(
                "enabledEvents",
                json!(vec!["extract_run.processed"; 257]),
            )),
            &["enabledEvents", "256"],
        ),
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint("enabledEvents", json!([huge]))),
            &["enabledEvents", "128"],
        ),
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint(
                "advancedOptions",
                json!({"headers": {"x-a": huge}}),
            )),
            &["advancedOptions.headers", "4096"],
        ),
        (
            Method::POST,
            "/webhook_endpoints".into(),
            Some(endpoint(
                "advancedOptions",
                json!({"headers": {huge.clone(): "v"}}),
            )),
            &["advancedOptions.headers", "256"],
        ),
        (
            Method::POST,
            format!("/webhook_endpoints/{ep_id}"),
            Some(json!({"name": huge})),
            &["name", "256"],
        ),
        (
            Method::POST,
            format!("/webhook_endpoints/{ep_id}"),
            Some(json!({"apiVersion": huge})),
            &["apiVersion", "64"],
        ),
        (
            Method::POST,
            format!("/webhook_endpoints/{ep_id}/test"),
            Some(json!({"eventType": huge})),
            &["eventType", "128"],
        ),
        (
            Method::POST,
            format!("/webhook_endpoints/{ep_id}/recover"),
            Some(json!({"since": huge})),
            &["since", "64"],
        ),
        (
            Method::POST,
            "/webhook_subscriptions".into(),
            Some(
                json!({"webhookEndpointId": ep_id, "resourceType": "workflow", "resourceId": "r".repeat(257), "enabledEvents": ["workflow_run.completed"]}),
            ),
            &["resourceId", "256"],
        ),
        (
            Method::POST,
            "/webhook_subscriptions".into(),
            Some(
                json!({"webhookEndpointId": huge, "resourceType": "workflow", "resourceId": "r", "enabledEvents": []}),
            ),
            &["webhookEndpointId", "128"],
        ),
        (
            Method::POST,
            "/events".into(),
            Some(event("eventType", json!("e".repeat(129)))),
            &["eventType", "128"],
        ),
        (
            Method::POST,
            "/events".into(),
            Some(event(
                "resource",
                json!({"type": "workflow", "id": "r".repeat(257)}),
            )),
            &["resource.id", "256"],
        ),
        (
            Method::POST,
            "/events".into(),
            Some(event("resource", json!({"type": huge, "id": "r"}))),
            &["resource.type", "64"],
        ),
        (
            Method::POST,
            "/events".into(),
            Some(event("idempotencyKey", json!("k".repeat(256)))),
            &["idempotencyKey", "255"],
        ),
        (
            Method::POST,
            "/v1/webhooks".into(),
            Some(
                json!({"url": "http://127.0.0.1:9/v", "events": ["user.created"], "description": huge}),
            ),
            &["description", "256"],
        ),
        (
            Method::POST,
            "/v1/webhooks".into(),
            Some(
                json!({"url": "http://127.0.0.1:9/v", "events": ["user.created"], "secret": huge}),
            ),
            &["secret", "256"],
        ),
        (
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({"url": "http://127.0.0.1:9/v", "events": vec!["user.created"; 257]})),
            &["events", "256"],
        ),
        (
            Method::PATCH,
            format!("/v1/webhooks/{v1_id}"),
            Some(json!({"description": huge})),
            &["description", "256"],
        ),
        (
            Method::POST,
            "/v1/webhooks/test".into(),
            Some(json!({"webhook_id": huge})),
            &["webhook_id", "128"],
        ),
        (
            Method::POST,
            "/v1/webhooks/test".into(),
            Some(json!({"webhook_id": v1_id, "event_type": huge})),
            &["event_type", "128"],
        ),
        (
            Method::POST,
            "/api_keys".into(),
            Some(json!({"name": huge})),
            &["name", "256"],
        ),
        (
            Method::GET,
            format!("/event_types?apiVersion={}", "v".repeat(5000)),
            None,
            &["apiVersion", "64"],
        ),
        (
            Method::GET,
            format!("/events?eventType={}", "e".repeat(5000)),
            None,
            &["eventType", "128"],
        ),
        (
            Method::GET,
            format!("/webhook_deliveries?since={}", "2".repeat(5000)),
            None,
            &["since", "64"],
        ),
        (
            Method::GET,
            format!("/webhook_subscriptions?resourceId={}", "r".repeat(5000)),
            None,
            &["resourceId", "256"],
        ),
    ];
    for (method, path, body, words) in cases {
        let (status, v, _) = s.request(method.clone(), &path, Some(KEY), body).await;
        let shown: String = path.chars().take(60).collect();
        assert_eq!(status, 400, "{method} {shown}: {v}");
        assert_refused(status.as_u16(), &v, 400, "invalid_request", words);
    }
    let (status, v, _) = s
        .request(
            Method::POST,
            "/workspaces",
            Some(ADMIN),
            Some(json!({"name": huge})),
        )
        .await;
    assert_refused(
        status.as_u16(),
        &v,
        400,
        "invalid_request",
        &["name", "256"],
    );
    // In a batch, an item over a limit fails alone.
    let (status, v) = s
        .post(
            "/events/batch",
            json!({"events": [
                {"eventType": huge, "payload": {}},
                {"eventType": "extract_run.processed", "payload": {}},
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let msg = v["data"][0]["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("eventType") && msg.contains("128") && msg.len() < 400,
        "{msg}"
    );
    assert_eq!(v["data"][1]["object"], "event");

    // A huge string where another type belongs: serde_json's message quotes
    // it, the answer does not.
    let (status, v) = s
        .post("/webhook_endpoints", endpoint("retrySchedule", json!(huge)))
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().len() < 1100, "{v}");

    // Nothing was stored by any refusal.
    let (_, eps) = s.get("/webhook_endpoints").await;
    assert_eq!(eps["data"].as_array().unwrap().len(), 2, "{eps}");
    assert_eq!(
        s.get(&format!("/webhook_endpoints/{ep_id}")).await.1["name"],
        ep["name"]
    );
    let (_, subs) = s.get("/webhook_subscriptions").await;
    assert!(subs["data"].as_array().unwrap().is_empty());
    assert_eq!(event_count(&s).await, 1, "the batch's good item only");
    let (_, keys) = s.get("/api_keys").await;
    assert_eq!(
        keys["data"].as_array().unwrap().len(),
        1,
        "the bootstrap key only"
    );
}

#[tokio::test]
async fn endpoint_quota_counts_live_endpoints_of_both_apis() {
    let s = TestServer::start_with(|c| c.max_endpoints_per_workspace = 2).await;
    let first = s
        .endpoint(
            "http://127.0.0.1:9/a",
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    let (status, v1) = s
        .post(
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/v1", "events": ["user.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{v1}");
    let body = json!({"url": "http://127.0.0.1:9/b", "name": "b",
        "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09"});
    let (status, v) = s.post("/webhook_endpoints", body.clone()).await;
    assert_refused(
        status.as_u16(),
        &v,
        422,
        "quota_exceeded",
        &["2", "endpoints"],
    );
    let (status, v) = s
        .post(
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/v2", "events": ["user.created"]}),
        )
        .await;
    assert_refused(
        status.as_u16(),
        &v,
        422,
        "quota_exceeded",
        &["2", "endpoints"],
    );
    let (_, eps) = s.get("/webhook_endpoints").await;
    assert_eq!(eps["data"].as_array().unwrap().len(), 2);

    // A deleted endpoint does not count.
    let (status, _) = s
        .delete(&format!(
            "/webhook_endpoints/{}",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    let (status, v) = s.post("/webhook_endpoints", body.clone()).await;
    assert_eq!(status, 200, "{v}");

    // Another workspace has a quota of its own.
    let (_, ws, _) = s
        .request(
            Method::POST,
            "/workspaces",
            Some(ADMIN),
            Some(json!({"name": "other"})),
        )
        .await;
    let resp = s
        .http
        .post(format!("{}/webhook_endpoints", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", ws["id"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn concurrent_endpoint_creates_stop_at_the_quota() {
    let s = TestServer::start_with(|c| c.max_endpoints_per_workspace = 5).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (http, url) = (s.http.clone(), format!("{}/webhook_endpoints", s.url));
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(KEY)
                .json(
                    &json!({"url": format!("http://127.0.0.1:9/{i}"), "name": "n",
                    "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09"}),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [[200; 5].as_slice(), &[422; 15]].concat());
    let (_, eps) = s.get("/webhook_endpoints").await;
    assert_eq!(eps["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn subscription_quota_refuses_new_ones_and_allows_updates() {
    let s = TestServer::start_with(|c| c.max_subscriptions_per_workspace = 2).await;
    let ep = s
        .endpoint(
            "http://127.0.0.1:9/a",
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    let sub = |resource: &str, event: &str| {
        json!({"webhookEndpointId": ep["id"], "resourceType": "workflow",
            "resourceId": resource, "enabledEvents": [event]})
    };
    for r in ["wf_1", "wf_2"] {
        let (status, v) = s
            .post("/webhook_subscriptions", sub(r, "workflow_run.completed"))
            .await;
        assert_eq!(status, 200, "{v}");
    }
    // The same endpoint and resource again is an update, quota or not.
    let (status, v) = s
        .post("/webhook_subscriptions", sub("wf_1", "workflow_run.failed"))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["enabledEvents"], json!(["workflow_run.failed"]));
    let (status, v) = s
        .post(
            "/webhook_subscriptions",
            sub("wf_3", "workflow_run.completed"),
        )
        .await;
    assert_refused(
        status.as_u16(),
        &v,
        422,
        "quota_exceeded",
        &["2", "subscriptions"],
    );
    let (_, subs) = s.get("/webhook_subscriptions").await;
    assert_eq!(subs["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn custom_header_quota_applies_to_creates_and_header_updates() {
    let s = TestServer::start_with(|c| c.max_headers_per_endpoint = 2).await;
    let headers = |n: usize| -> Value {
        let m: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("x-h{i}"), json!("v"))).collect();
        json!({"headers": m})
    };
    let (status, v) = s
        .post(
            "/webhook_endpoints",
            json!({"url": "http://127.0.0.1:9/a", "name": "a",
                "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09",
                "advancedOptions": headers(3)}),
        )
        .await;
    assert_refused(
        status.as_u16(),
        &v,
        422,
        "quota_exceeded",
        &["2", "custom headers"],
    );
    let ep = s
        .endpoint(
            "http://127.0.0.1:9/a",
            &["extract_run.processed"],
            json!({"advancedOptions": headers(2)}),
        )
        .await;
    let path = format!("/webhook_endpoints/{}", ep["id"].as_str().unwrap());
    let (status, v) = s.post(&path, json!({"advancedOptions": headers(3)})).await;
    assert_refused(
        status.as_u16(),
        &v,
        422,
        "quota_exceeded",
        &["2", "custom headers"],
    );
    let (_, stored) = s.get(&path).await;
    assert_eq!(stored["advancedOptions"], headers(2), "unchanged");
    let (status, v) = s.post(&path, json!({"name": "renamed"})).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn stored_response_headers_are_capped() {
    let s = TestServer::start().await;
    // 80 headers of 400 bytes: more of them, and more bytes, than are kept.
    let many: Vec<(&'static str, String)> = (0..80)
        .map(|i| {
            let name: &'static str = Box::leak(format!("x-r{i:02}").into_boxed_str());
            (name, "v".repeat(400))
        })
        .collect();
    let r = Receiver::start_replying(Reply::WithHeaders(200, many)).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": 1})).await;
    let d = s.delivery_of(ev["id"].as_str().unwrap()).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), Duration::from_secs(10), |d| {
            d["status"] == "succeeded"
        })
        .await;
    let headers = d["attempts"][0]["responseHeaders"].as_object().unwrap();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.len() + v.as_str().unwrap().len())
        .sum();
    assert!(headers.len() <= 64, "{} headers kept", headers.len());
    assert!(bytes <= 16 * 1024, "{bytes} bytes kept");
    assert!(bytes > 15 * 1024, "the cap, not less: {bytes} bytes kept");
    assert_eq!(headers["x-r00"], "v".repeat(400), "the first ones whole");
}

//! `/webhook_endpoints` — fields, validation against the catalog,
//! pagination, updates, deletion, and the secret shown only once.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::TestServer;

const URL: &str = "http://127.0.0.1:9/hook";

#[tokio::test]
async fn create_returns_the_object_and_the_secret_only_once() {
    let s = TestServer::start().await;
    let ep = s
        .endpoint(
            "http://127.0.0.1:9/hook?tenant=a",
            &["extract_run.processed", "workflow.deployed"],
            json!({"advancedOptions": {"headers": {"X-Tenant": "acme"}, "payload": {"format": "json"}}}),
        )
        .await;
    assert_eq!(ep["object"], "webhook_endpoint");
    assert!(ep["id"].as_str().unwrap().starts_with("webhook_endpoint_"));
    assert_eq!(ep["status"], "enabled");
    assert_eq!(ep["apiVersion"], "2026-02-09");
    assert_eq!(ep["signatureScheme"], "extend");
    assert_eq!(ep["retrySchedule"], Value::Null);
    assert_eq!(ep["disabledReason"], Value::Null);
    assert_eq!(ep["createdBy"]["type"], "api_key");
    assert_eq!(ep["advancedOptions"]["headers"]["X-Tenant"], "acme");
    assert_eq!(ep["url"], "http://127.0.0.1:9/hook?tenant=a");
    let secret = ep["signingSecret"].as_str().unwrap();
    assert!(secret.starts_with("wss_") && secret.len() >= 36, "{secret}");

    let id = ep["id"].as_str().unwrap();
    let (status, got) = s.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert!(got.get("signingSecret").is_none(), "secret only on create");
    let (_, list) = s.get("/webhook_endpoints").await;
    assert!(list["data"][0].get("signingSecret").is_none());
    // Two endpoints never share a secret.
    let other = s.endpoint(URL, &["extract_run.processed"], json!({})).await;
    assert_ne!(other["signingSecret"], ep["signingSecret"]);
}

#[tokio::test]
async fn the_same_url_may_be_registered_once_per_version() {
    let s = TestServer::start().await;
    let a = s.endpoint(URL, &["extract_run.processed"], json!({})).await;
    let b = s
        .endpoint(
            URL,
            &["processor_run.processed"],
            json!({"apiVersion": "2025-04-21"}),
        )
        .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["apiVersion"], "2025-04-21");
}

async fn create_err(s: &TestServer, body: Value) -> (u16, Value) {
    let (status, v) = s.post("/webhook_endpoints", body).await;
    (status.as_u16(), v)
}

#[tokio::test]
async fn events_are_validated_against_the_endpoints_version() {
    let s = TestServer::start().await;
    let base = |events: Value, version: &str| json!({"url": URL, "name": "n", "enabledEvents": events, "apiVersion": version});
    // Legacy endpoints use legacy names; current names do not exist there.
    let (status, v) = create_err(&s, base(json!(["extract_run.processed"]), "2025-04-21")).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["code"], "invalid_event_type");
    let (status, v) = create_err(&s, base(json!(["edit_run.processed"]), "2025-04-21")).await;
    assert_eq!(status, 422, "no legacy name: {v}");
    let (status, _) = create_err(
        &s,
        base(
            json!(["processor_run.processed", "parser_run.failed"]),
            "2025-04-21",
        ),
    )
    .await;
    assert_eq!(status, 200);
    // Current endpoints do not know legacy names.
    let (status, _) = create_err(&s, base(json!(["processor_run.processed"]), "2026-02-09")).await;
    assert_eq!(status, 422);
    // Resource-scoped events cannot be enabled globally.
    let (status, v) = create_err(&s, base(json!(["workflow_run.completed"]), "2026-02-09")).await;
    assert_eq!(status, 422);
    assert!(
        v["message"].as_str().unwrap().contains("subscription"),
        "{v}"
    );
    let (status, _) = create_err(&s, base(json!(["no_such.event"]), "2026-02-09")).await;
    assert_eq!(status, 422);
    let (status, v) = create_err(&s, base(json!([]), "1999-01-01")).await;
    assert_eq!(status, 400, "{v}");
}

#[tokio::test]
async fn bad_fields_are_rejected_with_clear_errors() {
    let s = TestServer::start().await;
    let ok = json!({"url": URL, "name": "n", "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    for (body, code) in [
        (with("url", json!("not a url")), 400),
        (with("url", json!("ftp://example.com/x")), 400),
        (with("url", json!("https://user:pw@example.com/x")), 400),
        (
            with(
                "url",
                json!(format!("https://example.com/{}", "a".repeat(2100))),
            ),
            400,
        ),
        (with("name", json!("")), 400),
        (
            with(
                "advancedOptions",
                json!({"headers": {"X-Extend-Request-Signature": "x"}}),
            ),
            400,
        ),
        (
            with(
                "advancedOptions",
                json!({"headers": {"Content-Type": "text/plain"}}),
            ),
            400,
        ),
        (
            with("advancedOptions", json!({"headers": {"bad name": "x"}})),
            400,
        ),
        (with("retrySchedule", json!([0])), 400),
        (with("rateLimitPerSecond", json!(0)), 400),
        (with("signatureScheme", json!("rot13")), 400),
        (with("status", json!("paused")), 400),
        (
            json!({"name": "n", "enabledEvents": [], "apiVersion": "2026-02-09"}),
            400,
        ),
    ] {
        let (status, v) = create_err(&s, body.clone()).await;
        assert_eq!(status, code, "{body} -> {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(v["requestId"].is_string());
    }
    let (_, list) = s.get("/webhook_endpoints").await;
    assert!(
        list["data"].as_array().unwrap().is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn https_is_required_outside_dev_mode() {
    let s = TestServer::start_with(|c| {
        c.dev = false;
        c.allow_private_destinations = false;
    })
    .await;
    let (status, v) = s
        .post(
            "/webhook_endpoints",
            json!({"url": "http://example.com/hook", "name": "n", "enabledEvents": [], "apiVersion": "2026-02-09"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("https"));
    let (status, _) = s
        .post(
            "/webhook_endpoints",
            json!({"url": "https://example.com/hook", "name": "n", "enabledEvents": [], "apiVersion": "2026-02-09"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn updates_are_partial_and_validated() {
    let s = TestServer::start().await;
    let ep = s
        .endpoint(
            URL,
            &["extract_run.processed"],
            json!({"retrySchedule": [1, 2], "rateLimitPerSecond": 5}),
        )
        .await;
    let id = ep["id"].as_str().unwrap();
    let (status, v) = s
        .post(
            &format!("/webhook_endpoints/{id}"),
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["url"], URL, "absent fields are unchanged");
    assert_eq!(v["enabledEvents"], json!(["extract_run.processed"]));
    assert_eq!(v["retrySchedule"], json!([1, 2]));

    let (_, v) = s
        .post(
            &format!("/webhook_endpoints/{id}"),
            json!({"status": "disabled", "enabledEvents": ["split_run.failed"], "retrySchedule": null}),
        )
        .await;
    assert_eq!(v["status"], "disabled");
    assert_eq!(v["disabledReason"], "manual");
    assert_eq!(
        v["retrySchedule"],
        Value::Null,
        "null resets to the server default"
    );
    assert_eq!(v["rateLimitPerSecond"], 5);
    assert_eq!(v["enabledEvents"], json!(["split_run.failed"]));

    let (status, v) = s
        .post(
            &format!("/webhook_endpoints/{id}"),
            json!({"enabledEvents": ["workflow_run.completed"]}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (_, v) = s
        .post(
            &format!("/webhook_endpoints/{id}"),
            json!({"status": "enabled"}),
        )
        .await;
    assert_eq!(v["status"], "enabled");
    assert_eq!(v["disabledReason"], Value::Null);
    let (_, got) = s.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(
        got["enabledEvents"],
        json!(["split_run.failed"]),
        "the failed update changed nothing"
    );
}

#[tokio::test]
async fn delete_answers_the_id_then_404() {
    let s = TestServer::start().await;
    let ep = s.endpoint(URL, &["extract_run.processed"], json!({})).await;
    let id = ep["id"].as_str().unwrap();
    let (status, v) = s.delete(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"id": id}));
    let (status, _) = s.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = s.delete(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = s.get("/webhook_endpoints/webhook_endpoint_nonsense").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lists_page_with_tokens_in_both_directions_and_filter_by_status() {
    let s = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let status = if i % 3 == 0 { "disabled" } else { "enabled" };
        let ep = s
            .endpoint(URL, &["extract_run.processed"], json!({"status": status}))
            .await;
        created.push(ep["id"].as_str().unwrap().to_owned());
    }
    for dir in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/webhook_endpoints?maxPageSize=3&sortDir={dir}");
            if let Some(t) = &token {
                path.push_str(&format!("&nextPageToken={t}"));
            }
            let (status, page) = s.get(&path).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["object"], "list");
            pages += 1;
            for e in page["data"].as_array().unwrap() {
                seen.push(e["id"].as_str().unwrap().to_owned());
            }
            match page["nextPageToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let mut expected = created.clone();
        if dir == "desc" {
            expected.reverse();
        }
        assert_eq!(
            seen, expected,
            "{dir}: every endpoint once, in creation order"
        );
    }
    let (_, default) = s.get("/webhook_endpoints").await;
    assert_eq!(default["data"][0]["id"], created[6], "desc by default");
    let (_, disabled) = s.get("/webhook_endpoints?status=disabled").await;
    let ids: HashSet<_> = disabled["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [&created[0], &created[3], &created[6]]
            .iter()
            .map(|s| s.as_str())
            .collect()
    );

    for bad in [
        "maxPageSize=0",
        "maxPageSize=1001",
        "sortDir=up",
        "nextPageToken=garbage",
        "status=paused",
    ] {
        let (status, v) = s.get(&format!("/webhook_endpoints?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    // A token made for one direction is not accepted for the other.
    let (_, page) = s.get("/webhook_endpoints?maxPageSize=2&sortDir=asc").await;
    let t = page["nextPageToken"].as_str().unwrap();
    let (status, _) = s
        .get(&format!(
            "/webhook_endpoints?sortDir=desc&nextPageToken={t}"
        ))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn event_types_list_the_catalog_per_version() {
    let s = TestServer::start().await;
    let (status, cur) = s.get("/event_types").await;
    assert_eq!(status, 200);
    assert_eq!(cur["apiVersion"], "2026-02-09");
    let names: HashSet<String> = cur["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    for n in [
        "extract_run.processed",
        "workflow_run.step_run.processed",
        "splitter.version.published",
        "batch_parse_run.failed",
    ] {
        assert!(names.contains(n), "{n}");
    }
    let (_, legacy) = s.get("/event_types?apiVersion=2025-04-21").await;
    let legacy_events = legacy["data"].as_array().unwrap();
    let extract = legacy_events
        .iter()
        .find(|e| e["canonicalName"] == "extract_run.processed")
        .expect("extract runs exist in the legacy version");
    assert_eq!(extract["name"], "processor_run.processed");
    assert_eq!(extract["examplePayload"]["object"], "processor_run");
    assert_eq!(extract["examplePayload"]["type"], "EXTRACT");
    assert!(!legacy_events
        .iter()
        .any(|e| e["canonicalName"] == "edit_run.processed"));
    for e in cur["data"].as_array().unwrap() {
        assert!(e["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(e["examplePayload"].is_object());
    }
    let (status, _) = s.get("/event_types?apiVersion=1999-01-01").await;
    assert_eq!(status, 400);
}

//! Publishing, idempotency, batches, fan-out and per-version rendering.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{verify_extend, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn publish_answers_202_and_delivers_the_extend_body() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    let payload =
        json!({"object": "extract_run", "id": "extract_run_1", "output": {"total": 12.5}});
    let ev = s.publish("extract_run.processed", payload.clone()).await;
    assert_eq!(ev["object"], "event");
    assert!(ev["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(ev["eventType"], "extract_run.processed");
    assert_eq!(ev["deliveryCount"], 1);
    assert!(ev["createdAt"].is_string());

    let got = r.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(
        body,
        json!({"eventId": ev["id"], "eventType": "extract_run.processed", "payload": payload})
    );
    assert_eq!(
        got[0].header("content-type").as_deref(),
        Some("application/json")
    );
    verify_extend(&got[0], ep["signingSecret"].as_str().unwrap()).expect("signature verifies");
}

#[tokio::test]
async fn fan_out_reaches_each_matching_endpoint_once() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    // a: global + subscription (must get ONE copy); b: subscription on the same
    // extractor; c: subscription on another extractor; d: disabled; e: other events.
    let a = s
        .endpoint(
            &format!("{}/a", r.url),
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    let b = s.endpoint(&format!("{}/b", r.url), &[], json!({})).await;
    let c = s.endpoint(&format!("{}/c", r.url), &[], json!({})).await;
    let _d = s
        .endpoint(
            &format!("{}/d", r.url),
            &["extract_run.processed"],
            json!({"status": "disabled"}),
        )
        .await;
    let _e = s
        .endpoint(&format!("{}/e", r.url), &["extract_run.failed"], json!({}))
        .await;
    for (ep, rid) in [(&a, "ex_1"), (&b, "ex_1"), (&c, "ex_2")] {
        let (status, v) = s
            .post(
                "/webhook_subscriptions",
                json!({"webhookEndpointId": ep["id"], "resourceType": "extractor", "resourceId": rid, "enabledEvents": ["extract_run.processed"]}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, ev) = s
        .post(
            "/events",
            json!({"eventType": "extract_run.processed", "payload": {"id": "run_1"}, "resource": {"type": "extractor", "id": "ex_1"}}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(ev["deliveryCount"], 2);
    r.wait_for(2, WAIT).await;
    // An event without a resource reaches only global subscribers.
    let ev2 = s
        .publish("extract_run.processed", json!({"id": "run_2"}))
        .await;
    assert_eq!(ev2["deliveryCount"], 1);
    let got = r.wait_for(3, WAIT).await;
    // Every delivery made has its outcome: nothing more is on its way.
    assert_eq!(s.wait_settled(WAIT).await.len(), 3);
    let got_after = r.received();
    assert_eq!(
        got_after.len(),
        3,
        "no extra deliveries: {:?}",
        got_after
            .iter()
            .map(|g| &g.path_and_query)
            .collect::<Vec<_>>()
    );
    let mut by_path: HashMap<String, usize> = HashMap::new();
    for g in &got {
        *by_path.entry(g.path_and_query.clone()).or_default() += 1;
    }
    assert_eq!(by_path.get("/a"), Some(&2), "a: once per event");
    assert_eq!(by_path.get("/b"), Some(&1));
    assert_eq!(by_path.get("/c"), None);
    assert_eq!(by_path.get("/d"), None, "disabled endpoints get nothing");
    assert_eq!(by_path.get("/e"), None);

    let (_, detail) = s
        .get(&format!("/events/{}", ev["id"].as_str().unwrap()))
        .await;
    assert_eq!(detail["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(
        detail["resource"],
        json!({"type": "extractor", "id": "ex_1"})
    );
    assert_eq!(detail["payload"], json!({"id": "run_1"}));
}

/// Events to many endpoints take the store's fan-out path on SQLite (one
/// fan-out row, delivered through the poller's claims); events to few are
/// handed to the dispatcher in memory. One batch mixing both answers in
/// order, and every endpoint gets each of its events once, signed.
#[tokio::test]
async fn wide_and_narrow_events_in_one_batch_each_reach_every_endpoint_once() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let mut secrets = HashMap::new();
    for i in 0..6 {
        let ep = s
            .endpoint(
                &format!("{}/wide/{i}", r.url),
                &["extract_run.processed"],
                json!({}),
            )
            .await;
        secrets.insert(
            format!("/wide/{i}"),
            ep["signingSecret"].as_str().unwrap().to_owned(),
        );
    }
    let narrow = s
        .endpoint(
            &format!("{}/narrow", r.url),
            &["split_run.failed"],
            json!({}),
        )
        .await;
    secrets.insert(
        "/narrow".into(),
        narrow["signingSecret"].as_str().unwrap().to_owned(),
    );
    let (status, v) = s
        .post(
            "/events/batch",
            json!({"events": [
                {"eventType": "extract_run.processed", "payload": {"id": "w1"}, "idempotencyKey": "k"},
                {"eventType": "split_run.failed", "payload": {"id": "n1"}},
                {"eventType": "extract_run.processed", "payload": {"id": "w2"}},
                {"eventType": "split_run.failed", "payload": {"id": "dup"}, "idempotencyKey": "k"}
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(data[0]["deliveryCount"], 6);
    assert_eq!(data[1]["deliveryCount"], 1);
    assert_eq!(data[2]["deliveryCount"], 6);
    assert_eq!(
        data[3]["id"], data[0]["id"],
        "the first use of the key wins"
    );

    let got = r.wait_for(13, WAIT).await;
    assert_eq!(s.wait_settled(WAIT).await.len(), 13);
    assert_eq!(r.received().len(), 13, "no extra deliveries");
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for g in &got {
        verify_extend(g, &secrets[&g.path_and_query]).expect("signature verifies");
        let id = g.json()["payload"]["id"].as_str().unwrap().to_owned();
        *seen.entry((g.path_and_query.clone(), id)).or_default() += 1;
    }
    for i in 0..6 {
        for id in ["w1", "w2"] {
            assert_eq!(
                seen.get(&(format!("/wide/{i}"), id.to_owned())),
                Some(&1),
                "{i} {id}"
            );
        }
    }
    assert_eq!(seen.get(&("/narrow".to_owned(), "n1".to_owned())), Some(&1));

    // The history shows each wide event's six deliveries, succeeded.
    let id = data[2]["id"].as_str().unwrap();
    let (_, detail) = s.get(&format!("/events/{id}")).await;
    let ds = detail["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 6, "{detail}");
    for d in ds {
        assert_eq!(d["status"], "succeeded", "{detail}");
    }
}

#[tokio::test]
async fn legacy_endpoints_get_legacy_names_and_fields() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let legacy = s
        .endpoint(
            &format!("{}/legacy", r.url),
            &["processor_run.processed", "parser_run.failed"],
            json!({"apiVersion": "2025-04-21"}),
        )
        .await;
    let current = s
        .endpoint(
            &format!("{}/current", r.url),
            &["classify_run.processed"],
            json!({}),
        )
        .await;
    let ev = s
        .publish(
            "classify_run.processed",
            json!({"object": "classify_run", "id": "cr_1", "status": "PROCESSED"}),
        )
        .await;
    assert_eq!(ev["deliveryCount"], 2);
    s.publish(
        "parse_run.failed",
        json!({"object": "parse_run_status", "id": "pr_1"}),
    )
    .await;
    let got = r.wait_for(3, WAIT).await;
    let find = |path: &str, id: &str| {
        got.iter()
            .find(|g| g.path_and_query == path && g.json()["payload"]["id"] == id)
            .unwrap_or_else(|| panic!("{path} {id}"))
            .clone()
    };
    let l = find("/legacy", "cr_1");
    let lb = l.json();
    assert_eq!(lb["eventType"], "processor_run.processed");
    assert_eq!(lb["payload"]["object"], "processor_run");
    assert_eq!(lb["payload"]["type"], "CLASSIFY");
    assert_eq!(lb["payload"]["status"], "PROCESSED", "other fields kept");
    assert_eq!(lb["eventId"], ev["id"], "same event id for every endpoint");
    verify_extend(&l, legacy["signingSecret"].as_str().unwrap()).unwrap();
    let c = find("/current", "cr_1");
    assert_eq!(c.json()["eventType"], "classify_run.processed");
    assert_eq!(c.json()["payload"]["object"], "classify_run");
    verify_extend(&c, current["signingSecret"].as_str().unwrap()).unwrap();
    let p = find("/legacy", "pr_1").json();
    assert_eq!(p["eventType"], "parser_run.failed");
    assert_eq!(p["payload"]["object"], "parser_run");
    // The history shows the rendered type per delivery.
    let ds = s
        .deliveries(&format!("eventId={}", ev["id"].as_str().unwrap()))
        .await;
    let types: Vec<_> = ds
        .iter()
        .map(|d| d["eventType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"processor_run.processed") && types.contains(&"classify_run.processed"),
        "{types:?}"
    );
}

#[tokio::test]
async fn idempotency_keys_return_the_first_event_and_fan_out_nothing_new() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    let (status, first) = s
        .post("/events", json!({"eventType": "extract_run.processed", "payload": {"id": "a"}, "idempotencyKey": "order-1"}))
        .await;
    assert_eq!(status, 202);
    let (status, again) = s
        .post("/events", json!({"eventType": "extract_run.processed", "payload": {"id": "b"}, "idempotencyKey": "order-1"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(again["id"], first["id"]);
    // The header form.
    let send = || {
        s.http
            .post(format!("{}/events", s.url))
            .bearer_auth(crate::support::KEY)
            .header("Idempotency-Key", "order-2")
            .json(&json!({"eventType": "extract_run.processed", "payload": {"id": "c"}}))
            .send()
    };
    let h1: Value = send().await.unwrap().json().await.unwrap();
    let resp = send().await.unwrap();
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    let h2: Value = resp.json().await.unwrap();
    assert_eq!(h1["id"], h2["id"]);
    r.wait_for(2, WAIT).await;
    assert_eq!(s.wait_settled(WAIT).await.len(), 2);
    assert_eq!(r.received().len(), 2, "one delivery per key");
    let (_, events) = s.get("/events").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn batches_answer_in_order_and_bad_items_stand_alone() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed", "split_run.failed"],
        json!({}),
    )
    .await;
    let (status, v) = s
        .post(
            "/events/batch",
            json!({"events": [
                {"eventType": "extract_run.processed", "payload": {"id": "1"}},
                {"eventType": "nope.nothing", "payload": {"id": "2"}},
                {"eventType": "split_run.failed", "payload": "not an object"},
                {"eventType": "split_run.failed", "payload": {"id": "4"}},
                {"payload": {"id": "5"}},
                {"eventType": "extract_run.processed", "payload": {"id": "6"}, "idempotencyKey": "k"},
                {"eventType": "extract_run.processed", "payload": {"id": "7"}, "idempotencyKey": "k"}
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 7);
    assert_eq!(data[0]["object"], "event");
    assert_eq!(data[1]["error"]["code"], "unknown_event_type");
    assert_eq!(data[2]["error"]["code"], "invalid_request");
    assert_eq!(data[3]["eventType"], "split_run.failed");
    assert_eq!(data[4]["error"]["code"], "invalid_request");
    assert_eq!(
        data[5]["id"], data[6]["id"],
        "idempotency holds inside one batch"
    );
    let got = r.wait_for(3, WAIT).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|g| g.json()["payload"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["1", "4", "6"]);

    let (status, _) = s.post("/events/batch", json!({"events": []})).await;
    assert_eq!(status, 400);
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"eventType": "extract_run.processed", "payload": {}}))
        .collect();
    let (status, _) = s.post("/events/batch", json!({"events": too_many})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn publishing_validates_input() {
    let s = TestServer::start().await;
    for (body, status, code) in [
        (
            json!({"eventType": "nope", "payload": {}}),
            422,
            "unknown_event_type",
        ),
        (
            json!({"eventType": "processor_run.processed", "payload": {}}),
            422,
            "unknown_event_type",
        ),
        (
            json!({"eventType": "extract_run.processed", "payload": [1]}),
            400,
            "invalid_request",
        ),
        (
            json!({"eventType": "extract_run.processed"}),
            400,
            "invalid_request",
        ),
        (
            json!({"eventType": "extract_run.processed", "payload": {}, "resource": {"type": "", "id": "x"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"eventType": "user.updated", "payload": {}, "previousData": 5}),
            400,
            "invalid_request",
        ),
    ] {
        let (got, v) = s.post("/events", body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body}: {v}");
        assert_eq!(v["code"], code, "{body}: {v}");
    }
    let (_, events) = s.get("/events").await;
    assert!(
        events["data"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn events_can_be_listed_and_read_back() {
    let s = TestServer::start().await;
    let a = s.publish("extract_run.processed", json!({"id": "a"})).await;
    let b = s.publish("split_run.failed", json!({"id": "b"})).await;
    let (_, all) = s.get("/events").await;
    let ids: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, vec![b["id"].clone(), a["id"].clone()]);
    let (_, filtered) = s.get("/events?eventType=split_run.failed").await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    let (status, one) = s
        .get(&format!("/events/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["payload"], json!({"id": "a"}));
    assert_eq!(one["deliveries"], json!([]));
    let (status, _) = s.get("/events/evt_01J00000000000000000000000").await;
    assert_eq!(status, 404);
}

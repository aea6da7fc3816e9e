//! Delivery history, manual retry, recovery, test events, auto-disable
//! and cancellation on delete.

use std::time::Duration;

use serde_json::{json, Value};

use hookrelay_core::time::{Clock, SystemClock};

use crate::support::{eventually, verify_extend, Receiver, Reply, TestServer};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_delivery_shows_every_attempt_with_request_and_response() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    r.script(vec![Reply::Body(500, "boom".into())]);
    r.set_default(Reply::Body(200, "thanks".into()));
    let ep = s
        .endpoint(
            &format!("{}/hook?q=1", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": [1], "advancedOptions": {"headers": {"X-A": "b"}}}),
        )
        .await;
    let ev = s
        .publish("extract_run.processed", json!({"id": "run_9"}))
        .await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "succeeded")
        .await;
    assert_eq!(d["object"], "webhook_delivery");
    assert_eq!(d["eventId"], ev["id"]);
    assert_eq!(d["webhookEndpointId"], ep["id"]);
    assert_eq!(d["eventType"], "extract_run.processed");
    assert_eq!(d["test"], false);
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    let (first, second) = (&attempts[0], &attempts[1]);
    assert_eq!(first["attemptNumber"], 1);
    assert_eq!(second["attemptNumber"], 2);
    assert_eq!(first["responseStatus"], 500);
    assert_eq!(first["responseBody"], "boom");
    assert_eq!(first["errorKind"], "http_status");
    assert!(first["errorMessage"].as_str().unwrap().contains("500"));
    assert_eq!(second["responseBody"], "thanks");
    assert!(second["responseHeaders"]["content-length"].is_string());
    assert_eq!(first["request"]["url"], format!("{}/hook?q=1", r.url));
    // A custom header is recorded by name; its value is not kept.
    assert_eq!(first["request"]["headers"]["x-a"], "***");
    // The recorded request is what the receiver got (the custom header's
    // real value included).
    let got = r.received();
    assert_eq!(got[0].header("x-a").as_deref(), Some("b"));
    assert_eq!(
        first["request"]["body"].as_str().unwrap().as_bytes(),
        &got[0].body[..]
    );
    assert_eq!(
        first["request"]["headers"]["x-extend-request-signature"].as_str(),
        got[0].header("x-extend-request-signature").as_deref()
    );
    assert!(first["startedAt"].is_string() && first["durationMs"].is_u64());
}

#[tokio::test]
async fn deliveries_filter_by_endpoint_event_type_status_and_time() {
    let s = TestServer::start().await;
    let ok = Receiver::start().await;
    let bad = Receiver::start_replying(Reply::Status(500)).await;
    let a = s
        .endpoint(
            &format!("{}/a", ok.url),
            &["extract_run.processed", "split_run.failed"],
            json!({}),
        )
        .await;
    let b = s
        .endpoint(
            &format!("{}/b", bad.url),
            &["extract_run.processed"],
            json!({"retrySchedule": []}),
        )
        .await;
    let e1 = s.publish("extract_run.processed", json!({"id": "1"})).await;
    let e2 = s.publish("split_run.failed", json!({"id": "2"})).await;
    ok.wait_for(2, WAIT).await;
    let b_id = b["id"].as_str().unwrap();
    let b_delivery = s.deliveries(&format!("webhookEndpointId={b_id}")).await;
    assert_eq!(b_delivery.len(), 1);
    s.wait_delivery(b_delivery[0]["id"].as_str().unwrap(), WAIT, |d| {
        d["status"] == "failed"
    })
    .await;

    // The receiver has both of a's deliveries; their outcomes may still be
    // on their way to the database.
    s.wait_deliveries("status=succeeded", WAIT, |ds| ds.len() >= 2)
        .await;
    let count = |v: Vec<Value>| v.len();
    assert_eq!(count(s.deliveries("").await), 3);
    assert_eq!(
        count(
            s.deliveries(&format!("webhookEndpointId={}", a["id"].as_str().unwrap()))
                .await
        ),
        2
    );
    assert_eq!(
        count(
            s.deliveries(&format!("eventId={}", e1["id"].as_str().unwrap()))
                .await
        ),
        2
    );
    assert_eq!(
        count(
            s.deliveries(&format!("eventId={}", e2["id"].as_str().unwrap()))
                .await
        ),
        1
    );
    assert_eq!(count(s.deliveries("eventType=split_run.failed").await), 1);
    assert_eq!(count(s.deliveries("status=failed").await), 1);
    assert_eq!(count(s.deliveries("status=succeeded").await), 2);
    assert_eq!(count(s.deliveries("since=2000-01-01T00:00:00Z").await), 3);
    assert_eq!(count(s.deliveries("until=2000-01-01T00:00:00Z").await), 0);
    assert_eq!(count(s.deliveries("webhookEndpointId=not_an_id").await), 0);
    let (status, _) = s.get("/webhook_deliveries?status=lost").await;
    assert_eq!(status, 400);
    let (status, _) = s.get("/webhook_deliveries?since=yesterday").await;
    assert_eq!(status, 400);
    let (_, page) = s.get("/webhook_deliveries?maxPageSize=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(
        page["data"][0].get("attempts").is_none(),
        "lists omit attempts"
    );
    assert!(page["nextPageToken"].is_string());
}

#[tokio::test]
async fn manual_retry_sends_a_succeeded_delivery_again_with_a_new_signature() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
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
    s.wait_delivery(&id, WAIT, |d| d["status"] == "succeeded")
        .await;
    // Signatures carry whole seconds: the retry is signed in a later one.
    let first = r.received()[0]
        .header("x-extend-request-timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .expect("a timestamp header");
    eventually(WAIT, || async {
        let now = SystemClock.now().secs();
        if now > first {
            Ok(())
        } else {
            Err(format!("still second {now}"))
        }
    })
    .await;
    let (status, v) = s
        .post(&format!("/webhook_deliveries/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "pending");
    let got = r.wait_for(2, WAIT).await;
    assert_eq!(got[0].body, got[1].body);
    assert_ne!(
        got[0].header("x-extend-request-timestamp"),
        got[1].header("x-extend-request-timestamp")
    );
    verify_extend(&got[1], ep["signingSecret"].as_str().unwrap()).unwrap();
    let d = s
        .wait_delivery(&id, WAIT, |d| {
            d["attemptCount"] == 2 && d["status"] == "succeeded"
        })
        .await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 2);
    let (status, _) = s
        .post(
            "/webhook_deliveries/webhook_delivery_01J00000000000000000000000/retry",
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn recover_requeues_failed_deliveries_in_the_window() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Status(500)).await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": []}),
        )
        .await;
    let ep_id = ep["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let ev = s.publish("extract_run.processed", json!({"id": i})).await;
        ids.push(
            s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        s.wait_delivery(id, WAIT, |d| d["status"] == "failed").await;
    }
    r.set_default(Reply::Status(200));
    // A window in the future matches nothing.
    let (status, v) = s
        .post(
            &format!("/webhook_endpoints/{ep_id}/recover"),
            json!({"since": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        status, 400,
        "until defaults to now, which is before since: {v}"
    );
    let (status, v) = s
        .post(
            &format!("/webhook_endpoints/{ep_id}/recover"),
            json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["requeued"], 3);
    for id in &ids {
        let d = s
            .wait_delivery(id, WAIT, |d| d["status"] == "succeeded")
            .await;
        assert_eq!(d["attemptCount"], 2);
    }
    let (status, _) = s
        .post(&format!("/webhook_endpoints/{ep_id}/recover"), json!({}))
        .await;
    assert_eq!(status, 400, "since is required");
}

#[tokio::test]
async fn test_events_use_the_catalog_example_and_are_marked() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(&format!("{}/hook", r.url), &["split_run.failed"], json!({}))
        .await;
    let legacy = s
        .endpoint(
            &format!("{}/legacy", r.url),
            &["processor_run.failed"],
            json!({"apiVersion": "2025-04-21", "status": "disabled"}),
        )
        .await;
    let (status, d) = s
        .post(
            &format!("/webhook_endpoints/{}/test", ep["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{d}");
    assert_eq!(d["test"], true);
    assert_eq!(
        d["eventType"], "split_run.failed",
        "defaults to an enabled event"
    );
    let got = r.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["eventType"], "split_run.failed");
    assert_eq!(body["payload"]["object"], "split_run");
    verify_extend(&got[0], ep["signingSecret"].as_str().unwrap()).unwrap();
    let done = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| {
            d["status"] == "succeeded"
        })
        .await;
    assert_eq!(done["test"], true);

    // A named type, in the endpoint's own version; disabled endpoints can be tested.
    let (status, d2) = s
        .post(
            &format!("/webhook_endpoints/{}/test", legacy["id"].as_str().unwrap()),
            json!({"eventType": "processor_run.failed"}),
        )
        .await;
    assert_eq!(status, 202, "{d2}");
    let got = r.wait_for(2, WAIT).await;
    let body = got[1].json();
    assert_eq!(body["eventType"], "processor_run.failed");
    assert_eq!(body["payload"]["object"], "processor_run");
    let (status, _) = s
        .post(
            &format!("/webhook_endpoints/{}/test", ep["id"].as_str().unwrap()),
            json!({"eventType": "nope"}),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn endpoints_that_keep_failing_are_disabled() {
    let s = TestServer::start_with(|c| c.auto_disable_after = Duration::from_millis(1500)).await;
    let r = Receiver::start_replying(Reply::Status(500)).await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": [1, 1, 1, 1]}),
        )
        .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    let e = eventually(WAIT, || async {
        let (_, e) = s.get(&format!("/webhook_endpoints/{id}")).await;
        if e["status"] == "disabled" {
            Ok(e)
        } else {
            Err(format!("never disabled: {e}"))
        }
    })
    .await;
    assert_eq!(e["disabledReason"], "failing");
    let before = r.received().len();
    let ev = s.publish("extract_run.processed", json!({"id": "y"})).await;
    assert_eq!(ev["deliveryCount"], 0, "disabled endpoints get nothing");
    // That nothing more arrives is what is under test: watch for a while
    // (longer than the one-second retry delay).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        r.received().len() <= before + 1,
        "at most the attempt already in flight"
    );
    let text = s.metrics().await;
    assert!(
        text.contains("hookrelay_endpoints_auto_disabled_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn deleting_an_endpoint_cancels_its_pending_deliveries_and_keeps_history() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Status(500)).await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": [3600]}),
        )
        .await;
    let ep_id = ep["id"].as_str().unwrap();
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_delivery(&id, WAIT, |d| d["attemptCount"] == 1).await;
    s.delete(&format!("/webhook_endpoints/{ep_id}")).await;
    let d = s.delivery(&id).await;
    assert_eq!(d["status"], "cancelled");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 1, "history stays");
    assert_eq!(
        s.deliveries(&format!("webhookEndpointId={ep_id}"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn retention_purges_finished_history_but_keeps_pending_work() {
    let s = TestServer::start_with(|c| {
        c.retention = Duration::from_millis(800);
        c.purge_interval = Duration::from_millis(200);
    })
    .await;
    let ok = Receiver::start().await;
    let down = Receiver::start_replying(Reply::Status(500)).await;
    s.endpoint(
        &format!("{}/ok", ok.url),
        &["extract_run.processed"],
        json!({}),
    )
    .await;
    s.endpoint(
        &format!("{}/down", down.url),
        &["split_run.failed"],
        json!({"retrySchedule": [3600]}),
    )
    .await;
    let done = s
        .publish("extract_run.processed", json!({"id": "old"}))
        .await;
    let pending = s
        .publish("split_run.failed", json!({"id": "waiting"}))
        .await;
    ok.wait_for(1, WAIT).await;
    let pending_delivery = s.delivery_of(pending["id"].as_str().unwrap()).await;
    eventually(WAIT, || async {
        let (status, _) = s
            .get(&format!("/events/{}", done["id"].as_str().unwrap()))
            .await;
        if status == 404 {
            Ok(())
        } else {
            Err("old history was never purged".to_owned())
        }
    })
    .await;
    assert!(s.deliveries("status=succeeded").await.is_empty());
    // A delivery still waiting for a retry, and its event, stay.
    let d = s.delivery(pending_delivery["id"].as_str().unwrap()).await;
    assert_eq!(d["status"], "pending");
    let (status, _) = s
        .get(&format!("/events/{}", pending["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
}

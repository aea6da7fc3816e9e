//! `/webhook_subscriptions` — resource-scoped interest with upsert.

use serde_json::json;

use crate::support::TestServer;

const URL: &str = "http://127.0.0.1:9/hook";

#[tokio::test]
async fn creating_twice_for_the_same_endpoint_and_resource_updates() {
    let s = TestServer::start().await;
    let ep = s.endpoint(URL, &[], json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let body = |events: &[&str]| json!({"webhookEndpointId": ep_id, "resourceType": "workflow", "resourceId": "workflow_123", "enabledEvents": events});
    let (status, a) = s
        .post("/webhook_subscriptions", body(&["workflow_run.completed"]))
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["object"], "webhook_subscription");
    assert_eq!(a["webhookEndpointId"], ep_id);
    assert_eq!(a["resourceType"], "workflow");
    assert_eq!(a["resourceId"], "workflow_123");
    assert!(a["createdAt"].is_string());
    let (status, b) = s
        .post(
            "/webhook_subscriptions",
            body(&["workflow_run.failed", "workflow_run.needs_review"]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(a["id"], b["id"], "upsert, not a duplicate");
    assert_eq!(
        b["enabledEvents"],
        json!(["workflow_run.failed", "workflow_run.needs_review"])
    );
    let (_, list) = s
        .get(&format!("/webhook_subscriptions?webhookEndpointId={ep_id}"))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn events_must_fit_the_resource_type_and_the_endpoints_version() {
    let s = TestServer::start().await;
    let ep = s.endpoint(URL, &[], json!({})).await;
    let legacy = s
        .endpoint(URL, &[], json!({"apiVersion": "2025-04-21"}))
        .await;
    let sub = |ep: &serde_json::Value, rt: &str, events: &[&str]| json!({"webhookEndpointId": ep["id"], "resourceType": rt, "resourceId": "r1", "enabledEvents": events});
    for (body, want) in [
        (
            sub(
                &ep,
                "extractor",
                &["extract_run.processed", "batch_processor_run.failed"],
            ),
            200,
        ),
        (sub(&ep, "classifier", &["classify_run.failed"]), 200),
        (sub(&ep, "splitter", &["split_run.processed"]), 200),
        (
            sub(
                &ep,
                "workflow",
                &["workflow_run.step_run.processed", "workflow_run.cancelled"],
            ),
            200,
        ),
        (sub(&ep, "extractor", &["classify_run.processed"]), 422),
        (sub(&ep, "workflow", &["extract_run.processed"]), 422),
        (sub(&ep, "extractor", &["parse_run.processed"]), 422),
        (sub(&ep, "printer", &["extract_run.processed"]), 400),
        (sub(&legacy, "extractor", &["processor_run.processed"]), 200),
        (sub(&legacy, "extractor", &["extract_run.processed"]), 422),
        (sub(&legacy, "workflow", &["workflow_run.completed"]), 200),
        (sub(&legacy, "workflow", &["workflow_run.cancelled"]), 422),
    ] {
        let (status, v) = s.post("/webhook_subscriptions", body.clone()).await;
        assert_eq!(status.as_u16(), want, "{body} -> {v}");
    }
    let (status, v) = s
        .post(
            "/webhook_subscriptions",
            json!({"webhookEndpointId": "webhook_endpoint_01J00000000000000000000000", "resourceType": "workflow", "resourceId": "r", "enabledEvents": []}),
        )
        .await;
    assert_eq!(status, 404, "{v}");
}

#[tokio::test]
async fn list_filters_get_update_delete() {
    let s = TestServer::start().await;
    let a = s.endpoint(URL, &[], json!({})).await;
    let b = s.endpoint(URL, &[], json!({})).await;
    let mut ids = Vec::new();
    for (ep, rid) in [(&a, "wf_1"), (&a, "wf_2"), (&b, "wf_1")] {
        let (_, v) = s
            .post(
                "/webhook_subscriptions",
                json!({"webhookEndpointId": ep["id"], "resourceType": "workflow", "resourceId": rid, "enabledEvents": ["workflow_run.completed"]}),
            )
            .await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let count = |v: &serde_json::Value| v["data"].as_array().unwrap().len();
    let (_, all) = s.get("/webhook_subscriptions").await;
    assert_eq!(count(&all), 3);
    let (_, by_ep) = s
        .get(&format!(
            "/webhook_subscriptions?webhookEndpointId={}",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(count(&by_ep), 2);
    let (_, by_res) = s.get("/webhook_subscriptions?resourceId=wf_1").await;
    assert_eq!(count(&by_res), 2);
    let (_, page) = s
        .get("/webhook_subscriptions?maxPageSize=2&sortDir=asc")
        .await;
    assert_eq!(count(&page), 2);
    assert_eq!(page["data"][0]["id"], ids[0]);
    let t = page["nextPageToken"].as_str().unwrap();
    let (_, page2) = s
        .get(&format!(
            "/webhook_subscriptions?maxPageSize=2&sortDir=asc&nextPageToken={t}"
        ))
        .await;
    assert_eq!(page2["data"][0]["id"], ids[2]);
    assert!(page2["nextPageToken"].is_null());

    let (status, got) = s.get(&format!("/webhook_subscriptions/{}", ids[1])).await;
    assert_eq!(status, 200);
    assert_eq!(got["resourceId"], "wf_2");
    let (status, upd) = s
        .post(
            &format!("/webhook_subscriptions/{}", ids[1]),
            json!({"enabledEvents": ["workflow_run.rejected"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(upd["enabledEvents"], json!(["workflow_run.rejected"]));
    let (status, _) = s
        .post(
            &format!("/webhook_subscriptions/{}", ids[1]),
            json!({"enabledEvents": ["extract_run.processed"]}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, v) = s
        .delete(&format!("/webhook_subscriptions/{}", ids[1]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["id"], ids[1].as_str());
    let (status, _) = s.get(&format!("/webhook_subscriptions/{}", ids[1])).await;
    assert_eq!(status, 404);

    // Deleting an endpoint deletes its subscriptions.
    s.delete(&format!("/webhook_endpoints/{}", b["id"].as_str().unwrap()))
        .await;
    let (status, _) = s.get(&format!("/webhook_subscriptions/{}", ids[2])).await;
    assert_eq!(status, 404);
}

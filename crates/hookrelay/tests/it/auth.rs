//! Keys, the admin key, workspace isolation, the error shape and request ids.

use reqwest::Method;
use serde_json::json;

use crate::support::{TestServer, ADMIN, KEY};

#[tokio::test]
async fn missing_and_bad_keys_get_401_in_our_error_shape() {
    let s = TestServer::start().await;
    let (status, body, headers) = s
        .request(Method::GET, "/webhook_endpoints", None, None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    assert_eq!(body["retryable"], false);
    assert!(body["message"].as_str().unwrap().contains("Authorization"));
    let rid = headers
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap();
    assert_eq!(body["requestId"], rid);

    let (status, body, _) = s
        .request(Method::GET, "/webhook_endpoints", Some("sk_wrong"), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let s = TestServer::start().await;
    let resp = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    let resp = s
        .http
        .get(format!("{}/webhook_endpoints", s.url))
        .bearer_auth(KEY)
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let (status, body, _) = s
        .request(Method::GET, "/no/such/route", Some(KEY), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route_not_found");
    assert!(body["requestId"].as_str().unwrap().starts_with("req_"));
}

#[tokio::test]
async fn unknown_api_version_header_is_a_400() {
    let s = TestServer::start().await;
    let resp = s
        .http
        .get(format!("{}/webhook_endpoints", s.url))
        .bearer_auth(KEY)
        .header("x-extend-api-version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_api_version");
    for v in ["2026-02-09", "2025-04-21"] {
        let resp = s
            .http
            .get(format!("{}/webhook_endpoints", s.url))
            .bearer_auth(KEY)
            .header("x-extend-api-version", v)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{v}");
    }
}

#[tokio::test]
async fn admin_key_creates_workspaces_and_acts_in_them_with_the_header() {
    let s = TestServer::start().await;
    // Workspace keys may not create workspaces.
    let (status, _, _) = s
        .request(
            Method::POST,
            "/workspaces",
            Some(KEY),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 403);

    let (status, ws, _) = s
        .request(
            Method::POST,
            "/workspaces",
            Some(ADMIN),
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(status, 200, "{ws}");
    assert_eq!(ws["object"], "workspace");
    let ws_id = ws["id"].as_str().unwrap().to_owned();

    // The admin key needs x-extend-workspace-id on workspace routes.
    let (status, body, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(ADMIN), None)
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "workspace_required");

    let resp = s
        .http
        .post(format!("{}/api_keys", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", &ws_id)
        .json(&json!({"name": "acme key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let key: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(key["object"], "api_key");
    let plaintext = key["key"].as_str().unwrap().to_owned();
    assert!(plaintext.starts_with("sk_"));
    assert!(plaintext.starts_with(key["prefix"].as_str().unwrap()));

    // The new key works in its workspace; listing shows the prefix only.
    let (status, list, _) = s
        .request(Method::GET, "/api_keys", Some(&plaintext), None)
        .await;
    assert_eq!(status, 200);
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("key").is_none(), "plaintext never listed");
    assert_eq!(keys[0]["prefix"], key["prefix"]);

    // Unknown workspace id for the admin key: 404.
    let resp = s
        .http
        .get(format!("{}/webhook_endpoints", s.url))
        .bearer_auth(ADMIN)
        .header(
            "x-extend-workspace-id",
            "workspace_01J0000000000000000000000",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn another_workspaces_resources_answer_404() {
    let s = TestServer::start().await;
    let r = "http://127.0.0.1:9/hook";
    let ep = s.endpoint(r, &["extract_run.processed"], json!({})).await;
    let ep_id = ep["id"].as_str().unwrap();

    let (_, ws, _) = s
        .request(
            Method::POST,
            "/workspaces",
            Some(ADMIN),
            Some(json!({"name": "other"})),
        )
        .await;
    let other_key = {
        let resp = s
            .http
            .post(format!("{}/api_keys", s.url))
            .bearer_auth(ADMIN)
            .header("x-extend-workspace-id", ws["id"].as_str().unwrap())
            .json(&json!({"name": "k"}))
            .send()
            .await
            .unwrap();
        resp.json::<serde_json::Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (method, path) in [
        (Method::GET, format!("/webhook_endpoints/{ep_id}")),
        (Method::DELETE, format!("/webhook_endpoints/{ep_id}")),
        (Method::POST, format!("/webhook_endpoints/{ep_id}/test")),
    ] {
        let (status, body, _) = s
            .request(method.clone(), &path, Some(&other_key), None)
            .await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["code"], "not_found");
    }
    let (_, list, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(&other_key), None)
        .await;
    assert!(list["data"].as_array().unwrap().is_empty());
    // Still there for its owner.
    let (status, _) = s.get(&format!("/webhook_endpoints/{ep_id}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn revoked_keys_stop_working_and_keys_are_stored_hashed() {
    let s = TestServer::start().await;
    let (_, k) = s.post("/api_keys", json!({"name": "temp"})).await;
    let plaintext = k["key"].as_str().unwrap().to_owned();
    let (status, _, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(&plaintext), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .delete(&format!("/api_keys/{}", k["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(&plaintext), None)
        .await;
    assert_eq!(status, 401);

    // The database file never contains a plaintext key.
    let db = std::fs::read(s.db_path()).unwrap();
    let wal = std::fs::read(s.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        let hay = String::from_utf8_lossy(bytes);
        assert!(!hay.contains(&plaintext));
        assert!(!hay.contains(KEY));
    }
}

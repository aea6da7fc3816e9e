//! `fetch_signed_payload` against a real HTTP server on 127.0.0.1:0 that
//! plays hookrelay's signed-URL route: a JSON payload (200), expired links
//! (410, 403), a non-JSON answer and a redirect.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::{Json, Router};
use hookrelay_webhooks::signing::extend_signature;
use hookrelay_webhooks::{
    fetch_signed_payload, fetch_signed_payload_with, is_signed_url_event, parse, verify_and_parse,
    Event, EventType, FetchError, Options, Payload, WebhookError,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::NOW;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: bool,
    cookie: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn full_payload() -> Value {
    json!({
        "object": "extract_run",
        "id": "exr_1",
        "status": "PROCESSED",
        "output": {"value": {"invoice_number": "INV-1"}},
        "metadata": {"env": "prod"},
    })
}

async fn record(State(log): State<Log>, uri: Uri, headers: HeaderMap) {
    log.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        authorization: headers.contains_key("authorization"),
        cookie: headers.contains_key("cookie"),
    });
}

/// A signed-URL server of this test's own, on an ephemeral loopback port.
async fn spawn_payload_server() -> (String, Log) {
    let log = Log::default();
    let app = Router::new()
        .route(
            "/payloads/ok",
            get(|s: State<Log>, uri: Uri, h: HeaderMap| async move {
                record(s, uri, h).await;
                Json(full_payload())
            }),
        )
        .route(
            "/payloads/expired",
            get(|s: State<Log>, uri: Uri, h: HeaderMap| async move {
                record(s, uri, h).await;
                StatusCode::GONE
            }),
        )
        .route(
            "/payloads/altered",
            get(|s: State<Log>, uri: Uri, h: HeaderMap| async move {
                record(s, uri, h).await;
                StatusCode::FORBIDDEN
            }),
        )
        .route(
            "/payloads/text",
            get(|s: State<Log>, uri: Uri, h: HeaderMap| async move {
                record(s, uri, h).await;
                (StatusCode::OK, "not json").into_response()
            }),
        )
        .route(
            "/payloads/redirect",
            get(|s: State<Log>, uri: Uri, h: HeaderMap| async move {
                record(s, uri, h).await;
                Redirect::to("/payloads/ok")
            }),
        )
        .with_state(log.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

fn signed_url_event(url: &str) -> Event {
    let body = serde_json::to_vec(&json!({
        "eventId": "evt_1",
        "eventType": "extract_run.processed",
        "payload": {"object": "signed_data_url", "data": url, "id": "exr_1", "metadata": {"env": "prod"}},
    }))
    .unwrap();
    parse(&body).unwrap()
}

#[tokio::test]
async fn fetch_signed_payload_replaces_the_payload_with_the_fetched_json() {
    let (base, log) = spawn_payload_server().await;
    let event = signed_url_event(&format!("{base}/payloads/ok?token=abc"));

    let full = fetch_signed_payload(&event).await.unwrap();

    assert_eq!(full.event_id, "evt_1");
    assert_eq!(full.event_type, EventType::ExtractRunProcessed);
    assert_eq!(full.payload, Payload::Inline(full_payload()));
    assert!(!is_signed_url_event(&full));
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/payloads/ok");
    assert!(!seen[0].authorization, "no credentials are sent");
    assert!(!seen[0].cookie, "no credentials are sent");
}

#[tokio::test]
async fn verified_signed_url_event_end_to_end() {
    let (base, _log) = spawn_payload_server().await;
    let body = serde_json::to_vec(&json!({
        "eventId": "evt_2",
        "eventType": "processor_run.processed",
        "payload": {"object": "signed_data_url", "data": format!("{base}/payloads/ok"), "id": "exr_1", "metadata": null},
    }))
    .unwrap();
    let headers = [
        ("x-extend-request-timestamp", NOW.to_string()),
        (
            "x-extend-request-signature",
            extend_signature("wss_fetch", NOW, &body),
        ),
    ];
    let opts = Options::default().with_now(NOW).with_allow_signed_url(true);

    let event = verify_and_parse(&body, &headers, "wss_fetch", &opts).unwrap();
    assert!(is_signed_url_event(&event));
    let full = fetch_signed_payload(&event).await.unwrap();

    assert_eq!(full.event_type, EventType::ProcessorRunProcessed);
    assert_eq!(full.payload.as_inline(), Some(&full_payload()));
}

#[tokio::test]
async fn fetch_signed_payload_of_an_expired_url_is_an_error() {
    let (base, log) = spawn_payload_server().await;
    for (path, status) in [("expired", 410), ("altered", 403)] {
        let event = signed_url_event(&format!("{base}/payloads/{path}?token=secret-token"));
        let err = fetch_signed_payload(&event).await.unwrap_err();
        match &err {
            WebhookError::Fetch(FetchError::Status { status: got }) => assert_eq!(*got, status),
            other => panic!("{path}: {other:?}"),
        }
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
    }
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn fetch_signed_payload_that_is_not_json_is_an_error() {
    let (base, _log) = spawn_payload_server().await;
    let event = signed_url_event(&format!("{base}/payloads/text"));
    assert!(matches!(
        fetch_signed_payload(&event).await,
        Err(WebhookError::Fetch(FetchError::NotJson(_)))
    ));
}

#[tokio::test]
async fn fetch_signed_payload_does_not_follow_redirects() {
    let (base, log) = spawn_payload_server().await;
    let event = signed_url_event(&format!("{base}/payloads/redirect"));
    assert!(matches!(
        fetch_signed_payload(&event).await,
        Err(WebhookError::Fetch(FetchError::Status { status: 303 }))
    ));
    let paths: Vec<_> = log.lock().unwrap().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/payloads/redirect"]);
}

#[tokio::test]
async fn fetch_signed_payload_with_a_custom_client() {
    let (base, _log) = spawn_payload_server().await;
    let client = reqwest::Client::new(); // follows redirects
    let event = signed_url_event(&format!("{base}/payloads/redirect"));
    let full = fetch_signed_payload_with(&client, &event).await.unwrap();
    assert_eq!(full.payload, Payload::Inline(full_payload()));
}

#[tokio::test]
async fn fetch_signed_payload_of_an_inline_event_is_an_error() {
    let event = parse(br#"{"eventId":"e","eventType":"t","payload":{"id":"x"}}"#).unwrap();
    assert!(matches!(
        fetch_signed_payload(&event).await,
        Err(WebhookError::Fetch(FetchError::NotSignedUrl))
    ));
}

#[tokio::test]
async fn fetch_signed_payload_connection_failure_hides_the_url() {
    // A port that was just free: nothing listens there any more.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let event = signed_url_event(&format!("http://{addr}/payloads/ok?token=secret-token"));
    let err = fetch_signed_payload(&event).await.unwrap_err();
    assert!(
        matches!(err, WebhookError::Fetch(FetchError::Request(_))),
        "{err:?}"
    );
    let mut shown = format!("{err:?}");
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = source {
        shown.push_str(&format!(" / {e}"));
        source = e.source();
    }
    assert!(!shown.contains("secret-token"), "{shown}");
}

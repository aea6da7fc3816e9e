//! The axum extractor through a real `Router` (driven with
//! `tower::ServiceExt::oneshot`): requests signed with `signing`, the
//! `Webhook` taken from the state, and the status of every rejection.

use axum::body::{to_bytes, Body};
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use hookrelay_webhooks::signing::{
    body_hmac_signature, extend_signature, BODY_HMAC_SIGNATURE_HEADER, EXTEND_SIGNATURE_HEADER,
    EXTEND_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{Event, Options, Payload, Profile, V1Event, VerifiedWebhook, Webhook};
use serde_json::json;
use tower::ServiceExt;

use crate::NOW;

const SECRET: &str = "wss_extractor";
const V1_SECRET: &str = "v1_extractor";
const INLINE: &[u8] =
    br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{"id":"wr_1"}}"#;
const SIGNED_URL: &[u8] = br#"{"eventId":"evt_2","eventType":"workflow_run.completed","payload":{"object":"signed_data_url","data":"https://hooks.example.com/p/tok","id":"wr_1","metadata":null}}"#;

/// An application state with the verifier among other handles.
#[derive(Clone)]
struct AppState {
    webhook: Webhook,
    name: &'static str,
}

impl FromRef<AppState> for Webhook {
    fn from_ref(state: &AppState) -> Webhook {
        state.webhook.clone()
    }
}

async fn receive(
    axum::extract::State(state): axum::extract::State<AppState>,
    VerifiedWebhook(event): VerifiedWebhook,
) -> String {
    let kind = match &event.payload {
        Payload::Inline(_) => "inline",
        Payload::SignedUrl { .. } => "signed-url",
    };
    format!(
        "{} {} {} {kind}",
        state.name, event.event_id, event.event_type
    )
}

fn app(options: Options) -> Router {
    let webhook = Webhook::new(Profile::Extend, SECRET)
        .unwrap()
        .with_options(options);
    Router::new()
        .route("/hooks", post(receive))
        .with_state(AppState {
            webhook,
            name: "app",
        })
}

fn extend_request(body: &[u8], ts: i64, secret: &str) -> Request<Body> {
    Request::post("/hooks")
        .header("content-type", "application/json")
        .header("X-Extend-Request-Timestamp", ts.to_string())
        .header(
            "X-Extend-Request-Signature",
            extend_signature(secret, ts, body),
        )
        .body(Body::from(body.to_vec()))
        .unwrap()
}

async fn call(app: Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn extractor_accepts_a_signed_request() {
    let (status, body) = call(
        app(Options::default().with_now(NOW)),
        extend_request(INLINE, NOW, SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "app evt_1 workflow_run.completed inline");
}

#[tokio::test]
async fn extractor_rejects_a_bad_signature_with_401() {
    let (status, body) = call(
        app(Options::default().with_now(NOW)),
        extend_request(INLINE, NOW, "wss_wrong"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "webhook signature does not match");

    // A body changed after signing.
    let mut req = extend_request(INLINE, NOW, SECRET);
    *req.body_mut() = Body::from(&br#"{"eventId":"evt_X","eventType":"t","payload":{}}"#[..]);
    let (status, _) = call(app(Options::default().with_now(NOW)), req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn extractor_rejects_missing_headers_with_401() {
    let req = Request::post("/hooks")
        .header(EXTEND_TIMESTAMP_HEADER, NOW.to_string())
        .body(Body::from(INLINE))
        .unwrap();
    let (status, body) = call(app(Options::default().with_now(NOW)), req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains(EXTEND_SIGNATURE_HEADER), "{body}");
}

#[tokio::test]
async fn extractor_rejects_stale_and_future_timestamps_with_401() {
    for (ts, needle) in [(NOW - 301, "too old"), (NOW + 61, "in the future")] {
        let (status, body) = call(
            app(Options::default().with_now(NOW)),
            extend_request(INLINE, ts, SECRET),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{ts}");
        assert!(body.contains(needle), "{body}");
    }
}

#[tokio::test]
async fn extractor_rejects_a_signed_body_that_is_not_an_event_with_400() {
    for bad in [&b"not json"[..], br#"{"hello":"world"}"#, &[0xff, 0x00]] {
        let (status, body) = call(
            app(Options::default().with_now(NOW)),
            extend_request(bad, NOW, SECRET),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
    }
}

#[tokio::test]
async fn extractor_refuses_signed_urls_unless_allowed() {
    let (status, body) = call(
        app(Options::default().with_now(NOW)),
        extend_request(SIGNED_URL, NOW, SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("signed URL"), "{body}");

    let allowed = Options::default().with_now(NOW).with_allow_signed_url(true);
    let (status, body) = call(app(allowed), extend_request(SIGNED_URL, NOW, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "app evt_2 workflow_run.completed signed-url");
}

#[tokio::test]
async fn extractor_passes_body_limit_rejections_through() {
    let app = app(Options::default().with_now(NOW)).layer(DefaultBodyLimit::max(16));
    let (status, _) = call(app, extend_request(INLINE, NOW, SECRET)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn extractor_with_a_webhook_as_the_state_and_v1_events() {
    async fn receive_v1(VerifiedWebhook(event): VerifiedWebhook<V1Event>) -> String {
        format!(
            "{} {} {}",
            event.id, event.event_type, event.data.object["id"]
        )
    }
    let webhook = Webhook::new(Profile::BodyHmac, V1_SECRET).unwrap();
    let app = Router::new()
        .route("/v1/hooks", post(receive_v1))
        .with_state(webhook);
    let body = serde_json::to_vec(&json!({
        "id": "evt_3",
        "type": "payment.failed",
        "created_at": "2026-02-09T00:00:00.000Z",
        "data": {"object": {"id": "pay_1"}},
        "previous_data": null,
    }))
    .unwrap();
    let request = |signature: String| {
        Request::post("/v1/hooks")
            .header(BODY_HMAC_SIGNATURE_HEADER, signature)
            .body(Body::from(body.clone()))
            .unwrap()
    };

    let (status, text) = call(app.clone(), request(body_hmac_signature(V1_SECRET, &body))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, r#"evt_3 payment.failed "pay_1""#);

    let (status, _) = call(app, request(body_hmac_signature("v1_other", &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn extractor_into_inner_and_deref() {
    async fn handler(webhook: VerifiedWebhook<Event>) -> String {
        let id = webhook.event_id.clone();
        let event = webhook.into_inner();
        format!("{id} {}", event.payload.id().unwrap_or("-"))
    }
    let webhook = Webhook::new(Profile::Extend, SECRET)
        .unwrap()
        .with_options(Options::default().with_now(NOW));
    let app = Router::new()
        .route("/hooks", post(handler))
        .with_state(webhook);
    let (status, body) = call(app, extend_request(INLINE, NOW, SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "evt_1 wr_1");
}

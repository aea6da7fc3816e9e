//! The SDK-style receiver API (`verify_and_parse`, `webhook::verify`,
//! `Webhook`): options (`max_age`, future skew, `allow_signed_url`), header
//! case, several signatures, non-UTF-8 bodies and the errors each case gives.

use std::collections::HashMap;
use std::time::Duration;

use hookrelay_webhooks::signing::{
    body_hmac_signature, extend_signature, standard_signature, BODY_HMAC_SIGNATURE_HEADER,
    EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER, STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{
    verify_and_parse, verify_and_parse_v1, verify_and_parse_with, webhook, Event, EventType,
    Options, Payload, Profile, SecretError, StandardSecret, V1Event, VerifyError, Webhook,
    WebhookError,
};
use serde_json::{json, Value};

use crate::NOW;

const SECRET: &str = "wss_receive_secret";
const STD_OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STD_NEW: &str = "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=";
const V1_SECRET: &str = "v1_receive_secret";

const INLINE: &[u8] =
    br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{"id":"wr_1"}}"#;
const SIGNED_URL: &[u8] = br#"{"eventId":"evt_2","eventType":"extract_run.processed","payload":{"object":"signed_data_url","data":"https://hooks.example.com/payloads/tok","id":"exr_1","metadata":{"env":"prod"}}}"#;

fn signed(body: &[u8], ts: i64) -> Vec<(String, String)> {
    vec![
        (EXTEND_TIMESTAMP_HEADER.into(), ts.to_string()),
        (
            EXTEND_SIGNATURE_HEADER.into(),
            extend_signature(SECRET, ts, body),
        ),
    ]
}

fn at(now: i64) -> Options {
    Options::default().with_now(now)
}

fn std_sig(secret: &str, ts: i64, body: &[u8]) -> String {
    standard_signature(&StandardSecret::parse(secret).unwrap(), "evt_1", ts, body)
}

// --- the happy path ----------------------------------------------------------

#[test]
fn verify_and_parse_accepts_a_fresh_extend_webhook() {
    let event = verify_and_parse(INLINE, &signed(INLINE, NOW), SECRET, &at(NOW)).unwrap();
    assert_eq!(event.event_id, "evt_1");
    assert_eq!(event.event_type, EventType::WorkflowRunCompleted);
    assert_eq!(event.payload, Payload::Inline(json!({"id": "wr_1"})));
}

#[test]
fn verify_and_parse_uses_the_system_clock_by_default() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let headers = signed(INLINE, now);
    verify_and_parse(INLINE, &headers, SECRET, &Options::default()).unwrap();
    assert!(matches!(
        verify_and_parse(
            INLINE,
            &signed(INLINE, now - 3600),
            SECRET,
            &Options::default()
        ),
        Err(WebhookError::Verify(VerifyError::TooOld { .. }))
    ));
}

#[test]
fn verify_returns_a_bool() {
    let headers = signed(INLINE, NOW);
    assert!(webhook::verify(INLINE, &headers, SECRET, &at(NOW)));
    assert!(!webhook::verify(b"{}", &headers, SECRET, &at(NOW)));
    assert!(!webhook::verify(INLINE, &headers, "wss_other", &at(NOW)));
    assert!(!webhook::verify(INLINE, &headers, "", &at(NOW)));
    assert!(!webhook::verify(INLINE, &headers, SECRET, &at(NOW + 301)));
    assert!(!webhook::verify(INLINE, &headers[..1], SECRET, &at(NOW)));
    // verify does not parse: a signed non-JSON body is valid.
    assert!(webhook::verify(
        b"not json",
        &signed(b"not json", NOW),
        SECRET,
        &at(NOW)
    ));
}

// --- allow_signed_url ----------------------------------------------------------

#[test]
fn signed_url_event_is_refused_by_default() {
    let err = verify_and_parse(SIGNED_URL, &signed(SIGNED_URL, NOW), SECRET, &at(NOW)).unwrap_err();
    assert!(matches!(err, WebhookError::SignedUrlNotAllowed), "{err:?}");
    assert!(!err.is_unauthenticated());
}

#[test]
fn signed_url_event_is_returned_when_allowed() {
    let opts = at(NOW).with_allow_signed_url(true);
    let event = verify_and_parse(SIGNED_URL, &signed(SIGNED_URL, NOW), SECRET, &opts).unwrap();
    assert!(hookrelay_webhooks::is_signed_url_event(&event));
    assert_eq!(event.payload.id(), Some("exr_1"));
    assert_eq!(event.payload.metadata(), Some(&json!({"env": "prod"})));
    // Inline events are unaffected by the option.
    verify_and_parse(INLINE, &signed(INLINE, NOW), SECRET, &opts).unwrap();
}

#[test]
fn signature_is_checked_before_the_signed_url_rule() {
    let mut headers = signed(SIGNED_URL, NOW);
    headers[1].1 = extend_signature("wss_other", NOW, SIGNED_URL);
    assert!(matches!(
        verify_and_parse(SIGNED_URL, &headers, SECRET, &at(NOW)),
        Err(WebhookError::Verify(VerifyError::BadSignature))
    ));
}

#[test]
fn parse_ignores_allow_signed_url() {
    // `parse` never refuses a signed URL (as in Extend's SDKs).
    let event = hookrelay_webhooks::parse(SIGNED_URL).unwrap();
    assert!(event.is_signed_url());
}

// --- max_age and the future allowance -------------------------------------------

#[test]
fn max_age_defaults_to_300_seconds() {
    let headers = signed(INLINE, NOW);
    verify_and_parse(INLINE, &headers, SECRET, &at(NOW + 300)).unwrap();
    let err = verify_and_parse(INLINE, &headers, SECRET, &at(NOW + 301)).unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::Verify(VerifyError::TooOld {
                age_secs: 301,
                max_age_secs: 300
            })
        ),
        "{err:?}"
    );
    assert!(err.is_unauthenticated());
}

#[test]
fn max_age_can_be_changed_or_turned_off() {
    let headers = signed(INLINE, NOW);
    let ten_minutes = at(NOW + 600).with_max_age(Some(Duration::from_secs(600)));
    verify_and_parse(INLINE, &headers, SECRET, &ten_minutes).unwrap();
    let one_minute = at(NOW + 61).with_max_age(Some(Duration::from_secs(60)));
    assert!(matches!(
        verify_and_parse(INLINE, &headers, SECRET, &one_minute),
        Err(WebhookError::Verify(VerifyError::TooOld { .. }))
    ));
    for off in [None, Some(Duration::ZERO)] {
        let opts = at(NOW + 86_400 * 365).with_max_age(off);
        verify_and_parse(INLINE, &headers, SECRET, &opts).unwrap();
    }
}

#[test]
fn timestamp_in_future_beyond_skew_is_rejected() {
    // Extend's SDKs allow the sender's clock to be 60 s ahead.
    verify_and_parse(INLINE, &signed(INLINE, NOW + 60), SECRET, &at(NOW)).unwrap();
    let err = verify_and_parse(INLINE, &signed(INLINE, NOW + 61), SECRET, &at(NOW)).unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::Verify(VerifyError::InFuture {
                ahead_secs: 61,
                allowed_secs: 60
            })
        ),
        "{err:?}"
    );
    // Turning the age check off leaves the future check on.
    let no_age = at(NOW).with_max_age(None);
    assert!(matches!(
        verify_and_parse(INLINE, &signed(INLINE, NOW + 3600), SECRET, &no_age),
        Err(WebhookError::Verify(VerifyError::InFuture { .. }))
    ));
    let lenient = at(NOW).with_allowed_future_skew(Duration::from_secs(3600));
    verify_and_parse(INLINE, &signed(INLINE, NOW + 3600), SECRET, &lenient).unwrap();
}

#[test]
fn bad_timestamp_and_missing_headers_are_reported() {
    let mut headers = signed(INLINE, NOW);
    headers[0].1 = "2023-11-14T22:13:20Z".into();
    assert!(matches!(
        verify_and_parse(INLINE, &headers, SECRET, &at(NOW)),
        Err(WebhookError::Verify(VerifyError::BadTimestamp))
    ));
    let headers = signed(INLINE, NOW);
    assert!(matches!(
        verify_and_parse(INLINE, &headers[1..], SECRET, &at(NOW)),
        Err(WebhookError::Verify(VerifyError::MissingHeader(
            EXTEND_TIMESTAMP_HEADER
        )))
    ));
    assert!(matches!(
        verify_and_parse(INLINE, &headers[..1], SECRET, &at(NOW)),
        Err(WebhookError::Verify(VerifyError::MissingHeader(
            EXTEND_SIGNATURE_HEADER
        )))
    ));
}

// --- headers -------------------------------------------------------------------

#[test]
fn header_names_in_any_case() {
    let ts = NOW.to_string();
    let sig = extend_signature(SECRET, NOW, INLINE);
    for (ts_name, sig_name) in [
        ("x-extend-request-timestamp", "x-extend-request-signature"),
        ("X-Extend-Request-Timestamp", "X-Extend-Request-Signature"),
        ("X-EXTEND-REQUEST-TIMESTAMP", "X-EXTEND-REQUEST-SIGNATURE"),
        ("x-ExTeNd-rEqUeSt-TiMeStAmP", "X-eXtEnD-ReQuEsT-sIgNaTuRe"),
    ] {
        let pairs = [(ts_name, ts.as_str()), (sig_name, sig.as_str())];
        verify_and_parse(INLINE, &pairs, SECRET, &at(NOW)).unwrap();
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        verify_and_parse(INLINE, &map, SECRET, &at(NOW)).unwrap();
        assert!(webhook::verify(INLINE, &map, SECRET, &at(NOW)));
    }
}

#[cfg(feature = "http")]
#[test]
fn header_map_from_the_http_crate() {
    let mut map = http::HeaderMap::new();
    map.insert(
        "X-Extend-Request-Timestamp",
        NOW.to_string().parse().unwrap(),
    );
    map.insert(
        "X-EXTEND-REQUEST-SIGNATURE",
        extend_signature(SECRET, NOW, INLINE).parse().unwrap(),
    );
    let webhook = Webhook::new(Profile::Extend, SECRET)
        .unwrap()
        .with_options(at(NOW));
    assert_eq!(
        webhook.verify_and_parse(INLINE, &map).unwrap().event_id,
        "evt_1"
    );
}

// --- standard-webhooks: several signatures -----------------------------------------

#[test]
fn several_signatures_in_one_webhook_signature_header() {
    let std_headers = |signature: String| {
        vec![
            (STANDARD_ID_HEADER.to_string(), "evt_1".to_string()),
            (STANDARD_TIMESTAMP_HEADER.to_string(), NOW.to_string()),
            (STANDARD_SIGNATURE_HEADER.to_string(), signature),
        ]
    };
    // During a rotation the sender signs with the old and the new secret.
    let both = format!(
        "{} {}",
        std_sig(STD_OLD, NOW, INLINE),
        std_sig(STD_NEW, NOW, INLINE)
    );
    let with_junk = format!("v2,abc v1,!!! {} v1a,xyz", std_sig(STD_NEW, NOW, INLINE));
    for secret in [STD_OLD, STD_NEW] {
        for header in [&both, &with_junk] {
            if header == &with_junk && secret == STD_OLD {
                continue;
            }
            let event: Event = verify_and_parse_with(
                Profile::StandardWebhooks,
                INLINE,
                &std_headers(header.clone()),
                secret,
                &at(NOW),
            )
            .unwrap();
            assert_eq!(event.event_id, "evt_1");
        }
    }
    let other = "whsec_b3RoZXIta2V5LW5vdC11c2VkLWZvci1zaWduaW5n";
    assert!(matches!(
        verify_and_parse_with::<Event>(
            Profile::StandardWebhooks,
            INLINE,
            &std_headers(both.clone()),
            other,
            &at(NOW)
        ),
        Err(WebhookError::Verify(VerifyError::BadSignature))
    ));
    assert!(matches!(
        verify_and_parse_with::<Event>(
            Profile::StandardWebhooks,
            INLINE,
            &std_headers(with_junk),
            STD_OLD,
            &at(NOW)
        ),
        Err(WebhookError::Verify(VerifyError::BadSignature))
    ));
}

// --- body-hmac and the v1 envelope -----------------------------------------------------

fn v1_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "evt_9",
        "type": "resource.updated",
        "created_at": "2026-02-09T14:01:58.120Z",
        "data": {"object": {"id": "res_1", "name": "new"}},
        "previous_data": {"name": "old"},
    }))
    .unwrap()
}

#[test]
fn verify_and_parse_v1_parses_the_v1_envelope() {
    let body = v1_body();
    let headers = [(
        "X-Webhook-Signature".to_string(),
        body_hmac_signature(V1_SECRET, &body),
    )];
    // body-hmac has no timestamp: even a year-off clock doesn't matter.
    let event = verify_and_parse_v1(&body, &headers, V1_SECRET, &at(0)).unwrap();
    assert_eq!(event.id, "evt_9");
    assert_eq!(event.event_type, EventType::ResourceUpdated);
    assert_eq!(event.previous_data, Some(json!({"name": "old"})));
    let webhook = Webhook::new(Profile::BodyHmac, V1_SECRET).unwrap();
    let same: V1Event = webhook.verify_and_parse_as(&body, &headers).unwrap();
    assert_eq!(same, event);
    assert!(matches!(
        verify_and_parse_v1(&body, &headers, "v1_other", &at(0)),
        Err(WebhookError::Verify(VerifyError::BadSignature))
    ));
}

#[test]
fn body_hmac_verifies_non_utf8_bodies() {
    let body: &[u8] = &[0xff, 0xfe, 0x00, 0x80, b'{', 0xc3, 0x28];
    let headers = [(
        BODY_HMAC_SIGNATURE_HEADER,
        body_hmac_signature(V1_SECRET, body),
    )];
    // The signature covers the raw bytes...
    let raw: Vec<u8> =
        verify_and_parse_with(Profile::BodyHmac, body, &headers, V1_SECRET, &at(NOW)).unwrap();
    assert_eq!(raw, body);
    let webhook = Webhook::new(Profile::BodyHmac, V1_SECRET).unwrap();
    assert!(webhook.verify(body, &headers));
    // ...and parsing them as an envelope then fails as "not JSON".
    assert!(matches!(
        verify_and_parse_v1(body, &headers, V1_SECRET, &at(NOW)),
        Err(WebhookError::NotJson(_))
    ));
    let mut tampered = body.to_vec();
    tampered[0] = 0xfe;
    assert!(!webhook.verify(&tampered, &headers));
}

#[test]
fn verified_body_that_is_not_an_event_is_a_parse_error() {
    let not_json = b"\xff\xfe not json";
    assert!(matches!(
        verify_and_parse(not_json, &signed(not_json, NOW), SECRET, &at(NOW)),
        Err(WebhookError::NotJson(_))
    ));
    let wrong = br#"{"event":"x"}"#;
    assert!(matches!(
        verify_and_parse(wrong, &signed(wrong, NOW), SECRET, &at(NOW)),
        Err(WebhookError::BadShape { .. })
    ));
    let any: Value = verify_and_parse_with(
        Profile::Extend,
        wrong,
        &signed(wrong, NOW),
        SECRET,
        &at(NOW),
    )
    .unwrap();
    assert_eq!(any, json!({"event": "x"}));
}

// --- the Webhook verifier ----------------------------------------------------------------

#[test]
fn webhook_new_rejects_unusable_secrets() {
    assert!(matches!(
        Webhook::new(Profile::Extend, ""),
        Err(SecretError::Empty)
    ));
    assert!(matches!(
        Webhook::new(Profile::BodyHmac, String::new()),
        Err(SecretError::Empty)
    ));
    assert!(matches!(
        Webhook::new(Profile::StandardWebhooks, "whsec_"),
        Err(SecretError::Empty)
    ));
    assert!(matches!(
        Webhook::new(Profile::StandardWebhooks, "whsec_%%%"),
        Err(SecretError::NotBase64(_))
    ));
    Webhook::new(Profile::StandardWebhooks, STD_NEW).unwrap();
}

#[test]
fn webhook_debug_redacts_the_secret() {
    let webhook = Webhook::new(Profile::Extend, SECRET).unwrap();
    let debug = format!("{webhook:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains("Extend"), "{debug}");
}

#[test]
fn webhook_applies_its_options() {
    let webhook = Webhook::new(Profile::Extend, SECRET).unwrap();
    let headers = signed(SIGNED_URL, NOW);
    let strict = webhook.clone().with_options(at(NOW));
    assert!(matches!(
        strict.verify_and_parse(SIGNED_URL, &headers),
        Err(WebhookError::SignedUrlNotAllowed)
    ));
    let lenient = webhook.with_options(at(NOW).with_allow_signed_url(true));
    assert!(lenient
        .verify_and_parse(SIGNED_URL, &headers)
        .unwrap()
        .is_signed_url());
    assert!(matches!(
        lenient
            .clone()
            .with_options(at(NOW + 301))
            .verify_signature(SIGNED_URL, &headers),
        Err(VerifyError::TooOld { .. })
    ));
}

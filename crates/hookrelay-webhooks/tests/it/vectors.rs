//! Independent test vectors: every expected value below was computed outside
//! Rust, by the Python snippet quoted above it (Python 3.11 with the
//! `extend_ai` and `standardwebhooks` packages installed), and pasted here as
//! a literal. If one of these fails, the Rust signing has drifted from the
//! SDKs that receivers use.

use hookrelay_webhooks::signing::{
    body_hmac_signature, extend_signature, standard_signature, BODY_HMAC_SIGNATURE_HEADER,
    EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER, STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{verify, Profile, StandardSecret, VerifyOptions};

fn at(now: i64) -> VerifyOptions {
    VerifyOptions::default().with_now(now)
}

// Extend, non-ASCII JSON body. Produced with Extend's algorithm exactly as
// its Python SDK computes it, then confirmed by the SDK itself:
//
//     import hmac, hashlib
//     from extend_ai.wrapper.webhooks import Webhooks
//     secret = "wss_hookrelay_vector_secret_1"
//     ts = 1700000000
//     body = '{"eventId":"evt_01HZX","eventType":"workflow_run.completed","payload":{"name":"caf\u00e9 \u2713"}}'
//     sig = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
//     Webhooks()._verify_signature(body, {"X-Extend-Request-Timestamp": str(ts),
//         "X-Extend-Request-Signature": sig}, secret, max_age_seconds=0)  # no exception
//     print(sig)
const EXTEND_SECRET: &str = "wss_hookrelay_vector_secret_1";
const EXTEND_TS: i64 = 1_700_000_000;
const EXTEND_BODY: &str = "{\"eventId\":\"evt_01HZX\",\"eventType\":\"workflow_run.completed\",\"payload\":{\"name\":\"caf\u{e9} \u{2713}\"}}";
const EXTEND_SIG: &str = "050af1e3a3dbe11314564a8572b54b4ca6cf2cafdfe9b978fb99dfb8aabf8b90";

#[test]
fn extend_signature_matches_python_sdk_vector() {
    assert_eq!(
        extend_signature(EXTEND_SECRET, EXTEND_TS, EXTEND_BODY.as_bytes()),
        EXTEND_SIG
    );
}

#[test]
fn extend_verify_accepts_python_sdk_vector() {
    let headers = [
        (EXTEND_TIMESTAMP_HEADER, "1700000000"),
        (EXTEND_SIGNATURE_HEADER, EXTEND_SIG),
    ];
    verify(
        Profile::Extend,
        EXTEND_BODY.as_bytes(),
        &headers,
        EXTEND_SECRET,
        &at(EXTEND_TS + 5),
    )
    .unwrap();
}

// Extend, empty body and timestamp 0:
//
//     sig = hmac.new("wss_x".encode(), f"v0:{0}:{''}".encode(), hashlib.sha256).hexdigest()
//     Webhooks()._verify_signature("", {"x-extend-request-timestamp": "0",
//         "x-extend-request-signature": sig}, "wss_x", max_age_seconds=0)  # no exception
#[test]
fn extend_signature_matches_python_sdk_vector_empty_body() {
    assert_eq!(
        extend_signature("wss_x", 0, b""),
        "d1ea51ea329c2c8288e7e85ab808b5d20a4a1371b1a6f2375685b0c0c436e2db"
    );
}

// Standard Webhooks, the reference libraries' own test vector:
//
//     from datetime import datetime, timezone
//     from standardwebhooks.webhooks import Webhook
//     Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign(
//         "msg_p5jXN8AQM9LWM0D4loKWxJek",
//         datetime.fromtimestamp(1614265330, tz=timezone.utc),
//         '{"test": 2432232314}')
//     # -> 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
#[test]
fn standard_signature_matches_reference_library_vector() {
    let secret = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert_eq!(
        standard_signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

// Standard Webhooks, non-ASCII body, secret with `=` padding; the same
// signature comes out when the secret is given bare (without `whsec_`):
//
//     body = '{"type":"invoice.paid","data":{"note":"\u00fcber \u2603"}}'
//     ts = datetime.fromtimestamp(1700000000, tz=timezone.utc)
//     Webhook("whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=").sign(
//         "evt_01J0000000000000000000000", ts, body)
//     Webhook("aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=").sign(
//         "evt_01J0000000000000000000000", ts, body)
//     # both -> 'v1,5pT2UKcmkh0L20UDst5zI+q2EM1y2oHuy6UMrmTHUmo='
//     # (the key is b'hookrelay-standard-vector-key')
const STD_BODY: &str = "{\"type\":\"invoice.paid\",\"data\":{\"note\":\"\u{fc}ber \u{2603}\"}}";
const STD_ID: &str = "evt_01J0000000000000000000000";
const STD_SIG: &str = "v1,5pT2UKcmkh0L20UDst5zI+q2EM1y2oHuy6UMrmTHUmo=";

#[test]
fn standard_signature_matches_reference_library_vector_non_ascii() {
    for secret in [
        "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=",
        "aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=",
        // Unpadded: the Python library appends "==" before decoding.
        "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk",
    ] {
        let secret = StandardSecret::parse(secret).unwrap();
        assert_eq!(
            standard_signature(&secret, STD_ID, 1_700_000_000, STD_BODY.as_bytes()),
            STD_SIG
        );
    }
    assert_eq!(
        StandardSecret::from_key_bytes(b"hookrelay-standard-vector-key")
            .unwrap()
            .to_string(),
        "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk="
    );
}

#[test]
fn standard_verify_accepts_reference_library_vector() {
    let headers = [
        (STANDARD_ID_HEADER, STD_ID),
        (STANDARD_TIMESTAMP_HEADER, "1700000000"),
        (STANDARD_SIGNATURE_HEADER, STD_SIG),
    ];
    verify(
        Profile::StandardWebhooks,
        STD_BODY.as_bytes(),
        &headers,
        "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=",
        &at(1_700_000_000),
    )
    .unwrap();
}

// body-hmac over a body that is not UTF-8, with Python's stdlib:
//
//     import hmac, hashlib
//     hmac.new("v1_secret".encode(), bytes([0xff, 0xfe, 0x00, 0x80, 0x41]),
//              hashlib.sha256).hexdigest()
//     # -> '074c6cb5160a29b155c5231491c49cbf1d7c2634659bd16e7fb77cbdf30ebddd'
#[test]
fn body_hmac_signature_matches_python_vector_non_utf8() {
    let body = [0xff, 0xfe, 0x00, 0x80, 0x41];
    let expected = "074c6cb5160a29b155c5231491c49cbf1d7c2634659bd16e7fb77cbdf30ebddd";
    assert_eq!(body_hmac_signature("v1_secret", &body), expected);
    let headers = [(BODY_HMAC_SIGNATURE_HEADER, expected)];
    verify(
        Profile::BodyHmac,
        &body,
        &headers,
        "v1_secret",
        &VerifyOptions::default(),
    )
    .unwrap();
}

//! Property tests: for random secrets, bodies, ids and timestamps, what
//! `signing` produces `verify` accepts, and changing any one byte of the body
//! makes it fail.

use hookrelay_webhooks::signing::{
    body_hmac_signature, extend_signature, standard_signature, BODY_HMAC_SIGNATURE_HEADER,
    EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER, STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{verify, Profile, StandardSecret, VerifyError, VerifyOptions};
use proptest::prelude::*;
use proptest::sample::Index;

fn body_and_flip() -> impl Strategy<Value = (Vec<u8>, Index, u8)> {
    (
        prop::collection::vec(any::<u8>(), 1..512),
        any::<Index>(),
        1u8..=255,
    )
}

fn flipped(body: &[u8], at: &Index, xor: u8) -> Vec<u8> {
    let mut out = body.to_vec();
    let i = at.index(out.len());
    out[i] ^= xor;
    out
}

proptest! {
    #[test]
    fn extend_round_trip_and_body_flip_fails(
        secret in "\\PC{1,48}",
        ts in 0i64..4_000_000_000,
        (body, at, xor) in body_and_flip(),
    ) {
        let sig = extend_signature(&secret, ts, &body);
        let headers = vec![
            (EXTEND_TIMESTAMP_HEADER.to_string(), ts.to_string()),
            (EXTEND_SIGNATURE_HEADER.to_string(), sig),
        ];
        let opts = VerifyOptions::default().with_now(ts);
        prop_assert!(verify(Profile::Extend, &body, &headers, &secret, &opts).is_ok());
        let tampered = flipped(&body, &at, xor);
        prop_assert!(matches!(
            verify(Profile::Extend, &tampered, &headers, &secret, &opts),
            Err(VerifyError::BadSignature)
        ));
    }

    #[test]
    fn standard_round_trip_and_body_flip_fails(
        key in prop::collection::vec(any::<u8>(), 1..64),
        msg_id in "[A-Za-z0-9_]{1,40}",
        ts in 0i64..4_000_000_000,
        (body, at, xor) in body_and_flip(),
    ) {
        let secret = StandardSecret::from_key_bytes(&key).unwrap();
        let sig = standard_signature(&secret, &msg_id, ts, &body);
        let headers = vec![
            (STANDARD_ID_HEADER.to_string(), msg_id),
            (STANDARD_TIMESTAMP_HEADER.to_string(), ts.to_string()),
            (STANDARD_SIGNATURE_HEADER.to_string(), sig),
        ];
        let text = secret.to_string();
        let opts = VerifyOptions::default().with_now(ts);
        prop_assert!(verify(Profile::StandardWebhooks, &body, &headers, &text, &opts).is_ok());
        let tampered = flipped(&body, &at, xor);
        prop_assert!(matches!(
            verify(Profile::StandardWebhooks, &tampered, &headers, &text, &opts),
            Err(VerifyError::BadSignature)
        ));
    }

    #[test]
    fn body_hmac_round_trip_and_body_flip_fails(
        secret in "\\PC{1,48}",
        (body, at, xor) in body_and_flip(),
    ) {
        let headers = vec![(
            BODY_HMAC_SIGNATURE_HEADER.to_string(),
            body_hmac_signature(&secret, &body),
        )];
        let opts = VerifyOptions::default();
        prop_assert!(verify(Profile::BodyHmac, &body, &headers, &secret, &opts).is_ok());
        let tampered = flipped(&body, &at, xor);
        prop_assert!(matches!(
            verify(Profile::BodyHmac, &tampered, &headers, &secret, &opts),
            Err(VerifyError::BadSignature)
        ));
    }

    #[test]
    fn standard_secret_string_form_round_trips(key in prop::collection::vec(any::<u8>(), 1..64)) {
        let secret = StandardSecret::from_key_bytes(&key).unwrap();
        let text = secret.to_string();
        prop_assert!(text.starts_with("whsec_"));
        let parsed = StandardSecret::parse(&text).unwrap();
        prop_assert_eq!(parsed.key_bytes(), key.as_slice());
    }
}

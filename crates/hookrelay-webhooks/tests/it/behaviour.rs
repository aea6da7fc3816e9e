//! `verify` behaviour beyond the happy path: header case, missing headers,
//! clocks (too old, in the future, checks off), signature rotation, secrets.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hookrelay_webhooks::signing::{
    body_hmac_signature, extend_signature, standard_signature, BODY_HMAC_SIGNATURE_HEADER,
    EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER, STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{
    verify, HeaderLookup, Profile, SecretError, StandardSecret, VerifyError, VerifyOptions,
};

use crate::NOW;

const EXTEND_SECRET: &str = "wss_behaviour";
const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{}}"#;

fn extend_headers(ts: i64) -> Vec<(String, String)> {
    vec![
        (EXTEND_TIMESTAMP_HEADER.into(), ts.to_string()),
        (
            EXTEND_SIGNATURE_HEADER.into(),
            extend_signature(EXTEND_SECRET, ts, BODY),
        ),
    ]
}

fn std_sig(secret: &str, ts: i64) -> String {
    standard_signature(&StandardSecret::parse(secret).unwrap(), "msg_1", ts, BODY)
}

fn std_headers(ts: i64, signature: &str) -> Vec<(String, String)> {
    vec![
        (STANDARD_ID_HEADER.into(), "msg_1".into()),
        (STANDARD_TIMESTAMP_HEADER.into(), ts.to_string()),
        (STANDARD_SIGNATURE_HEADER.into(), signature.into()),
    ]
}

fn at(now: i64) -> VerifyOptions {
    VerifyOptions::default().with_now(now)
}

// --- headers -------------------------------------------------------------

#[test]
fn header_names_are_case_insensitive_for_every_container() {
    let ts = NOW.to_string();
    let sig = extend_signature(EXTEND_SECRET, NOW, BODY);
    let pairs: [(&str, &str); 2] = [
        ("X-EXTEND-REQUEST-TIMESTAMP", &ts),
        ("X-Extend-Request-Signature", &sig),
    ];
    let slice: &[(&str, &str)] = &pairs;
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let hash: HashMap<String, String> = owned.iter().cloned().collect();
    let btree: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    let opts = at(NOW);

    verify(Profile::Extend, BODY, &pairs, EXTEND_SECRET, &opts).unwrap();
    verify(Profile::Extend, BODY, slice, EXTEND_SECRET, &opts).unwrap();
    verify(Profile::Extend, BODY, &slice, EXTEND_SECRET, &opts).unwrap();
    verify(Profile::Extend, BODY, &owned, EXTEND_SECRET, &opts).unwrap();
    verify(Profile::Extend, BODY, &hash, EXTEND_SECRET, &opts).unwrap();
    verify(Profile::Extend, BODY, &btree, EXTEND_SECRET, &opts).unwrap();
}

#[test]
fn standard_header_names_are_case_insensitive() {
    let sig = std_sig(STD_SECRET, NOW);
    let headers = [
        ("Webhook-Id", "msg_1".to_string()),
        ("WEBHOOK-TIMESTAMP", NOW.to_string()),
        ("Webhook-Signature", sig),
    ];
    verify(
        Profile::StandardWebhooks,
        BODY,
        &headers,
        STD_SECRET,
        &at(NOW),
    )
    .unwrap();
}

#[test]
fn first_of_repeated_headers_is_used() {
    let headers = [("x-webhook-signature", "aa"), ("X-Webhook-Signature", "bb")];
    assert_eq!(headers.header("x-webhook-signature"), Some("aa"));
}

#[test]
fn header_values_are_trimmed() {
    let mut headers = extend_headers(NOW);
    for (_, v) in &mut headers {
        *v = format!(" {v}\t");
    }
    verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)).unwrap();
}

#[test]
fn missing_headers_are_named() {
    let none: [(&str, &str); 0] = [];
    let cases = [
        (Profile::Extend, EXTEND_TIMESTAMP_HEADER),
        (Profile::StandardWebhooks, STANDARD_ID_HEADER),
        (Profile::BodyHmac, BODY_HMAC_SIGNATURE_HEADER),
    ];
    for (profile, header) in cases {
        match verify(profile, BODY, &none, STD_SECRET, &at(NOW)) {
            Err(VerifyError::MissingHeader(name)) => assert_eq!(name, header),
            other => panic!("{profile}: {other:?}"),
        }
    }
    // Present but empty counts as missing, like Extend's SDKs.
    let only_ts = [
        (EXTEND_TIMESTAMP_HEADER, NOW.to_string()),
        (EXTEND_SIGNATURE_HEADER, "  ".to_string()),
    ];
    assert!(matches!(
        verify(Profile::Extend, BODY, &only_ts, EXTEND_SECRET, &at(NOW)),
        Err(VerifyError::MissingHeader(EXTEND_SIGNATURE_HEADER))
    ));
    let err = verify(Profile::BodyHmac, BODY, &none, "s", &at(NOW)).unwrap_err();
    assert_eq!(err.to_string(), "missing `x-webhook-signature` header");
}

#[cfg(feature = "http")]
#[test]
fn http_header_map_lookup() {
    let mut map = http::HeaderMap::new();
    for (k, v) in extend_headers(NOW) {
        map.insert(
            http::HeaderName::from_bytes(k.to_uppercase().as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    verify(Profile::Extend, BODY, &map, EXTEND_SECRET, &at(NOW)).unwrap();
}

// --- clocks ----------------------------------------------------------------

#[test]
fn extend_timestamp_too_old_is_rejected() {
    let headers = extend_headers(NOW - 301);
    let err = verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::TooOld {
            age_secs: 301,
            max_age_secs: 300
        }
    ));
    assert_eq!(err.to_string(), "webhook timestamp too old (301 s > 300 s)");
    // Exactly max_age old is still fine (the SDKs reject only age > max_age).
    let headers = extend_headers(NOW - 300);
    verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)).unwrap();
}

#[test]
fn standard_timestamp_too_old_is_rejected() {
    let headers = std_headers(NOW - 1_000, &std_sig(STD_SECRET, NOW - 1_000));
    assert!(matches!(
        verify(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STD_SECRET,
            &at(NOW)
        ),
        Err(VerifyError::TooOld {
            age_secs: 1_000,
            ..
        })
    ));
}

#[test]
fn timestamp_in_future_beyond_skew_is_rejected() {
    let headers = extend_headers(NOW + 61);
    assert!(matches!(
        verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)),
        Err(VerifyError::InFuture {
            ahead_secs: 61,
            allowed_secs: 60
        })
    ));
    let headers = std_headers(NOW + 61, &std_sig(STD_SECRET, NOW + 61));
    assert!(matches!(
        verify(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STD_SECRET,
            &at(NOW)
        ),
        Err(VerifyError::InFuture { ahead_secs: 61, .. })
    ));
    // Within the skew is fine; a wider skew can be allowed.
    let headers = extend_headers(NOW + 60);
    verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)).unwrap();
    let headers = extend_headers(NOW + 600);
    let wide = at(NOW).with_allowed_future_skew(Duration::from_secs(600));
    verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &wide).unwrap();
}

#[test]
fn max_age_off_accepts_old_timestamps() {
    let headers = extend_headers(NOW - 86_400 * 365);
    for max_age in [None, Some(Duration::ZERO)] {
        let opts = at(NOW).with_max_age(max_age);
        verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &opts).unwrap();
    }
    let old = NOW - 86_400 * 365;
    let headers = std_headers(old, &std_sig(STD_SECRET, old));
    let opts = at(NOW).with_max_age(None);
    verify(Profile::StandardWebhooks, BODY, &headers, STD_SECRET, &opts).unwrap();
}

#[test]
fn max_age_off_still_rejects_future_timestamps() {
    let headers = extend_headers(NOW + 3_600);
    let opts = at(NOW).with_max_age(None);
    assert!(matches!(
        verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &opts),
        Err(VerifyError::InFuture { .. })
    ));
}

#[test]
fn body_hmac_ignores_max_age() {
    let headers = [(BODY_HMAC_SIGNATURE_HEADER, body_hmac_signature("s", BODY))];
    let strict = at(NOW).with_max_age(Some(Duration::from_secs(1)));
    verify(Profile::BodyHmac, BODY, &headers, "s", &strict).unwrap();
}

#[test]
fn system_clock_is_used_when_now_is_unset() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let opts = VerifyOptions::default();
    verify(
        Profile::Extend,
        BODY,
        &extend_headers(now),
        EXTEND_SECRET,
        &opts,
    )
    .unwrap();
    assert!(matches!(
        verify(
            Profile::Extend,
            BODY,
            &extend_headers(now - 3_600),
            EXTEND_SECRET,
            &opts
        ),
        Err(VerifyError::TooOld { .. })
    ));
}

#[test]
fn non_integer_timestamp_is_bad_timestamp() {
    for ts in ["abc", "1700000000.5", "1e9", "0x10", "99999999999999999999"] {
        let headers = [
            (EXTEND_TIMESTAMP_HEADER, ts),
            (EXTEND_SIGNATURE_HEADER, "00"),
        ];
        assert!(
            matches!(
                verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)),
                Err(VerifyError::BadTimestamp)
            ),
            "{ts}"
        );
        let headers = [
            (STANDARD_ID_HEADER, "msg_1"),
            (STANDARD_TIMESTAMP_HEADER, ts),
            (STANDARD_SIGNATURE_HEADER, "v1,AAAA"),
        ];
        assert!(matches!(
            verify(
                Profile::StandardWebhooks,
                BODY,
                &headers,
                STD_SECRET,
                &at(NOW)
            ),
            Err(VerifyError::BadTimestamp)
        ));
    }
}

// --- signatures --------------------------------------------------------------

#[test]
fn standard_accepts_any_of_several_signatures() {
    let old_secret = "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=";
    let header = format!(
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {} {}",
        std_sig(old_secret, NOW),
        std_sig(STD_SECRET, NOW)
    );
    let headers = std_headers(NOW, &header);
    // Either secret of a rotation verifies.
    verify(
        Profile::StandardWebhooks,
        BODY,
        &headers,
        STD_SECRET,
        &at(NOW),
    )
    .unwrap();
    verify(
        Profile::StandardWebhooks,
        BODY,
        &headers,
        old_secret,
        &at(NOW),
    )
    .unwrap();
    // A third secret does not.
    assert!(matches!(
        verify(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            "whsec_b3RoZXI=",
            &at(NOW)
        ),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn standard_ignores_other_versions_and_malformed_entries() {
    let good = std_sig(STD_SECRET, NOW);
    let b64 = good.strip_prefix("v1,").unwrap();
    // The right MAC under another version prefix does not count.
    let headers = std_headers(NOW, &format!("v2,{b64} v1a,{b64} {b64}"));
    assert!(matches!(
        verify(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STD_SECRET,
            &at(NOW)
        ),
        Err(VerifyError::BadSignature)
    ));
    // Junk entries and doubled spaces around a good one are skipped.
    let headers = std_headers(NOW, &format!("v1a,xyz  garbage v1,!!! {good}"));
    verify(
        Profile::StandardWebhooks,
        BODY,
        &headers,
        STD_SECRET,
        &at(NOW),
    )
    .unwrap();
    // Unpadded base64 is accepted.
    let headers = std_headers(NOW, good.trim_end_matches('='));
    verify(
        Profile::StandardWebhooks,
        BODY,
        &headers,
        STD_SECRET,
        &at(NOW),
    )
    .unwrap();
}

#[test]
fn standard_signature_covers_id_and_timestamp() {
    let good = std_sig(STD_SECRET, NOW);
    let mut headers = std_headers(NOW, &good);
    headers[0].1 = "msg_2".into();
    assert!(matches!(
        verify(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STD_SECRET,
            &at(NOW)
        ),
        Err(VerifyError::BadSignature)
    ));
    let headers = std_headers(NOW + 1, &good);
    assert!(matches!(
        verify(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STD_SECRET,
            &at(NOW)
        ),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn extend_signature_covers_timestamp_and_secret() {
    let mut headers = extend_headers(NOW);
    headers[0].1 = (NOW + 1).to_string();
    assert!(matches!(
        verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)),
        Err(VerifyError::BadSignature)
    ));
    let headers = extend_headers(NOW);
    assert!(matches!(
        verify(Profile::Extend, BODY, &headers, "wss_other", &at(NOW)),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn hex_signatures_accept_uppercase_and_reject_junk() {
    let mut headers = extend_headers(NOW);
    headers[1].1 = headers[1].1.to_uppercase();
    verify(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(NOW)).unwrap();
    for junk in ["not-hex", "abcd", "sha256=00"] {
        let headers = [(BODY_HMAC_SIGNATURE_HEADER, junk)];
        assert!(matches!(
            verify(Profile::BodyHmac, BODY, &headers, "s", &at(NOW)),
            Err(VerifyError::BadSignature)
        ));
    }
}

#[test]
fn body_hmac_verifies_non_utf8_body() {
    let body: Vec<u8> = (0..=255u8).rev().collect();
    assert!(std::str::from_utf8(&body).is_err());
    let headers = [(
        BODY_HMAC_SIGNATURE_HEADER,
        body_hmac_signature("whs_1", &body),
    )];
    verify(Profile::BodyHmac, &body, &headers, "whs_1", &at(NOW)).unwrap();
    assert!(matches!(
        verify(Profile::BodyHmac, &body[1..], &headers, "whs_1", &at(NOW)),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn extend_verifies_non_utf8_body_over_raw_bytes() {
    let body = [b'{', 0xc3, 0x28, b'}'];
    let headers = [
        (EXTEND_TIMESTAMP_HEADER, NOW.to_string()),
        (
            EXTEND_SIGNATURE_HEADER,
            extend_signature(EXTEND_SECRET, NOW, &body),
        ),
    ];
    verify(Profile::Extend, &body, &headers, EXTEND_SECRET, &at(NOW)).unwrap();
}

// --- secrets -------------------------------------------------------------------

#[test]
fn unusable_secrets_are_bad_secret() {
    let headers = extend_headers(NOW);
    assert!(matches!(
        verify(Profile::Extend, BODY, &headers, "", &at(NOW)),
        Err(VerifyError::BadSecret(SecretError::Empty))
    ));
    let headers = [(BODY_HMAC_SIGNATURE_HEADER, body_hmac_signature("s", BODY))];
    assert!(matches!(
        verify(Profile::BodyHmac, BODY, &headers, "", &at(NOW)),
        Err(VerifyError::BadSecret(SecretError::Empty))
    ));
    let headers = std_headers(NOW, &std_sig(STD_SECRET, NOW));
    let err = verify(
        Profile::StandardWebhooks,
        BODY,
        &headers,
        "whsec_%%%",
        &at(NOW),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        VerifyError::BadSecret(SecretError::NotBase64(_))
    ));
    // The cause is kept as the error's source.
    let source = std::error::Error::source(&err).expect("source");
    assert!(std::error::Error::source(source).is_some());
}

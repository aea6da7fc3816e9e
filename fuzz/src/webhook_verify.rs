//! The receiver crate's verifiers, for all three wire profiles (extend
//! `v0:<ts>:<body>`, standard-webhooks, body-hmac).
//!
//! The first byte picks one of two modes:
//!
//! - even: arbitrary headers, body, secret and clock go through `verify`,
//!   `Webhook::verify` and the envelope parsers. Nothing may panic.
//! - odd: a webhook is signed with the crate's own signer, must verify, and
//!   then one part of it is changed (body, secret, timestamp, message id or
//!   signature); the changed webhook must be refused.
//!
//! "Changed" means changed in what is signed. Some edits are deliberately
//! not changes and are not made here: surrounding whitespace in a header
//! value (trimmed), the case of a hex signature (either is accepted), a
//! standard-webhooks timestamp written differently with the same value (the
//! integer is signed, as in the reference libraries), and a secret extended
//! with NUL bytes within HMAC's 64-byte block (HMAC pads keys with zeros, so
//! `k` and `k\0` are the same key by construction).

use std::time::Duration;

use hookrelay_webhooks::signing::{
    body_hmac_signature, extend_signature, standard_signature, StandardSecret,
    BODY_HMAC_SIGNATURE_HEADER, EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER,
    STANDARD_ID_HEADER, STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{verify, Options, Profile, VerifyOptions, Webhook};

use super::input::Input;

const HEADER_NAMES: [&str; 6] = [
    EXTEND_TIMESTAMP_HEADER,
    EXTEND_SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    STANDARD_SIGNATURE_HEADER,
    BODY_HMAC_SIGNATURE_HEADER,
];

fn profile(b: u8) -> Profile {
    Profile::ALL[b as usize % Profile::ALL.len()]
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    if input.byte() & 1 == 0 {
        arbitrary(input);
    } else {
        signed_then_changed(input);
    }
}

/// Anything at all: must not panic.
fn arbitrary(mut input: Input) {
    let profile = profile(input.byte());
    let secret = input.string(80);
    let mut headers: Vec<(String, String)> = Vec::new();
    for _ in 0..input.byte() % 8 {
        let pick = input.byte();
        let name = match HEADER_NAMES.get(pick as usize % 8) {
            // Known names, sometimes in another case (lookups ignore it).
            Some(n) if pick & 0x80 != 0 => n.to_ascii_uppercase(),
            Some(n) => (*n).to_owned(),
            None => input.string(30),
        };
        headers.push((name, input.string(120)));
    }
    let opts = VerifyOptions::default()
        .with_now(input.i64())
        .with_max_age(match input.u32() {
            0 => None,
            s => Some(Duration::from_secs(u64::from(s))),
        })
        .with_allowed_future_skew(match input.u16() {
            u16::MAX => Duration::MAX,
            s => Duration::from_secs(u64::from(s)),
        });
    let allow_signed_url = input.bool();
    let body = input.rest();

    let _ = verify(profile, body, &headers, &secret, &opts);
    if let Ok(webhook) = Webhook::new(profile, secret.as_str()) {
        let options = Options::default()
            .with_now(opts.now.unwrap_or(0))
            .with_allow_signed_url(allow_signed_url);
        let _ = webhook.with_options(options).verify(body, &headers);
    }
    let _ = hookrelay_webhooks::parse(body);
    let _ = hookrelay_webhooks::parse_v1(body);
}

/// One signed webhook, as a sender would build it.
struct Signed {
    profile: Profile,
    secret: String,
    msg_id: String,
    timestamp: i64,
    body: Vec<u8>,
}

impl Signed {
    fn headers(&self) -> Vec<(String, String)> {
        let ts = self.timestamp.to_string();
        match self.profile {
            Profile::Extend => vec![
                (EXTEND_TIMESTAMP_HEADER.into(), ts),
                (
                    EXTEND_SIGNATURE_HEADER.into(),
                    extend_signature(&self.secret, self.timestamp, &self.body),
                ),
            ],
            Profile::StandardWebhooks => {
                let secret = StandardSecret::parse(&self.secret).expect("made by from_key_bytes");
                vec![
                    (STANDARD_ID_HEADER.into(), self.msg_id.clone()),
                    (STANDARD_TIMESTAMP_HEADER.into(), ts),
                    (
                        STANDARD_SIGNATURE_HEADER.into(),
                        standard_signature(&secret, &self.msg_id, self.timestamp, &self.body),
                    ),
                ]
            }
            Profile::BodyHmac => vec![(
                BODY_HMAC_SIGNATURE_HEADER.into(),
                body_hmac_signature(&self.secret, &self.body),
            )],
        }
    }
}

/// ASCII text without surrounding whitespace (header values are trimmed),
/// never empty.
fn token_text(input: &mut Input, max: usize) -> String {
    let s: String = input
        .bytes(max)
        .iter()
        .map(|b| char::from(b'!' + b % 94))
        .collect();
    if s.is_empty() {
        "x".to_owned()
    } else {
        s
    }
}

/// Flips one bit (below 0x40, so ASCII stays printable ASCII and never
/// becomes whitespace) of the character at `at`.
fn flip_char(s: &str, at: usize, bit: u8) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = at % b.len();
    let mut x = b[i] ^ (1 << (bit % 6));
    if !(b'!'..=b'~').contains(&x) {
        // Flipping left printable ASCII: substitute another printable byte.
        x = if b[i] == b'A' { b'B' } else { b'A' };
    }
    b[i] = x;
    String::from_utf8(b).expect("ASCII")
}

/// Replaces the digit at `at` of a signature by another one of its alphabet
/// (hex: another hex digit, ignoring case; base64: another base64
/// character). Only full-value positions are touched, so the decoded bytes
/// always change.
fn change_signature(profile: Profile, headers: &mut [(String, String)], at: usize) {
    let name = match profile {
        Profile::Extend => EXTEND_SIGNATURE_HEADER,
        Profile::StandardWebhooks => STANDARD_SIGNATURE_HEADER,
        Profile::BodyHmac => BODY_HMAC_SIGNATURE_HEADER,
    };
    let value = &mut headers.iter_mut().find(|(k, _)| k == name).expect("set").1;
    let mut b = value.clone().into_bytes();
    match profile {
        Profile::StandardWebhooks => {
            // `v1,` then 44 characters; the first 42 carry 6 bits each.
            let i = 3 + at % 42;
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        }
        _ => {
            let i = at % 64;
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
        }
    }
    *value = String::from_utf8(b).expect("ASCII");
}

/// Signs with the crate's signer, checks it verifies, changes one thing,
/// checks it no longer does.
fn signed_then_changed(mut input: Input) {
    let profile = profile(input.byte());
    let secret = match profile {
        Profile::StandardWebhooks => {
            let mut key = input.bytes(64).to_vec();
            if key.is_empty() {
                key.push(0);
            }
            StandardSecret::from_key_bytes(&key)
                .expect("not empty")
                .to_string()
        }
        _ => format!("wss_{}", token_text(&mut input, 60)),
    };
    let msg_id = token_text(&mut input, 40);
    // Keep clear of i64's ends so the shifted clock and timestamp exist.
    let timestamp = input.i64() / 4;
    // Within the default window: at most 300 s old, at most 60 s ahead.
    let age = i64::from(input.u16() % 361) - 60;
    let opts = VerifyOptions::default().with_now(timestamp + age);
    let mutation = input.byte();
    let at = input.u16() as usize;
    let bit = input.byte();
    let body = input.rest().to_vec();

    let mut signed = Signed {
        profile,
        secret,
        msg_id,
        timestamp,
        body,
    };
    let headers = signed.headers();
    if let Err(e) = verify(profile, &signed.body, &headers, &signed.secret, &opts) {
        panic!("a freshly signed {profile} webhook did not verify: {e}");
    }
    let webhook = Webhook::new(profile, signed.secret.as_str()).expect("usable secret");
    let webhook = webhook.with_options(Options::default().with_now(timestamp + age));
    assert!(webhook.verify(&signed.body, &headers));

    let mut headers = headers;
    let what;
    match mutation % 5 {
        0 => {
            what = "body";
            if signed.body.is_empty() {
                signed.body.push(bit);
            } else {
                let i = at % signed.body.len();
                signed.body[i] ^= 1 << (bit % 8);
            }
        }
        1 => {
            what = "body length";
            if signed.body.is_empty() || bit & 1 == 0 {
                signed.body.push(bit);
            } else {
                signed.body.pop();
            }
        }
        2 => {
            what = "secret";
            match profile {
                Profile::StandardWebhooks => {
                    let key = StandardSecret::parse(&signed.secret).expect("valid");
                    let mut key = key.key_bytes().to_vec();
                    let i = at % key.len();
                    key[i] ^= 1 << (bit % 8);
                    signed.secret = StandardSecret::from_key_bytes(&key)
                        .expect("not empty")
                        .to_string();
                }
                _ => signed.secret = flip_char(&signed.secret, at, bit),
            }
        }
        3 => {
            if profile == Profile::BodyHmac {
                // No timestamp or id: the signature is what is left.
                what = "signature";
                change_signature(profile, &mut headers, at);
            } else if bit & 1 == 0 || profile == Profile::Extend {
                what = "timestamp";
                // Another value, still inside the window or not.
                let delta = i64::from(at as u16 % 400) + 1;
                let ts = signed.timestamp + if bit & 2 == 0 { delta } else { -delta };
                let name = match profile {
                    Profile::Extend => EXTEND_TIMESTAMP_HEADER,
                    _ => STANDARD_TIMESTAMP_HEADER,
                };
                headers.iter_mut().find(|(k, _)| k == name).expect("set").1 = ts.to_string();
            } else {
                what = "message id";
                let id = &mut headers
                    .iter_mut()
                    .find(|(k, _)| k == STANDARD_ID_HEADER)
                    .expect("set")
                    .1;
                *id = flip_char(id, at, bit);
            }
        }
        _ => {
            what = "signature";
            change_signature(profile, &mut headers, at);
        }
    }
    if verify(profile, &signed.body, &headers, &signed.secret, &opts).is_ok() {
        panic!("a {profile} webhook with a changed {what} still verified");
    }
    if let Ok(webhook) = Webhook::new(profile, signed.secret.as_str()) {
        let webhook = webhook.with_options(Options::default().with_now(timestamp + age));
        assert!(
            !webhook.verify(&signed.body, &headers),
            "Webhook::verify accepted a changed {what}"
        );
    }
}

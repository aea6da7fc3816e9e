//! Signed-URL tokens (`hookrelay_core::signed_url`).
//!
//! The first byte picks the mode:
//!
//! - even: the rest, as text, is a token for `open`. It must not panic and
//!   must never verify: not even say `Expired`, which only a genuine token
//!   can be. (Forging one means guessing a 128-bit tag.)
//! - odd: a `PayloadRef` built from the bytes is minted, must open to
//!   exactly itself (or `Expired` once `now` reaches its expiry), must not
//!   open under another key, and with any one character of the token
//!   changed must be `Invalid`.

use std::sync::OnceLock;

use hookrelay_core::signed_url::{PayloadRef, SignedUrls, TokenError};
use hookrelay_core::time::Timestamp;

use super::input::Input;

fn keys() -> &'static (SignedUrls, SignedUrls) {
    static KEYS: OnceLock<(SignedUrls, SignedUrls)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            SignedUrls::new(b"fuzz server key".to_vec(), "http://127.0.0.1:1"),
            SignedUrls::new(b"another server key".to_vec(), "http://127.0.0.1:1"),
        )
    })
}

/// Base64url's alphabet: a changed character stays a token character, so
/// the change reaches the decryption rather than stopping at decoding.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn run(data: &[u8]) {
    let (urls, other) = keys();
    let mut input = Input::new(data);
    if input.byte() & 1 == 0 {
        let token = String::from_utf8_lossy(input.rest());
        for now in [i64::MIN, 0, 1_780_000_000_000, i64::MAX] {
            assert_eq!(
                urls.open(&token, Timestamp(now)),
                Err(TokenError::Invalid),
                "{token:?}"
            );
        }
        return;
    }

    let r = PayloadRef {
        workspace_id: input.string(64),
        event_id: input.string(64),
        api_version: input.string(32),
        expires_at: Timestamp(input.i64()),
    };
    let now = Timestamp(input.i64());
    let at = input.u16() as usize;
    let with = input.byte();
    let token = urls.token(&r);

    let expected = if now >= r.expires_at {
        Err(TokenError::Expired)
    } else {
        Ok(r.clone())
    };
    assert_eq!(urls.open(&token, now), expected);
    assert_ne!(urls.token(&r), token, "two mints gave one token");
    assert_eq!(other.open(&token, now), Err(TokenError::Invalid));

    let mut bad = token.clone().into_bytes();
    let i = at % bad.len();
    let pos = ALPHABET
        .iter()
        .position(|&c| c == bad[i])
        .expect("base64url");
    bad[i] = ALPHABET[(pos + 1 + with as usize % 63) % 64];
    let bad = String::from_utf8(bad).expect("ASCII");
    assert_eq!(urls.open(&bad, now), Err(TokenError::Invalid), "{bad}");
    let truncated = &token[..i];
    assert_eq!(urls.open(truncated, now), Err(TokenError::Invalid));
}

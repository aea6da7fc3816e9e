//! Signed download URLs for large payloads (payload format `url`).
//!
//! A URL names an event and the API version to render it for, and expires
//! after one hour. Its token is opaque: the workspace id, event id, API
//! version and expiry are encrypted and authenticated with
//! XChaCha20-Poly1305, so a receiver (or anyone the link leaks to) learns
//! nothing from it and cannot alter it. The AEAD key is derived with
//! HKDF-SHA256 from a server key that is generated once and kept in the
//! database, so nothing else is needed to serve a URL and it works without an
//! API key. Every URL minted is different (a random 24-byte nonce), so each
//! attempt, retry and history view gets its own.
//!
//! Token layout, base64url without padding:
//!
//! ```text
//! version (1 byte, 0x02) ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! plaintext = expires_at (i64 ms, big-endian)
//!           ‖ len(workspace_id) (u32 BE) ‖ workspace_id
//!           ‖ len(event_id) (u32 BE) ‖ event_id
//!           ‖ api_version (the rest)
//! ```
//!
//! The version byte is also the AEAD's associated data. A token that fails
//! to decode, decrypt or parse is [`TokenError::Invalid`], whatever the
//! reason; the expiry is read only from a token that decrypted, so
//! [`TokenError::Expired`] is only ever said about a genuine link.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

use crate::time::Timestamp;

/// How long a signed URL works.
pub const URL_LIFETIME_MS: i64 = 3600 * 1000;

/// The path prefix signed URLs are served under.
pub const PATH_PREFIX: &str = "/payloads/";

/// The token format. The readable `body.hmac` tokens of earlier releases had
/// no version byte; they contain a `.`, so they never decode and are refused.
const TOKEN_VERSION: u8 = 0x02;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Fixed plaintext overhead: the expiry and two length prefixes.
const HEADER_LEN: usize = 8 + 4 + 4;
/// Longer tokens are refused before decoding: real ones are under 200
/// characters, and there is no reason to base64-decode a megabyte path.
const MAX_TOKEN_CHARS: usize = 2048;
/// The HKDF `info` label: binds the derived key to this one use, so the
/// server key could never yield the same key for another purpose.
const KDF_INFO: &[u8] = b"hookrelay signed-url token v2 xchacha20poly1305";

/// What a signed URL points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadRef {
    pub workspace_id: String,
    pub event_id: String,
    pub api_version: String,
    pub expires_at: Timestamp,
}

/// Why a token was refused. Deliberately coarse: the answer reveals nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link has expired")]
    Expired,
}

/// Mints and checks signed payload URLs.
#[derive(Clone)]
pub struct SignedUrls {
    cipher: XChaCha20Poly1305,
    base_url: String,
    lifetime_ms: i64,
}

impl std::fmt::Debug for SignedUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedUrls")
            .field("base_url", &self.base_url)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The AEAD key for `server_key`: HKDF-SHA256 extracts from a stored key of
/// any length (HMAC takes any key), and expands to the 32 bytes the cipher
/// needs.
fn derive_key(server_key: &[u8]) -> chacha20poly1305::Key {
    let mut okm = chacha20poly1305::Key::default();
    Hkdf::<Sha256>::new(None, server_key)
        .expand(KDF_INFO, &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// The plaintext of a token. Lengths are u32: the ids are short, and a
/// length prefix (unlike a separator) cannot be confused by their contents.
fn encode_plain(r: &PayloadRef) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        HEADER_LEN + r.workspace_id.len() + r.event_id.len() + r.api_version.len(),
    );
    out.extend_from_slice(&r.expires_at.millis().to_be_bytes());
    for field in [&r.workspace_id, &r.event_id] {
        let len = u32::try_from(field.len()).expect("an id shorter than 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(r.api_version.as_bytes());
    out
}

/// Reads `encode_plain`'s output back; `None` for anything else.
fn decode_plain(plain: &[u8]) -> Option<PayloadRef> {
    let (exp, mut rest) = plain.split_first_chunk::<8>()?;
    let mut fields = [String::new(), String::new()];
    for field in &mut fields {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if len > tail.len() {
            return None;
        }
        let (text, tail) = tail.split_at(len);
        *field = String::from_utf8(text.to_vec()).ok()?;
        rest = tail;
    }
    let [workspace_id, event_id] = fields;
    Some(PayloadRef {
        workspace_id,
        event_id,
        api_version: String::from_utf8(rest.to_vec()).ok()?,
        expires_at: Timestamp(i64::from_be_bytes(*exp)),
    })
}

impl SignedUrls {
    /// `key` is the server key (any length; a derived 32-byte key is what
    /// encrypts). `base_url` is the server's public base URL (no trailing
    /// slash needed).
    pub fn new(key: Vec<u8>, base_url: &str) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&derive_key(&key)),
            base_url: base_url.trim_end_matches('/').to_owned(),
            lifetime_ms: URL_LIFETIME_MS,
        }
    }

    /// The same, with URLs that live `lifetime_ms` instead of an hour.
    pub fn with_lifetime(mut self, lifetime_ms: i64) -> Self {
        self.lifetime_ms = lifetime_ms;
        self
    }

    /// A fresh token for `r` (with a random nonce).
    pub fn token(&self, r: &PayloadRef) -> String {
        // 192 random bits: collisions are negligible however many URLs are
        // minted, so no counter has to be kept (or shared between nodes).
        let mut nonce = XNonce::default();
        rand::thread_rng().fill_bytes(&mut nonce);
        let plain = encode_plain(r);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &[TOKEN_VERSION],
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
        let mut raw = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        raw.push(TOKEN_VERSION);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// A fresh URL for `r`.
    pub fn url(&self, r: &PayloadRef) -> String {
        format!("{}{}{}", self.base_url, PATH_PREFIX, self.token(r))
    }

    /// A fresh URL valid for the lifetime (one hour unless configured) from `now`.
    pub fn url_for(
        &self,
        workspace_id: &str,
        event_id: &str,
        api_version: &str,
        now: Timestamp,
    ) -> String {
        self.url(&PayloadRef {
            workspace_id: workspace_id.to_owned(),
            event_id: event_id.to_owned(),
            api_version: api_version.to_owned(),
            expires_at: now.plus_millis(self.lifetime_ms),
        })
    }

    /// Checks a token: decrypts it (which authenticates it), then checks the
    /// expiry.
    pub fn open(&self, token: &str, now: Timestamp) -> Result<PayloadRef, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Invalid);
        }
        // Strict decoding: non-canonical trailing bits are refused, so no two
        // strings decode to the same token.
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Invalid)?;
        let (&version, rest) = raw.split_first().ok_or(TokenError::Invalid)?;
        if version != TOKEN_VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(TokenError::Invalid);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &[TOKEN_VERSION],
                },
            )
            .map_err(|_| TokenError::Invalid)?;
        let r = decode_plain(&plain).ok_or(TokenError::Invalid)?;
        if now >= r.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(r)
    }
}

/// The `payload` that replaces a large one: `{"object": "signed_data_url",
/// "data": <url>, "id": <payload.id>, "metadata": <payload.metadata or null>}`.
pub fn signed_url_payload(rendered_payload: &str, url: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(rendered_payload).unwrap_or(serde_json::Value::Null);
    let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
    let metadata = v
        .get("metadata")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "object": "signed_data_url",
        "data": url,
        "id": id,
        "metadata": metadata,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn urls() -> SignedUrls {
        SignedUrls::new(vec![7; 32], "https://hooks.example.com/")
    }

    fn r(exp: i64) -> PayloadRef {
        PayloadRef {
            workspace_id: "workspace_1".into(),
            event_id: "evt_1".into(),
            api_version: "2026-02-09".into(),
            expires_at: Timestamp(exp),
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let u = urls();
        let t = u.token(&r(10_000));
        assert_eq!(u.open(&t, Timestamp(9_999)), Ok(r(10_000)));
        assert_eq!(u.open(&t, Timestamp(10_000)), Err(TokenError::Expired));
        assert_ne!(u.token(&r(10_000)), t, "every token is fresh");
        assert!(u
            .url(&r(1))
            .starts_with("https://hooks.example.com/payloads/"));
    }

    #[test]
    fn altered_truncated_or_foreign_tokens_are_invalid() {
        let u = urls();
        let t = u.token(&r(10_000));
        assert_eq!(
            u.open(&t[..t.len() - 2], Timestamp(0)),
            Err(TokenError::Invalid)
        );
        assert_eq!(u.open(&t[1..], Timestamp(0)), Err(TokenError::Invalid));
        assert_eq!(u.open("", Timestamp(0)), Err(TokenError::Invalid));
        assert_eq!(
            u.open(&format!("{t}A"), Timestamp(0)),
            Err(TokenError::Invalid)
        );
        // The earlier readable `body.hmac` form is refused.
        assert_eq!(
            u.open("d29ya3NwYWNlXzE.c2ln", Timestamp(0)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn every_single_bit_flip_is_invalid() {
        let u = urls();
        let t = u.token(&r(10_000));
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in 0..raw.len() * 8 {
            let mut bad = raw.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let bad = URL_SAFE_NO_PAD.encode(bad);
            // Even a flip that made the token "expired" must not say so: it
            // is not a genuine link.
            assert_eq!(
                u.open(&bad, Timestamp(0)),
                Err(TokenError::Invalid),
                "bit {i}"
            );
            assert_eq!(
                u.open(&bad, Timestamp(i64::MAX)),
                Err(TokenError::Invalid),
                "bit {i}"
            );
        }
        // And in the text: a flip gives a non-alphabet character, another
        // token, or non-canonical trailing bits, all refused.
        let text = t.as_bytes();
        for i in 0..text.len() * 8 {
            let mut bad = text.to_vec();
            bad[i / 8] ^= 1 << (i % 8);
            let Ok(bad) = String::from_utf8(bad) else {
                continue;
            };
            assert_eq!(
                u.open(&bad, Timestamp(0)),
                Err(TokenError::Invalid),
                "char bit {i}"
            );
        }
    }

    #[test]
    fn expired_only_after_decryption() {
        let u = urls();
        let t = u.token(&r(10_000));
        assert_eq!(u.open(&t, Timestamp(10_000)), Err(TokenError::Expired));
        assert_eq!(u.open(&t, Timestamp(i64::MAX)), Err(TokenError::Expired));
        let other = SignedUrls::new(vec![8; 32], "https://x");
        assert_eq!(
            other.open(&t, Timestamp(i64::MAX)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_token_from_another_key_is_invalid() {
        let t = urls().token(&r(10_000));
        for key in [vec![8; 32], vec![7; 31], vec![7; 33], vec![], vec![7; 200]] {
            let other = SignedUrls::new(key, "https://x");
            assert_eq!(other.open(&t, Timestamp(0)), Err(TokenError::Invalid));
        }
        // Short and long server keys both work for their own tokens.
        for key in [vec![1], vec![2; 100]] {
            let u = SignedUrls::new(key, "https://x");
            assert_eq!(u.open(&u.token(&r(10_000)), Timestamp(0)), Ok(r(10_000)));
        }
    }

    #[test]
    fn tokens_reveal_neither_workspace_nor_event() {
        let u = urls();
        let p = PayloadRef {
            workspace_id: "ws_01JQ7ZPAYLOADWORKSPACE".into(),
            event_id: "evt_01JQ7ZPAYLOADEVENTID".into(),
            api_version: "2026-02-09".into(),
            expires_at: Timestamp(1_780_000_000_000),
        };
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        for _ in 0..20 {
            let t = u.token(&p);
            let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
            for secret in [&p.workspace_id, &p.event_id, &p.api_version] {
                assert!(!contains(t.as_bytes(), secret.as_bytes()), "{t}");
                assert!(!contains(&raw, secret.as_bytes()), "{t}");
                // Not even base64 of the id, at any alignment.
                for skip in 0..3 {
                    let b64 = URL_SAFE_NO_PAD.encode(&secret.as_bytes()[skip..]);
                    // 10 characters (60 bits) cannot turn up by chance.
                    let probe = &b64.as_bytes()[..10];
                    assert!(!contains(t.as_bytes(), probe), "{t}");
                }
            }
            assert!(!contains(&raw, &p.expires_at.millis().to_be_bytes()));
            assert_eq!(u.open(&t, Timestamp(0)), Ok(p.clone()));
        }
    }

    #[test]
    fn odd_fields_round_trip() {
        let u = urls();
        for (ws, ev, ver) in [("", "", ""), ("a|b", "c.d", "|||"), ("é", "\u{0}", "ü")] {
            let p = PayloadRef {
                workspace_id: ws.into(),
                event_id: ev.into(),
                api_version: ver.into(),
                expires_at: Timestamp(i64::MAX),
            };
            assert_eq!(u.open(&u.token(&p), Timestamp(i64::MIN)), Ok(p));
        }
    }

    #[test]
    fn replacement_payload_keeps_id_and_metadata() {
        let p = signed_url_payload(
            r#"{"id":"run_1","metadata":{"env":"prod"},"big":"x"}"#,
            "https://u",
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"object":"signed_data_url","data":"https://u","id":"run_1","metadata":{"env":"prod"}})
        );
        let p = signed_url_payload(r#"{"big":"x"}"#, "https://u");
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["metadata"], serde_json::Value::Null);
    }

    proptest! {
        #[test]
        fn any_garbage_is_refused_without_panicking(s in ".{0,200}") {
            prop_assert!(urls().open(&s, Timestamp(0)).is_err());
        }
    }
}

//! Signed download URLs for large payloads (payload format `url`).
//!
//! A URL names an event and the API version to render it for, expires after
//! one hour, and carries an HMAC-SHA256 over both made with a server key that
//! is generated once and kept in the database. Nothing else is needed to
//! serve it, so it works without an API key. Every URL minted is different
//! (a random nonce), so each attempt, retry and history view gets its own.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::time::Timestamp;

/// How long a signed URL works.
pub const URL_LIFETIME_MS: i64 = 3600 * 1000;

/// The path prefix signed URLs are served under.
pub const PATH_PREFIX: &str = "/payloads/";

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
    key: Vec<u8>,
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

fn mac(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"hookrelay-payload-url-v1|");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

impl SignedUrls {
    /// `base_url` is the server's public base URL (no trailing slash needed).
    pub fn new(key: Vec<u8>, base_url: &str) -> Self {
        Self {
            key,
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
        let nonce: u64 = rand::random();
        let body = format!(
            "{}|{}|{}|{}|{:016x}",
            r.workspace_id,
            r.event_id,
            r.api_version,
            r.expires_at.millis(),
            nonce
        );
        let sig = mac(&self.key, body.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(sig)
        )
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

    /// Checks a token: the signature first (constant time), then the expiry.
    pub fn open(&self, token: &str, now: Timestamp) -> Result<PayloadRef, TokenError> {
        let (body_b64, sig_b64) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let body = URL_SAFE_NO_PAD
            .decode(body_b64)
            .map_err(|_| TokenError::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| TokenError::Invalid)?;
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(b"hookrelay-payload-url-v1|");
        m.update(&body);
        m.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
        let text = String::from_utf8(body).map_err(|_| TokenError::Invalid)?;
        let parts: Vec<&str> = text.split('|').collect();
        let [ws, ev, ver, exp, _nonce] = parts[..] else {
            return Err(TokenError::Invalid);
        };
        let expires_at = Timestamp(exp.parse().map_err(|_| TokenError::Invalid)?);
        if now >= expires_at {
            return Err(TokenError::Expired);
        }
        Ok(PayloadRef {
            workspace_id: ws.to_owned(),
            event_id: ev.to_owned(),
            api_version: ver.to_owned(),
            expires_at,
        })
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
        let other = SignedUrls::new(vec![8; 32], "https://x");
        assert_eq!(other.open(&t, Timestamp(0)), Err(TokenError::Invalid));
        // Re-signing a longer expiry without the key fails.
        let (body, sig) = t.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        let forged = text.replace("10000", "99999999");
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode(forged), sig);
        assert_eq!(u.open(&forged, Timestamp(0)), Err(TokenError::Invalid));
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

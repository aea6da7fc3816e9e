//! Signing for the three wire profiles (extend, standard-webhooks, body-hmac):
//! the header names, the Standard Webhooks secret type and the functions that
//! compute each profile's signature. Pure: no IO, no clock, no randomness.
//!
//! The hookrelay dispatcher signs every delivery attempt with these functions
//! and [`crate::verify()`] checks signatures with the same code, so sender and
//! receiver cannot drift apart.

use std::fmt;
use std::str::FromStr;

use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// extend profile: Unix-seconds timestamp of the attempt.
///
/// ```
/// use hookrelay_webhooks::signing::EXTEND_TIMESTAMP_HEADER;
///
/// assert_eq!(EXTEND_TIMESTAMP_HEADER, "x-extend-request-timestamp");
/// ```
pub const EXTEND_TIMESTAMP_HEADER: &str = "x-extend-request-timestamp";
/// extend profile: lowercase hex HMAC-SHA256 of `v0:<timestamp>:<body>`.
///
/// ```
/// use hookrelay_webhooks::signing::EXTEND_SIGNATURE_HEADER;
///
/// assert_eq!(EXTEND_SIGNATURE_HEADER, "x-extend-request-signature");
/// ```
pub const EXTEND_SIGNATURE_HEADER: &str = "x-extend-request-signature";
/// standard-webhooks profile: the message (event) id.
///
/// ```
/// use hookrelay_webhooks::signing::STANDARD_ID_HEADER;
///
/// assert_eq!(STANDARD_ID_HEADER, "webhook-id");
/// ```
pub const STANDARD_ID_HEADER: &str = "webhook-id";
/// standard-webhooks profile: Unix-seconds timestamp of the attempt.
///
/// ```
/// use hookrelay_webhooks::signing::STANDARD_TIMESTAMP_HEADER;
///
/// assert_eq!(STANDARD_TIMESTAMP_HEADER, "webhook-timestamp");
/// ```
pub const STANDARD_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// standard-webhooks profile: space-separated `v1,<base64>` signatures.
///
/// ```
/// use hookrelay_webhooks::signing::STANDARD_SIGNATURE_HEADER;
///
/// assert_eq!(STANDARD_SIGNATURE_HEADER, "webhook-signature");
/// ```
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";
/// body-hmac profile: lowercase hex HMAC-SHA256 of the raw body.
///
/// ```
/// use hookrelay_webhooks::signing::BODY_HMAC_SIGNATURE_HEADER;
///
/// assert_eq!(BODY_HMAC_SIGNATURE_HEADER, "x-webhook-signature");
/// ```
pub const BODY_HMAC_SIGNATURE_HEADER: &str = "x-webhook-signature";

/// The prefix of a Standard Webhooks secret's string form.
///
/// ```
/// use hookrelay_webhooks::signing::STANDARD_SECRET_PREFIX;
///
/// assert_eq!(STANDARD_SECRET_PREFIX, "whsec_");
/// ```
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// Standard base64 that accepts input with or without `=` padding, as the
/// reference libraries do (Python's appends `==` before decoding).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The extend MAC over `v0:<timestamp>:<body>`. `timestamp` is the header
/// text as sent: Extend's SDKs put the header value into the message verbatim.
pub(crate) fn extend_tag(secret: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, &[b"v0:", timestamp.as_bytes(), b":", body])
}

/// The standard-webhooks MAC over `<id>.<timestamp>.<body>`.
pub(crate) fn standard_tag(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let timestamp = timestamp.to_string();
    hmac_sha256(
        key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}

/// The body-hmac MAC over the raw body.
pub(crate) fn body_hmac_tag(secret: &[u8], body: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, &[body])
}

/// Decodes a standard-webhooks signature's base64 part (padding optional).
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    LENIENT_BASE64.decode(s).ok()
}

/// The extend profile's signature: lowercase hex HMAC-SHA256 of
/// `v0:<timestamp>:` followed by the raw body, keyed by the whole secret
/// string's UTF-8 bytes (`wss_…` prefix included).
///
/// Identical to Extend's SDKs, which compute (Python)
/// `hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), sha256).hexdigest()`.
/// Send it in [`EXTEND_SIGNATURE_HEADER`], with `timestamp` in
/// [`EXTEND_TIMESTAMP_HEADER`].
///
/// ```
/// use hookrelay_webhooks::signing::extend_signature;
///
/// let sig = extend_signature("wss_x", 0, b"");
/// assert_eq!(sig, "d1ea51ea329c2c8288e7e85ab808b5d20a4a1371b1a6f2375685b0c0c436e2db");
/// ```
pub fn extend_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(extend_tag(secret.as_bytes(), &timestamp.to_string(), body))
}

/// The standard-webhooks profile's signature: `v1,` followed by the standard
/// (padded) base64 of HMAC-SHA256 of `<msg_id>.<timestamp>.<body>`, keyed by
/// the secret's decoded key bytes.
///
/// Send it in [`STANDARD_SIGNATURE_HEADER`]; during a secret rotation send one
/// signature per secret, joined by a single space.
///
/// ```
/// use hookrelay_webhooks::signing::{standard_signature, StandardSecret};
///
/// let secret = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let sig = standard_signature(
///     &secret,
///     "msg_p5jXN8AQM9LWM0D4loKWxJek",
///     1614265330,
///     br#"{"test": 2432232314}"#,
/// );
/// assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// # Ok::<(), hookrelay_webhooks::SecretError>(())
/// ```
pub fn standard_signature(
    secret: &StandardSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let tag = standard_tag(&secret.key, msg_id, timestamp, body);
    format!("v1,{}", STANDARD.encode(tag))
}

/// The body-hmac profile's signature: lowercase hex HMAC-SHA256 of the raw
/// body (any bytes, not only UTF-8), keyed by the secret string's UTF-8 bytes.
/// Send it in [`BODY_HMAC_SIGNATURE_HEADER`].
///
/// ```
/// use hookrelay_webhooks::signing::body_hmac_signature;
///
/// let sig = body_hmac_signature("v1_secret", &[0xff, 0xfe, 0x00, 0x80, 0x41]);
/// assert_eq!(sig, "074c6cb5160a29b155c5231491c49cbf1d7c2634659bd16e7fb77cbdf30ebddd");
/// ```
pub fn body_hmac_signature(secret: &str, body: &[u8]) -> String {
    hex::encode(body_hmac_tag(secret.as_bytes(), body))
}

/// A Standard Webhooks signing secret: the key bytes behind `whsec_<base64>`.
///
/// Parsed from its string form with [`StandardSecret::parse`] (or
/// [`str::parse`]); [`Display`](fmt::Display) (and so `to_string()`) gives the
/// `whsec_…` form back. `Debug` never shows the key.
///
/// ```
/// use hookrelay_webhooks::StandardSecret;
///
/// let secret = StandardSecret::from_key_bytes(b"hookrelay-standard-vector-key")?;
/// let text = secret.to_string();
/// assert_eq!(text, "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=");
/// assert_eq!(StandardSecret::parse(&text)?.key_bytes(), b"hookrelay-standard-vector-key");
/// assert_eq!(format!("{secret:?}"), "StandardSecret(<redacted>)");
/// # Ok::<(), hookrelay_webhooks::SecretError>(())
/// ```
#[derive(Clone)]
pub struct StandardSecret {
    key: Vec<u8>,
}

impl StandardSecret {
    /// Parses `whsec_<base64>`. Like the reference libraries, a bare base64
    /// string without the prefix is accepted too, and `=` padding is optional.
    /// Surrounding whitespace is ignored. An empty key is an error.
    ///
    /// ```
    /// use hookrelay_webhooks::StandardSecret;
    ///
    /// let with_prefix = StandardSecret::parse("whsec_a2V5")?;
    /// let bare = StandardSecret::parse("a2V5")?;
    /// assert_eq!(with_prefix.key_bytes(), b"key");
    /// assert_eq!(bare.key_bytes(), b"key");
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let s = s.trim();
        let encoded = s.strip_prefix(STANDARD_SECRET_PREFIX).unwrap_or(s);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = LENIENT_BASE64
            .decode(encoded)
            .map_err(|e| SecretError::NotBase64(InvalidBase64(e)))?;
        Self::from_key_vec(key)
    }

    /// Builds a secret from raw key bytes, e.g. freshly generated random bytes
    /// (Standard Webhooks recommends 24 to 64 of them). An empty key is an
    /// error.
    ///
    /// ```
    /// use hookrelay_webhooks::StandardSecret;
    ///
    /// assert_eq!(StandardSecret::from_key_bytes(b"key")?.to_string(), "whsec_a2V5");
    /// assert!(StandardSecret::from_key_bytes(b"").is_err());
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn from_key_bytes(key: &[u8]) -> Result<Self, SecretError> {
        Self::from_key_vec(key.to_vec())
    }

    fn from_key_vec(key: Vec<u8>) -> Result<Self, SecretError> {
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { key })
    }

    /// The HMAC key (the base64-decoded part of `whsec_…`).
    ///
    /// ```
    /// use hookrelay_webhooks::StandardSecret;
    ///
    /// assert_eq!(StandardSecret::parse("whsec_AAEC")?.key_bytes(), &[0, 1, 2]);
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }
}

impl FromStr for StandardSecret {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The `whsec_<base64>` form. This reveals the secret: show it only where the
/// secret is meant to be shown or stored.
impl fmt::Display for StandardSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STANDARD_SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }
}

impl fmt::Debug for StandardSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardSecret(<redacted>)")
    }
}

/// Why a signing secret cannot be used.
///
/// ```
/// use hookrelay_webhooks::{SecretError, StandardSecret};
///
/// assert!(matches!(StandardSecret::parse("whsec_"), Err(SecretError::Empty)));
/// assert!(matches!(StandardSecret::parse("whsec_!!"), Err(SecretError::NotBase64(_))));
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret (or its decoded key) is empty.
    #[error("the signing secret is empty")]
    Empty,
    /// The part after `whsec_` is not base64.
    #[error("the signing secret is not `whsec_` followed by base64")]
    NotBase64(#[source] InvalidBase64),
}

/// The base64 decoding failure behind [`SecretError::NotBase64`].
///
/// ```
/// use hookrelay_webhooks::{SecretError, StandardSecret};
///
/// let Err(SecretError::NotBase64(cause)) = StandardSecret::parse("whsec_!!") else { panic!() };
/// assert!(!cause.to_string().is_empty());
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InvalidBase64(base64::DecodeError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_secret_debug_is_redacted() {
        let secret = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "StandardSecret(<redacted>)");
        assert!(!debug.contains("MfKQ"));
    }

    #[test]
    fn standard_secret_accepts_bare_and_unpadded_base64() {
        let key = b"hookrelay-standard-vector-key";
        for text in [
            "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=",
            "whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk",
            "aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=",
            "aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk",
            " whsec_aG9va3JlbGF5LXN0YW5kYXJkLXZlY3Rvci1rZXk=\n",
        ] {
            let secret = StandardSecret::parse(text).unwrap();
            assert_eq!(secret.key_bytes(), key, "{text:?}");
        }
    }

    #[test]
    fn standard_secret_rejects_empty_and_garbage() {
        assert!(matches!(StandardSecret::parse(""), Err(SecretError::Empty)));
        assert!(matches!(
            StandardSecret::parse("whsec_"),
            Err(SecretError::Empty)
        ));
        assert!(matches!(
            StandardSecret::parse("whsec_not*base64!"),
            Err(SecretError::NotBase64(_))
        ));
        assert!(matches!(
            StandardSecret::from_key_bytes(b""),
            Err(SecretError::Empty)
        ));
    }

    #[test]
    fn standard_secret_display_round_trips() {
        let secret = StandardSecret::from_key_bytes(&[0u8, 1, 2, 254, 255]).unwrap();
        let text = secret.to_string();
        assert!(text.starts_with(STANDARD_SECRET_PREFIX));
        let back: StandardSecret = text.parse().unwrap();
        assert_eq!(back.key_bytes(), secret.key_bytes());
    }
}

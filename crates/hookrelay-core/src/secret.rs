//! Secrets: endpoint signing secrets, workspace API keys and the bearer
//! tokens of dashboard sessions and portal links. Generated from the
//! operating system's CSPRNG, compared in constant time, never printed by
//! `Debug`, and (for API keys and tokens) stored only as a SHA-256 hash.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::SignatureScheme;

/// A secret string whose `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The plaintext. Call only where the secret is used or shown once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A new signing secret in the format of the endpoint's profile:
/// `wss_` + 43 URL-safe characters (extend), `whsec_` + base64 of 32 bytes
/// (standard-webhooks), or `whs_` + 43 URL-safe characters (body-hmac).
pub fn generate_signing_secret(scheme: SignatureScheme) -> Secret {
    let bytes = random_bytes::<32>();
    let s = match scheme {
        SignatureScheme::Extend => format!("wss_{}", URL_SAFE_NO_PAD.encode(bytes)),
        SignatureScheme::StandardWebhooks => format!("whsec_{}", STANDARD.encode(bytes)),
        SignatureScheme::BodyHmac => format!("whs_{}", URL_SAFE_NO_PAD.encode(bytes)),
    };
    Secret(s)
}

/// A freshly generated API key: the plaintext (shown once), its display
/// prefix, and the hash that is stored.
#[derive(Debug)]
pub struct NewApiKey {
    pub plaintext: Secret,
    pub prefix: String,
    pub hash: ApiKeyHash,
}

/// SHA-256 of an API key. Keys carry 256 bits of entropy, so a fast hash is
/// the right tool (a password hash would only slow every request down).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(pub [u8; 32]);

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHash({}…)", hex::encode(&self.0[..4]))
    }
}

impl ApiKeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s).ok()?;
        Some(Self(v.try_into().ok()?))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// The number of characters of a key shown in listings.
pub const API_KEY_PREFIX_LEN: usize = 11;

/// A new workspace API key, `sk_` + 43 URL-safe characters.
pub fn generate_api_key() -> NewApiKey {
    let plaintext = format!("sk_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    api_key_from_plaintext(plaintext)
}

/// The record for a key whose plaintext is already known (`HOOKRELAY_API_KEY`).
pub fn api_key_from_plaintext(plaintext: String) -> NewApiKey {
    let prefix = plaintext.chars().take(API_KEY_PREFIX_LEN).collect();
    let hash = ApiKeyHash::of(&plaintext);
    NewApiKey {
        plaintext: Secret(plaintext),
        prefix,
        hash,
    }
}

/// Constant-time comparison of two strings (length is not hidden).
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A bearer token (a dashboard session's cookie, a portal link): 32 bytes
/// from the OS generator, base64url without padding (43 characters).
pub fn generate_token() -> Secret {
    Secret(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// SHA-256 of a bearer token: what is stored in its place. Tokens carry 256
/// bits of entropy, so (as for API keys) a fast hash is enough.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s).ok()?;
        Some(Self(v.try_into().ok()?))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Random bytes for server-side keys (e.g. the signed-URL key).
pub fn generate_key_bytes() -> [u8; 32] {
    random_bytes::<32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_secrets_have_profile_prefixes_and_entropy() {
        let a = generate_signing_secret(SignatureScheme::Extend);
        let b = generate_signing_secret(SignatureScheme::Extend);
        assert!(a.expose().starts_with("wss_"));
        assert!(a.expose().len() >= 4 + 32);
        assert_ne!(a, b);
        assert!(generate_signing_secret(SignatureScheme::StandardWebhooks)
            .expose()
            .starts_with("whsec_"));
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn api_keys_hash_and_compare() {
        let k = generate_api_key();
        assert!(k.plaintext.expose().starts_with("sk_"));
        assert_eq!(k.prefix.len(), API_KEY_PREFIX_LEN);
        assert!(ApiKeyHash::of(k.plaintext.expose()).ct_eq(&k.hash));
        assert!(!ApiKeyHash::of("sk_other").ct_eq(&k.hash));
        assert_eq!(ApiKeyHash::from_hex(&k.hash.to_hex()), Some(k.hash));
    }

    #[test]
    fn tokens_are_random_url_safe_and_hash_round_trips() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        let h = TokenHash::of(a.expose());
        assert!(h.ct_eq(&TokenHash::of(a.expose())));
        assert!(!h.ct_eq(&TokenHash::of(b.expose())));
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert!(!format!("{h:?}").contains(&h.to_hex()));
    }
}

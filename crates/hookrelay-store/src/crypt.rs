//! Secrets at rest: the encryption layer every backend applies to the
//! values that are secrets — an endpoint's signing secret and previous
//! secret, the values of its custom headers, and the server keys — as it
//! writes and reads them. Nothing else in the store sees a key.
//!
//! **Keys.** A key-encryption key ([`Key`]) is 32 bytes, given as base64.
//! Its id is the first 8 hex digits of SHA-256 over a fixed label and the
//! key (never the key itself): enough for a row to say which key it needs.
//! A [`Keyring`] holds one or more keys, the **first the newest**: writes
//! seal under it, the others only open what is still sealed under them (so
//! that rows can be re-sealed while the service runs, see
//! [`crate::Store::reseal`]).
//!
//! **Sealed values.** XChaCha20-Poly1305 with a random 24-byte nonce from
//! the OS generator, stored as text: `enc:v1:<key id>:<base64url(nonce ‖
//! ciphertext)>`. The associated data names the value's place (`endpoint
//! secret|<endpoint id>`, `endpoint header|<endpoint id>|<name>`, …), so a
//! sealed value copied to another row or column does not open. A value
//! without the prefix is plaintext (written before a key was configured);
//! it reads as itself, and the first start with a key seals it.
//!
//! A store made without a keyring ([`Crypt::none`]: tests and tools) writes
//! plaintext and fails to read a sealed value, naming its key id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hookrelay_core::model::AdvancedOptions;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::StoreError;

/// What every sealed value starts with (format version 1).
const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;
/// Characters of a key id (hex).
const ID_LEN: usize = 8;

/// A key-encryption key. Its bytes live only inside the cipher, which
/// zeroizes them when dropped; `Debug` shows the id alone.
pub struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// Why key material was refused. Never contains the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("encryption key #{0} is not valid base64")]
    NotBase64(usize),
    #[error("encryption key #{0} is {1} bytes; it must be 32 (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)")]
    WrongLength(usize, usize),
    #[error("no encryption key given")]
    Empty,
    #[error("encryption key {0} is given twice")]
    Duplicate(String),
}

impl Key {
    /// The key with these bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"hookrelay key id v1\0");
        h.update(bytes);
        let id = hex_prefix(&h.finalize());
        Self {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// A new random key and its base64 text (to write to a key file).
    pub fn generate() -> (Self, Zeroizing<String>) {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
        (Self::from_bytes(&bytes), text)
    }

    /// Parses one base64 key (standard or URL-safe alphabet, padding
    /// optional); `n` numbers it in errors, from 1.
    fn parse(text: &str, n: usize) -> Result<Self, KeyError> {
        let t = text.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(t)
                .or_else(|_| URL_SAFE_NO_PAD.decode(t))
                .map_err(|_| KeyError::NotBase64(n))?,
        );
        let arr: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(n, bytes.len()))?;
        Ok(Self::from_bytes(arr))
    }

    /// The key's id: 8 hex digits derived from it.
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn hex_prefix(digest: &[u8]) -> String {
    digest
        .iter()
        .take(ID_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One or more keys, newest first (see the module docs).
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// The keys in this order (the first is the newest); at least one, no
    /// key twice.
    pub fn new(keys: Vec<Key>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.id == k.id) {
                return Err(KeyError::Duplicate(k.id.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// Parses base64 keys separated by commas, whitespace or line breaks,
    /// newest first; lines starting with `#` are comments (key files).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let keys = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|t| !t.is_empty())
            .enumerate()
            .map(|(i, t)| Key::parse(t, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The key writes seal under.
    pub fn newest(&self) -> &Key {
        &self.keys[0]
    }

    /// The ids, newest first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Whether a key of this id is configured.
    pub fn knows(&self, id: &str) -> bool {
        self.get(id).is_some()
    }
}

/// Where a secret value lives; its associated data.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place<'a> {
    Secret(&'a str),
    PreviousSecret(&'a str),
    Header(&'a str, &'a str),
    ServerKey(&'a str),
}

impl Place<'_> {
    fn aad(&self) -> Vec<u8> {
        match self {
            Place::Secret(id) => format!("hookrelay v1|endpoint secret|{id}"),
            Place::PreviousSecret(id) => format!("hookrelay v1|endpoint previous secret|{id}"),
            Place::Header(id, name) => format!("hookrelay v1|endpoint header|{id}|{name}"),
            Place::ServerKey(name) => format!("hookrelay v1|server key|{name}"),
        }
        .into_bytes()
    }
}

/// How one stored value is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealing<'a> {
    Plain,
    /// Sealed under the key with this id.
    Sealed(&'a str),
}

/// How `stored` is kept: sealed (under which key) or plaintext.
pub fn sealing_of(stored: &str) -> Sealing<'_> {
    match stored.strip_prefix(PREFIX) {
        Some(rest) => match rest.split_once(':') {
            Some((id, _)) if id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Sealing::Sealed(id)
            }
            _ => Sealing::Plain,
        },
        None => Sealing::Plain,
    }
}

/// The rows holding secrets, by how their values are kept (see
/// [`crate::Store::sealing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealingCensus {
    /// Endpoint rows (deleted ones too: they keep their secrets) and
    /// server keys.
    pub rows: u64,
    /// Rows with a secret value still in plaintext.
    pub plaintext: u64,
    /// Rows with a value sealed under each key id.
    pub by_key: BTreeMap<String, u64>,
    /// Rows whose values are all sealed under each key id.
    pub whole: BTreeMap<String, u64>,
}

impl SealingCensus {
    /// Counts one row whose secret values are `values`.
    pub(crate) fn count<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        self.rows += 1;
        let mut plain = false;
        let mut keys: Vec<&str> = Vec::new();
        for v in values {
            match sealing_of(v) {
                Sealing::Plain => plain = true,
                Sealing::Sealed(id) => {
                    if !keys.contains(&id) {
                        keys.push(id);
                    }
                }
            }
        }
        self.plaintext += u64::from(plain);
        if !plain && keys.len() == 1 {
            *self.whole.entry(keys[0].to_owned()).or_default() += 1;
        }
        for k in keys {
            *self.by_key.entry(k.to_owned()).or_default() += 1;
        }
    }

    /// Key ids rows need that `keys` lacks.
    pub fn missing_keys(&self, keys: &Keyring) -> Vec<String> {
        self.by_key
            .keys()
            .filter(|id| !keys.knows(id))
            .cloned()
            .collect()
    }

    /// Rows not wholly sealed under the newest key of `keys`.
    pub fn stale(&self, keys: &Keyring) -> u64 {
        self.rows - self.whole.get(keys.newest().id()).copied().unwrap_or(0)
    }
}

/// Which rows [`crate::Store::reseal`] rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reseal {
    /// Rows with a value still in plaintext (what a start with keys does).
    Plaintext,
    /// Those and rows with a value under an older key (a key rotation).
    All,
}

/// The store's encryption layer: a keyring, or none (plaintext).
#[derive(Clone, Debug, Default)]
pub struct Crypt(Option<Arc<Keyring>>);

fn crypt_error(msg: String) -> StoreError {
    StoreError::internal(msg)
}

impl Crypt {
    /// No keys: values are written in plaintext (tests and tools).
    pub fn none() -> Self {
        Self(None)
    }

    pub fn new(keys: Arc<Keyring>) -> Self {
        Self(Some(keys))
    }

    pub fn keys(&self) -> Option<&Keyring> {
        self.0.as_deref()
    }

    /// Seals `plain` for `place` under the newest key (plaintext without keys).
    pub(crate) fn seal(&self, place: Place<'_>, plain: &[u8]) -> String {
        let Some(keys) = &self.0 else {
            return String::from_utf8_lossy(plain).into_owned();
        };
        let key = keys.newest();
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = place.aad();
        let ct = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}:{}", key.id, URL_SAFE_NO_PAD.encode(out))
    }

    pub(crate) fn seal_str(&self, place: Place<'_>, plain: &str) -> String {
        self.seal(place, plain.as_bytes())
    }

    /// Opens a stored value; plaintext reads as itself.
    pub(crate) fn open(
        &self,
        place: Place<'_>,
        stored: &str,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let id = match sealing_of(stored) {
            Sealing::Plain => return Ok(Zeroizing::new(stored.as_bytes().to_vec())),
            Sealing::Sealed(id) => id,
        };
        let key = self.0.as_ref().and_then(|k| k.get(id)).ok_or_else(|| {
            crypt_error(format!(
                "a secret is sealed under encryption key {id}, which is not configured"
            ))
        })?;
        let body = &stored[PREFIX.len() + ID_LEN + 1..];
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .filter(|r| r.len() >= NONCE_LEN + 16)
            .ok_or_else(|| {
                crypt_error(format!(
                    "corrupt record: a sealed {} is malformed",
                    place.what()
                ))
            })?;
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let aad = place.aad();
        key.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| {
                crypt_error(format!(
                    "a sealed {} does not open under encryption key {id} (wrong key, or the value was moved or altered)",
                    place.what()
                ))
            })
    }

    pub(crate) fn open_str(&self, place: Place<'_>, stored: &str) -> Result<String, StoreError> {
        let bytes = self.open(place, stored)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            crypt_error(format!(
                "corrupt record: a sealed {} is not text",
                place.what()
            ))
        })
    }

    /// Whether a stored value needs re-sealing (only while keys are
    /// configured): plaintext, or (for [`Reseal::All`]) under an older key.
    pub(crate) fn stale(&self, stored: &str, scope: Reseal) -> bool {
        match (&self.0, sealing_of(stored)) {
            (None, _) => false,
            (Some(_), Sealing::Plain) => true,
            (Some(k), Sealing::Sealed(id)) => scope == Reseal::All && id != k.newest().id,
        }
    }

    /// The id of the key writes seal under, if any.
    pub fn newest_id(&self) -> Option<&str> {
        self.0.as_ref().map(|k| k.newest().id())
    }

    /// The advanced options as stored: header values sealed.
    pub(crate) fn seal_options(&self, endpoint: &str, o: &AdvancedOptions) -> AdvancedOptions {
        let mut o = o.clone();
        if let Some(h) = &mut o.headers {
            for (name, value) in h.iter_mut() {
                *value = self.seal_str(Place::Header(endpoint, name), value);
            }
        }
        o
    }

    /// The advanced options as read: header values opened.
    pub(crate) fn open_options(
        &self,
        endpoint: &str,
        mut o: AdvancedOptions,
    ) -> Result<AdvancedOptions, StoreError> {
        if let Some(h) = &mut o.headers {
            for (name, value) in h.iter_mut() {
                *value = self.open_str(Place::Header(endpoint, name), value)?;
            }
        }
        Ok(o)
    }
}

impl Place<'_> {
    fn what(&self) -> &'static str {
        match self {
            Place::Secret(_) => "endpoint secret",
            Place::PreviousSecret(_) => "previous endpoint secret",
            Place::Header(..) => "custom header value",
            Place::ServerKey(_) => "server key",
        }
    }
}

/// An endpoint's stored secret columns.
#[derive(Clone, Debug)]
pub(crate) struct SecretCols {
    pub id: String,
    pub secret: String,
    pub previous: Option<String>,
    pub options: String,
}

impl SecretCols {
    /// Every secret value the row holds, as stored.
    pub(crate) fn values(&self) -> Result<Vec<String>, StoreError> {
        let o: AdvancedOptions = serde_json::from_str(&self.options)?;
        let mut v = vec![self.secret.clone()];
        v.extend(self.previous.clone());
        v.extend(o.headers.into_iter().flat_map(|h| h.into_values()));
        Ok(v)
    }

    /// The row re-sealed under the newest key, or `None` if it already is.
    pub(crate) fn resealed(
        &self,
        crypt: &Crypt,
        scope: Reseal,
    ) -> Result<Option<SecretCols>, StoreError> {
        if !self.values()?.iter().any(|v| crypt.stale(v, scope)) {
            return Ok(None);
        }
        let id = self.id.as_str();
        let secret = crypt.open(Place::Secret(id), &self.secret)?;
        let previous = self
            .previous
            .as_ref()
            .map(|p| crypt.open(Place::PreviousSecret(id), p))
            .transpose()?;
        let o: AdvancedOptions = serde_json::from_str(&self.options)?;
        let o = crypt.open_options(id, o)?;
        Ok(Some(SecretCols {
            id: self.id.clone(),
            secret: crypt.seal(Place::Secret(id), &secret),
            previous: previous.map(|p| crypt.seal(Place::PreviousSecret(id), &p)),
            options: serde_json::to_string(&crypt.seal_options(id, &o))?,
        }))
    }
}

/// A server key as stored (`BYTEA`/`BLOB`): the sealed text's bytes, or
/// the raw key when written without a keyring.
pub(crate) fn seal_server_key(crypt: &Crypt, name: &str, key: &[u8]) -> Vec<u8> {
    match crypt.keys() {
        None => key.to_vec(),
        Some(_) => crypt.seal(Place::ServerKey(name), key).into_bytes(),
    }
}

/// A stored server key opened (raw bytes pass through).
pub(crate) fn open_server_key(
    crypt: &Crypt,
    name: &str,
    stored: &[u8],
) -> Result<Vec<u8>, StoreError> {
    match std::str::from_utf8(stored) {
        Ok(s) if matches!(sealing_of(s), Sealing::Sealed(_)) => {
            Ok(crypt.open(Place::ServerKey(name), s)?.to_vec())
        }
        _ => Ok(stored.to_vec()),
    }
}

/// How a stored server key is kept, as text for [`sealing_of`] (raw bytes
/// count as plaintext).
pub(crate) fn server_key_text(stored: &[u8]) -> &str {
    match std::str::from_utf8(stored) {
        Ok(s) if matches!(sealing_of(s), Sealing::Sealed(_)) => s,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(n: u8) -> Keyring {
        Keyring::new(vec![Key::from_bytes(&[n; 32])]).unwrap()
    }

    #[test]
    fn a_value_round_trips_and_is_bound_to_its_place() {
        let c = Crypt::new(Arc::new(ring(1)));
        let s = c.seal_str(Place::Secret("ep_1"), "whsec_abc");
        assert!(s.starts_with("enc:v1:"));
        assert!(!s.contains("whsec_abc"));
        assert_eq!(c.open_str(Place::Secret("ep_1"), &s).unwrap(), "whsec_abc");
        assert!(c.open_str(Place::Secret("ep_2"), &s).is_err());
        assert!(c.open_str(Place::PreviousSecret("ep_1"), &s).is_err());
        // Two seals of one value differ (random nonces).
        assert_ne!(s, c.seal_str(Place::Secret("ep_1"), "whsec_abc"));
    }

    #[test]
    fn older_keys_open_and_the_newest_seals() {
        let old = Crypt::new(Arc::new(ring(1)));
        let s = old.seal_str(Place::ServerKey("k"), "v");
        let both = Crypt::new(Arc::new(
            Keyring::new(vec![Key::from_bytes(&[2; 32]), Key::from_bytes(&[1; 32])]).unwrap(),
        ));
        assert_eq!(both.open_str(Place::ServerKey("k"), &s).unwrap(), "v");
        assert!(both.stale(&s, Reseal::All));
        assert!(!both.stale(&s, Reseal::Plaintext));
        assert!(both.stale("plain", Reseal::Plaintext));
        assert!(!both.stale(&both.seal_str(Place::ServerKey("k"), "v"), Reseal::All));
        let e = Crypt::new(Arc::new(ring(2)))
            .open_str(Place::ServerKey("k"), &s)
            .unwrap_err()
            .to_string();
        assert!(e.contains(ring(1).newest().id()), "{e}");
        assert!(e.contains("not configured"), "{e}");
    }

    #[test]
    fn key_lists_parse_and_errors_never_show_keys() {
        let a = STANDARD.encode([7u8; 32]);
        let b = URL_SAFE_NO_PAD.encode([8u8; 32]);
        let k = Keyring::parse(&format!("# comment\n{a}\n {b} ")).unwrap();
        assert_eq!(k.ids().len(), 2);
        assert_eq!(k.newest().id(), Key::from_bytes(&[7; 32]).id());
        assert_eq!(Keyring::parse(&format!("{a},{b}")).unwrap().ids(), k.ids());
        assert!(matches!(
            Keyring::parse(&format!("{a},{a}")),
            Err(KeyError::Duplicate(_))
        ));
        assert!(matches!(Keyring::parse(""), Err(KeyError::Empty)));
        let short = STANDARD.encode([9u8; 16]);
        let e = Keyring::parse(&short).unwrap_err().to_string();
        assert!(e.contains("16 bytes") && !e.contains(&short), "{e}");
        assert!(!format!("{k:?}").contains(&a));
    }

    #[test]
    fn plaintext_is_told_from_sealed_values() {
        assert_eq!(sealing_of("whsec_x"), Sealing::Plain);
        assert_eq!(sealing_of("enc:v1:zz:abc"), Sealing::Plain);
        assert_eq!(
            sealing_of("enc:v1:0a1b2c3d:abc"),
            Sealing::Sealed("0a1b2c3d")
        );
        let mut c = SealingCensus::default();
        c.count(["whsec_x", "enc:v1:0a1b2c3d:abc"]);
        c.count(["enc:v1:0a1b2c3d:abc", "enc:v1:0a1b2c3d:abd"]);
        assert_eq!(c.rows, 2);
        assert_eq!(c.plaintext, 1);
        assert_eq!(c.by_key["0a1b2c3d"], 2);
    }
}

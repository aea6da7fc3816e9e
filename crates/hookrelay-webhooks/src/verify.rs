//! Verification of a received webhook's signature for any of the three wire
//! profiles: header lookup, timestamp checks against a (possibly injected)
//! clock, and constant-time comparison against the signature computed by
//! [`crate::signing`].

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use subtle::ConstantTimeEq;

use crate::signing::{
    self, SecretError, StandardSecret, BODY_HMAC_SIGNATURE_HEADER, EXTEND_SIGNATURE_HEADER,
    EXTEND_TIMESTAMP_HEADER, STANDARD_ID_HEADER, STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
};

/// A wire profile: how a webhook is signed and which headers carry it.
///
/// ```
/// use hookrelay_webhooks::Profile;
///
/// let profile: Profile = "standard-webhooks".parse()?;
/// assert_eq!(profile, Profile::StandardWebhooks);
/// assert_eq!(profile.to_string(), "standard-webhooks");
/// # Ok::<(), hookrelay_webhooks::UnknownProfile>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Extend's scheme: `x-extend-request-timestamp` and
    /// `x-extend-request-signature` (hex HMAC-SHA256 of
    /// `v0:<timestamp>:<body>`, keyed by the whole `wss_…` secret string).
    Extend,
    /// [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature` (`v1,<base64>`, possibly
    /// several), keyed by the base64-decoded part of a `whsec_…` secret.
    StandardWebhooks,
    /// hookrelay's v1 API: `x-webhook-signature` (hex HMAC-SHA256 of the raw
    /// body). No timestamp, so no replay protection from the signature.
    BodyHmac,
}

impl Profile {
    /// Every profile.
    ///
    /// ```
    /// use hookrelay_webhooks::Profile;
    ///
    /// assert_eq!(Profile::ALL.len(), 3);
    /// ```
    pub const ALL: [Profile; 3] = [
        Profile::Extend,
        Profile::StandardWebhooks,
        Profile::BodyHmac,
    ];

    /// The profile's name as used in configuration and the API:
    /// `extend`, `standard-webhooks` or `body-hmac`.
    ///
    /// ```
    /// use hookrelay_webhooks::Profile;
    ///
    /// assert_eq!(Profile::BodyHmac.as_str(), "body-hmac");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Extend => "extend",
            Profile::StandardWebhooks => "standard-webhooks",
            Profile::BodyHmac => "body-hmac",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = UnknownProfile;

    /// Parses `extend`, `standard-webhooks` or `body-hmac`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// A profile name that is not `extend`, `standard-webhooks` or `body-hmac`.
///
/// ```
/// use hookrelay_webhooks::{Profile, UnknownProfile};
///
/// assert_eq!("Extend".parse::<Profile>(), Err(UnknownProfile("Extend".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signature profile `{0}` (expected extend, standard-webhooks or body-hmac)")]
pub struct UnknownProfile(pub String);

/// Options for [`verify`].
///
/// ```
/// use std::time::Duration;
/// use hookrelay_webhooks::VerifyOptions;
///
/// let opts = VerifyOptions::default()
///     .with_max_age(Some(Duration::from_secs(600)))
///     .with_now(1_700_000_000);
/// assert_eq!(opts.allowed_future_skew, Duration::from_secs(60));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Reject a timestamp older than this (`age > max_age`). Default 300 s, as
    /// in Extend's SDKs. `None` or zero turns the age check off. Does not
    /// apply to body-hmac, which has no timestamp.
    pub max_age: Option<Duration>,
    /// Reject a timestamp more than this far ahead of the clock. Default 60 s,
    /// as in Extend's SDKs. Independent of `max_age`: set it to
    /// [`Duration::MAX`] to turn this check off. (Extend's SDKs skip this
    /// check too when `max_age_seconds=0`; here each option controls only its
    /// own check.)
    pub allowed_future_skew: Duration,
    /// The current Unix time in seconds; `None` reads the system clock.
    /// Set it in tests to verify against a fixed clock.
    pub now: Option<i64>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            max_age: Some(Duration::from_secs(300)),
            allowed_future_skew: Duration::from_secs(60),
            now: None,
        }
    }
}

impl VerifyOptions {
    /// Sets [`max_age`](Self::max_age) (`None` or zero: no age check).
    ///
    /// ```
    /// use hookrelay_webhooks::VerifyOptions;
    ///
    /// assert_eq!(VerifyOptions::default().with_max_age(None).max_age, None);
    /// ```
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets [`allowed_future_skew`](Self::allowed_future_skew).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hookrelay_webhooks::VerifyOptions;
    ///
    /// let opts = VerifyOptions::default().with_allowed_future_skew(Duration::MAX);
    /// assert_eq!(opts.allowed_future_skew, Duration::MAX);
    /// ```
    pub fn with_allowed_future_skew(mut self, skew: Duration) -> Self {
        self.allowed_future_skew = skew;
        self
    }

    /// Fixes the clock at `now` Unix seconds instead of the system clock.
    ///
    /// ```
    /// use hookrelay_webhooks::VerifyOptions;
    ///
    /// assert_eq!(VerifyOptions::default().with_now(5).now, Some(5));
    /// ```
    pub fn with_now(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    fn current_time(&self) -> i64 {
        self.now
            .unwrap_or_else(|| match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
            })
    }
}

/// Why a webhook failed verification.
///
/// ```
/// use hookrelay_webhooks::{verify, Profile, VerifyError, VerifyOptions};
///
/// let headers = [("x-extend-request-timestamp", "yesterday"), ("x-extend-request-signature", "00")];
/// let err = verify(Profile::Extend, b"{}", &headers, "wss_s", &VerifyOptions::default()).unwrap_err();
/// assert!(matches!(err, VerifyError::BadTimestamp));
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A header the profile needs is absent or empty.
    #[error("missing `{0}` header")]
    MissingHeader(&'static str),
    /// The timestamp header is not an integer number of Unix seconds.
    #[error("the timestamp header is not an integer number of Unix seconds")]
    BadTimestamp,
    /// The timestamp is older than [`VerifyOptions::max_age`].
    #[error("webhook timestamp too old ({age_secs} s > {max_age_secs} s)")]
    TooOld {
        /// How old the timestamp is.
        age_secs: u64,
        /// The maximum age allowed.
        max_age_secs: u64,
    },
    /// The timestamp is further ahead than
    /// [`VerifyOptions::allowed_future_skew`].
    #[error(
        "webhook timestamp is {ahead_secs} s in the future (at most {allowed_secs} s allowed)"
    )]
    InFuture {
        /// How far ahead of the clock the timestamp is.
        ahead_secs: u64,
        /// The skew allowed.
        allowed_secs: u64,
    },
    /// No signature in the header matches the body, headers and secret.
    #[error("webhook signature does not match")]
    BadSignature,
    /// The secret given to [`verify`] cannot be used (empty, or for
    /// standard-webhooks not `whsec_<base64>`).
    #[error("the signing secret is unusable")]
    BadSecret(#[source] SecretError),
}

/// Verifies a received webhook: its raw `body` bytes exactly as received, its
/// `headers`, and the endpoint's `secret` (`wss_…` for extend, `whsec_…` for
/// standard-webhooks, the endpoint secret for body-hmac).
///
/// Headers are looked up case-insensitively and surrounding whitespace in
/// their values is ignored. Timestamps (extend, standard-webhooks) must be
/// integer Unix seconds and are checked against `opts` before the signature.
/// Signatures are compared in constant time. Hex signatures (extend,
/// body-hmac) are accepted in either case; hookrelay and Extend send lowercase.
/// For standard-webhooks any one of the space-separated `v1,…` signatures
/// may match (secret rotation); entries with other versions are ignored.
///
/// For extend, the timestamp header's text goes into the signed message
/// verbatim, as in Extend's SDKs; for standard-webhooks its integer value
/// does, as in the reference libraries.
///
/// ```
/// use hookrelay_webhooks::signing::{extend_signature, EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER};
/// use hookrelay_webhooks::{verify, Profile, VerifyError, VerifyOptions};
///
/// let secret = "wss_example";
/// let body = br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{}}"#;
/// let ts = 1_700_000_000;
/// let sig = extend_signature(secret, ts, body);
/// let headers = [
///     ("X-Extend-Request-Timestamp", ts.to_string()),
///     ("X-Extend-Request-Signature", sig),
/// ];
/// let opts = VerifyOptions::default().with_now(ts + 10);
///
/// verify(Profile::Extend, body, &headers, secret, &opts)?;
/// assert!(matches!(
///     verify(Profile::Extend, b"tampered", &headers, secret, &opts),
///     Err(VerifyError::BadSignature)
/// ));
/// # Ok::<(), VerifyError>(())
/// ```
pub fn verify<H>(
    profile: Profile,
    body: &[u8],
    headers: &H,
    secret: &str,
    opts: &VerifyOptions,
) -> Result<(), VerifyError>
where
    H: HeaderLookup + ?Sized,
{
    match profile {
        Profile::Extend => verify_extend(body, headers, secret, opts),
        Profile::StandardWebhooks => verify_standard(body, headers, secret, opts),
        Profile::BodyHmac => verify_body_hmac(body, headers, secret),
    }
}

fn verify_extend<H: HeaderLookup + ?Sized>(
    body: &[u8],
    headers: &H,
    secret: &str,
    opts: &VerifyOptions,
) -> Result<(), VerifyError> {
    let timestamp_text = required(headers, EXTEND_TIMESTAMP_HEADER)?;
    let signature = required(headers, EXTEND_SIGNATURE_HEADER)?;
    if secret.is_empty() {
        return Err(VerifyError::BadSecret(SecretError::Empty));
    }
    check_timestamp(parse_timestamp(timestamp_text)?, opts)?;
    let expected = signing::extend_tag(secret.as_bytes(), timestamp_text, body);
    hex_matches(signature, &expected)
}

fn verify_standard<H: HeaderLookup + ?Sized>(
    body: &[u8],
    headers: &H,
    secret: &str,
    opts: &VerifyOptions,
) -> Result<(), VerifyError> {
    let msg_id = required(headers, STANDARD_ID_HEADER)?;
    let timestamp_text = required(headers, STANDARD_TIMESTAMP_HEADER)?;
    let signatures = required(headers, STANDARD_SIGNATURE_HEADER)?;
    let secret = StandardSecret::parse(secret).map_err(VerifyError::BadSecret)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    check_timestamp(timestamp, opts)?;
    let expected = signing::standard_tag(secret.key_bytes(), msg_id, timestamp, body);
    let matched = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| signing::decode_base64(sig))
        .any(|sig| bool::from(sig.as_slice().ct_eq(&expected)));
    if matched {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

fn verify_body_hmac<H: HeaderLookup + ?Sized>(
    body: &[u8],
    headers: &H,
    secret: &str,
) -> Result<(), VerifyError> {
    let signature = required(headers, BODY_HMAC_SIGNATURE_HEADER)?;
    if secret.is_empty() {
        return Err(VerifyError::BadSecret(SecretError::Empty));
    }
    hex_matches(signature, &signing::body_hmac_tag(secret.as_bytes(), body))
}

/// A header's trimmed value; absent or empty is [`VerifyError::MissingHeader`].
fn required<'h, H: HeaderLookup + ?Sized>(
    headers: &'h H,
    name: &'static str,
) -> Result<&'h str, VerifyError> {
    match headers.header(name).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(VerifyError::MissingHeader(name)),
    }
}

fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    text.parse().map_err(|_| VerifyError::BadTimestamp)
}

fn check_timestamp(timestamp: i64, opts: &VerifyOptions) -> Result<(), VerifyError> {
    let now = opts.current_time();
    let age = now.saturating_sub(timestamp);
    if age >= 0 {
        let age_secs = age.unsigned_abs();
        match opts.max_age {
            Some(max_age) if !max_age.is_zero() && Duration::from_secs(age_secs) > max_age => {
                Err(VerifyError::TooOld {
                    age_secs,
                    max_age_secs: max_age.as_secs(),
                })
            }
            _ => Ok(()),
        }
    } else {
        let ahead_secs = age.unsigned_abs();
        if Duration::from_secs(ahead_secs) > opts.allowed_future_skew {
            Err(VerifyError::InFuture {
                ahead_secs,
                allowed_secs: opts.allowed_future_skew.as_secs(),
            })
        } else {
            Ok(())
        }
    }
}

/// Compares a hex signature (either case) with the expected MAC in constant
/// time.
fn hex_matches(signature: &str, expected: &[u8; 32]) -> Result<(), VerifyError> {
    let mut given = [0u8; 32];
    if hex::decode_to_slice(signature, &mut given).is_err() {
        return Err(VerifyError::BadSignature);
    }
    if bool::from(given.ct_eq(expected)) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Read access to request headers, by name, ignoring ASCII case.
///
/// Implemented for slices, arrays and `Vec`s of `(name, value)` pairs, for
/// `HashMap` and `BTreeMap` from name to value (with `String` or `&str`
/// keys and values), for references to any of these, and, with the `http`
/// feature, for `http::HeaderMap`.
///
/// ```
/// use hookrelay_webhooks::HeaderLookup;
///
/// let headers = vec![("Webhook-Id".to_string(), "msg_1".to_string())];
/// assert_eq!(headers.header("webhook-id"), Some("msg_1"));
/// assert_eq!(headers.header("webhook-timestamp"), None);
/// ```
pub trait HeaderLookup {
    /// The value of the header `name` (given in lowercase), compared
    /// ASCII-case-insensitively; the first one if there are several. `None`
    /// if absent (or, for byte-valued maps, not valid UTF-8).
    fn header(&self, name: &str) -> Option<&str>;
}

impl<T: HeaderLookup + ?Sized> HeaderLookup for &T {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// An exact match on `name` wins; otherwise any key equal ignoring case.
impl<K, V, S> HeaderLookup for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name)
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| (*k).borrow().eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(AsRef::as_ref)
    }
}

/// An exact match on `name` wins; otherwise the first key equal ignoring case.
impl<K, V> HeaderLookup for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name)
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| (*k).borrow().eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(AsRef::as_ref)
    }
}

#[cfg(feature = "http")]
impl HeaderLookup for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>().unwrap(), p);
        }
        assert!("Extend".parse::<Profile>().is_err());
    }

    #[test]
    fn timestamp_boundaries_are_inclusive() {
        let opts = VerifyOptions::default().with_now(1_000);
        assert!(check_timestamp(700, &opts).is_ok());
        assert!(matches!(
            check_timestamp(699, &opts),
            Err(VerifyError::TooOld {
                age_secs: 301,
                max_age_secs: 300
            })
        ));
        assert!(check_timestamp(1_060, &opts).is_ok());
        assert!(matches!(
            check_timestamp(1_061, &opts),
            Err(VerifyError::InFuture {
                ahead_secs: 61,
                allowed_secs: 60
            })
        ));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let opts = VerifyOptions::default().with_now(0);
        assert!(matches!(
            check_timestamp(i64::MIN, &opts),
            Err(VerifyError::TooOld { .. })
        ));
        assert!(matches!(
            check_timestamp(i64::MAX, &opts),
            Err(VerifyError::InFuture { .. })
        ));
        let off = opts
            .with_max_age(None)
            .with_allowed_future_skew(Duration::MAX);
        assert!(check_timestamp(i64::MIN, &off).is_ok());
        assert!(check_timestamp(i64::MAX, &off).is_ok());
    }

    #[test]
    fn hex_signature_must_be_32_bytes() {
        let tag = [7u8; 32];
        assert!(hex_matches(&hex::encode(tag), &tag).is_ok());
        assert!(hex_matches(&hex::encode_upper(tag), &tag).is_ok());
        assert!(hex_matches(&hex::encode(&tag[..31]), &tag).is_err());
        assert!(hex_matches("zz", &tag).is_err());
        assert!(hex_matches("", &tag).is_err());
    }
}

//! The receiver API modelled on Extend's official SDKs: verify and parse in
//! one call ([`verify_and_parse`]), or verify ([`verify`] → `bool`) and
//! [`parse`] separately, [`is_signed_url_event`], plus the [`Options`] they
//! share, a reusable [`Webhook`] verifier holding a secret and a profile, and
//! the [`FromWebhook`] trait that says how a verified body becomes a value.
//!
//! Everything here checks signatures with [`crate::verify()`] and so with the
//! same code the hookrelay dispatcher signs with. No IO: the clock is read
//! only when [`Options::now`] is not set.
//!
//! Note on names: the crate root's [`crate::verify()`] (profile first,
//! returning `Result<(), VerifyError>` with the reason) predates this module;
//! the SDK-style `verify(...) -> bool` is [`webhook::verify`](verify) and
//! [`Webhook::verify`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::WebhookError;
use crate::event::{Event, V1Event};
use crate::signing::{SecretError, StandardSecret};
use crate::verify::{self as verification, HeaderLookup, Profile, VerifyError, VerifyOptions};

/// Options for receiving a webhook: the timestamp checks of [`VerifyOptions`]
/// plus whether signed-URL payloads are accepted.
///
/// The defaults are those of Extend's SDKs: a 300 s maximum age, 60 s
/// allowance for a sender's clock being ahead, signed URLs refused.
///
/// ```
/// use std::time::Duration;
/// use hookrelay_webhooks::Options;
///
/// let opts = Options::default();
/// assert_eq!(opts.max_age, Some(Duration::from_secs(300)));
/// assert_eq!(opts.allowed_future_skew, Duration::from_secs(60));
/// assert!(!opts.allow_signed_url);
///
/// let opts = Options::default().with_max_age(None).with_allow_signed_url(true);
/// assert_eq!(opts.max_age, None);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Reject a timestamp older than this (`age > max_age`). Default 300 s.
    /// `None` or zero turns the age check off. Not used by body-hmac, which
    /// has no timestamp.
    pub max_age: Option<Duration>,
    /// Reject a timestamp more than this far ahead of the clock. Default 60 s.
    /// Independent of `max_age` (see [`VerifyOptions::allowed_future_skew`]).
    pub allowed_future_skew: Duration,
    /// Accept an extend event whose payload is a signed URL. Default `false`:
    /// such an event is [`WebhookError::SignedUrlNotAllowed`], as in Extend's
    /// SDKs. Turn it on, then check [`is_signed_url_event`] and fetch the
    /// payload (feature `fetch`).
    pub allow_signed_url: bool,
    /// The current Unix time in seconds; `None` reads the system clock.
    pub now: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        let verify = VerifyOptions::default();
        Options {
            max_age: verify.max_age,
            allowed_future_skew: verify.allowed_future_skew,
            allow_signed_url: false,
            now: verify.now,
        }
    }
}

impl Options {
    /// Sets [`max_age`](Self::max_age) (`None` or zero: no age check).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hookrelay_webhooks::Options;
    ///
    /// let opts = Options::default().with_max_age(Some(Duration::from_secs(600)));
    /// assert_eq!(opts.max_age, Some(Duration::from_secs(600)));
    /// ```
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets [`allowed_future_skew`](Self::allowed_future_skew).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hookrelay_webhooks::Options;
    ///
    /// let opts = Options::default().with_allowed_future_skew(Duration::ZERO);
    /// assert_eq!(opts.allowed_future_skew, Duration::ZERO);
    /// ```
    pub fn with_allowed_future_skew(mut self, skew: Duration) -> Self {
        self.allowed_future_skew = skew;
        self
    }

    /// Sets [`allow_signed_url`](Self::allow_signed_url).
    ///
    /// ```
    /// use hookrelay_webhooks::Options;
    ///
    /// assert!(Options::default().with_allow_signed_url(true).allow_signed_url);
    /// ```
    pub fn with_allow_signed_url(mut self, allow: bool) -> Self {
        self.allow_signed_url = allow;
        self
    }

    /// Fixes the clock at `now` Unix seconds instead of the system clock.
    ///
    /// ```
    /// use hookrelay_webhooks::Options;
    ///
    /// assert_eq!(Options::default().with_now(1_700_000_000).now, Some(1_700_000_000));
    /// ```
    pub fn with_now(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// The signature-check part of these options.
    ///
    /// ```
    /// use hookrelay_webhooks::{Options, VerifyOptions};
    ///
    /// assert_eq!(Options::default().verify_options(), VerifyOptions::default());
    /// ```
    pub fn verify_options(&self) -> VerifyOptions {
        let opts = VerifyOptions::default()
            .with_max_age(self.max_age)
            .with_allowed_future_skew(self.allowed_future_skew);
        match self.now {
            Some(now) => opts.with_now(now),
            None => opts,
        }
    }
}

/// How a verified body becomes a value: implemented for [`Event`] (the
/// extend envelope, honouring [`Options::allow_signed_url`]), [`V1Event`]
/// (the v1 envelope), [`serde_json::Value`] (any JSON) and `Vec<u8>` (the raw
/// bytes). Implement it for your own types to use them with
/// [`verify_and_parse_with`], [`Webhook::verify_and_parse_as`] and the axum
/// extractor.
///
/// ```
/// use hookrelay_webhooks::{FromWebhook, Options, WebhookError};
///
/// #[derive(serde::Deserialize)]
/// struct MyEvent { id: String }
///
/// impl FromWebhook for MyEvent {
///     fn from_webhook(body: &[u8], _options: &Options) -> Result<Self, WebhookError> {
///         let value: serde_json::Value = FromWebhook::from_webhook(body, _options)?;
///         serde_json::from_value(value).map_err(|source| WebhookError::BadShape {
///             expected: "my event",
///             source,
///         })
///     }
/// }
///
/// let event = MyEvent::from_webhook(br#"{"id":"x"}"#, &Options::default())?;
/// assert_eq!(event.id, "x");
/// # Ok::<(), WebhookError>(())
/// ```
pub trait FromWebhook: Sized {
    /// Parses a body whose signature has been checked.
    fn from_webhook(body: &[u8], options: &Options) -> Result<Self, WebhookError>;
}

impl FromWebhook for Event {
    /// [`parse`], then [`WebhookError::SignedUrlNotAllowed`] for a signed-URL
    /// payload unless [`Options::allow_signed_url`].
    fn from_webhook(body: &[u8], options: &Options) -> Result<Self, WebhookError> {
        let event = parse(body)?;
        if event.is_signed_url() && !options.allow_signed_url {
            return Err(WebhookError::SignedUrlNotAllowed);
        }
        Ok(event)
    }
}

impl FromWebhook for V1Event {
    /// [`parse_v1`].
    fn from_webhook(body: &[u8], _options: &Options) -> Result<Self, WebhookError> {
        parse_v1(body)
    }
}

impl FromWebhook for Value {
    /// Any JSON; [`WebhookError::NotJson`] otherwise.
    fn from_webhook(body: &[u8], _options: &Options) -> Result<Self, WebhookError> {
        serde_json::from_slice(body).map_err(WebhookError::NotJson)
    }
}

impl FromWebhook for Vec<u8> {
    /// The body bytes as they are.
    fn from_webhook(body: &[u8], _options: &Options) -> Result<Self, WebhookError> {
        Ok(body.to_vec())
    }
}

/// A verifier for one endpoint: its signing secret, its profile and the
/// [`Options`] to receive with. Cheap to clone (the secret is shared), so it
/// can live in an axum state; `Debug` never shows the secret.
///
/// ```
/// use hookrelay_webhooks::signing::{extend_signature, EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER};
/// use hookrelay_webhooks::{EventType, Options, Profile, Webhook};
///
/// let webhook = Webhook::new(Profile::Extend, "wss_secret")?
///     .with_options(Options::default().with_now(1_700_000_000));
/// assert_eq!(format!("{webhook:?}").contains("wss_secret"), false);
///
/// let body = br#"{"eventId":"evt_1","eventType":"parse_run.processed","payload":{}}"#;
/// let headers = [
///     (EXTEND_TIMESTAMP_HEADER, "1700000000".to_string()),
///     (EXTEND_SIGNATURE_HEADER, extend_signature("wss_secret", 1_700_000_000, body)),
/// ];
/// assert!(webhook.verify(body, &headers));
/// let event = webhook.verify_and_parse(body, &headers)?;
/// assert_eq!(event.event_type, EventType::ParseRunProcessed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Webhook {
    profile: Profile,
    secret: Arc<str>,
    options: Options,
}

impl Webhook {
    /// A verifier for `profile` with `secret` (`wss_…` for extend, `whsec_…`
    /// for standard-webhooks, the endpoint secret for body-hmac) and default
    /// [`Options`]. Fails on an empty secret, and for standard-webhooks on
    /// one that is not `whsec_<base64>`, so a misconfiguration shows at
    /// start-up rather than as every request failing.
    ///
    /// ```
    /// use hookrelay_webhooks::{Profile, SecretError, Webhook};
    ///
    /// assert!(Webhook::new(Profile::BodyHmac, "my-v1-secret").is_ok());
    /// assert!(matches!(Webhook::new(Profile::Extend, ""), Err(SecretError::Empty)));
    /// assert!(Webhook::new(Profile::StandardWebhooks, "whsec_*").is_err());
    /// ```
    pub fn new(profile: Profile, secret: impl Into<String>) -> Result<Self, SecretError> {
        let secret: String = secret.into();
        match profile {
            Profile::StandardWebhooks => {
                StandardSecret::parse(&secret)?;
            }
            Profile::Extend | Profile::BodyHmac if secret.is_empty() => {
                return Err(SecretError::Empty)
            }
            Profile::Extend | Profile::BodyHmac => {}
        }
        Ok(Webhook {
            profile,
            secret: secret.into(),
            options: Options::default(),
        })
    }

    /// Replaces the [`Options`].
    ///
    /// ```
    /// use hookrelay_webhooks::{Options, Profile, Webhook};
    ///
    /// let webhook = Webhook::new(Profile::Extend, "wss_secret")?
    ///     .with_options(Options::default().with_allow_signed_url(true));
    /// assert!(webhook.options().allow_signed_url);
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The profile.
    ///
    /// ```
    /// use hookrelay_webhooks::{Profile, Webhook};
    ///
    /// assert_eq!(Webhook::new(Profile::BodyHmac, "s")?.profile(), Profile::BodyHmac);
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The options.
    ///
    /// ```
    /// use hookrelay_webhooks::{Options, Profile, Webhook};
    ///
    /// assert_eq!(Webhook::new(Profile::Extend, "wss_s")?.options(), &Options::default());
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Checks the signature, giving the reason on failure.
    ///
    /// ```
    /// use hookrelay_webhooks::signing::{body_hmac_signature, BODY_HMAC_SIGNATURE_HEADER};
    /// use hookrelay_webhooks::{Profile, VerifyError, Webhook};
    ///
    /// let webhook = Webhook::new(Profile::BodyHmac, "v1_secret")?;
    /// let headers = [(BODY_HMAC_SIGNATURE_HEADER, body_hmac_signature("v1_secret", b"{}"))];
    /// webhook.verify_signature(b"{}", &headers)?;
    /// assert!(matches!(webhook.verify_signature(b"[]", &headers), Err(VerifyError::BadSignature)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_signature(
        &self,
        body: &[u8],
        headers: &(impl HeaderLookup + ?Sized),
    ) -> Result<(), VerifyError> {
        verification::verify(
            self.profile,
            body,
            headers,
            &self.secret,
            &self.options.verify_options(),
        )
    }

    /// Whether the signature is valid (Extend's `webhooks.verify`).
    ///
    /// ```
    /// use hookrelay_webhooks::{Profile, Webhook};
    ///
    /// let webhook = Webhook::new(Profile::Extend, "wss_secret")?;
    /// assert!(!webhook.verify(b"{}", &[("x-extend-request-signature", "00")]));
    /// # Ok::<(), hookrelay_webhooks::SecretError>(())
    /// ```
    pub fn verify(&self, body: &[u8], headers: &(impl HeaderLookup + ?Sized)) -> bool {
        self.verify_signature(body, headers).is_ok()
    }

    /// Verifies, then parses an extend-envelope [`Event`] (see
    /// [`verify_and_parse`]).
    ///
    /// ```
    /// use hookrelay_webhooks::signing::{standard_signature, StandardSecret};
    /// use hookrelay_webhooks::{Options, Profile, Webhook};
    ///
    /// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// let webhook = Webhook::new(Profile::StandardWebhooks, secret)?
    ///     .with_options(Options::default().with_now(1_700_000_000));
    /// let body = br#"{"eventId":"evt_1","eventType":"workflow.created","payload":{}}"#;
    /// let sig = standard_signature(&StandardSecret::parse(secret)?, "evt_1", 1_700_000_000, body);
    /// let headers = [
    ///     ("webhook-id", "evt_1".to_string()),
    ///     ("webhook-timestamp", "1700000000".to_string()),
    ///     ("webhook-signature", sig),
    /// ];
    /// assert_eq!(webhook.verify_and_parse(body, &headers)?.event_id, "evt_1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_and_parse(
        &self,
        body: &[u8],
        headers: &(impl HeaderLookup + ?Sized),
    ) -> Result<Event, WebhookError> {
        self.verify_and_parse_as(body, headers)
    }

    /// Verifies, then parses the body as any [`FromWebhook`] type, e.g.
    /// [`V1Event`].
    ///
    /// ```
    /// use hookrelay_webhooks::signing::{body_hmac_signature, BODY_HMAC_SIGNATURE_HEADER};
    /// use hookrelay_webhooks::{EventType, Profile, V1Event, Webhook};
    ///
    /// let webhook = Webhook::new(Profile::BodyHmac, "v1_secret")?;
    /// let body = br#"{"id":"evt_1","type":"payment.failed","created_at":"2026-02-09T00:00:00.000Z","data":{"object":{}},"previous_data":null}"#;
    /// let headers = [(BODY_HMAC_SIGNATURE_HEADER, body_hmac_signature("v1_secret", body))];
    /// let event: V1Event = webhook.verify_and_parse_as(body, &headers)?;
    /// assert_eq!(event.event_type, EventType::PaymentFailed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_and_parse_as<T: FromWebhook>(
        &self,
        body: &[u8],
        headers: &(impl HeaderLookup + ?Sized),
    ) -> Result<T, WebhookError> {
        self.verify_signature(body, headers)?;
        T::from_webhook(body, &self.options)
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("profile", &self.profile)
            .field("secret", &format_args!("<redacted>"))
            .field("options", &self.options)
            .finish()
    }
}

/// Verifies an extend-profile webhook and parses its extend-envelope
/// [`Event`] (Extend's `webhooks.verify_and_parse`).
///
/// `body` is the raw request body exactly as received, `headers` any
/// [`HeaderLookup`] (names compared ignoring case), `secret` the endpoint's
/// `wss_…` signing secret. The signature is checked first (in constant time;
/// timestamps against `options`), then the JSON is parsed; a signed-URL
/// payload is [`WebhookError::SignedUrlNotAllowed`] unless
/// [`Options::allow_signed_url`]. For the other profiles use
/// [`verify_and_parse_with`] or a [`Webhook`].
///
/// ```
/// use std::time::{SystemTime, UNIX_EPOCH};
/// use hookrelay_webhooks::signing::extend_signature;
/// use hookrelay_webhooks::{verify_and_parse, EventType, Options};
///
/// # let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
/// let body = br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{"id":"wr_1"}}"#;
/// let headers = [
///     ("X-Extend-Request-Timestamp", now.to_string()),
///     ("X-Extend-Request-Signature", extend_signature("wss_secret", now, body)),
/// ];
/// let event = verify_and_parse(body, &headers, "wss_secret", &Options::default())?;
/// assert_eq!(event.event_type, EventType::WorkflowRunCompleted);
/// assert_eq!(event.payload.id(), Some("wr_1"));
/// # Ok::<(), hookrelay_webhooks::WebhookError>(())
/// ```
pub fn verify_and_parse(
    body: &[u8],
    headers: &(impl HeaderLookup + ?Sized),
    secret: &str,
    options: &Options,
) -> Result<Event, WebhookError> {
    verify_and_parse_with(Profile::Extend, body, headers, secret, options)
}

/// Verifies a webhook of any `profile` and parses it as any [`FromWebhook`]
/// type: [`Event`] for endpoints on an Extend API version, [`V1Event`] for
/// the v1 API, [`serde_json::Value`] or your own.
///
/// ```
/// use hookrelay_webhooks::signing::{standard_signature, StandardSecret};
/// use hookrelay_webhooks::{verify_and_parse_with, Event, Options, Profile};
///
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let body = br#"{"eventId":"evt_1","eventType":"workflow.created","payload":{}}"#;
/// let sig = standard_signature(&StandardSecret::parse(secret)?, "evt_1", 1_700_000_000, body);
/// let headers = [
///     ("webhook-id", "evt_1".to_string()),
///     ("webhook-timestamp", "1700000000".to_string()),
///     ("webhook-signature", sig),
/// ];
/// let opts = Options::default().with_now(1_700_000_030);
/// let event = verify_and_parse_with::<Event>(Profile::StandardWebhooks, body, &headers, secret, &opts)?;
/// assert_eq!(event.event_id, "evt_1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_and_parse_with<T: FromWebhook>(
    profile: Profile,
    body: &[u8],
    headers: &(impl HeaderLookup + ?Sized),
    secret: &str,
    options: &Options,
) -> Result<T, WebhookError> {
    verification::verify(profile, body, headers, secret, &options.verify_options())?;
    T::from_webhook(body, options)
}

/// Verifies a body-hmac (v1 API) webhook and parses its [`V1Event`].
/// `options` has no effect on the check: body-hmac carries no timestamp.
///
/// ```
/// use hookrelay_webhooks::signing::body_hmac_signature;
/// use hookrelay_webhooks::{verify_and_parse_v1, EventType, Options};
///
/// let body = br#"{"id":"evt_1","type":"resource.created","created_at":"2026-02-09T00:00:00.000Z","data":{"object":{"id":"res_1"}},"previous_data":null}"#;
/// let headers = [("X-Webhook-Signature", body_hmac_signature("v1_secret", body))];
/// let event = verify_and_parse_v1(body, &headers, "v1_secret", &Options::default())?;
/// assert_eq!(event.event_type, EventType::ResourceCreated);
/// assert_eq!(event.data.object["id"], "res_1");
/// # Ok::<(), hookrelay_webhooks::WebhookError>(())
/// ```
pub fn verify_and_parse_v1(
    body: &[u8],
    headers: &(impl HeaderLookup + ?Sized),
    secret: &str,
    options: &Options,
) -> Result<V1Event, WebhookError> {
    verify_and_parse_with(Profile::BodyHmac, body, headers, secret, options)
}

/// Whether an extend-profile webhook's signature is valid (Extend's
/// `webhooks.verify`); any failure — missing header, bad or out-of-range
/// timestamp, bad signature, empty secret — is `false`. Use
/// [`crate::verify()`] for the reason, or another profile.
/// [`Options::allow_signed_url`] is not used.
///
/// ```
/// use hookrelay_webhooks::signing::extend_signature;
/// use hookrelay_webhooks::{webhook, Options};
///
/// let body = br#"{"eventId":"evt_1","eventType":"t","payload":{}}"#;
/// let headers = [
///     ("x-extend-request-timestamp", "1700000000".to_string()),
///     ("x-extend-request-signature", extend_signature("wss_secret", 1_700_000_000, body)),
/// ];
/// let opts = Options::default().with_now(1_700_000_000);
/// assert!(webhook::verify(body, &headers, "wss_secret", &opts));
/// assert!(!webhook::verify(body, &headers, "wss_other", &opts));
/// ```
pub fn verify(
    body: &[u8],
    headers: &(impl HeaderLookup + ?Sized),
    secret: &str,
    options: &Options,
) -> bool {
    verification::verify(
        Profile::Extend,
        body,
        headers,
        secret,
        &options.verify_options(),
    )
    .is_ok()
}

/// Parses an extend-envelope body without verifying it (Extend's
/// `webhooks.parse`): only for a body whose signature you have checked.
/// Signed-URL payloads are returned as [`crate::Payload::SignedUrl`] whatever
/// the options, and unknown event types as [`crate::EventType::Unknown`].
///
/// ```
/// use hookrelay_webhooks::{parse, EventType, WebhookError};
///
/// let event = parse(br#"{"eventId":"evt_1","eventType":"brand_new.event","payload":[]}"#)?;
/// assert_eq!(event.event_type, EventType::Unknown("brand_new.event".into()));
/// assert!(matches!(parse(b"not json"), Err(WebhookError::NotJson(_))));
/// assert!(matches!(parse(br#"{"id":"evt_1"}"#), Err(WebhookError::BadShape { .. })));
/// # Ok::<(), WebhookError>(())
/// ```
pub fn parse(body: &[u8]) -> Result<Event, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::from_json("an extend event envelope", e))
}

/// Parses a v1-envelope body without verifying it: only for a body whose
/// signature you have checked.
///
/// ```
/// use hookrelay_webhooks::{parse_v1, WebhookError};
///
/// let body = br#"{"id":"evt_1","type":"user.created","created_at":"2026-02-09T00:00:00.000Z","data":{"object":{}}}"#;
/// assert_eq!(parse_v1(body)?.previous_data, None);
/// assert!(matches!(parse_v1(b"{}"), Err(WebhookError::BadShape { .. })));
/// # Ok::<(), WebhookError>(())
/// ```
pub fn parse_v1(body: &[u8]) -> Result<V1Event, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::from_json("a v1 event envelope", e))
}

/// Whether the event's payload is a signed URL to fetch (Extend's
/// `webhooks.is_signed_url_event`); same as [`Event::is_signed_url`].
///
/// ```
/// use hookrelay_webhooks::{is_signed_url_event, parse};
///
/// let event = parse(br#"{"eventId":"e","eventType":"extract_run.processed",
///     "payload":{"object":"signed_data_url","data":"https://hooks.example.com/p/tok","id":"exr_1","metadata":null}}"#)?;
/// assert!(is_signed_url_event(&event));
/// # Ok::<(), hookrelay_webhooks::WebhookError>(())
/// ```
pub fn is_signed_url_event(event: &Event) -> bool {
    event.is_signed_url()
}

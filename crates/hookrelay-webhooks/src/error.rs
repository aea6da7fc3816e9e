//! [`WebhookError`]: every way receiving a webhook can fail, from the
//! signature check to parsing and fetching a signed-URL payload.

use crate::verify::VerifyError;

/// Why a webhook could not be verified, parsed or fetched.
///
/// Signature problems keep [`VerifyError`]'s kinds inside
/// [`WebhookError::Verify`]: missing header, bad timestamp, too old, in the
/// future, bad signature, unusable secret. A receiver usually answers those
/// with 401 and the body problems ([`WebhookError::NotJson`],
/// [`WebhookError::BadShape`]) with 400, as the axum extractor does.
///
/// ```
/// use hookrelay_webhooks::{verify_and_parse, Options, VerifyError, WebhookError};
///
/// let headers = [("x-extend-request-signature", "00")];
/// match verify_and_parse(b"{}", &headers, "wss_secret", &Options::default()) {
///     Err(WebhookError::Verify(VerifyError::MissingHeader(name))) => {
///         assert_eq!(name, "x-extend-request-timestamp");
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The signature check failed (see [`VerifyError`] for the kinds).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The body is not JSON (including bodies that are not UTF-8).
    #[error("the webhook body is not JSON")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not the expected envelope (a field is missing or
    /// has the wrong type).
    #[error("the webhook body is not {expected}")]
    BadShape {
        /// The envelope that was expected, e.g. `an extend event envelope`.
        expected: &'static str,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The payload is a signed URL and [`Options::allow_signed_url`] is off
    /// (the default, as in Extend's SDKs).
    ///
    /// [`Options::allow_signed_url`]: crate::Options::allow_signed_url
    #[error(
        "the webhook payload is a signed URL, which is not allowed (set `allow_signed_url` \
         and fetch it with `fetch_signed_payload`)"
    )]
    SignedUrlNotAllowed,
    /// Fetching a signed-URL payload failed (feature `fetch`).
    #[cfg(feature = "fetch")]
    #[error("fetching the signed-URL payload failed")]
    Fetch(#[source] crate::fetch::FetchError),
}

impl WebhookError {
    /// Whether the sender's signature or timestamp was rejected (a
    /// [`WebhookError::Verify`] other than an unusable secret, which is the
    /// receiver's own configuration problem): the cases to answer with 401.
    ///
    /// ```
    /// use hookrelay_webhooks::{VerifyError, WebhookError};
    ///
    /// assert!(WebhookError::from(VerifyError::BadSignature).is_unauthenticated());
    /// assert!(!WebhookError::SignedUrlNotAllowed.is_unauthenticated());
    /// ```
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, WebhookError::Verify(e) if !matches!(e, VerifyError::BadSecret(_)))
    }

    /// Classifies a serde error from parsing a body: a syntax error (or one
    /// at end of input) means the body is not JSON; a data error means it is
    /// the wrong shape.
    pub(crate) fn from_json(expected: &'static str, source: serde_json::Error) -> Self {
        if source.is_data() {
            WebhookError::BadShape { expected, source }
        } else {
            WebhookError::NotJson(source)
        }
    }
}

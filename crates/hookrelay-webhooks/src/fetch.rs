//! Fetching a signed-URL payload (feature `fetch`): one unauthenticated GET
//! with reqwest (rustls), the answer parsed as JSON and put in the event in
//! place of the link. The only IO in the crate.

use std::time::Duration;

use crate::error::WebhookError;
use crate::event::{Event, Payload};

/// How long [`fetch_signed_payload`] waits for the whole answer, as Extend's
/// SDKs do.
///
/// ```
/// use std::time::Duration;
/// use hookrelay_webhooks::fetch::FETCH_TIMEOUT;
///
/// assert_eq!(FETCH_TIMEOUT, Duration::from_secs(30));
/// ```
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why [`fetch_signed_payload`] failed. Never contains the signed URL, which
/// is a bearer link to the payload.
///
/// ```
/// use hookrelay_webhooks::{FetchError, WebhookError};
///
/// let err = WebhookError::Fetch(FetchError::Status { status: 410 });
/// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "the signed URL answered HTTP 410");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The event's payload is inline: there is nothing to fetch.
    #[error("the event's payload is inline, not a signed URL")]
    NotSignedUrl,
    /// The URL answered something other than 2xx (e.g. 403 or 410 once it
    /// has expired, after 1 hour; redirects are not followed).
    #[error("the signed URL answered HTTP {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// The request could not be made or its answer not read (connection,
    /// TLS, timeout, invalid URL).
    #[error("the signed-URL request failed")]
    Request(#[source] reqwest::Error),
    /// The answer is not JSON.
    #[error("the signed URL's answer is not JSON")]
    NotJson(#[source] serde_json::Error),
}

impl From<FetchError> for WebhookError {
    fn from(e: FetchError) -> Self {
        WebhookError::Fetch(e)
    }
}

/// Fetches the full payload of a signed-URL event (Extend's
/// `webhooks.fetch_signed_payload`) and returns the event with
/// [`Payload::Inline`] holding it; `event_id` and `event_type` are kept.
///
/// One GET without any authentication (the URL is the credential), with a
/// [`FETCH_TIMEOUT`] timeout and no redirects followed. Only fetch the links
/// of events whose signature you verified; check
/// [`Payload::metadata`](crate::Payload::metadata) first if you only want
/// some of them. Needs a Tokio runtime. To reuse a client, or to change the
/// timeout, use [`fetch_signed_payload_with`].
///
/// # Errors
///
/// [`WebhookError::Fetch`] with [`FetchError::NotSignedUrl`] for an inline
/// event, [`FetchError::Status`] for a non-2xx answer (an expired link gets
/// 403 or 410), [`FetchError::Request`] when the request fails and
/// [`FetchError::NotJson`] when the answer is not JSON.
///
/// ```no_run
/// use hookrelay_webhooks::{fetch_signed_payload, is_signed_url_event, verify_and_parse, Options};
///
/// # async fn handle(body: &[u8], headers: &[(String, String)]) -> Result<(), hookrelay_webhooks::WebhookError> {
/// let opts = Options::default().with_allow_signed_url(true);
/// let mut event = verify_and_parse(body, headers, "wss_secret", &opts)?;
/// if is_signed_url_event(&event) {
///     event = fetch_signed_payload(&event).await?;
/// }
/// let payload = event.payload.as_inline().unwrap();
/// # let _ = payload;
/// # Ok(())
/// # }
/// ```
pub async fn fetch_signed_payload(event: &Event) -> Result<Event, WebhookError> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| FetchError::Request(e.without_url()))?;
    fetch_signed_payload_with(&client, event).await
}

/// [`fetch_signed_payload`] with your own `reqwest` client (its timeout,
/// redirect policy and connection pool apply).
///
/// ```no_run
/// use std::time::Duration;
/// use hookrelay_webhooks::{fetch_signed_payload_with, Event};
///
/// # async fn run(event: Event) -> Result<(), Box<dyn std::error::Error>> {
/// let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
/// let full = fetch_signed_payload_with(&client, &event).await?;
/// # let _ = full;
/// # Ok(())
/// # }
/// ```
pub async fn fetch_signed_payload_with(
    client: &reqwest::Client,
    event: &Event,
) -> Result<Event, WebhookError> {
    let Payload::SignedUrl { url, .. } = &event.payload else {
        return Err(FetchError::NotSignedUrl.into());
    };
    let response = client
        .get(url.as_str())
        .send()
        .await
        .map_err(|e| FetchError::Request(e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
        }
        .into());
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| FetchError::Request(e.without_url()))?;
    let payload = serde_json::from_slice(&body).map_err(FetchError::NotJson)?;
    Ok(Event {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        payload: Payload::Inline(payload),
    })
}

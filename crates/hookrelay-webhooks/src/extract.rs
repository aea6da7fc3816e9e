//! The axum extractor (feature `axum`): [`VerifiedWebhook`] reads the body,
//! verifies it with the [`Webhook`] found in the router's state and parses
//! it; [`WebhookRejection`] is the one place where receiving errors become
//! HTTP responses.
//!
//! ```
//! use axum::extract::FromRef;
//! use axum::http::StatusCode;
//! use axum::routing::post;
//! use axum::Router;
//! use hookrelay_webhooks::{Event, Profile, VerifiedWebhook, Webhook};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     webhook: Webhook,
//! }
//!
//! impl FromRef<AppState> for Webhook {
//!     fn from_ref(state: &AppState) -> Webhook {
//!         state.webhook.clone()
//!     }
//! }
//!
//! async fn receive(VerifiedWebhook(event): VerifiedWebhook<Event>) -> StatusCode {
//!     println!("{} {}", event.event_id, event.event_type);
//!     StatusCode::NO_CONTENT
//! }
//!
//! let state = AppState { webhook: Webhook::new(Profile::Extend, "wss_secret")? };
//! let app: Router = Router::new().route("/webhooks/extend", post(receive)).with_state(state);
//! # let _ = app;
//! # Ok::<(), hookrelay_webhooks::SecretError>(())
//! ```

use std::ops::{Deref, DerefMut};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::WebhookError;
use crate::event::Event;
use crate::verify::VerifyError;
use crate::webhook::{FromWebhook, Webhook};

/// An axum extractor for a verified, parsed webhook: `T` is [`Event`] by
/// default, or [`V1Event`](crate::V1Event), [`serde_json::Value`],
/// `Vec<u8>` or your own [`FromWebhook`] type.
///
/// It reads the whole body (within axum's body limit), verifies it with the
/// [`Webhook`] taken from the state (`Webhook: FromRef<S>`; a `Webhook` can
/// also be the state itself) using that webhook's profile, secret and
/// [`Options`](crate::Options), then parses it. It consumes the body, so it
/// must be the handler's last argument. Failures are a [`WebhookRejection`]:
/// 401 for a signature problem, 400 for a bad body, 422 for a signed-URL
/// payload not allowed.
///
/// ```
/// use axum::http::StatusCode;
/// use axum::routing::post;
/// use axum::Router;
/// use hookrelay_webhooks::{EventType, Profile, V1Event, VerifiedWebhook, Webhook};
///
/// async fn receive(VerifiedWebhook(event): VerifiedWebhook<V1Event>) -> StatusCode {
///     match event.event_type {
///         EventType::PaymentFailed => { /* ... */ }
///         _ => {}
///     }
///     StatusCode::OK
/// }
///
/// let webhook = Webhook::new(Profile::BodyHmac, "v1_secret")?;
/// let app: Router = Router::new().route("/v1/hooks", post(receive)).with_state(webhook);
/// # let _ = app;
/// # Ok::<(), hookrelay_webhooks::SecretError>(())
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedWebhook<T = Event>(pub T);

impl<T> VerifiedWebhook<T> {
    /// The parsed webhook.
    ///
    /// ```
    /// use hookrelay_webhooks::VerifiedWebhook;
    ///
    /// assert_eq!(VerifiedWebhook(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for VerifiedWebhook<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for VerifiedWebhook<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<S, T> FromRequest<S> for VerifiedWebhook<T>
where
    S: Send + Sync,
    Webhook: FromRef<S>,
    T: FromWebhook,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let webhook = Webhook::from_ref(state);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(WebhookRejection::Body)?;
        webhook
            .verify_and_parse_as(&body, &headers)
            .map(VerifiedWebhook)
            .map_err(WebhookRejection::Webhook)
    }
}

/// Why [`VerifiedWebhook`] rejected a request, and the response it becomes
/// (a plain-text reason).
///
/// | cause | status |
/// | --- | --- |
/// | missing header, bad timestamp, too old, in the future, bad signature | 401 |
/// | body not JSON, or not the expected envelope | 400 |
/// | signed-URL payload while `allow_signed_url` is off | 422 |
/// | the body could not be read | axum's own (e.g. 413 over the body limit) |
/// | the webhook's secret is unusable (a server misconfiguration) | 500, without details |
///
/// Every one of these is a non-2xx answer, so hookrelay (and Extend) will
/// retry the delivery.
///
/// ```
/// use axum::http::StatusCode;
/// use hookrelay_webhooks::{VerifyError, WebhookError, WebhookRejection};
///
/// let rejection = WebhookRejection::Webhook(WebhookError::Verify(VerifyError::BadSignature));
/// assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    /// The request body could not be read.
    #[error(transparent)]
    Body(BytesRejection),
    /// Verifying or parsing failed.
    #[error(transparent)]
    Webhook(WebhookError),
}

impl WebhookRejection {
    /// The response's status code (see the table on the type).
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use hookrelay_webhooks::{WebhookError, WebhookRejection};
    ///
    /// let rejection = WebhookRejection::Webhook(WebhookError::SignedUrlNotAllowed);
    /// assert_eq!(rejection.status(), StatusCode::UNPROCESSABLE_ENTITY);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookRejection::Body(rejection) => rejection.status(),
            WebhookRejection::Webhook(error) => match error {
                WebhookError::Verify(VerifyError::BadSecret(_)) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                WebhookError::Verify(_) => StatusCode::UNAUTHORIZED,
                WebhookError::NotJson(_) | WebhookError::BadShape { .. } => StatusCode::BAD_REQUEST,
                WebhookError::SignedUrlNotAllowed => StatusCode::UNPROCESSABLE_ENTITY,
                #[cfg(feature = "fetch")]
                WebhookError::Fetch(_) => StatusCode::BAD_GATEWAY,
            },
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            WebhookRejection::Body(rejection) => rejection.into_response(),
            // Don't tell the sender about the receiver's own configuration.
            WebhookRejection::Webhook(_) if status.is_server_error() => {
                (status, "webhook receiver misconfigured").into_response()
            }
            WebhookRejection::Webhook(error) => (status, error.to_string()).into_response(),
        }
    }
}

// Link targets for the feature-gated items named in the docs below; without
// the feature they point at the list of features, so the docs build cleanly
// either way. (Here, not at the end: rustdoc would glue them to the last list
// item there.)
#![cfg_attr(
    feature = "fetch",
    doc = "[`fetch_signed_payload`]: fetch::fetch_signed_payload"
)]
#![cfg_attr(not(feature = "fetch"), doc = "[`fetch_signed_payload`]: #features")]
#![cfg_attr(
    feature = "axum",
    doc = "[`VerifiedWebhook`]: extract::VerifiedWebhook"
)]
#![cfg_attr(not(feature = "axum"), doc = "[`VerifiedWebhook`]: #features")]
#![cfg_attr(
    feature = "axum",
    doc = "[`WebhookRejection`]: extract::WebhookRejection"
)]
#![cfg_attr(not(feature = "axum"), doc = "[`WebhookRejection`]: #features")]
//! Receive hookrelay (and Extend) webhooks: verify their signatures for the
//! three wire profiles (`extend`, `standard-webhooks`, `body-hmac`), parse
//! them into typed events, fetch signed-URL payloads, and do all of it in an
//! axum extractor.
//!
//! This crate also owns the signature schemes: the hookrelay dispatcher signs
//! every delivery attempt with [`signing`], and receivers check deliveries
//! with code that computes signatures the same way; no other crate
//! implements a signature. Apart from the optional `fetch` feature it does no
//! IO; the clock is read only when [`Options::now`] / [`VerifyOptions::now`]
//! is not set.
//!
//! # A receiver in five lines
//!
//! ```
//! use hookrelay_webhooks::{verify_and_parse, EventType, Options, WebhookError};
//! # use hookrelay_webhooks::signing::extend_signature;
//! # use std::time::{SystemTime, UNIX_EPOCH};
//! # let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
//! # let body: &[u8] = br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{"id":"wr_1"}}"#;
//! # let headers = vec![
//! #     ("x-extend-request-timestamp".to_string(), now.to_string()),
//! #     ("x-extend-request-signature".to_string(), extend_signature("wss_your_secret", now, body)),
//! # ];
//!
//! // `body`: the raw request bytes; `headers`: any `HeaderLookup`.
//! let event = verify_and_parse(body, &headers, "wss_your_secret", &Options::default())?;
//! if event.event_type == EventType::WorkflowRunCompleted {
//!     println!("workflow run {:?} completed", event.payload.id());
//! }
//! # Ok::<(), WebhookError>(())
//! ```
//!
//! Any error means "answer non-2xx": [`WebhookError::Verify`] (401: missing
//! header, bad timestamp, too old, in the future, bad signature),
//! [`WebhookError::NotJson`] / [`WebhookError::BadShape`] (400), or
//! [`WebhookError::SignedUrlNotAllowed`] when a large payload arrived as a
//! link and [`Options::allow_signed_url`] is off (the default, as in Extend's
//! SDKs). With it on, check [`is_signed_url_event`] and call
//! [`fetch_signed_payload`] (feature `fetch`).
//!
//! # What's where
//!
//! - [`webhook`](mod@webhook): the API of Extend's SDKs —
//!   [`verify_and_parse`], [`verify_and_parse_with`] (any profile, any
//!   [`FromWebhook`] type), [`verify_and_parse_v1`], [`webhook::verify`]
//!   (`-> bool`), [`parse`], [`parse_v1`], [`is_signed_url_event`] — plus
//!   [`Options`] and the reusable [`Webhook`] verifier (secret + profile +
//!   options).
//! - [`event`](mod@event): [`Event`] (the extend envelope, with its [`Payload`] inline
//!   or a [`Payload::SignedUrl`]), [`V1Event`] (the v1 envelope of the
//!   body-hmac API) and [`EventType`], every catalog event type with an
//!   [`EventType::Unknown`] fallback.
//! - [`error`](mod@error): [`WebhookError`].
//! - [`verify`](mod@verify): the lower-level signature check
//!   [`verify()`] (`Result<(), VerifyError>`, profile first), its
//!   [`VerifyOptions`] and [`VerifyError`] kinds, and the [`HeaderLookup`]
//!   trait for header maps. The root `verify` is this one; the SDK-style
//!   boolean `verify` is [`webhook::verify`] and [`Webhook::verify`].
//! - [`signing`](mod@signing): header names, [`StandardSecret`] and one function per
//!   profile that computes the signature header's value.
//! - `fetch` (feature `fetch`): [`fetch_signed_payload`].
//! - `extract` (feature `axum`): the [`VerifiedWebhook`] extractor and its
//!   [`WebhookRejection`].
//!
//! # Checking a signature only
//!
//! ```
//! use hookrelay_webhooks::signing::{
//!     standard_signature, STANDARD_ID_HEADER, STANDARD_SIGNATURE_HEADER,
//!     STANDARD_TIMESTAMP_HEADER,
//! };
//! use hookrelay_webhooks::{verify, Profile, StandardSecret, VerifyOptions};
//!
//! // Sender side.
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"type":"invoice.paid"}"#;
//! let (id, ts) = ("evt_1", 1_700_000_000);
//! let signature = standard_signature(&StandardSecret::parse(secret)?, id, ts, body);
//!
//! // Receiver side.
//! let headers = vec![
//!     (STANDARD_ID_HEADER.to_string(), id.to_string()),
//!     (STANDARD_TIMESTAMP_HEADER.to_string(), ts.to_string()),
//!     (STANDARD_SIGNATURE_HEADER.to_string(), signature),
//! ];
//! let opts = VerifyOptions::default().with_now(ts);
//! verify(Profile::StandardWebhooks, body, &headers, secret, &opts)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `http`: [`HeaderLookup`] for `http::HeaderMap`.
//! - `fetch`: [`fetch_signed_payload`], with reqwest and rustls.
//! - `axum`: [`VerifiedWebhook`] for axum 0.8 (enables `http`).

pub mod error;
pub mod event;
#[cfg(feature = "axum")]
pub mod extract;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod signing;
pub mod verify;
pub mod webhook;

pub use error::WebhookError;
pub use event::{Event, EventType, Payload, SignedDataUrl, V1Data, V1Event};
#[cfg(feature = "axum")]
pub use extract::{VerifiedWebhook, WebhookRejection};
#[cfg(feature = "fetch")]
pub use fetch::{fetch_signed_payload, fetch_signed_payload_with, FetchError};
pub use signing::{SecretError, StandardSecret};
pub use verify::{verify, HeaderLookup, Profile, UnknownProfile, VerifyError, VerifyOptions};
pub use webhook::{
    is_signed_url_event, parse, parse_v1, verify_and_parse, verify_and_parse_v1,
    verify_and_parse_with, FromWebhook, Options, Webhook,
};

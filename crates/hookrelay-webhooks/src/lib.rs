//! Signing and verification of hookrelay (and Extend) webhooks, for the three
//! wire profiles: `extend`, `standard-webhooks` and `body-hmac`.
//!
//! This crate owns the signature schemes. The hookrelay dispatcher signs every
//! delivery attempt with [`signing`], and receivers check deliveries with
//! [`verify()`], which computes signatures with the same code; no other crate
//! implements a signature. It does no IO: the clock is read only when
//! [`VerifyOptions::now`] is not set.
//!
//! - [`signing`]: header names, [`StandardSecret`] and one function per
//!   profile that computes the signature header's value.
//! - [`verify`](mod@verify): [`verify()`], its [`VerifyOptions`], the
//!   [`VerifyError`] kinds and the [`HeaderLookup`] trait for header maps.
//!
//! # Example
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

pub mod signing;
pub mod verify;

pub use signing::{SecretError, StandardSecret};
pub use verify::{verify, HeaderLookup, Profile, UnknownProfile, VerifyError, VerifyOptions};

//! hookrelay's domain: ids, time, the event catalog and per-version rendering,
//! fan-out matching, the retry policy, secrets and pagination cursors.
//!
//! **Architecture invariant:** this crate does no IO. Time and randomness are
//! passed in (a [`time::Clock`], an `rand::Rng`) so every rule here is a pure
//! function that tests can pin down exactly.

pub mod catalog;
pub mod cursor;
pub mod fanout;
pub mod ids;
pub mod model;
pub mod parsed;
pub mod render;
pub mod retry;
pub mod secret;
pub mod signed_url;
pub mod time;
pub mod validate;

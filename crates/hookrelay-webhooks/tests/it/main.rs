//! The crate's integration tests, in one binary: independent test vectors,
//! property round trips, `verify` behaviour (headers, clocks, rotation), event
//! parsing, the SDK-style receiver API, and (with their features) fetching
//! signed-URL payloads from a local server and the axum extractor.

mod behaviour;
mod events;
#[cfg(feature = "axum")]
mod extractor;
#[cfg(feature = "fetch")]
mod fetch;
mod receive;
mod roundtrip;
mod vectors;

/// A fixed "now" for tests that don't care about the clock.
pub const NOW: i64 = 1_700_000_000;

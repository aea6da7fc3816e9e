//! The crate's integration tests, in one binary: independent test vectors,
//! property round trips, and `verify` behaviour (headers, clocks, rotation).

mod behaviour;
mod roundtrip;
mod vectors;

/// A fixed "now" for tests that don't care about the clock.
pub const NOW: i64 = 1_700_000_000;

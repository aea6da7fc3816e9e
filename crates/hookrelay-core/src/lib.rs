//! hookrelay's domain: ids, time, the event catalog and per-version rendering,
//! fan-out matching, the retry policy, secrets and pagination cursors.
//!
//! **Architecture invariant:** this crate does no IO. It opens no files or
//! sockets, and it reads the system clock and the OS random number generator
//! only through objects its callers construct and inject: the wall clock
//! through [`time::SystemClock`] (behind the [`time::Clock`] trait) and id
//! randomness through an [`ids::Ids`] generator, which a server makes once
//! and hands to everything that mints ids. Rules take a clock, a timestamp or
//! an `rand::Rng` as arguments, so tests pin them down exactly. The
//! exceptions are deliberate: secrets, API keys and server keys
//! ([`secret`]) draw from the OS generator directly, because nothing should
//! be able to make them predictable; signed-URL nonces ([`signed_url`]) and
//! the fixtures' `Id::at` draw from the thread's generator, and no test
//! needs to pin either.

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

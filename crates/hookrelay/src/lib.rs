//! The hookrelay binary as a library: configuration ([`config`]) and the
//! server's life cycle ([`serve`]), so integration tests can run whole
//! servers in-process on port 0 with their own shutdown.
//!
//! **Architecture invariant:** only this crate uses `anyhow` and `clap`.

pub mod cli;
pub mod config;
pub mod serve;

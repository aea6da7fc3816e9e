//! The bodies of hookrelay's fuzz targets, one module per target.
//!
//! Each `run(data)` panics exactly when it finds a bug: a panic in the code
//! under test, or a violated property (an assertion here). The fuzz targets
//! in `fuzz_targets/` call them under libFuzzer; the corpus replay test
//! (`crates/hookrelay/tests/fuzz_corpus.rs`) includes this file by path and
//! calls them on every committed corpus file with stable Rust, so no
//! dependency beyond the crates under test is used here.

pub mod event_intake;
pub mod input;
pub mod page_cursor;
pub mod signed_url_token;
pub mod webhook_verify;

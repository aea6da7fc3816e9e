//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! fuzz targets' bodies on stable Rust, so every input the fuzzers kept, and
//! every crash they found since fixed, is checked by `cargo test`.
//!
//! The bodies are the very files the fuzz targets call (`fuzz/src/`), so the
//! properties checked here and under libFuzzer are the same. A missing or
//! empty corpus fails the test rather than passing on nothing.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_bodies;

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus for {target} at {}: {e}", dir.display()));
    let mut files = 0;
    for entry in entries {
        let path = entry.expect("a readable corpus directory").path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).expect("a readable corpus file");
        // Name the input if it fails: that is the file to look at.
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        files += 1;
    }
    assert!(
        files > 0,
        "the corpus for {target} at {} is empty",
        dir.display()
    );
}

#[test]
fn webhook_verify_corpus() {
    replay("webhook_verify", fuzz_bodies::webhook_verify::run);
}

#[test]
fn event_intake_corpus() {
    replay("event_intake", fuzz_bodies::event_intake::run);
}

#[test]
fn page_cursor_corpus() {
    replay("page_cursor", fuzz_bodies::page_cursor::run);
}

#[test]
fn signed_url_token_corpus() {
    replay("signed_url_token", fuzz_bodies::signed_url_token::run);
}

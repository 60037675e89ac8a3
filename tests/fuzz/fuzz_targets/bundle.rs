//! cargo-fuzz target `bundle`: see `entry.rs` for what it feeds and checks.
//!
//! `cargo +nightly fuzz run --fuzz-dir tests/fuzz bundle` from the repository root, or
//! `benches/robustness/fuzz.sh`.
#![no_main]

// Each binary calls one entry point of the shared module.
#[allow(dead_code)]
#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entry::bundle(data);
});

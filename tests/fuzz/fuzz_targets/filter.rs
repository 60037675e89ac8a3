//! `_filter` parser: no input may panic, and canonical text must parse back to the same AST.
//!
//! Run with `cargo +nightly fuzz run --fuzz-dir tests/fuzz filter` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ror_search::query::filter::{parse_filter, FilterLimits, HARD_MAX_DEPTH};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let limits = FilterLimits::default();
    let Ok(expr) = parse_filter(input, &limits) else {
        return;
    };
    let canonical = expr.to_string();
    // Canonical text may add parentheses and quotes, so it gets room beyond the input's limits.
    let generous = FilterLimits { max_depth: HARD_MAX_DEPTH, max_len: usize::MAX, ..limits };
    assert_eq!(parse_filter(&canonical, &generous), Ok(expr), "canonical text {canonical:?}");
});

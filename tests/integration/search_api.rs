//! SPEC.md §3 requests against the generated demo corpus.

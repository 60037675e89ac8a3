//! Integration tests through the public HTTP interface (one test binary, as meilisearch does).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
// The command line: generate, load, reindex; a rebuilt state answers the same.
#[path = "integration/cli.rs"]
mod cli;
// Durability of acknowledged writes across kill -9 (runs the real binary).
#[path = "integration/crash.rs"]
mod crash;
// Malformed requests never crash the service nor answer 5xx.
#[path = "integration/robustness.rs"]
mod robustness;
// Inputs that crashed a fuzz target (tests/fuzz/regressions), replayed through its entry point.
#[path = "integration/fuzz_regressions.rs"]
mod fuzz_regressions;
// Writes, reads, versions, Bundles and bad bodies.
#[path = "integration/ingest_api.rs"]
mod ingest_api;
// SPEC.md §3 requests (UC1, UC2, UC3, UC6) against the generated demo corpus, checked by an oracle.
// PATCH (FHIRPath Patch, JSON Patch, conditional, in transactions): UC7, UC9.
#[path = "integration/patch_api.rs"]
mod patch_api;
// Anomalies: Task focus by identifier, UC10 chains, _revinclude=Task:focus, UC3 S12.
// `_matching=record` versus the default independent semantics.
#[path = "integration/record_matching.rs"]
mod record_matching;
#[path = "integration/search_api.rs"]
mod search_api;
#[path = "integration/task_api.rs"]
mod task_api;
// FHIR search semantics on small hand-made data (modifiers, prefixes, paging, errors).
#[path = "integration/semantics.rs"]
mod semantics;
// Bulk $export (UC2 S1bis/S1ter) and the BI CSV extracts.
#[path = "integration/export_api.rs"]
mod export_api;
// Steering indicators (UC11): incremental versus recount, Measure/MeasureReport searches.
#[path = "integration/indicators_api.rs"]
mod indicators_api;
// Online reindex under continuous searches and writes; the admin task API.
#[path = "integration/reindex_api.rs"]
mod reindex_api;
// TLS, mutual TLS, JWT bearer tokens, 401/403, /metrics and graceful shutdown (real binary).
#[path = "integration/security_api.rs"]
mod security_api;
// The web console: assets served from the binary, and the console driven in headless Chromium.
#[path = "integration/console.rs"]
mod console;
// Access profiles 0–5 (SPEC §5.2–§5.3): projections and matching that does not leak hidden data.
#[path = "integration/profiles_api.rs"]
mod profiles_api;
// Limits on what a client controls: _count, OR values, _filter, includes, body, time, exports.
#[path = "integration/limits_api.rs"]
mod limits_api;

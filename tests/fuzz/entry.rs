//! Entry points of the robustness fuzz targets, shared by the cargo-fuzz binaries
//! (`tests/fuzz/fuzz_targets/*.rs`) and the regression test that replays every input kept in
//! `tests/fuzz/regressions/<target>/` (`tests/integration/fuzz_regressions.rs`), so that a
//! regression input goes through exactly the code that crashed.
//!
//! Each entry point feeds one input through the library the way the HTTP handlers do and
//! returns the error a handler would answer. The oracle, besides "no panic, no abort, no
//! timeout", is that malformed input is the client's fault: every error must map to a 4xx,
//! never to a 5xx.

use std::sync::{Arc, OnceLock};

use ror_search::app::Communes;
use ror_search::error::Error;
use ror_search::ingest::bundle::{plan_bundle, PlannedEntry};
use ror_search::ingest::patch::{parse_fhirpath_patch, parse_json_patch, patcher};
use ror_search::ingest::validate::{index_doc, is_valid_id, validate_resource};
use ror_search::query::filter::FilterLimits;
use ror_search::query::params::parse_query_string;
use ror_search::query::parse::{Handling, ParseContext};
use ror_search::schema::Registry;
use ror_search::store::WriteOp;
use serde_json::{json, Value};

/// The fuzz targets, by directory name under `corpus-seeds/` and `regressions/`.
pub const TARGETS: [&str; 3] = ["search", "patch", "bundle"];

struct Fixtures {
    registry: Arc<Registry>,
    communes: Communes,
    location: Value,
    service: Value,
    task: Value,
}

/// Built once per process: the embedded registry and commune table cost milliseconds, far more
/// than one fuzz input.
fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let parse = |text: &str| -> Value { serde_json::from_str(text).expect("fixture is JSON") };
        Fixtures {
            registry: Arc::new(Registry::embedded().expect("embedded registry")),
            communes: Communes::embedded().expect("embedded commune table"),
            location: parse(include_str!("../../fixtures/ror/Location-ror-location-exemple.json")),
            service: parse(include_str!("../../fixtures/ror/HealthcareService-1234564.json")),
            task: parse(include_str!("../../fixtures/ror/Task-ror-task-exemple.json")),
        }
    })
}

/// Malformed input must never be answered with a 5xx.
fn client_error(error: Error) -> Error {
    assert!(
        error.http_status() < 500,
        "malformed input answered as a server error {}: {error}",
        error.http_status()
    );
    error
}

fn json_body(data: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(data).map_err(|e| Error::body(None, format!("the body is not valid JSON: {e}")))
}

/// Target `search`: `Type?query` (the type is optional, HealthcareService by default), through
/// `parse_query_string` then `ParseContext::parse_search` under both `Prefer: handling=` modes.
/// Returns the strict result.
pub fn search(data: &[u8]) -> Result<(), Error> {
    let fixtures = fixtures();
    let text = String::from_utf8_lossy(data);
    let (type_name, query) = match text.split_once('?') {
        Some((type_name, query)) if fixtures.registry.served(type_name).is_some() => (type_name, query),
        _ => ("HealthcareService", text.as_ref()),
    };
    let params = parse_query_string(query).map_err(|e| client_error(Error::param("query", e.to_string())))?;
    let mut strict = Ok(());
    for handling in [Handling::Lenient, Handling::Strict] {
        let context = ParseContext {
            registry: &fixtures.registry,
            communes: &fixtures.communes,
            handling,
            filter_limits: FilterLimits::default(),
            max_count: ror_search::query::parse::MAX_COUNT,
            max_or_values: ror_search::query::parse::MAX_OR_VALUES,
        };
        let result = context.parse_search(type_name, &params).map(|_| ()).map_err(client_error);
        if handling == Handling::Strict {
            strict = result;
        }
    }
    strict
}

/// Target `patch`: a JSON Patch document (a JSON array) or a FHIRPath Patch `Parameters`
/// resource, parsed, then applied and validated (the store's patcher) on the ROR example
/// Location, HealthcareService and Task. Returns the result on the Location.
pub fn patch(data: &[u8]) -> Result<(), Error> {
    let fixtures = fixtures();
    let document = json_body(data)?;
    let parsed =
        if document.is_array() { parse_json_patch(&document) } else { parse_fhirpath_patch(&document) };
    let patch = parsed.map_err(client_error)?;
    let patcher = patcher(fixtures.registry.clone(), patch);
    let mut on_location = Ok(());
    for (index, current) in [&fixtures.location, &fixtures.service, &fixtures.task].into_iter().enumerate() {
        let result = (patcher.0)(current).map_err(client_error).map(|patched| {
            assert_eq!(
                patched.get("resourceType"),
                current.get("resourceType"),
                "a patch changed resourceType"
            );
            assert_eq!(patched.get("id"), current.get("id"), "a patch changed the id");
        });
        if index == 0 {
            on_location = result;
        }
    }
    on_location
}

/// The stored resource a Bundle PATCH entry applies to in the fuzz run.
fn current_of(resource_type: &str, id: &str) -> Value {
    let fixtures = fixtures();
    let mut current = match resource_type {
        "Location" => fixtures.location.clone(),
        "HealthcareService" => fixtures.service.clone(),
        "Task" => fixtures.task.clone(),
        other => json!({"resourceType": other}),
    };
    if let Some(object) = current.as_object_mut() {
        object.insert("id".into(), Value::String(id.to_owned()));
    }
    current
}

/// Target `bundle`: a transaction or batch Bundle through `plan_bundle` (per-entry validation,
/// reference rewriting, entry PATCH documents applied to an example resource), and the same
/// body through `validate_resource` as a `POST /fhir/{type}` would. Returns the planning result.
pub fn bundle(data: &[u8]) -> Result<(), Error> {
    let fixtures = fixtures();
    let body = json_body(data)?;
    let registry = &fixtures.registry;
    if let Some(resource_type) = body.get("resourceType").and_then(Value::as_str) {
        if let Ok((validated_type, id)) =
            validate_resource(registry, &body, Some(resource_type)).map_err(client_error)
        {
            assert_eq!(validated_type, resource_type);
            assert!(id.as_deref().is_none_or(is_valid_id), "an invalid id passed validation");
        }
    }
    let (_, planned) = plan_bundle(registry, &body).map_err(client_error)?;
    for entry in planned {
        match entry.map_err(client_error) {
            Ok(PlannedEntry { op: WriteOp::Put { resource, .. }, .. }) => {
                let id = resource.get("id").and_then(Value::as_str).unwrap_or_default();
                assert!(is_valid_id(id), "a planned PUT/POST without a valid id: {id:?}");
                // What the writer does with a planned resource; validation promised it succeeds.
                if let Err(error) = index_doc(registry, &resource, 1) {
                    panic!("a validated resource fails indexing: {error}");
                }
            }
            Ok(PlannedEntry { op: WriteOp::Patch { resource_type, id, patcher, .. }, .. }) => {
                let _ = (patcher.0)(&current_of(&resource_type, &id)).map_err(client_error);
            }
            Ok(PlannedEntry {
                op: WriteOp::Delete { resource_type, id, .. } | WriteOp::Load { resource_type, id, .. },
                ..
            }) => {
                assert!(registry.served(&resource_type).is_some() && is_valid_id(&id));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// Run the entry point of `target` on `data`.
pub fn run(target: &str, data: &[u8]) -> Result<(), Error> {
    match target {
        "search" => search(data),
        "patch" => patch(data),
        "bundle" => bundle(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

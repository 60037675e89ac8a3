//! `POST /fhir` with a `transaction` (all or nothing) or `batch` Bundle of PUT / POST / DELETE
//! entries. Transaction entries that POST with a `urn:uuid:` fullUrl get a server id, and every
//! reference to that fullUrl inside the Bundle is rewritten to it.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::validate::{is_valid_id, validate_resource};
use crate::error::{Error, Result};
use crate::schema::Registry;
use crate::store::{Committed, WriteOp};

/// One entry turned into a store operation, with what its response needs.
#[derive(Debug)]
pub struct PlannedEntry {
    pub op: WriteOp,
    pub method: String,
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn parse_if_match(value: Option<&str>, expression: &str) -> Result<Option<u64>> {
    let Some(value) = value else { return Ok(None) };
    let trimmed = value.trim().trim_start_matches("W/").trim_matches('"');
    trimmed.parse().map(Some).map_err(|_| {
        Error::body(Some(expression), format!("invalid If-Match {value:?}: expected W/\"<version>\""))
    })
}

/// Parse and validate the entries of a transaction or batch Bundle.
/// Returns the Bundle type and, per entry, its planned operation or the error for that entry.
pub fn plan_bundle(
    registry: &std::sync::Arc<Registry>,
    bundle: &Value,
) -> Result<(String, Vec<Result<PlannedEntry>>)> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Error::body(Some("resourceType"), "POST /fhir expects a Bundle"));
    }
    let bundle_type = bundle.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    if bundle_type != "transaction" && bundle_type != "batch" {
        return Err(Error::unprocessable(
            "Bundle.type",
            format!("Bundle.type must be transaction or batch, got {bundle_type:?}"),
        ));
    }
    let entries = match bundle.get("entry") {
        None => return Ok((bundle_type, Vec::new())),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(Error::unprocessable("Bundle.entry", "Bundle.entry must be an array")),
    };
    // First pass: server ids for POST entries, so references between entries can be rewritten.
    let mut assigned: HashMap<String, String> = HashMap::new();
    let mut ids: Vec<Option<String>> = Vec::with_capacity(entries.len());
    for entry in entries {
        let method = entry.pointer("/request/method").and_then(Value::as_str).unwrap_or_default();
        let resource_type = entry.pointer("/resource/resourceType").and_then(Value::as_str);
        if method == "POST" {
            if let Some(resource_type) = resource_type {
                let id = new_id();
                if let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str) {
                    assigned.insert(full_url.trim().to_owned(), format!("{resource_type}/{id}"));
                }
                ids.push(Some(id));
                continue;
            }
        }
        ids.push(None);
    }
    let mut planned = Vec::with_capacity(entries.len());
    for (index, (entry, assigned_id)) in entries.iter().zip(ids).enumerate() {
        planned.push(plan_entry(registry, entry, index, assigned_id, &assigned));
    }
    Ok((bundle_type, planned))
}

fn rewrite_references(value: &mut Value, assigned: &HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "reference" {
                    if let Value::String(reference) = child {
                        if let Some(target) = assigned.get(reference.as_str()) {
                            *reference = target.clone();
                        }
                    }
                } else {
                    rewrite_references(child, assigned);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite_references(item, assigned)),
        _ => {}
    }
}

fn plan_entry(
    registry: &std::sync::Arc<Registry>,
    entry: &Value,
    index: usize,
    assigned_id: Option<String>,
    assigned: &HashMap<String, String>,
) -> Result<PlannedEntry> {
    let at = |element: &str| format!("Bundle.entry[{index}].{element}");
    let method = entry
        .pointer("/request/method")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::unprocessable(at("request.method"), "entry.request.method is missing"))?
        .to_owned();
    let url = entry
        .pointer("/request/url")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::unprocessable(at("request.url"), "entry.request.url is missing"))?;
    // `Type`, `Type/id`, or an absolute URL ending in them (UC9's mass update uses absolute URLs).
    let path = url.split('?').next().unwrap_or_default().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let type_position = segments.iter().rposition(|s| registry.served(s).is_some());
    let (url_type, url_id) = match type_position {
        Some(position) => {
            (segments[position].to_owned(), segments.get(position + 1).map(|s| (*s).to_owned()))
        }
        None => (
            segments.first().copied().unwrap_or_default().to_owned(),
            segments.get(1).map(|s| (*s).to_owned()),
        ),
    };
    let if_match =
        parse_if_match(entry.pointer("/request/ifMatch").and_then(Value::as_str), &at("request.ifMatch"))?;
    let relabel = |error: Error| match error {
        Error::Unprocessable { expression, message } => Error::Unprocessable {
            expression: Some(at(&format!(
                "resource{}",
                expression.map(|e| format!(" ({e})")).unwrap_or_default()
            ))),
            message,
        },
        Error::InvalidBody { expression, message } => Error::Unprocessable {
            expression: Some(at(&format!(
                "resource{}",
                expression.map(|e| format!(" ({e})")).unwrap_or_default()
            ))),
            message,
        },
        other => other,
    };
    match method.as_str() {
        "PUT" | "POST" => {
            let mut resource = entry.get("resource").cloned().ok_or_else(|| {
                Error::unprocessable(at("resource"), format!("{method} entry has no resource"))
            })?;
            rewrite_references(&mut resource, assigned);
            let (resource_type, body_id) =
                validate_resource(registry, &resource, Some(&url_type)).map_err(relabel)?;
            let id = if method == "POST" {
                assigned_id
                    .ok_or_else(|| Error::unprocessable(at("resource"), "POST entry has no resourceType"))?
            } else {
                let url_id = url_id.filter(|id| is_valid_id(id)).ok_or_else(|| {
                    Error::unprocessable(at("request.url"), format!("PUT needs Type/id, got {url:?}"))
                })?;
                if body_id.as_deref().is_some_and(|b| b != url_id) {
                    return Err(Error::unprocessable(
                        at("resource.id"),
                        "resource.id does not match the id of request.url",
                    ));
                }
                url_id
            };
            if let Some(object) = resource.as_object_mut() {
                object.insert("id".into(), Value::String(id));
            }
            let _ = resource_type;
            Ok(PlannedEntry {
                op: WriteOp::Put {
                    resource,
                    if_match,
                    create_only: method == "POST",
                    keep_last_updated: true,
                },
                method,
            })
        }
        "DELETE" => {
            let id = url_id.filter(|id| is_valid_id(id)).ok_or_else(|| {
                Error::unprocessable(at("request.url"), format!("DELETE needs Type/id, got {url:?}"))
            })?;
            if registry.served(&url_type).is_none() {
                return Err(Error::unprocessable(
                    at("request.url"),
                    format!("unknown resource type {url_type:?}"),
                ));
            }
            Ok(PlannedEntry { op: WriteOp::Delete { resource_type: url_type, id, if_match }, method })
        }
        "PATCH" => {
            let id = url_id.filter(|id| is_valid_id(id)).ok_or_else(|| {
                Error::unprocessable(at("request.url"), format!("PATCH needs Type/id, got {url:?}"))
            })?;
            if registry.served(&url_type).is_none() {
                return Err(Error::unprocessable(
                    at("request.url"),
                    format!("unknown resource type {url_type:?}"),
                ));
            }
            let document = entry.get("resource").ok_or_else(|| {
                Error::unprocessable(at("resource"), "PATCH entry has no Parameters resource")
            })?;
            let patch = crate::ingest::patch::parse_fhirpath_patch(document).map_err(relabel)?;
            let patcher = crate::ingest::patch::patcher(registry.clone(), patch);
            Ok(PlannedEntry {
                op: WriteOp::Patch { resource_type: url_type, id, if_match, patcher, prepared: None },
                method,
            })
        }
        other => Err(Error::unprocessable(
            at("request.method"),
            format!("method {other:?} is not supported in a Bundle (PUT, POST, PATCH, DELETE)"),
        )),
    }
}

/// The `response` element of a Bundle entry for a committed write.
pub fn entry_response(method: &str, committed: &Committed) -> Value {
    let status = if committed.noop || method == "DELETE" {
        "204 No Content"
    } else if committed.created {
        "201 Created"
    } else {
        "200 OK"
    };
    let mut response = json!({
        "status": status,
        "etag": format!("W/\"{}\"", committed.version),
        "lastModified": committed.last_updated,
    });
    if method != "DELETE" {
        if let Some(object) = response.as_object_mut() {
            object.insert(
                "location".into(),
                Value::String(format!(
                    "{}/{}/_history/{}",
                    committed.resource_type, committed.id, committed.version
                )),
            );
        }
    }
    response
}

pub fn error_response(error: &Error) -> Value {
    json!({
        "status": format!("{} {}", error.http_status(), reason_phrase(error.http_status())),
        "outcome": error.to_operation_outcome(),
    })
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        _ => "Error",
    }
}

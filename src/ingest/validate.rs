//! Validation of incoming resources before anything is stored. Errors name the element.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::index::extract::{extract_resource, IndexDoc};
use crate::schema::Registry;

/// FHIR `id`: 1–64 characters of `[A-Za-z0-9-.]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Elements whose R4 cardinality is 0..*, which must therefore be JSON arrays when present.
pub fn must_be_array(resource_type: &str, element: &str) -> bool {
    const COMMON: &[&str] = &["extension", "modifierExtension", "contained", "identifier"];
    let per_type: &[&str] = match resource_type {
        "Location" => &["alias", "type", "telecom", "endpoint", "hoursOfOperation"],
        "HealthcareService" => &[
            "category",
            "type",
            "specialty",
            "location",
            "telecom",
            "coverageArea",
            "characteristic",
            "communication",
            "availableTime",
            "notAvailable",
            "endpoint",
            "eligibility",
            "program",
            "serviceProvisionCode",
            "referralMethod",
        ],
        "Organization" => &["type", "alias", "telecom", "address", "contact", "endpoint"],
        "Practitioner" => &["name", "telecom", "address", "qualification", "communication"],
        "PractitionerRole" => &[
            "code",
            "specialty",
            "location",
            "healthcareService",
            "telecom",
            "availableTime",
            "notAvailable",
            "endpoint",
        ],
        "Task" => {
            &["basedOn", "partOf", "input", "output", "note", "performerType", "insurance", "relevantHistory"]
        }
        "Measure" => &["group", "topic", "contact", "useContext", "jurisdiction", "library"],
        "MeasureReport" => &["group"],
        _ => &[],
    };
    COMMON.contains(&element) || per_type.contains(&element)
}

/// Check `resource` structurally and through the indexer (dates, positions, references); return
/// its type and id on success.
pub fn validate_resource(
    registry: &Registry,
    resource: &Value,
    expected_type: Option<&str>,
) -> Result<(String, Option<String>)> {
    let object = resource
        .as_object()
        .ok_or_else(|| Error::body(None, "the body must be a FHIR resource (a JSON object)"))?;
    let resource_type = object
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::body(Some("resourceType"), "resourceType is missing"))?;
    if let Some(expected) = expected_type {
        if resource_type != expected {
            return Err(Error::body(
                Some("resourceType"),
                format!("resourceType {resource_type:?} does not match the URL type {expected:?}"),
            ));
        }
    }
    if registry.served(resource_type).is_none() {
        return Err(Error::unprocessable(
            "resourceType",
            format!("resource type {resource_type:?} is not served here"),
        ));
    }
    let id = match object.get("id") {
        None => None,
        Some(Value::String(id)) if is_valid_id(id) => Some(id.clone()),
        Some(other) => {
            return Err(Error::unprocessable(
                format!("{resource_type}.id"),
                format!("invalid id {other}: 1-64 characters of A-Z a-z 0-9 - ."),
            ))
        }
    };
    for (key, value) in object {
        if must_be_array(resource_type, key) && !value.is_array() {
            return Err(Error::unprocessable(
                format!("{resource_type}.{key}"),
                format!("{resource_type}.{key} must be an array"),
            ));
        }
    }
    if let Some(meta) = object.get("meta") {
        if !meta.is_object() {
            return Err(Error::unprocessable(format!("{resource_type}.meta"), "meta must be an object"));
        }
    }
    check_extensions(resource, resource_type)?;
    extract_resource(registry, resource, 0)?;
    Ok((resource_type.to_owned(), id))
}

/// Every extension has a `url` and either a value[x] or sub-extensions, not both (R4 ext-1).
fn check_extensions(value: &Value, path: &str) -> Result<()> {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let child_path = format!("{path}.{key}");
                if key == "extension" || key == "modifierExtension" {
                    let Some(items) = child.as_array() else {
                        return Err(Error::unprocessable(child_path, format!("{key} must be an array")));
                    };
                    for (index, item) in items.iter().enumerate() {
                        let item_path = format!("{child_path}[{index}]");
                        let Some(extension) = item.as_object() else {
                            return Err(Error::unprocessable(item_path, "an extension must be an object"));
                        };
                        if !extension.get("url").is_some_and(Value::is_string) {
                            return Err(Error::unprocessable(
                                format!("{item_path}.url"),
                                "an extension needs a url",
                            ));
                        }
                        let has_value = extension.keys().any(|k| {
                            k.len() > 5
                                && k.starts_with("value")
                                && k[5..].starts_with(|c: char| c.is_ascii_uppercase())
                        });
                        if has_value && extension.contains_key("extension") {
                            return Err(Error::unprocessable(
                                item_path,
                                "an extension has either a value or sub-extensions, not both (ext-1)",
                            ));
                        }
                        check_extensions(item, &item_path)?;
                    }
                } else {
                    check_extensions(child, &child_path)?;
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_extensions(item, &format!("{path}[{index}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Extract the index document of a stored resource.
pub fn index_doc(registry: &Registry, resource: &Value, version: u64) -> Result<IndexDoc> {
    extract_resource(registry, resource, version)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn test_validation_names_element() {
        let registry = Registry::embedded().unwrap();
        let error = validate_resource(&registry, &json!({"resourceType": "Location", "id": "a b"}), None)
            .unwrap_err();
        assert_eq!(error.expression(), Some("Location.id"));
        let error =
            validate_resource(&registry, &json!({"resourceType": "Location", "identifier": {}}), None)
                .unwrap_err();
        assert_eq!(error.expression(), Some("Location.identifier"));
        let error = validate_resource(
            &registry,
            &json!({"resourceType": "Location", "position": {"latitude": 95, "longitude": 1}}),
            None,
        )
        .unwrap_err();
        assert_eq!(error.expression(), Some("Location.position"));
        assert!(validate_resource(
            &registry,
            &json!({"resourceType": "Location", "id": "ok", "type": [{"text": "x"}]}),
            Some("Location")
        )
        .is_ok());
    }
}

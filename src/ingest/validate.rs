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
    let checked = check_structure(registry, resource, expected_type)?;
    crate::index::extract::check_resource(registry, resource)?;
    Ok(checked)
}

/// As [`validate_resource`], also returning the index document the check extracted (version 0).
pub fn validate_and_index(
    registry: &Registry,
    resource: &Value,
    expected_type: Option<&str>,
) -> Result<(String, Option<String>, IndexDoc)> {
    let (resource_type, id) = check_structure(registry, resource, expected_type)?;
    let doc = extract_resource(registry, resource, 0)?;
    Ok((resource_type, id, doc))
}

/// Everything [`validate_resource`] checks but what the indexer rejects.
fn check_structure(
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
    Ok((resource_type.to_owned(), id))
}

/// Every extension has a `url` and either a value[x] or sub-extensions, not both (R4 ext-1).
fn check_extensions(value: &Value, path: &str) -> Result<()> {
    check_extensions_at(value).map_err(|(steps, message)| {
        let mut expression = path.to_owned();
        // Innermost step first: pushed while the error went back up.
        for step in steps.iter().rev() {
            match step {
                Step::Key(key) => {
                    expression.push('.');
                    expression.push_str(key);
                }
                Step::Index(index) => expression.push_str(&format!("[{index}]")),
            }
        }
        Error::unprocessable(expression, message)
    })
}

/// One step of the path to an element. The path is built only for an error, as the error goes
/// back up the tree (a load checks millions of elements: keeping a path on the way down cost a
/// push and a pop for every one of them).
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path to the faulty element, innermost step first, and what is wrong with it.
type StepError<'a> = (Vec<Step<'a>>, &'static str);

fn within<'a>(step: Step<'a>) -> impl FnOnce(StepError<'a>) -> StepError<'a> {
    move |(mut steps, message)| {
        steps.push(step);
        (steps, message)
    }
}

fn check_extensions_at(value: &Value) -> std::result::Result<(), StepError<'_>> {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                if key == "extension" || key == "modifierExtension" {
                    let Some(items) = child.as_array() else {
                        return Err((vec![Step::Key(key)], "extension and modifierExtension must be arrays"));
                    };
                    for (index, item) in items.iter().enumerate() {
                        // This extension, or its `url` with `on_url`.
                        let at = |on_url: bool| {
                            let mut steps = Vec::with_capacity(3);
                            if on_url {
                                steps.push(Step::Key("url"));
                            }
                            steps.extend([Step::Index(index), Step::Key(key)]);
                            steps
                        };
                        let Some(extension) = item.as_object() else {
                            return Err((at(false), "an extension must be an object"));
                        };
                        if !extension.get("url").is_some_and(Value::is_string) {
                            return Err((at(true), "an extension needs a url"));
                        }
                        let has_value = extension.keys().any(|k| {
                            k.len() > 5
                                && k.starts_with("value")
                                && k[5..].starts_with(|c: char| c.is_ascii_uppercase())
                        });
                        if has_value && extension.contains_key("extension") {
                            return Err((
                                at(false),
                                "an extension has either a value or sub-extensions, not both (ext-1)",
                            ));
                        }
                        check_extensions_at(item)
                            .map_err(within(Step::Index(index)))
                            .map_err(within(Step::Key(key)))?;
                    }
                } else if child.is_object() || child.is_array() {
                    check_extensions_at(child).map_err(within(Step::Key(key)))?;
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if item.is_object() || item.is_array() {
                    check_extensions_at(item).map_err(within(Step::Index(index)))?;
                }
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

    /// Validation without building the index document refuses exactly what building it refuses,
    /// with the same expression: the SPEC examples, and each with one bad date or position.
    #[test]
    fn test_checks_refuse_what_extraction_refuses() {
        let registry = Registry::embedded().unwrap();
        let example = |name: &str| -> Value {
            let path = format!("{}/fixtures/ror/{name}.json", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let location = example("Location-ror-location-exemple");
        let service = example("HealthcareService-1234564");
        let task = example("Task-ror-task-exemple");
        let mut cases = vec![location.clone(), service.clone(), task.clone()];
        let mut bad_last_updated = location.clone();
        bad_last_updated["meta"] = json!({"lastUpdated": "2024-13-45"});
        let mut bad_position = location.clone();
        bad_position["position"] = json!({"latitude": 95.0, "longitude": 2.0});
        let mut bad_record_date = location.clone();
        bad_record_date["extension"] = json!([{
            "url": "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity",
            "extension": [{"url": "nbCapacity", "valueInteger": 3},
                          {"url": "capacityUpdateDate", "valueDateTime": "hier"}]}]);
        let mut bad_service_date = service.clone();
        bad_service_date["meta"] = json!({"lastUpdated": "not a date"});
        cases.extend([bad_last_updated, bad_position, bad_record_date, bad_service_date]);
        let mut refused = 0;
        for case in &cases {
            let checked = validate_resource(&registry, case, None);
            let extracted = validate_and_index(&registry, case, None);
            match (&checked, &extracted) {
                (Ok(a), Ok((t, i, _))) => assert_eq!(a, &(t.clone(), i.clone())),
                (Err(a), Err(b)) => {
                    refused += 1;
                    assert_eq!(a.expression(), b.expression());
                    assert_eq!(a.to_string(), b.to_string());
                }
                _ => panic!("{case}: checked {checked:?}, extracted {:?}", extracted.map(|(t, i, _)| (t, i))),
            }
        }
        assert_eq!(refused, 4, "every bad case is refused");
    }

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

    #[test]
    fn test_extension_errors_name_the_nested_element() {
        let registry = Registry::embedded().unwrap();
        let expression = |resource: Value| {
            validate_resource(&registry, &resource, None).unwrap_err().expression().map(str::to_owned)
        };
        let nested = |inner: Value| {
            json!({"resourceType": "Location", "extension": [
                {"url": "a", "valueString": "x"},
                {"url": "b", "extension": [{"url": "c", "valueInteger": 1}, inner]},
            ]})
        };
        assert_eq!(
            expression(nested(json!({"valueInteger": 2}))).as_deref(),
            Some("Location.extension[1].extension[1].url")
        );
        assert_eq!(
            expression(nested(json!({"url": "d", "valueInteger": 2, "extension": []}))).as_deref(),
            Some("Location.extension[1].extension[1]")
        );
        assert_eq!(
            expression(json!({"resourceType": "Location", "address": {"_line": [{"extension": {}}]}}))
                .as_deref(),
            Some("Location.address._line[0].extension")
        );
        assert_eq!(
            expression(json!({"resourceType": "Location", "type": [{"coding": [{"extension": ["x"]}]}]}))
                .as_deref(),
            Some("Location.type[0].coding[0].extension[0]")
        );
    }
}

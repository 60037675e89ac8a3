//! Builders for the recurring FHIR JSON fragments.

use serde_json::{Map, Value};

use crate::generate::codes::Fixed;

/// Builds a JSON object from `(key, value)` pairs, moving each value in.
///
/// `serde_json::json!` re-serialises every interpolated `Value` into a fresh tree; with
/// nested builders that deep copy dominated the generation time, hence this function.
pub fn obj<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in entries {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

/// `{"reference": "<Type>/<id>"}`, always relative.
pub fn reference(resource_type: &str, id: &str) -> Value {
    obj([("reference", format!("{resource_type}/{id}").into())])
}

/// A simple extension: `{"url": …, "value<Type>": …}`.
pub fn extension(url: &str, value_key: &str, value: Value) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("url".to_owned(), Value::String(url.to_owned()));
    map.insert(value_key.to_owned(), value);
    Value::Object(map)
}

/// A complex extension made of sub-extensions.
pub fn complex(url: &str, parts: Vec<Value>) -> Value {
    obj([("url", url.into()), ("extension", parts.into())])
}

/// An identifier with a typed `type`, an optional system and a value.
pub fn identifier(kind: Fixed, system: Option<&str>, value: &str) -> Value {
    match system {
        Some(system) => obj([("type", kind.concept()), ("system", system.into()), ("value", value.into())]),
        None => obj([("type", kind.concept()), ("value", value.into())]),
    }
}

/// An address with the lines of a FINESS address (street line, then lieu-dit or BP).
pub fn address(lines: &str, postal_code: &str, city: &str) -> Value {
    let lines: Vec<&str> = lines.split(", ").map(str::trim).filter(|line| !line.is_empty()).collect();
    if lines.is_empty() {
        obj([("postalCode", postal_code.into()), ("city", city.into())])
    } else {
        obj([("line", lines.into()), ("postalCode", postal_code.into()), ("city", city.into())])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn test_address_lines() {
        let value = address("700 AV DE NARVIK, BP 139", "01300", "BELLEY");
        assert_eq!(value["line"], json!(["700 AV DE NARVIK", "BP 139"]));
        assert!(address("", "01300", "BELLEY").get("line").is_none());
    }

    #[test]
    fn test_extension_key_order() -> Result<(), serde_json::Error> {
        let text = serde_json::to_string(&extension("u", "valueBoolean", json!(false)))?;
        assert_eq!(text, r#"{"url":"u","valueBoolean":false}"#);
        Ok(())
    }
}

//! Extraction of the indexed values of one resource: every search parameter of its type is
//! evaluated on the JSON and converted to the engine's typed values.

use std::sync::Arc;

use serde_json::Value;

use super::normalize::normalize;
use crate::error::{Error, Result};
use crate::query::value::{parse_date_range, DateRange};
use crate::schema::{ParamId, ParamType, Registry, ResourceSchema};

/// A quantity as indexed: value plus its unit system, code and unit text (all optional),
/// shared by every value with the same three ([`shared_unit`]): every offer's age range repeats
/// the same few. 16 bytes, so that a column slot holds it inline in 24.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityValue {
    pub value: f64,
    pub unit: Option<Arc<QuantityUnit>>,
}

/// The unit part of a [`QuantityValue`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct QuantityUnit {
    pub system: Option<Box<str>>,
    pub code: Option<Box<str>>,
    pub unit: Option<Box<str>>,
}

impl QuantityValue {
    pub fn system(&self) -> Option<&str> {
        self.unit.as_ref().and_then(|unit| unit.system.as_deref())
    }

    pub fn code(&self) -> Option<&str> {
        self.unit.as_ref().and_then(|unit| unit.code.as_deref())
    }

    pub fn unit(&self) -> Option<&str> {
        self.unit.as_ref().and_then(|unit| unit.unit.as_deref())
    }
}

/// Distinct units kept shared; past this, new ones are allocated per value, so that clients
/// sending arbitrary units cannot grow the table without bound.
const MAX_SHARED_UNITS: usize = 4_096;

/// One allocation per distinct unit (system, code and unit text of a quantity), not one per
/// indexed value: 860k age-range bounds at national scale held 150 MiB of copies of "a".
fn shared_unit(unit: QuantityUnit) -> Option<Arc<QuantityUnit>> {
    static UNITS: std::sync::LazyLock<parking_lot::RwLock<std::collections::HashSet<Arc<QuantityUnit>>>> =
        std::sync::LazyLock::new(Default::default);
    if unit == QuantityUnit::default() {
        return None;
    }
    if let Some(shared) = UNITS.read().get(&unit) {
        return Some(shared.clone());
    }
    let mut units = UNITS.write();
    if let Some(shared) = units.get(&unit) {
        return Some(shared.clone());
    }
    let shared = Arc::new(unit);
    if units.len() < MAX_SHARED_UNITS {
        units.insert(shared.clone());
    }
    Some(shared)
}

/// A reference as indexed: target type and id (a logical reference by identifier keeps the
/// identifier instead, for later resolution).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferenceValue {
    pub target_type: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Token keys (see [`token_keys`]).
    Tokens(Vec<String>),
    /// (normalized, exact) string pairs.
    Strings(Vec<(String, String)>),
    Dates(Vec<DateRange>),
    Numbers(Vec<f64>),
    Quantities(Vec<QuantityValue>),
    References(Vec<ReferenceValue>),
}

/// Everything the search state keeps about one resource version.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDoc {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub values: Vec<(ParamId, Values)>,
    /// `Location.position` as (lat, lon), when valid.
    pub position: Option<(f64, f64)>,
    /// Full text for `_content`.
    pub text: String,
    /// Sub-records matched as units in record mode (capacity lines, equipment, tariffs).
    pub records: Vec<IndexDoc>,
}

impl IndexDoc {
    pub fn get(&self, param: ParamId) -> Option<&Values> {
        self.values.iter().find(|(id, _)| *id == param).map(|(_, v)| v)
    }
}

/// Token key prefixes. Keys are stored in one dictionary per parameter.
pub const TOKEN_ANY_SYSTEM: char = 'a';
pub const TOKEN_SYSTEM_CODE: char = 's';
pub const TOKEN_SYSTEM_ONLY: char = 'y';
pub const TOKEN_OF_TYPE: char = 't';

pub fn key_any_system(code: &str) -> String {
    format!("{TOKEN_ANY_SYSTEM}{code}")
}
/// Systems are long URLs shared by millions of keys: a key carries a 64-bit FNV-1a digest of
/// the canonical system instead (collisions among the few hundred systems of the ROR are
/// negligible), which keeps the national term dictionaries small.
fn system_digest(system: &str) -> String {
    let canonical = canonical_system(system);
    if canonical.is_empty() {
        return String::new();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

pub fn key_system_code(system: &str, code: &str) -> String {
    format!("{TOKEN_SYSTEM_CODE}{}|{code}", system_digest(system))
}
pub fn key_system_only(system: &str) -> String {
    format!("{TOKEN_SYSTEM_ONLY}{}", system_digest(system))
}
pub fn key_of_type(type_system: &str, type_code: &str, value: &str) -> String {
    format!("{TOKEN_OF_TYPE}{}|{type_code}|{value}", system_digest(type_system))
}

/// SPEC.md §3 writes systems as `R211` for the NOS URL of TRE_R211 (and clients write
/// `TRE_R211` too): such a shorthand stands for the canonical URL of the ROR's code system of that
/// number, listed in `index-schemas/nos-code-systems.txt`.
fn nos_shorthand(system: &str) -> Option<&'static str> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<String, &'static str>> =
        std::sync::OnceLock::new();
    let number = system.strip_prefix("TRE_").or_else(|| system.strip_prefix("TRE-")).unwrap_or(system);
    let digits = number.strip_prefix('R')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let table = TABLE.get_or_init(|| {
        include_str!("../../index-schemas/nos-code-systems.txt")
            .lines()
            .filter(|line| line.starts_with("https://"))
            .filter_map(|url| {
                let folder = url.strip_prefix("https://mos.esante.gouv.fr/NOS/TRE_")?;
                let number = folder.split(['-', '/']).next()?;
                Some((number.to_owned(), url))
            })
            .collect()
    });
    table.get(number).copied()
}

/// NOS CodeSystem URLs are `…/NOS/TRE_Rnn-Name/FHIR/TRE-Rnn-Name`; some ROR documents write the
/// last segment with an underscore (SPEC §6.3, UC2 S5). Both spellings index and search alike.
pub fn canonical_system(system: &str) -> std::borrow::Cow<'_, str> {
    const NOS: &str = "https://mos.esante.gouv.fr/NOS/";
    let trimmed = system.trim();
    if let Some(url) = nos_shorthand(trimmed) {
        return std::borrow::Cow::Borrowed(url);
    }
    if let Some(rest) = trimmed.strip_prefix(NOS) {
        if let Some((folder, last)) = rest.split_once("/FHIR/") {
            if let Some(code_system) = last.strip_prefix("TRE_") {
                return std::borrow::Cow::Owned(format!("{NOS}{folder}/FHIR/TRE-{code_system}"));
            }
        }
    }
    std::borrow::Cow::Borrowed(trimmed)
}

fn push_coding(keys: &mut Vec<String>, system: Option<&str>, code: Option<&str>) {
    let system = system.unwrap_or("");
    if let Some(code) = code {
        keys.push(key_any_system(code));
        keys.push(key_system_code(system, code));
    }
    if !canonical_system(system).is_empty() {
        keys.push(key_system_only(system));
    }
}

/// Token keys of one node: CodeableConcept, Coding, Identifier, ContactPoint, code, boolean.
pub fn token_keys(node: &Value, keys: &mut Vec<String>) {
    match node {
        Value::String(code) => push_coding(keys, None, Some(code)),
        Value::Bool(flag) => push_coding(keys, None, Some(if *flag { "true" } else { "false" })),
        Value::Number(number) => push_coding(keys, None, Some(&number.to_string())),
        Value::Object(object) => {
            if let Some(codings) = object.get("coding").and_then(Value::as_array) {
                for coding in codings {
                    push_coding(
                        keys,
                        coding.get("system").and_then(Value::as_str),
                        coding.get("code").and_then(Value::as_str),
                    );
                }
            } else if object.contains_key("value") && !object.contains_key("code") {
                // Identifier or ContactPoint.
                let value = object.get("value").and_then(Value::as_str);
                push_coding(keys, object.get("system").and_then(Value::as_str), value);
                if let (Some(value), Some(codings)) =
                    (value, object.get("type").and_then(|t| t.get("coding")).and_then(Value::as_array))
                {
                    for coding in codings {
                        if let Some(code) = coding.get("code").and_then(Value::as_str) {
                            let system = coding.get("system").and_then(Value::as_str).unwrap_or("");
                            keys.push(key_of_type(system, code, value));
                        }
                    }
                }
            } else if object.contains_key("code") || object.contains_key("system") {
                push_coding(
                    keys,
                    object.get("system").and_then(Value::as_str),
                    object.get("code").and_then(Value::as_str),
                );
            }
        }
        _ => {}
    }
}

fn string_values(node: &Value, out: &mut Vec<(String, String)>) {
    match node {
        Value::String(text) => out.push((normalize(text), text.clone())),
        Value::Array(items) => items.iter().for_each(|item| string_values(item, out)),
        Value::Object(object) => {
            // HumanName and Address: every textual part.
            for key in [
                "text",
                "family",
                "given",
                "prefix",
                "suffix",
                "line",
                "city",
                "district",
                "state",
                "postalCode",
                "country",
            ] {
                if let Some(value) = object.get(key) {
                    string_values(value, out);
                }
            }
        }
        _ => {}
    }
}

fn date_values(node: &Value, expression: &str, out: &mut Vec<DateRange>) -> Result<()> {
    let parse =
        |text: &str| parse_date_range(text).map_err(|e| Error::unprocessable(expression, e.to_string()));
    match node {
        Value::String(text) => out.push(parse(text)?),
        Value::Object(object) => {
            // Period: from the start of `start` to the end of `end`, open-ended when missing.
            let start = object.get("start").and_then(Value::as_str).map(parse).transpose()?;
            let end = object.get("end").and_then(Value::as_str).map(parse).transpose()?;
            if start.is_some() || end.is_some() {
                out.push(DateRange {
                    start_ms: start.map(|r| r.start_ms).unwrap_or(i64::MIN),
                    end_ms: end.map(|r| r.end_ms).unwrap_or(i64::MAX),
                });
            }
        }
        _ => {}
    }
    Ok(())
}

fn number_value(node: &Value) -> Option<f64> {
    match node {
        Value::Number(number) => number.as_f64(),
        Value::Object(object) => object.get("value").and_then(Value::as_f64),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn quantity_value(node: &Value) -> Option<QuantityValue> {
    let object = node.as_object()?;
    let value = object.get("value").and_then(Value::as_f64)?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(Box::<str>::from);
    let unit = match text("currency") {
        Some(currency) => QuantityUnit {
            system: Some("urn:iso:std:iso:4217".into()),
            code: Some(currency.clone()),
            unit: Some(currency),
        },
        None => QuantityUnit { system: text("system"), code: text("code"), unit: text("unit") },
    };
    Some(QuantityValue { value, unit: shared_unit(unit) })
}

/// Splits a literal reference (`Type/id`, an absolute URL ending in `Type/id`, with or without
/// `/_history/n`) into type and id.
pub fn parse_reference(reference: &str) -> Option<ReferenceValue> {
    let reference = reference.split('|').next().unwrap_or(reference);
    let trimmed = match reference.find("/_history/") {
        Some(index) => &reference[..index],
        None => reference,
    };
    let mut parts = trimmed.rsplitn(3, '/');
    let id = parts.next()?;
    let target_type = parts.next()?;
    if id.is_empty() || !target_type.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    Some(ReferenceValue { target_type: target_type.to_owned(), id: id.to_owned() })
}

fn reference_values(node: &Value, targets: &[String], out: &mut Vec<ReferenceValue>) {
    let literal = match node {
        Value::String(canonical) => Some(canonical.as_str()),
        Value::Object(object) => object.get("reference").and_then(Value::as_str),
        _ => None,
    };
    if let Some(value) = literal.and_then(parse_reference) {
        out.push(value);
        return;
    }
    // A logical reference ({type, identifier}) or a bare canonical id: keep the identifier value
    // as a pseudo id so `focus` chains can still reach it once resolved.
    if let Value::Object(object) = node {
        let target_type = object
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| (targets.len() == 1).then(|| targets[0].clone()));
        let identifier = object.get("identifier").and_then(|i| i.get("value")).and_then(Value::as_str);
        if let (Some(target_type), Some(identifier)) = (target_type, identifier) {
            out.push(ReferenceValue {
                target_type,
                id: format!("{}{identifier}", super::collection::LOGICAL_PREFIX),
            });
        }
    }
}

/// Text for `_content`: names, descriptions, aliases, address and the display text of codes,
/// not URLs, systems or extension plumbing.
fn collect_text(value: &Value, key: &str, out: &mut String) {
    match value {
        Value::String(text) => {
            let skip = matches!(
                key,
                "url"
                    | "system"
                    | "reference"
                    | "id"
                    | "resourceType"
                    | "profile"
                    | "versionId"
                    | "lastUpdated"
                    | "code"
                    | "valueCanonical"
                    | "use"
                    | "status"
                    | "intent"
                    | "currency"
            ) || text.starts_with("http://")
                || text.starts_with("https://")
                || text.starts_with("urn:");
            if !skip {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(text);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, key, out)),
        Value::Object(object) => {
            for (child_key, child) in object {
                // Extensions hold structured data (capacities, zones, tariffs) whose code
                // displays would make every location match "lit" or "disponible"; the text of a
                // resource is its names, descriptions, addresses and the displays of its codes.
                if matches!(
                    child_key.as_str(),
                    "meta"
                        | "text"
                        | "_line"
                        | "extension"
                        | "modifierExtension"
                        | "contained"
                        | "availableTime"
                        | "notAvailable"
                        | "position"
                        | "identifier"
                ) {
                    continue;
                }
                collect_text(child, child_key, out);
            }
        }
        _ => {}
    }
}

/// Extract the indexed values of `resource`. Values that do not convert (a malformed date, a
/// position out of range) are errors naming the element, so ingest rejects them.
pub fn extract(schema: &ResourceSchema, resource: &Value, version: u64) -> Result<IndexDoc> {
    let id = resource.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let values = extract_values(schema, resource)?;
    let position = position_of(schema, resource)?;
    let mut text = String::new();
    if schema.content {
        collect_text(resource, "", &mut text);
    }
    Ok(IndexDoc {
        resource_type: schema.resource_type.clone(),
        id,
        version,
        values,
        position,
        text,
        records: Vec::new(),
    })
}

fn position_of(schema: &ResourceSchema, resource: &Value) -> Result<Option<(f64, f64)>> {
    let Some(position) = resource.get("position") else { return Ok(None) };
    let lat = position.get("latitude").and_then(Value::as_f64);
    let lon = position.get("longitude").and_then(Value::as_f64);
    match (lat, lon) {
        (Some(lat), Some(lon)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {
            Ok(Some((lat, lon)))
        }
        _ => Err(Error::unprocessable(
            format!("{}.position", schema.resource_type),
            "position needs a latitude in [-90, 90] and a longitude in [-180, 180]",
        )),
    }
}

/// Check what extraction rejects, in the same order, without building the index document: a
/// date that is not one, a position out of range. Token, string, number, quantity and reference
/// values are taken or skipped, never refused. A load validates every resource this way:
/// extracting the document it would discard took a fifth of its time.
pub fn check_resource(registry: &Registry, resource: &Value) -> Result<()> {
    let schema = schema_of(registry, resource)?;
    check_dates(schema, resource)?;
    position_of(schema, resource)?;
    for record_schema in registry.records_of(schema.type_index) {
        let Some(spec) = &record_schema.record else { continue };
        for node in spec.selector.evaluate(resource) {
            check_dates(record_schema, node)?;
        }
    }
    Ok(())
}

fn check_dates(schema: &ResourceSchema, node: &Value) -> Result<()> {
    let mut scratch = Vec::new();
    for param in schema.params.iter().filter(|p| p.param_type == ParamType::Date && p.code != "_id") {
        for value in param.expression.evaluate(node) {
            scratch.clear();
            date_values(value, param.expression.source.as_str(), &mut scratch)?;
        }
    }
    Ok(())
}

fn schema_of<'a>(registry: &'a Registry, resource: &Value) -> Result<&'a ResourceSchema> {
    let resource_type = resource.get("resourceType").and_then(Value::as_str).unwrap_or_default();
    registry.resource(resource_type).ok_or_else(|| {
        Error::body(Some("resourceType"), format!("unsupported resource type {resource_type:?}"))
    })
}

/// The values of every parameter of `schema` evaluated on `node` (a resource or a record).
fn extract_values(schema: &ResourceSchema, node: &Value) -> Result<Vec<(ParamId, Values)>> {
    let resource = node;
    let mut values = Vec::new();
    for param in &schema.params {
        if param.code == "_id" {
            // `_id` is answered from the id → key map; indexing it would add two unique terms
            // per resource.
            continue;
        }
        let nodes = param.expression.evaluate(resource);
        if nodes.is_empty() {
            continue;
        }
        let expression = param.expression.source.as_str();
        let extracted = match param.param_type {
            ParamType::Token | ParamType::Uri => {
                let mut keys = Vec::new();
                nodes.iter().for_each(|node| token_keys(node, &mut keys));
                keys.sort();
                keys.dedup();
                Values::Tokens(keys)
            }
            ParamType::String => {
                let mut strings = Vec::new();
                nodes.iter().for_each(|node| string_values(node, &mut strings));
                Values::Strings(strings)
            }
            ParamType::Date => {
                let mut dates = Vec::new();
                for node in &nodes {
                    date_values(node, expression, &mut dates)?;
                }
                Values::Dates(dates)
            }
            ParamType::Number => Values::Numbers(nodes.iter().filter_map(|n| number_value(n)).collect()),
            ParamType::Quantity => {
                Values::Quantities(nodes.iter().filter_map(|n| quantity_value(n)).collect())
            }
            ParamType::Reference => {
                let mut references = Vec::new();
                nodes.iter().for_each(|node| reference_values(node, &param.targets, &mut references));
                Values::References(references)
            }
            ParamType::Special => continue,
        };
        values.push((param.id, extracted));
    }
    Ok(values)
}

/// Id of the `index`-th record of a parent resource.
pub fn record_id(parent_id: &str, index: usize) -> String {
    format!("{parent_id}#{index}")
}

/// Extract with the registry, failing on unknown types.
pub fn extract_resource(registry: &Registry, resource: &Value, version: u64) -> Result<IndexDoc> {
    let schema = schema_of(registry, resource)?;
    let mut doc = extract(schema, resource, version)?;
    for record_schema in registry.records_of(schema.type_index) {
        let Some(spec) = &record_schema.record else { continue };
        for (index, node) in spec.selector.evaluate(resource).into_iter().enumerate() {
            let mut values = extract_values(record_schema, node)?;
            values.push((
                spec.parent_param,
                Values::References(vec![ReferenceValue {
                    target_type: schema.resource_type.clone(),
                    id: doc.id.clone(),
                }]),
            ));
            doc.records.push(IndexDoc {
                resource_type: record_schema.resource_type.clone(),
                id: record_id(&doc.id, index),
                version,
                values,
                position: None,
                text: String::new(),
                records: Vec::new(),
            });
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn test_canonical_nos_system() {
        let underscore = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE_R66-CategorieEtablissement";
        let canonical = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement";
        assert_eq!(canonical_system(underscore), canonical);
        assert_eq!(canonical_system(&format!(" {canonical}")), canonical);
        // SPEC §3 shorthands.
        assert_eq!(canonical_system("R66"), canonical);
        assert_eq!(canonical_system("TRE_R66"), canonical);
        assert_eq!(
            canonical_system("R211"),
            "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"
        );
        assert_eq!(canonical_system("R9999"), "R9999");
        assert_eq!(canonical_system("Rx"), "Rx");
        assert_eq!(key_system_code(underscore, "189"), key_system_code(canonical, "189"));
    }

    #[test]
    fn test_parse_reference_forms() {
        assert_eq!(parse_reference("Organization/eg-1").unwrap().id, "eg-1");
        assert_eq!(parse_reference("https://x/fhir/Location/9/_history/2").unwrap().target_type, "Location");
        assert!(parse_reference("eg-1").is_none());
    }

    #[test]
    fn test_extract_location_example() {
        let registry = Registry::embedded().unwrap();
        let text = include_str!("../../fixtures/ror/Location-ror-location-exemple.json");
        let resource: Value = serde_json::from_str(text).unwrap();
        let doc = extract_resource(&registry, &resource, 1).unwrap();
        let schema = registry.resource("Location").unwrap();
        let cog = doc.get(schema.param("commune-cog").unwrap().id).unwrap();
        let Values::Tokens(keys) = cog else { panic!() };
        assert!(keys.contains(&key_system_code(
            "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
            "78646"
        )));
        assert!(doc.text.contains("Versailles"));
        let postal = doc.get(schema.param("address-postalcode").unwrap().id).unwrap();
        assert_eq!(postal, &Values::Strings(vec![("78000".into(), "78000".into())]));
    }

    #[test]
    fn test_bad_date_is_rejected_with_expression() {
        let registry = Registry::embedded().unwrap();
        let resource = json!({"resourceType": "Location", "id": "x", "meta": {"lastUpdated": "yesterday"}});
        let error = extract_resource(&registry, &resource, 1).unwrap_err();
        assert_eq!(error.expression(), Some("Location.meta.lastUpdated"));
    }
}

//! The search-parameter registry, loaded from `index-schemas/search-parameters.toml` (embedded).

use std::collections::HashMap;

use serde::Deserialize;

use super::fhirpath::Expression;

const SEARCH_PARAMETERS_TOML: &str = include_str!("../../index-schemas/search-parameters.toml");

/// FHIR search parameter types, plus `special` for near / near-insee-code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Token,
    String,
    Date,
    Number,
    Quantity,
    Reference,
    Uri,
    Special,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Token => "token",
            ParamType::String => "string",
            ParamType::Date => "date",
            ParamType::Number => "number",
            ParamType::Quantity => "quantity",
            ParamType::Reference => "reference",
            ParamType::Uri => "uri",
            ParamType::Special => "special",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamEntry {
    resource: Option<String>,
    code: String,
    #[serde(rename = "type")]
    param_type: ParamType,
    path: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    note: Option<String>,
    doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceEntry {
    #[serde(rename = "type")]
    resource_type: String,
    content: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    common: Vec<ParamEntry>,
    param: Vec<ParamEntry>,
    resource: Vec<ResourceEntry>,
    #[serde(default)]
    record: Vec<RecordEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordEntry {
    name: String,
    parent: String,
    prefix: String,
    params: Vec<String>,
}

/// A record type: the sub-elements of a parent resource matched as a unit in record mode.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    pub parent_type: usize,
    /// Selects the records inside a parent resource.
    pub selector: Expression,
    /// The reference param (on the record type) that points back at the parent.
    pub parent_param: ParamId,
    /// Parent param id → record param id.
    pub param_map: Vec<(ParamId, ParamId)>,
}

/// Index of a search parameter inside its resource type's list.
pub type ParamId = usize;

/// A resolved search parameter.
#[derive(Debug, Clone)]
pub struct SearchParam {
    pub id: ParamId,
    pub resource: String,
    pub code: String,
    pub param_type: ParamType,
    pub expression: Expression,
    pub targets: Vec<String>,
    pub aliases: Vec<String>,
    pub note: Option<String>,
    pub doc: String,
}

#[derive(Debug, Clone)]
pub struct ResourceSchema {
    pub resource_type: String,
    pub type_index: usize,
    pub content: bool,
    pub params: Vec<SearchParam>,
    by_name: HashMap<String, ParamId>,
    /// Set on internal record types (never served over HTTP).
    pub record: Option<RecordSpec>,
}

impl ResourceSchema {
    /// The parameter called `name` (or one of its aliases).
    pub fn param(&self, name: &str) -> Option<&SearchParam> {
        self.by_name.get(name).and_then(|id| self.params.get(*id))
    }

    pub fn reference_params(&self) -> impl Iterator<Item = &SearchParam> {
        self.params.iter().filter(|p| p.param_type == ParamType::Reference)
    }
}

/// Every resource type served and its parameters.
#[derive(Debug, Clone)]
pub struct Registry {
    pub resources: Vec<ResourceSchema>,
    by_type: HashMap<String, usize>,
}

impl Registry {
    /// The registry of the embedded `index-schemas/search-parameters.toml`.
    pub fn embedded() -> Result<Registry, String> {
        Registry::from_toml(SEARCH_PARAMETERS_TOML)
    }

    pub fn from_toml(text: &str) -> Result<Registry, String> {
        let file: SchemaFile = toml::from_str(text).map_err(|e| format!("search-parameters.toml: {e}"))?;
        let mut resources = Vec::new();
        let mut by_type = HashMap::new();
        for (type_index, entry) in file.resource.iter().enumerate() {
            let mut params = Vec::new();
            let mut by_name = HashMap::new();
            let own = file.param.iter().filter(|p| p.resource.as_deref() == Some(&entry.resource_type));
            for param in file.common.iter().chain(own) {
                let id = params.len();
                let path = param.path.replacen("Resource.", &format!("{}.", entry.resource_type), 1);
                let expression = Expression::parse(&path)?;
                for name in std::iter::once(&param.code).chain(param.aliases.iter()) {
                    if by_name.insert(name.clone(), id).is_some() {
                        return Err(format!("duplicate search parameter {}.{name}", entry.resource_type));
                    }
                }
                params.push(SearchParam {
                    id,
                    resource: entry.resource_type.clone(),
                    code: param.code.clone(),
                    param_type: param.param_type,
                    expression,
                    targets: param.targets.clone(),
                    aliases: param.aliases.clone(),
                    note: param.note.clone(),
                    doc: param.doc.clone(),
                });
            }
            by_type.insert(entry.resource_type.clone(), type_index);
            resources.push(ResourceSchema {
                resource_type: entry.resource_type.clone(),
                type_index,
                content: entry.content,
                params,
                by_name,
                record: None,
            });
        }
        for entry in &file.record {
            let parent_type = *by_type
                .get(&entry.parent)
                .ok_or_else(|| format!("record {} names unknown parent {}", entry.name, entry.parent))?;
            let parent = &resources[parent_type];
            let mut params = Vec::new();
            let mut by_name = HashMap::new();
            let mut param_map = Vec::new();
            for code in &entry.params {
                let parent_param = parent
                    .param(code)
                    .ok_or_else(|| format!("record {}: unknown parameter {code}", entry.name))?;
                let relative =
                    parent_param.expression.source.strip_prefix(&entry.prefix).ok_or_else(|| {
                        format!(
                            "record {}: the path of {code} does not start with the record prefix",
                            entry.name
                        )
                    })?;
                let expression = Expression::parse(&format!("{}{relative}", entry.name))?;
                let id = params.len();
                by_name.insert(code.clone(), id);
                param_map.push((parent_param.id, id));
                params.push(SearchParam {
                    id,
                    resource: entry.name.clone(),
                    expression,
                    targets: Vec::new(),
                    aliases: Vec::new(),
                    ..parent_param.clone()
                });
            }
            let parent_param = params.len();
            by_name.insert("parent".into(), parent_param);
            params.push(SearchParam {
                id: parent_param,
                resource: entry.name.clone(),
                code: "parent".into(),
                param_type: ParamType::Reference,
                expression: Expression::parse(&format!("{}.parent", entry.name))?,
                targets: vec![entry.parent.clone()],
                aliases: Vec::new(),
                note: None,
                doc: format!("the {} this record belongs to", entry.parent),
            });
            let type_index = resources.len();
            by_type.insert(entry.name.clone(), type_index);
            resources.push(ResourceSchema {
                resource_type: entry.name.clone(),
                type_index,
                content: false,
                params,
                by_name,
                record: Some(RecordSpec {
                    parent_type,
                    selector: Expression::parse(&entry.prefix)?,
                    parent_param,
                    param_map,
                }),
            });
        }
        for param in &file.param {
            let Some(resource) = &param.resource else {
                return Err(format!("parameter {} has no resource", param.code));
            };
            if !by_type.contains_key(resource) {
                return Err(format!("parameter {} names unknown resource {resource}", param.code));
            }
            for target in &param.targets {
                if !by_type.contains_key(target) {
                    return Err(format!("parameter {resource}.{} targets unknown type {target}", param.code));
                }
            }
        }
        Ok(Registry { resources, by_type })
    }

    pub fn resource(&self, resource_type: &str) -> Option<&ResourceSchema> {
        self.by_type.get(resource_type).and_then(|index| self.resources.get(*index))
    }

    /// A resource type served over the API (not an internal record type).
    pub fn served(&self, resource_type: &str) -> Option<&ResourceSchema> {
        self.resource(resource_type).filter(|schema| schema.record.is_none())
    }

    /// Record types whose parent is `type_index`.
    pub fn records_of(&self, type_index: usize) -> impl Iterator<Item = &ResourceSchema> {
        self.resources
            .iter()
            .filter(move |r| r.record.as_ref().is_some_and(|spec| spec.parent_type == type_index))
    }

    pub fn type_index(&self, resource_type: &str) -> Option<usize> {
        self.by_type.get(resource_type).copied()
    }

    pub fn type_name(&self, type_index: usize) -> &str {
        self.resources.get(type_index).map(|r| r.resource_type.as_str()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_embedded_registry_loads() {
        let registry = Registry::embedded().unwrap();
        let location = registry.resource("Location").unwrap();
        assert_eq!(location.param("nb-capacity").unwrap().param_type, ParamType::Number);
        assert_eq!(location.param("gender-capacity").unwrap().code, "gender-capacity-available");
        let hs = registry.resource("HealthcareService").unwrap();
        assert_eq!(hs.param("organization").unwrap().targets, vec!["Organization".to_string()]);
        assert!(hs.param("_lastUpdated").is_some());
    }
}

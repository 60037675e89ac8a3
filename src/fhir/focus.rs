//! `Task.focus` (SPEC §1.7): what an anomaly is about, given as a literal reference or as the
//! business identifier of an offer, organization, location, role or practitioner. Read in one
//! place for the write check (the focus must exist) and for the indicators (an anomaly counts in
//! the region of what it is about).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::index::collection::ParamIndex;
use crate::index::extract::{key_any_system, parse_reference};
use crate::index::SearchState;

/// Types a focus given by identifier alone may designate, in the order they are tried.
const IDENTIFIED_TYPES: [&str; 5] =
    ["HealthcareService", "Organization", "Location", "PractitionerRole", "Practitioner"];

pub enum Focus {
    Reference { resource_type: String, id: String },
    Identifier { types: Vec<String>, value: String },
}

impl Focus {
    /// The focus of a Task; errors name `Task.focus`.
    pub fn of_task(task: &Value) -> Result<Focus> {
        let focus = task
            .get("focus")
            .ok_or_else(|| Error::unprocessable("Task.focus", "a Task needs a focus (1..1)"))?;
        if let Some(reference) = focus.get("reference").and_then(Value::as_str) {
            let target = parse_reference(reference).ok_or_else(|| {
                Error::unprocessable("Task.focus", format!("focus reference {reference:?} is not Type/id"))
            })?;
            return Ok(Focus::Reference { resource_type: target.target_type, id: target.id });
        }
        let value =
            focus.get("identifier").and_then(|i| i.get("value")).and_then(Value::as_str).ok_or_else(
                || Error::unprocessable("Task.focus", "focus needs a reference or an identifier"),
            )?;
        let types = match focus.get("type").and_then(Value::as_str) {
            Some(t) => vec![t.to_owned()],
            None => IDENTIFIED_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        };
        Ok(Focus::Identifier { types, value: value.to_owned() })
    }

    /// The live resource designated, in `state`, as (type, id).
    pub fn find(&self, state: &SearchState) -> Option<(String, String)> {
        match self {
            Focus::Reference { resource_type, id } => {
                let collection = state.collection_by_name(resource_type)?;
                let live = collection.key(id).is_some_and(|k| collection.live.contains(k));
                live.then(|| (resource_type.clone(), id.clone()))
            }
            Focus::Identifier { types, value } => types.iter().find_map(|resource_type| {
                let schema = state.registry.resource(resource_type)?;
                let param = schema.param("identifier")?;
                let collection = state.collection_by_name(resource_type)?;
                let ParamIndex::Tokens(terms) = collection.param(param.id) else { return None };
                let holders = terms.get(&key_any_system(value))?;
                let key = holders.iter().find(|k| collection.live.contains(*k))?;
                Some((resource_type.clone(), collection.id(key)?.to_string()))
            }),
        }
    }

    /// Why [`find`](Self::find) found nothing, for the write check.
    pub fn missing(&self) -> Error {
        match self {
            Focus::Reference { resource_type, id } => {
                Error::unprocessable("Task.focus", format!("focus {resource_type}/{id} does not exist"))
            }
            Focus::Identifier { types, value } => Error::unprocessable(
                "Task.focus",
                format!("no {} has the identifier {value:?} given as focus", types.join(" or ")),
            ),
        }
    }
}

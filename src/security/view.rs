//! Applying projections to stored resources on their way out (reads, Bundles, extracts).
//! Profile 1 never comes here: its answers are the stored bytes.

use serde_json::Value;

use super::context::Graph;
use super::projection::{project, OfferContext};
use super::AccessProfile;
use crate::error::{Error, Result};
use crate::index::SearchSnapshots;
use crate::schema::Registry;

/// Projects resources for one restricted caller.
pub struct Projector<'a> {
    profile: AccessProfile,
    state: &'a SearchSnapshots,
}

/// One stored resource to project: type, id and JSON bytes.
pub type Stored<'b> = (&'b str, &'b str, &'b [u8]);

impl<'a> Projector<'a> {
    /// `None` for profile 1 (nothing to project).
    pub fn new(profile: AccessProfile, state: &'a SearchSnapshots) -> Option<Projector<'a>> {
        (!profile.is_unrestricted()).then_some(Projector { profile, state })
    }

    pub fn profile(&self) -> AccessProfile {
        self.profile
    }

    /// The projected resources (`None`: hidden from the caller). Contexts are read under one
    /// state snapshot, the projection itself runs after it is released.
    pub fn project_many(&self, items: &[Stored<'_>]) -> Result<Vec<Option<Value>>> {
        let mut parsed = Vec::with_capacity(items.len());
        for (resource_type, id, bytes) in items {
            let resource = serde_json::from_slice::<Value>(bytes).map_err(Error::internal)?;
            parsed.push((*resource_type, *id, resource));
        }
        Ok(self.project_values(parsed))
    }

    /// As [`project_many`], for parsed resources (type, id, resource).
    pub fn project_values(&self, items: Vec<(&str, &str, Value)>) -> Vec<Option<Value>> {
        let (registry, contexts) = {
            let state = self.state.read();
            let graph = Graph::new(&state);
            let contexts: Vec<OfferContext> = items
                .iter()
                .map(|(resource_type, id, resource)| match &graph {
                    Some(graph) => graph.context_of_resource(&state, resource_type, id, resource),
                    None => OfferContext::NONE,
                })
                .collect();
            (state.registry.clone(), contexts)
        };
        items
            .into_iter()
            .zip(contexts)
            .map(|((_, _, mut resource), context)| {
                project(&registry, self.profile, &context, &mut resource).then_some(resource)
            })
            .collect()
    }

    /// One resource, `None` when hidden.
    pub fn project_one(&self, resource_type: &str, id: &str, bytes: &[u8]) -> Result<Option<Value>> {
        Ok(self.project_many(&[(resource_type, id, bytes)])?.pop().flatten())
    }

    /// As [`project_many`], serialized.
    pub fn project_bytes(&self, items: &[Stored<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        self.project_many(items)?
            .into_iter()
            .map(|resource| resource.map(|r| serde_json::to_vec(&r).map_err(Error::internal)).transpose())
            .collect()
    }
}

/// Project one stored resource whose index context was captured earlier (an extract's
/// snapshot); an offer's own flag and champ are added from its JSON.
pub fn project_captured(
    registry: &Registry,
    profile: AccessProfile,
    captured: OfferContext,
    resource: &mut Value,
) -> bool {
    let mut context = captured;
    if resource.get("resourceType").and_then(Value::as_str) == Some("HealthcareService") {
        context.merge(OfferContext::of_offer(registry, resource));
    }
    project(registry, profile, &context, resource)
}

//! Offer contexts read from the search state (see `projection` for what a context is and how
//! several offers combine). The same postings answer "the context of this resource" (for a
//! projection) and "every resource whose context is sensitive" (for the matching guard), so a
//! resource is hidden from a read exactly when it is hidden from a search.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use serde_json::Value;

use super::projection::{OfferContext, FIELD_CODES, TRE_R227};
use crate::index::collection::{Collection, ParamIndex};
use crate::index::extract::{key_any_system, key_system_code, parse_reference};
use crate::index::{DocKey, SearchState};

/// The offer graph of one search state: types, parameters and the offers' flag and champ sets.
/// It holds no borrow: every method takes the state it was built from.
pub struct Graph {
    pub offer: usize,
    pub location: usize,
    pub role: usize,
    pub practitioner: usize,
    pub task: Option<usize>,
    offer_location: usize,
    role_service: usize,
    role_practitioner: usize,
    /// Live offers flagged sensitive.
    pub sensitive: RoaringBitmap,
    /// Live offers per champ d'activité (index = bit of [`FIELD_CODES`]).
    fields: Vec<RoaringBitmap>,
}

fn token_postings(collection: &Collection, param: usize, terms: &[String]) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    if let ParamIndex::Tokens(dictionary) = collection.param(param) {
        for term in terms {
            dictionary.union_into(term, &mut out);
        }
    }
    out & &collection.live
}

impl Graph {
    /// `None` when the registry lacks the offer graph (a custom registry without offers).
    pub fn new(state: &SearchState) -> Option<Graph> {
        let registry = &state.registry;
        let param = |type_name: &str, code: &str| registry.resource(type_name)?.param(code).map(|p| p.id);
        let offer = registry.type_index("HealthcareService")?;
        let offers = state.collection(offer)?;
        let sensitive_param = param("HealthcareService", "sensitive-unit")?;
        let type_param = param("HealthcareService", "service-type")?;
        let fields = FIELD_CODES
            .iter()
            .map(|code| {
                token_postings(
                    offers,
                    type_param,
                    &[key_system_code(TRE_R227, code), key_system_code("", code)],
                )
            })
            .collect();
        Some(Graph {
            offer,
            location: registry.type_index("Location")?,
            role: registry.type_index("PractitionerRole")?,
            practitioner: registry.type_index("Practitioner")?,
            task: registry.type_index("Task"),
            offer_location: param("HealthcareService", "location")?,
            role_service: param("PractitionerRole", "service")?,
            role_practitioner: param("PractitionerRole", "practitioner")?,
            sensitive: token_postings(offers, sensitive_param, &[key_any_system("true")]),
            fields,
        })
    }

    /// The context of one offer from the index.
    pub fn offer_context(&self, key: DocKey) -> OfferContext {
        let mut mask = 0u8;
        for (bit, keys) in self.fields.iter().enumerate() {
            if keys.contains(key) {
                mask |= 1 << bit;
            }
        }
        OfferContext::offer(self.sensitive.contains(key), mask)
    }

    /// Live resources a reference target designates: itself, or those a logical reference
    /// (by identifier) resolves to.
    fn targets(&self, state: &SearchState, target_type: usize, key: DocKey) -> RoaringBitmap {
        let Some(collection) = state.collection(target_type) else { return RoaringBitmap::new() };
        let mut targets = collection.logical_targets(key);
        if collection.live.contains(key) {
            targets.insert(key);
        }
        targets
    }

    /// Live resources of `source_type` whose `param` designates `key` of `target_type`
    /// (directly or by identifier).
    fn sources(
        &self,
        state: &SearchState,
        source_type: usize,
        param: usize,
        target_type: usize,
        key: DocKey,
    ) -> RoaringBitmap {
        let (Some(source), Some(target)) = (state.collection(source_type), state.collection(target_type))
        else {
            return RoaringBitmap::new();
        };
        let mut out = RoaringBitmap::new();
        for alias in std::iter::once(key).chain(target.logical_aliases(key)) {
            if let Some(bitmap) = source.referencing(param, (target_type as u16, alias)) {
                bitmap.union_into(&mut out);
            }
        }
        out & &source.live
    }

    /// Offers a role belongs to.
    fn role_offers(&self, state: &SearchState, role: DocKey) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let Some(roles) = state.collection(self.role) else { return out };
        for (target_type, target) in roles.references_of(self.role_service, role) {
            if usize::from(*target_type) == self.offer {
                out |= self.targets(state, self.offer, *target);
            }
        }
        out
    }

    fn merge_offers(&self, offers: &RoaringBitmap, context: &mut OfferContext) {
        for offer in offers {
            context.merge(self.offer_context(offer));
        }
    }

    /// The context of resource `key` of `type_index`, from the index (current versions).
    pub fn context_of(&self, state: &SearchState, type_index: usize, key: DocKey) -> OfferContext {
        let mut context = OfferContext::NONE;
        if type_index == self.offer {
            return self.offer_context(key);
        } else if type_index == self.location {
            self.merge_offers(
                &self.sources(state, self.offer, self.offer_location, self.location, key),
                &mut context,
            );
        } else if type_index == self.role {
            self.merge_offers(&self.role_offers(state, key), &mut context);
        } else if type_index == self.practitioner {
            for role in &self.sources(state, self.role, self.role_practitioner, self.practitioner, key) {
                self.merge_offers(&self.role_offers(state, role), &mut context);
            }
        } else if Some(type_index) == self.task {
            let Some(tasks) = state.collection(type_index) else { return context };
            for param in self.task_reference_params(state) {
                for (target_type, target) in tasks.references_of(param, key) {
                    let target_type = usize::from(*target_type);
                    if self.is_offer_graph(target_type) {
                        for resolved in &self.targets(state, target_type, *target) {
                            context.merge(self.context_of(state, target_type, resolved));
                        }
                    }
                }
            }
        }
        context
    }

    /// The context of one version of a resource: the index's, united with what the version
    /// itself says (an offer's own flag and champ; the references of a role or a task), so that
    /// an old or deleted version is judged by its own content too.
    pub fn context_of_resource(
        &self,
        state: &SearchState,
        resource_type: &str,
        id: &str,
        resource: &Value,
    ) -> OfferContext {
        let registry = &state.registry;
        let Some(type_index) = registry.type_index(resource_type) else { return OfferContext::NONE };
        let mut context = match state.collection(type_index).and_then(|c| c.key(id)) {
            Some(key) => self.context_of(state, type_index, key),
            None => OfferContext::NONE,
        };
        if type_index == self.offer {
            context.merge(OfferContext::of_offer(registry, resource));
        } else if type_index == self.role || Some(type_index) == self.task {
            let Some(schema) = registry.resource(resource_type) else { return context };
            let wanted: &[&str] =
                if type_index == self.role { &["service"] } else { &["focus", "owner", "requester"] };
            for code in wanted {
                let Some(param) = schema.param(code) else { continue };
                for node in param.expression.evaluate(resource) {
                    let Some(reference) =
                        node.get("reference").and_then(Value::as_str).and_then(parse_reference)
                    else {
                        continue;
                    };
                    let Some(target_type) = registry.type_index(&reference.target_type) else { continue };
                    if !self.is_offer_graph(target_type) {
                        continue;
                    }
                    if let Some(target) = state.collection(target_type).and_then(|c| c.key(&reference.id)) {
                        context.merge(self.context_of(state, target_type, target));
                    }
                }
            }
        }
        context
    }

    fn is_offer_graph(&self, type_index: usize) -> bool {
        [self.offer, self.location, self.role, self.practitioner].contains(&type_index)
    }

    fn task_reference_params(&self, state: &SearchState) -> Vec<usize> {
        let Some(task) = self.task else { return Vec::new() };
        state
            .registry
            .resources
            .get(task)
            .map(|schema| schema.reference_params().map(|p| p.id).collect())
            .unwrap_or_default()
    }

    /// Every live resource of `type_index` whose context is sensitive (hidden from profiles
    /// 0, 2, 3, 5). Empty for types outside the offer graph.
    pub fn sensitive_keys(&self, state: &SearchState, type_index: usize) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        if type_index == self.offer {
            return self.sensitive.clone();
        } else if type_index == self.location {
            let Some(offers) = state.collection(self.offer) else { return out };
            for offer in &self.sensitive {
                for (target_type, target) in offers.references_of(self.offer_location, offer) {
                    if usize::from(*target_type) == self.location {
                        out |= self.targets(state, self.location, *target);
                    }
                }
            }
        } else if type_index == self.role {
            for offer in &self.sensitive {
                out |= self.sources(state, self.role, self.role_service, self.offer, offer);
            }
        } else if type_index == self.practitioner {
            let Some(roles) = state.collection(self.role) else { return out };
            for role in &self.sensitive_keys(state, self.role) {
                for (target_type, target) in roles.references_of(self.role_practitioner, role) {
                    if usize::from(*target_type) == self.practitioner {
                        out |= self.targets(state, self.practitioner, *target);
                    }
                }
            }
        } else if Some(type_index) == self.task {
            let params = self.task_reference_params(state);
            for target_type in [self.offer, self.location, self.role, self.practitioner] {
                for target in &self.sensitive_keys(state, target_type) {
                    for param in &params {
                        out |= self.sources(state, type_index, *param, target_type, target);
                    }
                }
            }
        }
        out
    }

    /// The context of every live resource of `type_index` (Location or Practitioner), computed
    /// forward from the offers (one pass over the offers or the roles).
    pub fn all_contexts(&self, state: &SearchState, type_index: usize) -> HashMap<DocKey, OfferContext> {
        let mut out: HashMap<DocKey, OfferContext> = HashMap::new();
        if type_index == self.location {
            let Some(offers) = state.collection(self.offer) else { return out };
            for offer in &offers.live {
                let context = self.offer_context(offer);
                for (target_type, target) in offers.references_of(self.offer_location, offer) {
                    if usize::from(*target_type) == self.location {
                        for location in &self.targets(state, self.location, *target) {
                            out.entry(location).or_default().merge(context);
                        }
                    }
                }
            }
        } else if type_index == self.practitioner {
            let Some(roles) = state.collection(self.role) else { return out };
            for role in &roles.live {
                let mut context = OfferContext::NONE;
                self.merge_offers(&self.role_offers(state, role), &mut context);
                for (target_type, target) in roles.references_of(self.role_practitioner, role) {
                    if usize::from(*target_type) == self.practitioner {
                        for practitioner in &self.targets(state, self.practitioner, *target) {
                            out.entry(practitioner).or_default().merge(context);
                        }
                    }
                }
            }
        }
        out
    }
}

//! Matching that does not leak hidden data: the [`Guard`] of a restricted profile makes a search
//! match exactly the resources whose *projected* form matches.
//!
//! Design (README "Access profiles"): rather than re-checking candidates, every leaf of the
//! criterion tree that reads data a profile may not see is answered on what it may see, with
//! the same bitmaps the engine already has:
//!
//! * resources hidden from the profile (sensitive contexts, MeasureReports) are taken out of
//!   each type's live set, so they match nothing, are no chain or `_has` target, and every
//!   `Not` / `:missing=true` complements within what exists for the caller;
//! * capacity, equipment and residential criteria on a Location are answered through the
//!   index's record types (one posting set per capacity line, equipment…): a Location matches
//!   when one of its *visible* records matches on a *visible* element. Record visibility is a
//!   set computed from the record postings with the projection's own rule (status keys "only
//!   installé", "not Exceptionnel"; assignment "only aucune"; the location's context);
//! * elements hidden on some resources (practitioner names and identifiers, the sensitive-unit
//!   flag) match only on the resources where they are shown;
//! * `_content` hits are re-checked against the text of the projected resource (contacts and
//!   names are part of a resource's text);
//! * sorting on a parameter whose values may be hidden is refused (it would order by them).
//!
//! Since each leaf is exact for the projected data, `And`, `Or`, `Not`, chains, `_has` and
//! `_matching=record` compose without further work, and profile 1 never builds a guard.

use std::cell::OnceCell;
use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::context::Graph;
use super::projection::{
    self, hides_sensitive, hides_type, OfferContext, ASSIGNMENT_NONE, CAPACITY_RECORD, EQUIPMENT_RECORD,
    PARAM_ASSIGNMENT, PARAM_CAPACITY_STATUS, RESIDENTIAL_RECORD, STATUS_EXCEPTIONAL, STATUS_INSTALLED,
    TRE_R330, TRE_R337,
};
use super::AccessProfile;
use crate::error::Result;
use crate::index::collection::{Collection, ParamIndex};
use crate::index::extract::{extract, key_any_system, key_system_only};
use crate::index::{DocKey, SearchState};
use crate::query::ast::Criterion;
use crate::query::parse::SearchRequest;
use crate::schema::Registry;
use crate::search::execute::{EvalContext, Executor, Guard};
use crate::store::ResourceStore;

/// Capacity parameters profile 0 never sees inside a shown record.
const DETAIL_PARAMS: [&str; 3] = ["gender-capacity-available", "additional-bed-type", "crisis-type"];
const NAME_PARAMS: [&str; 3] = ["name", "family", "given"];

/// How a leaf on (type, param) is answered for the profile.
enum Protection<'g> {
    /// As usual.
    Open,
    /// The element is shown nowhere: nothing matches, it is missing everywhere.
    Hidden,
    /// The element is shown only on these keys.
    Among(&'g RoaringBitmap),
    /// A Location parameter whose values live in records of `record_type`.
    Records { record_type: usize, record_param: usize, parent_param: usize },
}

/// The access-profile guard of one request (one search state).
pub struct ProfileGuard<'a> {
    profile: AccessProfile,
    store: &'a dyn ResourceStore,
    graph: OnceCell<Option<Graph>>,
    visible: Vec<OnceCell<Option<RoaringBitmap>>>,
    location_contexts: OnceCell<HashMap<DocKey, OfferContext>>,
    practitioner_contexts: OnceCell<HashMap<DocKey, OfferContext>>,
    /// Record keys whose parent location is medico-social, per record type.
    medico_social_records: HashMap<usize, OnceCell<RoaringBitmap>>,
    capacity_details: OnceCell<RoaringBitmap>,
    capacity_assignment: OnceCell<RoaringBitmap>,
    practitioner_names: OnceCell<RoaringBitmap>,
    practitioner_identifiers: OnceCell<RoaringBitmap>,
    empty: RoaringBitmap,
}

impl<'a> ProfileGuard<'a> {
    /// `None` for profile 1, which sees everything (no guard, no cost).
    pub fn for_profile(
        profile: AccessProfile,
        registry: &Registry,
        store: &'a dyn ResourceStore,
    ) -> Option<ProfileGuard<'a>> {
        if profile.is_unrestricted() {
            return None;
        }
        let types = registry.resources.len();
        let medico_social_records = [CAPACITY_RECORD, EQUIPMENT_RECORD]
            .iter()
            .filter_map(|name| registry.type_index(name))
            .map(|t| (t, OnceCell::new()))
            .collect();
        Some(ProfileGuard {
            profile,
            store,
            graph: OnceCell::new(),
            visible: (0..types).map(|_| OnceCell::new()).collect(),
            location_contexts: OnceCell::new(),
            practitioner_contexts: OnceCell::new(),
            medico_social_records,
            capacity_details: OnceCell::new(),
            capacity_assignment: OnceCell::new(),
            practitioner_names: OnceCell::new(),
            practitioner_identifiers: OnceCell::new(),
            empty: RoaringBitmap::new(),
        })
    }

    pub fn profile(&self) -> AccessProfile {
        self.profile
    }

    fn graph(&self, state: &SearchState) -> Option<&Graph> {
        self.graph.get_or_init(|| Graph::new(state)).as_ref()
    }

    /// Drop the sort keys whose values may be hidden (they would order results by them) and
    /// say so in the Bundle's OperationOutcome.
    pub fn strip_hidden_sorts(&self, registry: &Registry, request: &mut SearchRequest) {
        let mut dropped = Vec::new();
        request.sort.retain(|sort| {
            let hidden = self.hides_param(registry, sort.target_type, sort.param);
            if hidden {
                let schema = registry.resources.get(sort.target_type);
                dropped.push(schema.and_then(|s| s.params.get(sort.param)).map(|p| p.code.clone()));
            }
            !hidden
        });
        for code in dropped.into_iter().flatten() {
            request.ignored.push((
                "_sort".into(),
                format!("sorting on {code:?} is not available to this access profile"),
            ));
        }
    }

    /// Whether some values of `param` of `type_index` are hidden from the profile (the leaves
    /// [`Guard::leaf`] answers on visible data only).
    pub fn hides_param(&self, registry: &Registry, type_index: usize, param: usize) -> bool {
        let Some(schema) = registry.resources.get(type_index) else { return false };
        let Some(code) = schema.params.get(param).map(|p| p.code.as_str()) else { return false };
        if let Some(spec) = &schema.record {
            return param != spec.parent_param && self.restricts_records(registry, type_index);
        }
        match schema.resource_type.as_str() {
            "HealthcareService" => code == "sensitive-unit",
            "Location" => registry.records_of(type_index).any(|record| {
                record.record.as_ref().is_some_and(|spec| spec.param_map.iter().any(|(p, _)| *p == param))
                    && self.restricts_records(registry, record.type_index)
            }),
            "Practitioner" if NAME_PARAMS.contains(&code) => {
                matches!(self.profile, AccessProfile::P0 | AccessProfile::P3 | AccessProfile::P4)
            }
            "Practitioner" if code == "identifier" => {
                matches!(self.profile, AccessProfile::P0 | AccessProfile::P3)
            }
            _ => false,
        }
    }

    fn location_contexts(&self, state: &SearchState) -> &HashMap<DocKey, OfferContext> {
        self.location_contexts.get_or_init(|| match self.graph(state) {
            Some(graph) => graph.all_contexts(state, graph.location),
            None => HashMap::new(),
        })
    }

    fn practitioner_contexts(&self, state: &SearchState) -> &HashMap<DocKey, OfferContext> {
        self.practitioner_contexts.get_or_init(|| match self.graph(state) {
            Some(graph) => graph.all_contexts(state, graph.practitioner),
            None => HashMap::new(),
        })
    }

    /// Records of `record_type` (child of Location) whose location is medico-social.
    fn medico_social_records(&self, state: &SearchState, record_type: usize) -> &RoaringBitmap {
        let Some(cell) = self.medico_social_records.get(&record_type) else { return &self.empty };
        cell.get_or_init(|| {
            let mut out = RoaringBitmap::new();
            let (Some(records), Some(spec), Some(location)) = (
                state.collection(record_type),
                state.registry.resources.get(record_type).and_then(|s| s.record.as_ref()),
                self.graph(state).map(|g| g.location),
            ) else {
                return out;
            };
            for (key, context) in self.location_contexts(state) {
                if context.is_medico_social() {
                    if let Some(bitmap) = records.referencing(spec.parent_param, (location as u16, *key)) {
                        bitmap.union_into(&mut out);
                    }
                }
            }
            out & &records.live
        })
    }

    /// Record keys of `record_type` shown to the profile (whole records), `None` when all are.
    fn visible_records(&self, state: &SearchState, record_type: usize) -> Option<RoaringBitmap> {
        let name = state.registry.type_name(record_type);
        let records = state.collection(record_type)?;
        let profile = self.profile;
        match name {
            CAPACITY_RECORD => {
                let status = param_id(state, record_type, PARAM_CAPACITY_STATUS)?;
                let not_exceptional =
                    || &records.live - &has_code(records, status, TRE_R330, STATUS_EXCEPTIONAL);
                let installed_only = || only_code(records, status, TRE_R330, STATUS_INSTALLED);
                match profile {
                    AccessProfile::P1 | AccessProfile::P4 => None,
                    AccessProfile::P5 => Some(RoaringBitmap::new()),
                    AccessProfile::P2 => Some(not_exceptional()),
                    AccessProfile::P0 => Some(installed_only()),
                    AccessProfile::P3 => {
                        let medico_social = self.medico_social_records(state, record_type);
                        Some((not_exceptional() & medico_social) | (installed_only() - medico_social))
                    }
                }
            }
            EQUIPMENT_RECORD => match profile {
                AccessProfile::P0 => Some(RoaringBitmap::new()),
                AccessProfile::P3 => Some(self.medico_social_records(state, record_type).clone()),
                _ => None,
            },
            RESIDENTIAL_RECORD if profile == AccessProfile::P5 => Some(RoaringBitmap::new()),
            _ => None,
        }
    }

    /// Whether `record_type` is a record type some of whose records or elements the profile
    /// does not see.
    fn restricts_records(&self, registry: &Registry, record_type: usize) -> bool {
        let name = registry.type_name(record_type);
        match name {
            CAPACITY_RECORD => self.profile != AccessProfile::P4,
            EQUIPMENT_RECORD => matches!(self.profile, AccessProfile::P0 | AccessProfile::P3),
            RESIDENTIAL_RECORD => self.profile == AccessProfile::P5,
            _ => false,
        }
    }

    /// Capacity records whose detail elements (source, gender, extra bed, crisis) are shown.
    fn capacity_details(&self, state: &SearchState, record_type: usize) -> &RoaringBitmap {
        self.capacity_details.get_or_init(|| {
            let base = self
                .visible(state, record_type)
                .cloned()
                .unwrap_or_else(|| state.collection(record_type).map(|c| c.live.clone()).unwrap_or_default());
            match self.profile {
                AccessProfile::P0 | AccessProfile::P5 => RoaringBitmap::new(),
                AccessProfile::P3 => base & self.medico_social_records(state, record_type),
                _ => base,
            }
        })
    }

    /// Capacity records whose `temporaryAssignement` is shown.
    fn capacity_assignment(&self, state: &SearchState, record_type: usize) -> &RoaringBitmap {
        self.capacity_assignment.get_or_init(|| {
            let Some(records) = state.collection(record_type) else { return RoaringBitmap::new() };
            let base = self.visible(state, record_type).cloned().unwrap_or_else(|| records.live.clone());
            let none_only = || {
                param_id(state, record_type, PARAM_ASSIGNMENT)
                    .map(|p| only_code(records, p, TRE_R337, ASSIGNMENT_NONE))
                    .unwrap_or_default()
            };
            match self.profile {
                AccessProfile::P5 => RoaringBitmap::new(),
                AccessProfile::P0 => base & none_only(),
                AccessProfile::P3 => base & (none_only() | self.medico_social_records(state, record_type)),
                _ => base,
            }
        })
    }

    /// Practitioners whose names (or identifiers) are shown; `None` when all visible ones are.
    fn practitioner_field(&self, state: &SearchState, names: bool) -> Option<&RoaringBitmap> {
        let cell = if names { &self.practitioner_names } else { &self.practitioner_identifiers };
        let in_context = |accept: fn(&OfferContext) -> bool| {
            self.practitioner_contexts(state).iter().filter(|(_, c)| accept(c)).map(|(k, _)| *k).collect()
        };
        match (self.profile, names) {
            (AccessProfile::P4, true) => Some(&self.empty),
            (AccessProfile::P0, _) => Some(cell.get_or_init(|| in_context(|c| c.is_ville()))),
            (AccessProfile::P3, _) => {
                Some(cell.get_or_init(|| in_context(|c| c.is_ville() || c.is_medico_social())))
            }
            _ => None,
        }
    }

    fn protection(&self, state: &SearchState, type_index: usize, param: usize) -> Protection<'_> {
        let registry = &state.registry;
        let Some(schema) = registry.resources.get(type_index) else { return Protection::Open };
        let Some(code) = schema.params.get(param).map(|p| p.code.as_str()) else { return Protection::Open };
        if let Some(spec) = &schema.record {
            if !self.restricts_records(&state.registry, type_index) || param == spec.parent_param {
                return Protection::Open;
            }
            return if DETAIL_PARAMS.contains(&code) {
                Protection::Among(self.capacity_details(state, type_index))
            } else if code == PARAM_ASSIGNMENT && schema.resource_type == CAPACITY_RECORD {
                Protection::Among(self.capacity_assignment(state, type_index))
            } else {
                // The whole-record visibility is the record type's live set.
                Protection::Open
            };
        }
        match schema.resource_type.as_str() {
            "HealthcareService" if code == "sensitive-unit" => Protection::Hidden,
            "Location" => {
                for record in registry.records_of(type_index) {
                    let Some(spec) = &record.record else { continue };
                    if let Some((_, record_param)) = spec.param_map.iter().find(|(p, _)| *p == param) {
                        if self.restricts_records(&state.registry, record.type_index) {
                            return Protection::Records {
                                record_type: record.type_index,
                                record_param: *record_param,
                                parent_param: spec.parent_param,
                            };
                        }
                    }
                }
                Protection::Open
            }
            "Practitioner" if NAME_PARAMS.contains(&code) || code == "identifier" => {
                match self.practitioner_field(state, code != "identifier") {
                    Some(set) if set.is_empty() => Protection::Hidden,
                    Some(set) => Protection::Among(set),
                    None => Protection::Open,
                }
            }
            _ => Protection::Open,
        }
    }

    /// `_content` hits whose projected resource still holds every query word.
    fn verify_content(
        &self,
        executor: &Executor<'_>,
        type_index: usize,
        criterion: &Criterion,
        text: &str,
        context: &mut EvalContext,
    ) -> Result<RoaringBitmap> {
        let state = executor.state;
        let raw = Executor::new(state, executor.text).eval(type_index, criterion, context)?;
        let candidates = match self.visible(state, type_index) {
            Some(visible) => raw & visible,
            None => raw,
        };
        let (Some(collection), Some(schema)) =
            (state.collection(type_index), state.registry.resources.get(type_index))
        else {
            return Ok(RoaringBitmap::new());
        };
        let words = executor.text.analyze(text);
        let graph = self.graph(state);
        let resource_type = schema.resource_type.as_str();
        let mut out = RoaringBitmap::new();
        let keys: Vec<DocKey> = candidates.iter().collect();
        for chunk in keys.chunks(256) {
            let ids: Vec<(DocKey, std::sync::Arc<str>, u64)> = chunk
                .iter()
                .filter_map(|k| {
                    collection.id(*k).map(|id| (*k, std::sync::Arc::from(id), collection.version(*k)))
                })
                .collect();
            let reads: Vec<(&str, &str, u64)> =
                ids.iter().map(|(_, id, v)| (resource_type, &**id, *v)).collect();
            for ((key, id, version), bytes) in ids.iter().zip(self.store.read_many(&reads)?) {
                let Some(bytes) = bytes else { continue };
                let Ok(mut resource) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
                let offer_context = match graph {
                    Some(graph) => graph.context_of_resource(state, resource_type, id, &resource),
                    None => OfferContext::NONE,
                };
                if !projection::project(&state.registry, self.profile, &offer_context, &mut resource) {
                    continue;
                }
                let projected = extract(schema, &resource, *version)?.text;
                if holds_words(&projected, &words) {
                    out.insert(*key);
                }
            }
        }
        Ok(out)
    }

    fn compute_visible(&self, state: &SearchState, type_index: usize) -> Option<RoaringBitmap> {
        let registry = &state.registry;
        let name = registry.type_name(type_index);
        if hides_type(self.profile, name) {
            return Some(RoaringBitmap::new());
        }
        if registry.resources.get(type_index).is_some_and(|s| s.record.is_some()) {
            return self.visible_records(state, type_index);
        }
        if !hides_sensitive(self.profile) {
            return None;
        }
        let graph = self.graph(state)?;
        let collection = state.collection(type_index)?;
        let hidden = graph.sensitive_keys(state, type_index);
        if hidden.is_empty() {
            return None;
        }
        Some(&collection.live - hidden)
    }
}

/// Whether every analyzed query word is a word, or the prefix of a word, of `text` (what the
/// text engine's query asks of a document).
fn holds_words(text: &str, words: &[String]) -> bool {
    if words.is_empty() {
        return false;
    }
    let mut analyzer = crate::index::text::french_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while stream.advance() {
        tokens.push(stream.token().text.clone());
    }
    words.iter().all(|word| tokens.iter().any(|token| token.starts_with(word.as_str())))
}

fn param_id(state: &SearchState, type_index: usize, code: &str) -> Option<usize> {
    state.registry.resources.get(type_index)?.param(code).map(|p| p.id)
}

/// Keys whose token values include `code` in `system` or without system.
fn has_code(collection: &Collection, param: usize, system: &str, code: &str) -> RoaringBitmap {
    let ParamIndex::Tokens(terms) = collection.param(param) else { return RoaringBitmap::new() };
    let mut out = RoaringBitmap::new();
    for term in projection::code_keys(system, code) {
        terms.union_into(&term, &mut out);
    }
    out & &collection.live
}

/// Keys whose token values are `code` only (see [`projection::only_code`]): holding it, and no
/// term outside the keys that coding produces.
fn only_code(collection: &Collection, param: usize, system: &str, code: &str) -> RoaringBitmap {
    let ParamIndex::Tokens(terms) = collection.param(param) else { return RoaringBitmap::new() };
    let wanted = projection::code_keys(system, code);
    let allowed = [key_any_system(code), wanted[0].clone(), wanted[1].clone(), key_system_only(system)];
    let other = terms.scan(|term| !allowed.iter().any(|a| a == term));
    has_code(collection, param, system, code) - other
}

fn leaf_param(criterion: &Criterion) -> Option<usize> {
    match criterion {
        Criterion::Token { param, .. }
        | Criterion::String { param, .. }
        | Criterion::Date { param, .. }
        | Criterion::Number { param, .. }
        | Criterion::Quantity { param, .. }
        | Criterion::Missing { param, .. } => Some(*param),
        _ => None,
    }
}

fn with_param(criterion: &Criterion, new_param: usize) -> Criterion {
    let mut mapped = criterion.clone();
    match &mut mapped {
        Criterion::Token { param, .. }
        | Criterion::String { param, .. }
        | Criterion::Date { param, .. }
        | Criterion::Number { param, .. }
        | Criterion::Quantity { param, .. }
        | Criterion::Missing { param, .. } => *param = new_param,
        _ => {}
    }
    mapped
}

impl Guard for ProfileGuard<'_> {
    fn visible(&self, state: &SearchState, type_index: usize) -> Option<&RoaringBitmap> {
        self.visible.get(type_index)?.get_or_init(|| self.compute_visible(state, type_index)).as_ref()
    }

    fn leaf(
        &self,
        executor: &Executor<'_>,
        type_index: usize,
        criterion: &Criterion,
        context: &mut EvalContext,
    ) -> Result<Option<RoaringBitmap>> {
        let state = executor.state;
        if let Criterion::Content { text } = criterion {
            return self.verify_content(executor, type_index, criterion, text, context).map(Some);
        }
        let Some(param) = leaf_param(criterion) else { return Ok(None) };
        let live = || executor.live(type_index).cloned().unwrap_or_default();
        Ok(Some(match self.protection(state, type_index, param) {
            Protection::Open => return Ok(None),
            Protection::Hidden => match criterion {
                Criterion::Missing { missing: true, .. } => live(),
                _ => RoaringBitmap::new(),
            },
            Protection::Among(shown) => {
                let present = match criterion {
                    Criterion::Missing { .. } => {
                        state.collection(type_index).map(|c| c.present(param)).unwrap_or_default()
                    }
                    _ => Executor::new(state, executor.text).eval(type_index, criterion, context)?,
                };
                let present = present & shown;
                match criterion {
                    Criterion::Missing { missing: true, .. } => live() - present,
                    _ => present,
                }
            }
            Protection::Records { record_type, record_param, parent_param } => {
                let mapped = match criterion {
                    Criterion::Missing { .. } => Criterion::Missing { param: record_param, missing: false },
                    other => with_param(other, record_param),
                };
                let records = executor.eval(record_type, &mapped, context)?;
                let mut parents = RoaringBitmap::new();
                if let Some(collection) = state.collection(record_type) {
                    for record in &records {
                        for (target_type, parent) in collection.references_of(parent_param, record) {
                            if usize::from(*target_type) == type_index {
                                parents.insert(*parent);
                            }
                        }
                    }
                }
                match criterion {
                    Criterion::Missing { missing: true, .. } => live() - parents,
                    _ => parents,
                }
            }
        }))
    }

    fn scope(&self) -> u8 {
        self.profile.number()
    }
}

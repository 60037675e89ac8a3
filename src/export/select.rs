//! One consistent snapshot of what an extract holds: the matching keys of each root type, the
//! include closure of the offers, then (type, id, version) triples, all read under one
//! search-state snapshot. The resources themselves are read later, by version, from the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::index::text::TextIndex;
use crate::index::{DocKey, SearchSnapshots};
use crate::query::ast::Criterion;
use crate::query::params::{parse_query_string, RawParam};
use crate::query::parse::{Include, ParseContext};
use crate::search::execute::{EvalContext, Executor, Guard};
use crate::security::context::Graph;
use crate::security::guard::ProfileGuard;
use crate::security::projection::OfferContext;

/// The UC2 standard include block (SPEC §3 UC2 `{INC}`): an offer with its organization and
/// every `partOf` ancestor, its locations, its practitioner roles and their practitioners. The
/// national server always exports this closure (SPEC §4.3, deviation 3).
pub const OFFER_CLOSURE: &str = "_include=HealthcareService:organization&_include:iterate=Organization:partof\
&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner";

/// What to select for one root type.
#[derive(Debug, Clone)]
pub struct RootQuery {
    pub type_index: usize,
    /// Alternatives (OR); empty means every live resource of the type.
    pub criteria: Vec<Criterion>,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
}

/// The resources of one type in a snapshot, in key order.
#[derive(Debug, Clone)]
pub struct TypeSelection {
    pub resource_type: String,
    pub type_index: usize,
    /// (key, id, version) of each resource.
    pub entries: Vec<(DocKey, Arc<str>, u64)>,
    /// For a restricted access profile, the offer context of each entry as the snapshot saw it
    /// (what its projection depends on); empty for profile 1.
    pub contexts: Vec<OfferContext>,
}

/// Build the root query of `resource_type` from search parameters (each element of
/// `alternatives` is one query string, e.g. a `_typeFilter`; their results are OR-ed) and an
/// optional `_lastUpdated` lower bound. With `closure`, offers get the UC2 include closure.
pub fn root_query(
    context: &ParseContext<'_>,
    resource_type: &str,
    alternatives: &[Vec<RawParam>],
    since: Option<&str>,
    closure: bool,
) -> Result<RootQuery> {
    let since_param = since.map(|s| RawParam { name: "_lastUpdated".into(), values: vec![format!("ge{s}")] });
    let mut criteria = Vec::new();
    let mut type_index = None;
    let no_filter = [Vec::new()];
    let alternatives: &[Vec<RawParam>] = if alternatives.is_empty() { &no_filter } else { alternatives };
    for params in alternatives {
        let mut params = params.clone();
        params.extend(since_param.clone());
        let request = context.parse_search(resource_type, &params)?;
        type_index = Some(request.resource_type);
        criteria.push(request.criterion);
    }
    let type_index = type_index.ok_or_else(|| Error::internal("no root query"))?;
    // A lone unfiltered alternative selects everything: keep it as the cheap "all" form.
    if criteria.iter().any(|c| matches!(c, Criterion::All)) {
        criteria.clear();
    }
    let (includes, revincludes) = if closure && resource_type == "HealthcareService" {
        let params = parse_query_string(OFFER_CLOSURE).map_err(|e| Error::internal(e.to_string()))?;
        let request = context.parse_search(resource_type, &params)?;
        (request.includes, request.revincludes)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(RootQuery { type_index, criteria, includes, revincludes })
}

/// Evaluate the roots and their closures on one state, on one snapshot, and return every
/// selected resource with the version the snapshot saw.
pub fn snapshot(
    state: &SearchSnapshots,
    text: &TextIndex,
    roots: &[RootQuery],
) -> Result<Vec<TypeSelection>> {
    snapshot_as(state, text, roots, None)
}

/// As [`snapshot`], for a restricted access profile: roots match as the `guard` lets them,
/// the closure leaves out (and does not follow) resources hidden from the profile, and each
/// entry's offer context is captured for the projection of the files.
pub fn snapshot_as(
    state: &SearchSnapshots,
    text: &TextIndex,
    roots: &[RootQuery],
    guard: Option<&ProfileGuard<'_>>,
) -> Result<Vec<TypeSelection>> {
    let state = state.read();
    let executor = Executor { state: &state, text, guard: guard.map(|g| g as &dyn Guard) };
    let mut selected: BTreeMap<usize, RoaringBitmap> = BTreeMap::new();
    for root in roots {
        let mut matched = RoaringBitmap::new();
        if root.criteria.is_empty() {
            if let Some(live) = executor.live(root.type_index) {
                matched |= live;
            }
        }
        for criterion in &root.criteria {
            matched |= executor.eval(root.type_index, criterion, &mut EvalContext::default())?;
        }
        let closure = include_closure(&executor, root, &matched);
        *selected.entry(root.type_index).or_default() |= matched;
        for (type_index, keys) in closure {
            *selected.entry(type_index).or_default() |= keys;
        }
    }
    let graph = guard.and_then(|_| Graph::new(&state));
    let mut out = Vec::with_capacity(selected.len());
    for (type_index, keys) in selected {
        let Some(collection) = state.collection(type_index) else { continue };
        let entries: Vec<(DocKey, Arc<str>, u64)> = keys
            .iter()
            .filter_map(|key| collection.id(key).map(|id| (key, Arc::from(id), collection.version(key))))
            .collect();
        let contexts = match &graph {
            Some(graph) => {
                entries.iter().map(|(key, _, _)| graph.context_of(&state, type_index, *key)).collect()
            }
            None => Vec::new(),
        };
        out.push(TypeSelection {
            resource_type: state.registry.type_name(type_index).to_owned(),
            type_index,
            entries,
            contexts,
        });
    }
    Ok(out)
}

/// Apply the includes and revincludes of `root` to the matched set until nothing new appears
/// (so `Organization:partof` climbs every ancestor and the roles bring their practitioners).
/// Unlike a search page there is no fan-out cap: an export must hold the whole closure.
fn include_closure(
    executor: &Executor<'_>,
    root: &RootQuery,
    matched: &RoaringBitmap,
) -> BTreeMap<usize, RoaringBitmap> {
    let state = executor.state;
    let mut seen: BTreeMap<usize, RoaringBitmap> = BTreeMap::new();
    if root.includes.is_empty() && root.revincludes.is_empty() {
        return seen;
    }
    seen.insert(root.type_index, matched.clone());
    let mut frontier: BTreeMap<usize, RoaringBitmap> = BTreeMap::from([(root.type_index, matched.clone())]);
    while !frontier.is_empty() {
        let mut next: BTreeMap<usize, RoaringBitmap> = BTreeMap::new();
        let mut add = |type_index: usize, key: DocKey, next: &mut BTreeMap<usize, RoaringBitmap>| {
            // A resource hidden from the caller's profile is neither exported nor followed.
            if executor.guard.is_some() && !executor.is_visible(type_index, key) {
                return;
            }
            if seen.entry(type_index).or_default().insert(key) {
                next.entry(type_index).or_default().insert(key);
            }
        };
        for (resource_type, keys) in &frontier {
            for key in keys {
                let mut visit = |target_type: usize, target: DocKey| add(target_type, target, &mut next);
                for include in root.includes.iter().filter(|i| i.source_type == *resource_type) {
                    crate::search::include::include_targets(state, include, key, &mut visit);
                }
                for include in &root.revincludes {
                    crate::search::include::revinclude_sources(
                        state,
                        include,
                        *resource_type,
                        key,
                        &mut visit,
                    );
                }
            }
        }
        frontier = next;
    }
    seen
}

//! Evaluation of a [`Criterion`] on one [`SearchState`]: set algebra over roaring bitmaps
//! (And = ∩, Or = ∪, Not = live − x), column scans for dates and numbers, the R-tree for
//! proximity and tantivy for full text. Chains and reverse chains move sets across types through
//! the reference postings.

use roaring::RoaringBitmap;
use rustc_hash::FxHashMap as HashMap;

use crate::error::Result;
use crate::index::collection::{Collection, KeyUnion, ParamIndex};
use crate::index::normalize::normalize;
use crate::index::text::TextIndex;
use crate::index::{DocKey, SearchState};
use crate::query::ast::{Criterion, StringMode};
use crate::query::value::{number_matches, DateTest, QuantityCriterion};

/// Side results of an evaluation: distances of locations found by `near`, relevance scores.
#[derive(Default, Debug)]
pub struct EvalContext {
    /// Location key → great-circle distance in metres (the smallest over several `near`).
    pub distances: HashMap<DocKey, f64>,
    /// (type, key, raw full-text score) of the searched resources only (a chain's
    /// `location._content` ranks nothing: thousands of locations were scored for no use), in
    /// the order found; a key found by several `_content` appears once per find. A list, not a
    /// map: 9,000 hits hashed in, then out, were a sixth of a `_content` search.
    pub scores: Vec<(usize, DocKey, f32)>,
    /// How many chains or reverse chains the evaluation is inside.
    pub nesting: u32,
}

pub struct Executor<'a> {
    pub state: &'a SearchState,
    pub text: &'a TextIndex,
    /// What the caller's access profile may see; `None` (profile 1, no security) sees
    /// everything and costs nothing.
    pub guard: Option<&'a dyn Guard>,
}

/// The access-profile hook of the evaluation (implemented by `security::guard`): a search must
/// match exactly what the caller would see in the projected resources, so hidden resources are
/// taken out of every type's live set, and leaves on hidden elements are answered on what is
/// visible. Since each leaf is exact, `Not`, `Or`, chains and `_has` compose soundly.
///
/// One guard serves one request on one state (it may cache sets computed from `state`).
pub trait Guard {
    /// The keys of `type_index` that exist for the caller; `None` when every live one does.
    fn visible(&self, state: &SearchState, type_index: usize) -> Option<&RoaringBitmap>;
    /// What the leaf `criterion` on `type_index` matches among the projected resources, when
    /// that differs from the raw evaluation; `None` to evaluate it as usual.
    fn leaf(
        &self,
        executor: &Executor<'_>,
        type_index: usize,
        criterion: &Criterion,
        context: &mut EvalContext,
    ) -> Result<Option<RoaringBitmap>>;
    /// Who may continue a paging cursor this guard created.
    fn scope(&self) -> u8;
}

fn empty_collection_error(type_index: usize) -> crate::error::Error {
    crate::error::Error::internal(format!("no collection for type index {type_index}"))
}

impl<'a> Executor<'a> {
    /// An executor that sees every live resource.
    pub fn new(state: &'a SearchState, text: &'a TextIndex) -> Executor<'a> {
        Executor { state, text, guard: None }
    }

    fn collection(&self, type_index: usize) -> Result<&'a Collection> {
        self.state.collection(type_index).ok_or_else(|| empty_collection_error(type_index))
    }

    /// The keys of `type_index` that exist for the caller.
    pub fn live(&self, type_index: usize) -> Option<&'a RoaringBitmap> {
        let collection = self.state.collection(type_index)?;
        Some(self.guard.and_then(|g| g.visible(self.state, type_index)).unwrap_or(&collection.live))
    }

    /// Whether `key` of `type_index` exists for the caller.
    pub fn is_visible(&self, type_index: usize, key: DocKey) -> bool {
        self.live(type_index).is_some_and(|live| live.contains(key))
    }

    /// Keys of `type_index` matching `criterion`.
    pub fn eval(
        &self,
        type_index: usize,
        criterion: &Criterion,
        context: &mut EvalContext,
    ) -> Result<RoaringBitmap> {
        self.eval_within(type_index, criterion, context, None)
    }

    /// As [`eval`], where the answer only matters inside `within` (column scans then visit
    /// `within` instead of every live resource). The result may contain keys outside `within`.
    fn eval_within(
        &self,
        type_index: usize,
        criterion: &Criterion,
        context: &mut EvalContext,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        let collection = self.collection(type_index)?;
        let Some(guard) = self.guard else {
            return self.eval_raw(type_index, collection, &collection.live, criterion, context, within);
        };
        let live = guard.visible(self.state, type_index).unwrap_or(&collection.live);
        if let Some(result) = guard.leaf(self, type_index, criterion, context)? {
            return Ok(result & live);
        }
        // References and chains read postings that may name hidden resources.
        Ok(self.eval_raw(type_index, collection, live, criterion, context, within)? & live)
    }

    fn eval_raw(
        &self,
        type_index: usize,
        collection: &'a Collection,
        live: &RoaringBitmap,
        criterion: &Criterion,
        context: &mut EvalContext,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        let scan_set = match within {
            Some(within) if within.len() < live.len() => within,
            _ => live,
        };
        Ok(match criterion {
            Criterion::All => live.clone(),
            Criterion::And { all } => {
                // Index lookups first; column scans last, over what is left.
                let mut ordered = and_steps(all);
                ordered.sort_by_key(|step| match step {
                    AndStep::One(child) => evaluation_rank(child),
                    AndStep::Chains { .. } => 1,
                });
                let mut result: Option<RoaringBitmap> = within.cloned();
                let mut narrowed = false;
                for step in ordered {
                    if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                        break;
                    }
                    let bitmap = match step {
                        AndStep::One(child) => {
                            self.eval_within(type_index, child, context, result.as_ref())?
                        }
                        AndStep::Chains { param, target_type, inners } => self.eval_chains(
                            collection,
                            live,
                            param,
                            target_type,
                            &inners,
                            context,
                            result.as_ref(),
                        )?,
                    };
                    result = Some(match result {
                        None => bitmap,
                        Some(acc) => acc & bitmap,
                    });
                    narrowed = true;
                }
                match result {
                    Some(result) if narrowed => result,
                    _ => live.clone(),
                }
            }
            Criterion::Or { any } => {
                let mut result = RoaringBitmap::new();
                for child in any {
                    result |= self.eval_within(type_index, child, context, within)?;
                }
                result
            }
            Criterion::Not { inner } => {
                // Side results (distances) of a negated branch must not rank anything.
                let mut scratch = EvalContext::default();
                scan_set - self.eval_within(type_index, inner, &mut scratch, within)?
            }
            Criterion::Token { param, keys } if self.is_id_param(type_index, *param) => {
                let mut result = RoaringBitmap::new();
                for key in keys {
                    if let Some(id) = id_of_token_key(key) {
                        if let Some(doc_key) = collection.key(id) {
                            result.insert(doc_key);
                        }
                    }
                }
                result & live
            }
            Criterion::Token { param, keys } => match collection.param(*param) {
                ParamIndex::Tokens(terms) => {
                    let mut result = RoaringBitmap::new();
                    for key in keys {
                        terms.union_into(key, &mut result);
                    }
                    result & live
                }
                _ => RoaringBitmap::new(),
            },
            Criterion::String { param, mode, values } => match collection.param(*param) {
                ParamIndex::Strings { normalized, exact } => {
                    let mut result = RoaringBitmap::new();
                    for value in values {
                        match mode {
                            StringMode::Exact => {
                                if let Some(bitmap) = exact.get(value) {
                                    result |= bitmap;
                                }
                            }
                            StringMode::StartsWith => result |= normalized.prefix(&normalize(value)),
                            StringMode::Contains => {
                                let needle = normalize(value);
                                result |= normalized.scan(|term| term.contains(needle.as_str()));
                            }
                            StringMode::EndsWith => {
                                let needle = normalize(value);
                                result |= normalized.scan(|term| term.ends_with(needle.as_str()));
                            }
                        }
                    }
                    result & live
                }
                _ => RoaringBitmap::new(),
            },
            Criterion::Date { param, values } => match collection.param(*param) {
                ParamIndex::Dates(column) => {
                    // One clock read per criterion, not per stored value (`ap` needs "now").
                    let test = DateTest::new(values, chrono::Utc::now().timestamp_millis());
                    match column.passes_over(scan_set).then(|| collection.date_order(*param)).flatten() {
                        Some(order) => order.matching(column, &test, scan_set),
                        None => column.matching(scan_set, |range| test.matches(*range)),
                    }
                }
                _ => RoaringBitmap::new(),
            },
            Criterion::Number { param, values } => match collection.param(*param) {
                ParamIndex::Numbers(column) => {
                    column.matching(scan_set, |number| values.iter().any(|c| number_matches(c, *number)))
                }
                _ => RoaringBitmap::new(),
            },
            Criterion::Quantity { param, values } => match collection.param(*param) {
                ParamIndex::Quantities(column) => {
                    column.matching(scan_set, |quantity| values.iter().any(|c| quantity_matches(c, quantity)))
                }
                _ => RoaringBitmap::new(),
            },
            Criterion::Reference { param, targets } => {
                let mut result = KeyUnion::default();
                let target_types: Vec<usize> = self
                    .state
                    .registry
                    .resources
                    .get(type_index)
                    .and_then(|schema| schema.params.get(*param))
                    .map(|p| p.targets.iter().filter_map(|t| self.state.registry.type_index(t)).collect())
                    .unwrap_or_default();
                for target in targets {
                    let candidate_types: Vec<usize> = match target.target_type {
                        Some(t) => vec![t],
                        None => target_types.clone(),
                    };
                    for target_type in candidate_types {
                        let Some(target_collection) = self.state.collection(target_type) else { continue };
                        if let Some(target_key) = target_collection.key(&target.id) {
                            if let Some(bitmap) =
                                collection.referencing(*param, (target_type as u16, target_key))
                            {
                                bitmap.add_to(&mut result);
                            }
                        }
                    }
                }
                result.finish() & live
            }
            Criterion::Missing { param, missing } => {
                let present = collection.present(*param);
                if *missing {
                    live - present
                } else {
                    present & live
                }
            }
            Criterion::Chain { param, target_type, above: false, inner } => {
                self.eval_chains(collection, live, *param, *target_type, &[&**inner], context, within)?
            }
            Criterion::Chain { param, target_type, above: true, inner } => {
                let mut targets =
                    self.descendants(*target_type, self.eval_nested(*target_type, inner, context, None)?)?;
                if let Some(visible) = self.live(*target_type).filter(|_| self.guard.is_some()) {
                    targets &= visible;
                }
                self.referencing_any(collection, *param, *target_type, &targets)
            }
            Criterion::Has { source_type, param, inner } => {
                let sources = self.eval_nested(*source_type, inner, context, None)?;
                let source_collection = self.collection(*source_type)?;
                let mut result = KeyUnion::default();
                for source in &sources {
                    for (target_type, target_key) in source_collection.references_of(*param, source) {
                        if usize::from(*target_type) == type_index {
                            result.add_key(*target_key);
                            result.add(&collection.logical_targets(*target_key));
                        }
                    }
                }
                result.finish() & live
            }
            Criterion::Near { lat, lon, radius_m } => {
                if type_index != self.state.location_type {
                    return Ok(RoaringBitmap::new());
                }
                let mut result = RoaringBitmap::new();
                let mut record = |key: DocKey, distance: f64, result: &mut RoaringBitmap| {
                    result.insert(key);
                    context.distances.entry(key).and_modify(|d| *d = d.min(distance)).or_insert(distance);
                };
                match within {
                    // A few candidate locations: measure each rather than walk the R-tree.
                    Some(candidates) if candidates.len() * FORWARD_CHAIN_RATIO < live.len() => {
                        for key in candidates & live {
                            if let Some(position) = self.state.geo.position(key) {
                                let distance = crate::index::geo::haversine_m((*lat, *lon), position);
                                if distance <= *radius_m {
                                    record(key, distance, &mut result);
                                }
                            }
                        }
                    }
                    _ => {
                        for (key, distance) in self.state.geo.within((*lat, *lon), *radius_m) {
                            if live.contains(key) {
                                record(key, distance, &mut result);
                            }
                        }
                    }
                }
                result
            }
            Criterion::Content { text } => {
                // Scores rank the searched resources only: none inside a chain.
                let scoring = context.nesting == 0;
                let mut hits = self.text.search(&self.state.searcher, type_index, text, scoring)?;
                // In key order: the bitmap is built in one pass and intersected once.
                hits.sort_unstable_by_key(|(key, _)| *key);
                let mut keys: Vec<DocKey> = hits.iter().map(|(key, _)| *key).collect();
                // A strictly increasing list, or the bitmap refuses it.
                keys.dedup();
                let found = keys.len() as u64;
                let result = RoaringBitmap::from_sorted_iter(keys).unwrap_or_default() & live;
                if scoring {
                    // The text index holds live resources only, unless a write is between its
                    // commit and the state's: then each hit is checked.
                    let all_live = result.len() == found;
                    context.scores.reserve(hits.len());
                    for (key, score) in hits {
                        if all_live || result.contains(key) {
                            context.scores.push((type_index, key, score));
                        }
                    }
                }
                result
            }
        })
    }

    /// As [`eval_within`], for the inner criterion of a chain or reverse chain.
    fn eval_nested(
        &self,
        type_index: usize,
        criterion: &Criterion,
        context: &mut EvalContext,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        context.nesting += 1;
        let result = self.eval_within(type_index, criterion, context, within);
        context.nesting -= 1;
        result
    }

    /// Several chains through the same reference in one AND (`organization.price-type=…&
    /// organization.price-amount-value=…`), each free to hold on a different target (FHIR
    /// semantics). A key with a single direct reference satisfies them all exactly when its target
    /// satisfies their conjunction: that conjunction is evaluated once on the target type, with
    /// its postings narrowing its column scans, and the keys are decided in one pass. Only keys
    /// with several references or a reference by identifier need each chain on its own.
    #[allow(clippy::too_many_arguments)]
    fn eval_chains(
        &self,
        collection: &Collection,
        live: &RoaringBitmap,
        param: usize,
        target_type: usize,
        inners: &[&Criterion],
        context: &mut EvalContext,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        let target_collection = self.collection(target_type)?;
        let tag = target_type as u16;
        let candidates = match within {
            Some(within) => within & live,
            None => live.clone(),
        };
        let logical = target_collection.logical_key_set();
        // The targets some keys reference, a reference by identifier standing for its targets.
        let reached_from = |keys: &mut dyn Iterator<Item = DocKey>| {
            let mut reached = KeyUnion::default();
            for key in keys {
                for (t, target) in collection.references_of(param, key) {
                    if *t == tag {
                        reached.add_key(*target);
                        if !logical.is_empty() && logical.contains(*target) {
                            reached.add(&target_collection.logical_targets(*target));
                        }
                    }
                }
            }
            reached.finish()
        };
        // Few candidates: only the targets they point at need testing.
        let pointed = (candidates.len() * FORWARD_CHAIN_RATIO < live.len())
            .then(|| reached_from(&mut candidates.iter()));
        let mut targets = match inners {
            [inner] => self.eval_nested(target_type, inner, context, pointed.as_ref())?,
            _ => {
                let conjunction =
                    Criterion::And { all: inners.iter().map(|inner| (*inner).clone()).collect() };
                self.eval_nested(target_type, &conjunction, context, pointed.as_ref())?
            }
        };
        if let Some(pointed) = &pointed {
            targets &= pointed;
        } else if inners.len() == 1 {
            // One criterion over many candidates: the general reference lookup, which reads the
            // reverse postings of a few targets (an identifier's organization) instead of passing
            // over every candidate.
            return Ok(self.referencing_any(collection, param, target_type, &targets) & &candidates);
        }
        let (mut result, undecided) =
            collection.referencing_split(param, tag, &targets, &candidates, logical, inners.len() == 1);
        if undecided.is_empty() {
            return Ok(result);
        }
        let reached = reached_from(&mut undecided.iter().copied());
        let mut each = Vec::with_capacity(inners.len());
        if inners.len() == 1 {
            // The conjunction of one criterion, already evaluated over every target reached.
            each.push(targets);
        } else {
            for inner in inners {
                each.push(self.eval_nested(target_type, inner, context, Some(&reached))? & &reached);
            }
        }
        for key in undecided {
            let references = collection.references_of(param, key);
            let satisfies = |matching: &RoaringBitmap| {
                references.iter().any(|(t, target)| {
                    *t == tag
                        && (matching.contains(*target)
                            || (logical.contains(*target)
                                && target_collection.logical_targets(*target).intersection_len(matching) > 0))
                })
            };
            if each.iter().all(satisfies) {
                result.insert(key);
            }
        }
        Ok(result)
    }

    /// Keys of `collection` whose reference by identifier (`identifier:<value>`) designates one
    /// of `targets`.
    fn referencing_any_logical(
        &self,
        collection: &Collection,
        param: usize,
        target_type: usize,
        targets: &RoaringBitmap,
    ) -> RoaringBitmap {
        if targets.is_empty() {
            return RoaringBitmap::new();
        }
        let Some(target_collection) = self.state.collection(target_type) else { return RoaringBitmap::new() };
        let mut result = KeyUnion::default();
        for logical in target_collection.logical_keys() {
            if target_collection.logical_targets(logical).intersection_len(targets) > 0 {
                if let Some(bitmap) = collection.referencing(param, (target_type as u16, logical)) {
                    bitmap.add_to(&mut result);
                }
            }
        }
        result.finish() & &collection.live
    }

    /// Keys of `collection` whose reference `param` points at one of `targets`.
    fn referencing_any(
        &self,
        collection: &Collection,
        param: usize,
        target_type: usize,
        targets: &RoaringBitmap,
    ) -> RoaringBitmap {
        let by_identifier = self.referencing_any_logical(collection, param, target_type, targets);
        let (direct, _) = collection.referencing_split(
            param,
            target_type as u16,
            targets,
            &collection.live,
            &RoaringBitmap::new(),
            true,
        );
        direct | by_identifier
    }

    /// `roots` plus every resource below them through the type's `partof` hierarchy.
    pub fn descendants(&self, type_index: usize, roots: RoaringBitmap) -> Result<RoaringBitmap> {
        let Some(partof) = self.hierarchy_param(type_index) else { return Ok(roots) };
        let collection = self.collection(type_index)?;
        let mut all = roots.clone();
        let mut frontier = roots;
        // Bounded: a cycle in partOf cannot loop forever since only new keys are followed.
        while !frontier.is_empty() {
            let mut next = KeyUnion::default();
            for key in &frontier {
                if let Some(children) = collection.referencing(partof, (type_index as u16, key)) {
                    children.add_to(&mut next);
                }
            }
            let next = next.finish() - &all;
            all |= &next;
            frontier = next;
        }
        Ok(all)
    }

    fn is_id_param(&self, type_index: usize, param: usize) -> bool {
        self.state
            .registry
            .resources
            .get(type_index)
            .and_then(|schema| schema.params.get(param))
            .is_some_and(|p| p.code == "_id")
    }

    pub fn hierarchy_param(&self, type_index: usize) -> Option<usize> {
        let schema = self.state.registry.resources.get(type_index)?;
        schema
            .params
            .iter()
            .find(|p| {
                p.code == "partof"
                    && p.param_type == crate::schema::ParamType::Reference
                    && p.targets.contains(&schema.resource_type)
            })
            .map(|p| p.id)
    }
}

/// The id a `_id` token key asks for: a bare code, or a code with an empty system.
fn id_of_token_key(key: &str) -> Option<&str> {
    if let Some(id) = key.strip_prefix(crate::index::extract::TOKEN_ANY_SYSTEM) {
        return Some(id);
    }
    key.strip_prefix(crate::index::extract::TOKEN_SYSTEM_CODE).and_then(|rest| rest.strip_prefix('|'))
}

/// One step of an AND: a criterion, or the chains through one reference evaluated together.
enum AndStep<'c> {
    One(&'c Criterion),
    Chains { param: usize, target_type: usize, inners: Vec<&'c Criterion> },
}

/// The children of an AND, plain chains through the same reference gathered into one step (in
/// the place of the first). `:above` chains stay apart: each may hold through another ancestor.
fn and_steps(all: &[Criterion]) -> Vec<AndStep<'_>> {
    let mut steps: Vec<AndStep<'_>> = Vec::with_capacity(all.len());
    for child in all {
        let Criterion::Chain { param, target_type, above: false, inner } = child else {
            steps.push(AndStep::One(child));
            continue;
        };
        let same = steps.iter_mut().find_map(|step| match step {
            AndStep::Chains { param: p, target_type: t, inners } if p == param && t == target_type => {
                Some(inners)
            }
            _ => None,
        });
        match same {
            Some(inners) => inners.push(inner),
            None => {
                steps.push(AndStep::Chains { param: *param, target_type: *target_type, inners: vec![inner] })
            }
        }
    }
    steps
}

/// Below 1/8 of the live resources, candidates are followed forward through chains.
const FORWARD_CHAIN_RATIO: u64 = 8;

/// Evaluation order inside an AND: postings first, then chains (which can then follow the few
/// candidates left forward), then column scans over the survivors.
fn evaluation_rank(criterion: &Criterion) -> u8 {
    match criterion {
        _ if is_column_scan(criterion) => 2,
        Criterion::Token { .. }
        | Criterion::String { .. }
        | Criterion::Reference { .. }
        | Criterion::Missing { .. }
        | Criterion::Content { .. } => 0,
        Criterion::Or { any } if any.iter().all(|c| evaluation_rank(c) == 0) => 0,
        _ => 1,
    }
}

/// Criteria answered by scanning a column rather than reading postings.
fn is_column_scan(criterion: &Criterion) -> bool {
    matches!(criterion, Criterion::Date { .. } | Criterion::Number { .. } | Criterion::Quantity { .. })
        || matches!(criterion, Criterion::Or { any } if any.iter().all(is_column_scan))
}

fn quantity_matches(criterion: &QuantityCriterion, stored: &crate::index::extract::QuantityValue) -> bool {
    let mut value = stored.value;
    if let Some(code) = &criterion.code {
        let unit_matches = stored.code() == Some(code.as_str()) || stored.unit() == Some(code.as_str());
        if !unit_matches {
            // Another UCUM unit of the same dimension: compare in the searched unit.
            let ucum_stored = stored.system().is_none_or(is_ucum);
            let converted = stored
                .code()
                .filter(|_| ucum_stored)
                .and_then(|stored_code| crate::index::ucum::convert(stored.value, stored_code, code));
            match converted {
                Some(converted) => value = converted,
                None => return false,
            }
        }
    }
    if let Some(system) = &criterion.system {
        // SPEC §6.3: the UC3 request writes UCUM as https://unitsofmeasure.org while data use
        // http:// (or the TRE_R247 NOS copy of UCUM): all three name UCUM.
        if !same_unit_system(system, stored.system()) {
            return false;
        }
    }
    number_matches(&criterion.number, value)
}

fn is_ucum(system: &str) -> bool {
    matches!(system, "http://unitsofmeasure.org" | "https://unitsofmeasure.org")
        || system.contains("TRE_R247-UcumUniteMesure")
}

fn same_unit_system(query: &str, stored: Option<&str>) -> bool {
    match stored {
        None => is_ucum(query),
        Some(stored) => stored == query || (is_ucum(stored) && is_ucum(query)),
    }
}

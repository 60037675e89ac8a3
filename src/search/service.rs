//! The search service: one request = parse → evaluate on one consistent state → order → page →
//! includes → entries. Deep paging past the first page reads a cursor that froze the ordered
//! match list (keys and versions) of the first request: pages stay consistent while writes go on.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap as HashMap;

use super::execute::{EvalContext, Executor, Guard};
use crate::error::{Error, Result};
use crate::index::collection::{Collection, ParamIndex, Versions, RANK_UNSET};
use crate::index::text::TextIndex;
use crate::index::{DocKey, SearchSnapshots, SearchState};
use crate::query::parse::{Include, SearchRequest, SortKey};

/// How an entry is in the Bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryMode {
    Match,
    Include,
}

/// One resource of a result page, pinned to the version the search saw.
#[derive(Debug, Clone)]
pub struct EntryRef {
    pub type_index: usize,
    pub resource_type: String,
    pub id: Arc<str>,
    pub version: u64,
    pub mode: EntryMode,
    /// Relevance in 0–1 (full-text searches).
    pub score: Option<f64>,
    /// Distance in metres from the `near` point (Location entries).
    pub distance_m: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    pub total: u64,
    pub offset: u32,
    pub count: u32,
    pub entries: Vec<EntryRef>,
    /// Cursor id and offset of the next page, when there is one.
    pub next: Option<(String, u32)>,
    pub cursor: Option<String>,
}

/// The ordered match list of a cursor, frozen at its first page.
enum Frozen {
    /// Key order (no `_sort`, `near` or `_content`): the match set is its own order, and a
    /// national `_lastUpdated` search freezes a compressed bitmap, not 300,000 entries.
    KeyOrder(RoaringBitmap),
    Ordered(Vec<DocKey>),
    Ranked(Ranked),
}

impl Frozen {
    fn len(&self) -> usize {
        match self {
            Frozen::KeyOrder(keys) => keys.len() as usize,
            Frozen::Ordered(keys) => keys.len(),
            Frozen::Ranked(ranked) => ranked.ranked.len(),
        }
    }

    fn page(&self, offset: usize, end: usize) -> Vec<DocKey> {
        match self {
            Frozen::KeyOrder(keys) => {
                let first = u32::try_from(offset).ok().and_then(|rank| keys.select(rank));
                first
                    .map(|first| keys.range(first..).take(end.saturating_sub(offset)).collect())
                    .unwrap_or_default()
            }
            Frozen::Ordered(keys) => keys.get(offset..end).map(<[DocKey]>::to_vec).unwrap_or_default(),
            Frozen::Ranked(ranked) => ranked.page(offset, end),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Frozen::KeyOrder(keys) => keys.serialized_size(),
            Frozen::Ordered(keys) => keys.len() * std::mem::size_of::<DocKey>(),
            Frozen::Ranked(ranked) => {
                ranked.ranked.len() * std::mem::size_of::<(u64, DocKey)>()
                    + ranked.sorted.get().map_or(0, |keys| keys.len() * std::mem::size_of::<DocKey>())
            }
        }
    }
}

/// Matches ranked by an order-preserving integer (a numeric sort key, a distance, a relevance),
/// ties by key. Only the first page is put in order at once (a selection, linear): the rest is
/// sorted when a later page is asked for, and most searches never page (60,000 offers sorted
/// by tariff date for 20 of them).
struct Ranked {
    /// The first `prefix` entries are the smallest, in order; the others follow in no order.
    ranked: Vec<(u64, DocKey)>,
    prefix: usize,
    sorted: std::sync::OnceLock<Vec<DocKey>>,
}

impl Ranked {
    fn new(mut ranked: Vec<(u64, DocKey)>, prefix: usize) -> Ranked {
        let prefix = prefix.min(ranked.len());
        if prefix < ranked.len() && prefix > 0 {
            ranked.select_nth_unstable(prefix);
        }
        if let Some(first) = ranked.get_mut(..prefix) {
            first.sort_unstable();
        }
        Ranked { ranked, prefix, sorted: std::sync::OnceLock::new() }
    }

    fn page(&self, offset: usize, end: usize) -> Vec<DocKey> {
        if end <= self.prefix {
            return self
                .ranked
                .get(offset..end)
                .map_or_else(Vec::new, |page| page.iter().map(|(_, key)| *key).collect());
        }
        let sorted = self.sorted.get_or_init(|| {
            let mut all = self.ranked.clone();
            all.sort_unstable();
            all.into_iter().map(|(_, key)| key).collect()
        });
        sorted.get(offset..end).map(<[DocKey]>::to_vec).unwrap_or_default()
    }
}

/// Bound of a walk up a `partof` hierarchy (a cycle in the data must not loop).
const MAX_HIERARCHY_DEPTH: usize = 32;

/// An order-preserving integer of a number: ranks compare as the numbers do (descending
/// reversed), -0 equal to 0; `u64::MAX` is kept for missing values, which sort last.
fn number_rank(number: f64, descending: bool) -> u64 {
    let bits = if number == 0.0 { 0 } else { number.to_bits() };
    let ascending = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    // u64::MAX ranks a key without a value last, 0 marks a cached rank not computed yet.
    (if descending { !ascending } else { ascending }).clamp(RANK_UNSET + 1, u64::MAX - 1)
}

/// A frozen match list and the versions its resources had: later pages show the snapshot of
/// the first one, whatever was written meanwhile.
struct Cursor {
    type_index: usize,
    matches: Frozen,
    versions: Versions,
    /// Shared with the first page's answer, not copied (thousands of text scores).
    scores: Arc<ScoreTable>,
    distances: Arc<HashMap<DocKey, f64>>,
    includes: Vec<Include>,
    revincludes: Vec<Include>,
    created: Instant,
    /// The access profile the matches were computed for (`None`: unrestricted).
    scope: Option<u8>,
    /// Keys mean nothing in another generation of the search state (a reindex renumbers them).
    generation: u64,
}

impl Cursor {
    /// Memory the cursor holds on its own: its match list, its text scores and distances, and
    /// the version chunks rewritten since it was frozen (the others are shared with `current`,
    /// the state's versions).
    fn held_bytes(&self, current: &Versions) -> usize {
        use crate::index::collection::map_bytes;
        self.matches.bytes()
            + self.scores.len() * std::mem::size_of::<(DocKey, f32)>()
            + map_bytes::<DocKey, f64>(self.distances.len())
            + self.versions.private_bytes(current)
    }
}

const CURSOR_TTL: Duration = Duration::from_secs(600);
const MAX_CURSORS: usize = 256;
/// Memory kept by all cursors together.
const MAX_CURSOR_BYTES: usize = 128 << 20;
/// How often the memory of every cursor is counted again (the version chunks a cursor holds
/// alone grow as writes rewrite them). Counting all of them at every search cost a pass over
/// 256 cursors and their chunk lists for each paged answer.
const CURSOR_RECOUNT: Duration = Duration::from_secs(1);
/// Upper bound of included resources per page (fan-out limit).
pub const MAX_INCLUDES: usize = 10_000;

#[derive(Default)]
pub struct CursorCache {
    cursors: Mutex<Cursors>,
}

#[derive(Default)]
struct Cursors {
    by_id: HashMap<String, Arc<Cursor>>,
    /// Ids in insertion order (the oldest, first to expire or go, in front), with the bytes
    /// each was last counted for; `held` is their sum.
    order: std::collections::VecDeque<(String, usize)>,
    held: usize,
    counted_at: Option<Instant>,
}

impl Cursors {
    fn evict_oldest(&mut self) {
        if let Some((id, bytes)) = self.order.pop_front() {
            self.by_id.remove(&id);
            self.held = self.held.saturating_sub(bytes);
        }
    }

    fn recount(&mut self, current: &dyn Fn(usize) -> Versions) {
        let Cursors { by_id, order, held, .. } = self;
        *held = 0;
        for (id, bytes) in order.iter_mut() {
            *bytes = by_id.get(id).map_or(0, |cursor| cursor.held_bytes(&current(cursor.type_index)));
            *held += *bytes;
        }
    }
}

impl CursorCache {
    fn insert(&self, cursor: Cursor, state: &SearchState) -> String {
        let current =
            |type_index: usize| state.collection(type_index).map(Collection::versions).unwrap_or_default();
        self.insert_with(cursor, &current)
    }

    /// Keep `cursor`, bounded by count and by the memory all cursors hold: the oldest go first.
    fn insert_with(&self, cursor: Cursor, current: &dyn Fn(usize) -> Versions) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = Instant::now();
        let mut cursors = self.cursors.lock();
        while let Some((oldest, _)) = cursors.order.front() {
            let live = cursors
                .by_id
                .get(oldest)
                .is_some_and(|c| now.saturating_duration_since(c.created) < CURSOR_TTL);
            if live {
                break;
            }
            cursors.evict_oldest();
        }
        if cursors.counted_at.is_none_or(|at| now.saturating_duration_since(at) >= CURSOR_RECOUNT) {
            cursors.recount(current);
            cursors.counted_at = Some(now);
        }
        let bytes = cursor.held_bytes(&current(cursor.type_index));
        while !cursors.order.is_empty()
            && (cursors.order.len() >= MAX_CURSORS || cursors.held + bytes > MAX_CURSOR_BYTES)
        {
            cursors.evict_oldest();
        }
        cursors.order.push_back((id.clone(), bytes));
        cursors.held += bytes;
        cursors.by_id.insert(id.clone(), Arc::new(cursor));
        id
    }

    fn get(&self, id: &str) -> Option<Arc<Cursor>> {
        let cursors = self.cursors.lock();
        cursors.by_id.get(id).filter(|c| c.created.elapsed() < CURSOR_TTL).cloned()
    }
}

pub struct SearchService {
    pub state: Arc<SearchSnapshots>,
    pub text: Arc<TextIndex>,
    cursors: CursorCache,
    /// Resources `_include`/`_revinclude` may add to one page (`limits.max_included`).
    pub max_included: usize,
}

/// What computing one sort key's values for every match reuses from key to key.
struct SortWalk {
    /// The `partof` reference of the type holding the value (a chained sort climbs it).
    partof: Option<usize>,
    /// The value of each resource holding one, when reached through a chain (many offers, one
    /// organization).
    memo: HashMap<DocKey, Option<SortValue>>,
    /// The resources reached at the current and the next step of the chain.
    current: Vec<(usize, DocKey)>,
    next: Vec<(usize, DocKey)>,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortValue {
    Number(f64),
    Text(String),
}

impl SearchService {
    pub fn new(state: Arc<SearchSnapshots>, text: Arc<TextIndex>) -> SearchService {
        SearchService { state, text, cursors: CursorCache::default(), max_included: MAX_INCLUDES }
    }

    /// Run a parsed search and return one page of entry references.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchPage> {
        self.search_with(request, None)
    }

    /// As [`search`], seeing only what `guard` lets the caller see (matches, includes, sorts).
    pub fn search_with(&self, request: &SearchRequest, guard: Option<&dyn Guard>) -> Result<SearchPage> {
        if let Some(cursor_id) = &request.page_cursor {
            return self.continue_cursor(cursor_id, request, guard);
        }
        let state = self.state.read();
        let executor = Executor { state: &state, text: &self.text, guard };
        let mut context = EvalContext::default();
        let type_index = request.resource_type;
        let matched = executor.eval(type_index, &request.criterion, &mut context)?;
        let total = matched.len();
        if request.summary_count {
            return Ok(SearchPage {
                total,
                offset: 0,
                count: 0,
                entries: Vec::new(),
                next: None,
                cursor: None,
            });
        }
        let scores = Arc::new(ScoreTable::of(type_index, &context, &matched));
        let distances = Arc::new(self.match_distances(&executor, type_index, &matched, &context));
        let offset = request.offset as usize;
        let count = request.count as usize;
        let ordered =
            self.order(&executor, request, matched, &scores, &distances, offset.saturating_add(count))?;
        let collection = state.collection(type_index).ok_or_else(|| Error::internal("collection missing"))?;
        let end = offset.saturating_add(count).min(ordered.len());
        let page = ordered.page(offset, end);
        let mut next = None;
        let mut cursor_id = None;
        if end < ordered.len() {
            let cursor = Cursor {
                type_index,
                matches: ordered,
                versions: collection.versions(),
                scores: Arc::clone(&scores),
                distances: Arc::clone(&distances),
                includes: request.includes.clone(),
                revincludes: request.revincludes.clone(),
                created: Instant::now(),
                scope: guard.map(|g| g.scope()),
                generation: state.generation,
            };
            let id = self.cursors.insert(cursor, &state);
            next = Some((id.clone(), end as u32));
            cursor_id = Some(id);
        }
        let pinned: Vec<(DocKey, u64)> = page.iter().map(|k| (*k, collection.version(*k))).collect();
        let entries = self.entries(
            &executor,
            type_index,
            &pinned,
            &scores,
            &distances,
            &context,
            &request.includes,
            &request.revincludes,
        )?;
        Ok(SearchPage {
            total,
            offset: offset as u32,
            count: request.count,
            entries,
            next,
            cursor: cursor_id,
        })
    }

    fn continue_cursor(
        &self,
        cursor_id: &str,
        request: &SearchRequest,
        guard: Option<&dyn Guard>,
    ) -> Result<SearchPage> {
        // A cursor frozen for one access profile is unknown to every other one.
        let cursor =
            self.cursors.get(cursor_id).filter(|c| c.scope == guard.map(|g| g.scope())).ok_or_else(|| {
                Error::Gone {
                    message: format!(
                        "paging cursor {cursor_id:?} is unknown or expired; run the search again"
                    ),
                }
            })?;
        let state = self.state.read();
        if state.generation != cursor.generation {
            return Err(Error::Gone {
                message: format!("paging cursor {cursor_id:?} predates a reindex; run the search again"),
            });
        }
        let executor = Executor { state: &state, text: &self.text, guard };
        let offset = request.offset as usize;
        let end = offset.saturating_add(request.count as usize).min(cursor.matches.len());
        let page: Vec<(DocKey, u64)> =
            cursor.matches.page(offset, end).into_iter().map(|k| (k, cursor.versions.get(k))).collect();
        let context = EvalContext { distances: HashMap::clone(&cursor.distances), ..EvalContext::default() };
        let entries = self.entries(
            &executor,
            cursor.type_index,
            &page,
            &cursor.scores,
            &cursor.distances,
            &context,
            &cursor.includes,
            &cursor.revincludes,
        )?;
        let next = (end < cursor.matches.len()).then(|| (cursor_id.to_owned(), end as u32));
        Ok(SearchPage {
            total: cursor.matches.len() as u64,
            offset: offset as u32,
            count: request.count,
            entries,
            next,
            cursor: Some(cursor_id.to_owned()),
        })
    }

    /// Distance of each match: its own (Location) or the nearest of its locations.
    fn match_distances(
        &self,
        executor: &Executor,
        type_index: usize,
        matched: &RoaringBitmap,
        context: &EvalContext,
    ) -> HashMap<DocKey, f64> {
        if context.distances.is_empty() {
            return HashMap::default();
        }
        let state = executor.state;
        if type_index == state.location_type {
            return matched.iter().filter_map(|k| context.distances.get(&k).map(|d| (k, *d))).collect();
        }
        let Some(schema) = state.registry.resources.get(type_index) else { return HashMap::default() };
        let Some(collection) = state.collection(type_index) else { return HashMap::default() };
        let location_params: Vec<usize> = schema
            .reference_params()
            .filter(|p| p.targets.iter().any(|t| t == "Location"))
            .map(|p| p.id)
            .collect();
        let location_tag = state.location_type as u16;
        let mut out = HashMap::default();
        for key in matched {
            let mut best: Option<f64> = None;
            for param in &location_params {
                for (t, location) in collection.references_of(*param, key) {
                    if *t == location_tag {
                        if let Some(d) = context.distances.get(location) {
                            best = Some(best.map_or(*d, |b| b.min(*d)));
                        }
                    }
                }
            }
            if let Some(d) = best {
                out.insert(key, d);
            }
        }
        out
    }

    fn order(
        &self,
        executor: &Executor,
        request: &SearchRequest,
        matched: RoaringBitmap,
        scores: &ScoreTable,
        distances: &HashMap<DocKey, f64>,
        first_page_end: usize,
    ) -> Result<Frozen> {
        let type_index = request.resource_type;
        if let [sort] = request.sort.as_slice() {
            if let Some(ranked) = self.numeric_sort_ranks(executor, sort, type_index, &matched) {
                return Ok(Frozen::Ranked(Ranked::new(ranked, first_page_end)));
            }
        }
        if !request.sort.is_empty() {
            let keys: Vec<DocKey> = matched.iter().collect();
            // One column of values per sort key; a chained sort resolves each target resource
            // once (60,000 offers sorted by the tariffs of far fewer organizations).
            let columns: Vec<Vec<Option<SortValue>>> = request
                .sort
                .iter()
                .map(|sort| {
                    let mut walk = SortWalk {
                        partof: executor.hierarchy_param(sort.target_type),
                        memo: HashMap::default(),
                        current: Vec::new(),
                        next: Vec::new(),
                    };
                    keys.iter()
                        .map(|key| self.sort_value(executor, sort, type_index, *key, &mut walk))
                        .collect()
                })
                .collect();
            if let [column] = columns.as_slice() {
                if let Some(ranked) = numeric_ranks(&keys, column, request.sort[0].descending) {
                    return Ok(Frozen::Ranked(Ranked::new(ranked, first_page_end)));
                }
            }
            let mut positions: Vec<usize> = (0..keys.len()).collect();
            positions.sort_by(|a, b| {
                for (column, sort) in columns.iter().zip(&request.sort) {
                    let ordering = compare_sort_values(column.get(*a), column.get(*b), sort.descending);
                    if ordering != std::cmp::Ordering::Equal {
                        return ordering;
                    }
                }
                keys[*a].cmp(&keys[*b])
            });
            return Ok(Frozen::Ordered(positions.into_iter().map(|p| keys[p]).collect()));
        }
        // Ranked once: a map lookup per comparison costs more than the sort itself.
        if request.criterion.has_near() {
            let ranked = matched
                .iter()
                .map(|k| (distances.get(&k).map_or(u64::MAX, |d| number_rank(*d, false)), k))
                .collect();
            return Ok(Frozen::Ranked(Ranked::new(ranked, first_page_end)));
        }
        if request.criterion.has_content() {
            let ranked = scores
                .ranks(matched.iter())
                .map(|(score, k)| (number_rank(f64::from(score), true), k))
                .collect();
            return Ok(Frozen::Ranked(Ranked::new(ranked, first_page_end)));
        }
        Ok(Frozen::KeyOrder(matched))
    }

    fn sort_value(
        &self,
        executor: &Executor,
        sort: &SortKey,
        type_index: usize,
        key: DocKey,
        walk: &mut SortWalk,
    ) -> Option<SortValue> {
        let SortWalk { partof, memo, current, next } = walk;
        let state = executor.state;
        // Walk the chain to the resources holding the value (buffers reused across keys: this
        // runs for every match of a sorted search).
        current.clear();
        current.push((type_index, key));
        for (chain_type, param) in &sort.chain {
            let collection = state.collection(*chain_type)?;
            next.clear();
            for (_, k) in current.iter().filter(|(t, _)| t == chain_type) {
                for (target_type, target_key) in collection.references_of(*param, *k) {
                    let target_type = usize::from(*target_type);
                    if executor.guard.is_none() || executor.is_visible(target_type, *target_key) {
                        next.push((target_type, *target_key));
                    }
                }
            }
            std::mem::swap(current, next);
        }
        let collection = state.collection(sort.target_type)?;
        let best = |a: SortValue, b: SortValue| {
            let keep_a = if sort.descending { a >= b } else { a <= b };
            if keep_a {
                a
            } else {
                b
            }
        };
        let mut value = None;
        for (_, k) in current.iter().filter(|(t, _)| *t == sort.target_type) {
            let memoized = if sort.chain.is_empty() { None } else { memo.get(k) };
            let own = match memoized {
                Some(own) => own.clone(),
                None => {
                    let own =
                        self.inherited_sort_value(collection, *partof, sort, *k, !sort.chain.is_empty());
                    if !sort.chain.is_empty() {
                        memo.insert(*k, own.clone());
                    }
                    own
                }
            };
            value = match (value, own) {
                (Some(a), Some(b)) => Some(best(a, b)),
                (a, b) => a.or(b),
            };
        }
        value
    }

    /// The ranks of the matches for one numeric sort key on themselves or one reference away
    /// (`_sort=-_lastUpdated`, `_sort=-organization.price-validity-start-date`), or `None` for
    /// the general path (text values, longer chains, an access profile's visibility). Each
    /// referenced resource is ranked once: 60,000 offers read the ranks of
    /// 7,000 organizations, without a sort value or a chain walk each.
    fn numeric_sort_ranks(
        &self,
        executor: &Executor,
        sort: &SortKey,
        type_index: usize,
        matched: &RoaringBitmap,
    ) -> Option<Vec<(u64, DocKey)>> {
        if executor.guard.is_some() || sort.chain.len() > 1 {
            return None;
        }
        let state = executor.state;
        let target = state.collection(sort.target_type)?;
        if !matches!(
            target.param(sort.param),
            ParamIndex::Dates(_) | ParamIndex::Numbers(_) | ParamIndex::Quantities(_)
        ) {
            return None;
        }
        let partof = executor.hierarchy_param(sort.target_type);
        let rank =
            |key: DocKey, climb: bool| match self.inherited_sort_value(target, partof, sort, key, climb) {
                Some(SortValue::Number(number)) => number_rank(number, sort.descending),
                _ => u64::MAX,
            };
        let Some(&(chain_type, param)) = sort.chain.first() else {
            return Some(matched.iter().map(|key| (rank(key, false), key)).collect());
        };
        if chain_type != type_index {
            return None;
        }
        let source = state.collection(type_index)?;
        let tag = sort.target_type as u16;
        // A table by target key, not a hash map: offers come in key order and so, mostly, do
        // their organizations; hashing scattered 60,000 lookups over the table. The table is the
        // collection's own, shared by every search until the collection changes.
        let ranks = target.sort_rank_table((sort.param, sort.descending));
        let mut out = Vec::with_capacity(matched.len() as usize);
        for key in matched {
            // The best over the referenced resources: the smallest rank (descending is encoded).
            let mut best = u64::MAX;
            for (t, target_key) in source.references_of(param, key) {
                if *t != tag {
                    continue;
                }
                let rank = match ranks.get(*target_key as usize) {
                    Some(cached) => match cached.load(Ordering::Relaxed) {
                        RANK_UNSET => {
                            let rank = rank(*target_key, true);
                            cached.store(rank, Ordering::Relaxed);
                            rank
                        }
                        rank => rank,
                    },
                    None => rank(*target_key, true),
                };
                best = best.min(rank);
            }
            out.push((best, key));
        }
        Some(out)
    }

    /// The value of `key` for `sort`; with `climb`, when it has none, the value of its nearest
    /// `partof` ancestor that has one (an offer attached to an OI sorts by its EG's tariffs).
    fn inherited_sort_value(
        &self,
        collection: &Collection,
        partof: Option<usize>,
        sort: &SortKey,
        key: DocKey,
        climb: bool,
    ) -> Option<SortValue> {
        let mut candidate = key;
        for _ in 0..=MAX_HIERARCHY_DEPTH {
            let own = self.own_sort_value(collection, sort.param, candidate, sort.descending);
            if own.is_some() || !climb {
                return own;
            }
            match partof.and_then(|p| collection.references_of(p, candidate).first()) {
                Some((_, parent)) if *parent != key => candidate = *parent,
                _ => return None,
            }
        }
        None
    }

    /// The best value of one resource for `sort` (the smallest, the largest when descending).
    fn own_sort_value(
        &self,
        collection: &crate::index::collection::Collection,
        param: usize,
        key: DocKey,
        descending: bool,
    ) -> Option<SortValue> {
        let best_number = |numbers: &mut dyn Iterator<Item = f64>| {
            numbers.reduce(|a, b| if (descending && b > a) || (!descending && b < a) { b } else { a })
        };
        let number = match collection.param(param) {
            ParamIndex::Dates(column) => best_number(&mut column.each(key).map(|r| {
                if descending {
                    r.end_ms as f64
                } else {
                    r.start_ms as f64
                }
            })),
            ParamIndex::Numbers(column) => best_number(&mut column.each(key).copied()),
            ParamIndex::Quantities(column) => best_number(&mut column.each(key).map(|q| q.value)),
            ParamIndex::Strings { .. } => {
                return collection.sort_string(key, param).map(|s| SortValue::Text(s.to_owned()))
            }
            // _id
            ParamIndex::Tokens(_) if param == 0 => {
                return collection.id(key).map(|id| SortValue::Text(id.to_owned()))
            }
            ParamIndex::Tokens(_) => return collection.sort_token(key, param).map(SortValue::Text),
            _ => None,
        };
        number.map(SortValue::Number)
    }

    #[allow(clippy::too_many_arguments)]
    fn entries(
        &self,
        executor: &Executor,
        type_index: usize,
        page: &[(DocKey, u64)],
        scores: &ScoreTable,
        distances: &HashMap<DocKey, f64>,
        context: &EvalContext,
        includes: &[Include],
        revincludes: &[Include],
    ) -> Result<Vec<EntryRef>> {
        let state = executor.state;
        let registry = &state.registry;
        let mut entries = Vec::with_capacity(page.len());
        let collection = state.collection(type_index).ok_or_else(|| Error::internal("collection missing"))?;
        let type_name = registry.type_name(type_index).to_owned();
        let mut seen: HashSet<(usize, DocKey)> = HashSet::new();
        for (key, version) in page {
            let Some(id) = collection.id(*key) else { continue };
            seen.insert((type_index, *key));
            let distance = if type_index == state.location_type { distances.get(key).copied() } else { None };
            entries.push(EntryRef {
                type_index,
                resource_type: type_name.clone(),
                id: Arc::from(id),
                version: *version,
                mode: EntryMode::Match,
                score: scores.normalized(*key),
                distance_m: distance,
            });
        }
        if includes.is_empty() && revincludes.is_empty() {
            return Ok(entries);
        }
        // Includes are applied to the whole result set until nothing new appears, so that
        // `_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner` brings
        // the practitioners of the included roles (SPEC UC2 include block).
        let mut frontier: Vec<(usize, DocKey)> = page.iter().map(|(k, _)| (type_index, *k)).collect();
        let mut included: Vec<(usize, DocKey)> = Vec::new();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for (resource_type, key) in &frontier {
                let mut add = |target_type: usize, target: DocKey| {
                    // A resource hidden from the caller is neither included nor followed.
                    if executor.guard.is_some() && !executor.is_visible(target_type, target) {
                        return;
                    }
                    if seen.insert((target_type, target)) {
                        next.push((target_type, target));
                    }
                };
                for include in includes.iter().filter(|i| i.source_type == *resource_type) {
                    super::include::include_targets(state, include, *key, &mut add);
                }
                for include in revincludes {
                    super::include::revinclude_sources(state, include, *resource_type, *key, &mut add);
                }
            }
            included.extend(next.iter().copied());
            if included.len() > self.max_included {
                return Err(Error::TooCostly {
                    message: format!(
                        "_include/_revinclude would add more than {} resources to this page: lower _count or include less",
                        self.max_included
                    ),
                });
            }
            frontier = next;
        }
        for (resource_type, key) in included {
            let Some(collection) = state.collection(resource_type) else { continue };
            let Some(id) = collection.id(key) else { continue };
            let distance = if resource_type == state.location_type {
                context.distances.get(&key).copied()
            } else {
                None
            };
            entries.push(EntryRef {
                type_index: resource_type,
                resource_type: registry.type_name(resource_type).to_owned(),
                id: Arc::from(id),
                version: collection.version(key),
                mode: EntryMode::Include,
                score: None,
                distance_m: distance,
            });
        }
        Ok(entries)
    }
}

/// The ranks of one numeric sort column (dates, numbers, quantities), or `None` when a value is
/// text: each value encoded once as an order-preserving integer, so the sort compares integer
/// pairs instead of optional enums.
fn numeric_ranks(
    keys: &[DocKey],
    column: &[Option<SortValue>],
    descending: bool,
) -> Option<Vec<(u64, DocKey)>> {
    let mut ranked = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(column) {
        let rank = match value {
            // Resources without a value sort last in both directions.
            None => u64::MAX,
            Some(SortValue::Number(number)) => number_rank(*number, descending),
            Some(SortValue::Text(_)) => return None,
        };
        ranked.push((rank, *key));
    }
    Some(ranked)
}

fn compare_sort_values(
    a: Option<&Option<SortValue>>,
    b: Option<&Option<SortValue>>,
    descending: bool,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let a = a.and_then(Option::as_ref);
    let b = b.and_then(Option::as_ref);
    match (a, b) {
        (None, None) => Ordering::Equal,
        // Resources without a value sort last in both directions.
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let ordering = a.partial_cmp(b).unwrap_or(Ordering::Equal);
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        }
    }
}

/// The full-text scores of the matches, by key: the best of each key's raw scores, read
/// scaled to 0–1 by the best score of the result (the best match scores 1).
#[derive(Default, Debug)]
pub struct ScoreTable {
    /// Sorted by key, one entry per key.
    raw: Vec<(DocKey, f32)>,
    max: f32,
}

impl ScoreTable {
    /// The scores `context` found for matches of `type_index`.
    fn of(type_index: usize, context: &EvalContext, matched: &RoaringBitmap) -> ScoreTable {
        // Key above, best score first below (scores are >= 0, whose bit patterns order as the
        // floats do): one integer sort, then the first of each key is its best.
        let mut packed: Vec<u64> = context
            .scores
            .iter()
            .filter(|(t, _, _)| *t == type_index)
            .map(|(_, key, score)| (u64::from(*key) << 32) | u64::from(u32::MAX - score.max(0.0).to_bits()))
            .collect();
        packed.sort_unstable();
        packed.dedup_by_key(|entry| *entry >> 32);
        // The scored keys that matched, walked beside the sorted entries: no lookup per key.
        let scored = RoaringBitmap::from_sorted_iter(packed.iter().map(|entry| (*entry >> 32) as DocKey))
            .unwrap_or_default();
        let mut kept = (scored & matched).into_iter().peekable();
        let raw = packed
            .into_iter()
            .filter_map(|entry| {
                let key = (entry >> 32) as DocKey;
                kept.next_if_eq(&key)?;
                Some((key, f32::from_bits(u32::MAX - (entry & 0xffff_ffff) as u32)))
            })
            .collect();
        ScoreTable::from_sorted(raw)
    }

    fn from_sorted(raw: Vec<(DocKey, f32)>) -> ScoreTable {
        let max = raw.iter().map(|(_, s)| *s).fold(0.0f32, f32::max);
        ScoreTable { raw, max }
    }

    fn len(&self) -> usize {
        self.raw.len()
    }

    fn raw(&self, key: DocKey) -> Option<f32> {
        self.raw.binary_search_by_key(&key, |(k, _)| *k).ok().map(|at| self.raw[at].1)
    }

    /// The score shown in `entry.search.score`.
    fn normalized(&self, key: DocKey) -> Option<f64> {
        if self.max <= 0.0 {
            return None;
        }
        self.raw(key).map(|s| (f64::from(s) / f64::from(self.max) * 10_000.0).round() / 10_000.0)
    }

    /// The raw score of each of `keys` (in key order), 0 for none: one merge, no lookups.
    fn ranks<'a>(
        &'a self,
        keys: impl Iterator<Item = DocKey> + 'a,
    ) -> impl Iterator<Item = (f32, DocKey)> + 'a {
        let mut scored = self.raw.iter().peekable();
        keys.map(move |key| {
            while scored.next_if(|(k, _)| *k < key).is_some() {}
            let score = scored.next_if(|(k, _)| *k == key).map_or(0.0, |(_, s)| *s);
            (score, key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor_of(matches: Frozen, created: Instant) -> Cursor {
        Cursor {
            type_index: 0,
            matches,
            versions: Versions::default(),
            scores: Arc::default(),
            distances: Arc::default(),
            includes: Vec::new(),
            revincludes: Vec::new(),
            created,
            scope: None,
            generation: 0,
        }
    }

    /// A key scored by several `_content` keeps its best score; matches without a score rank as
    /// 0; only the searched type's matches count, and the best of them scores 1.
    #[test]
    fn test_score_table_keeps_the_best_score_of_each_match() {
        let context = EvalContext {
            scores: vec![(0, 9, 1.0), (0, 3, 4.0), (1, 5, 8.0), (0, 9, 2.5), (0, 7, 3.0), (0, 3, 1.5)],
            ..EvalContext::default()
        };
        let matched: RoaringBitmap = [2, 3, 5, 9, 11].into_iter().collect();
        let table = ScoreTable::of(0, &context, &matched);
        assert_eq!(table.len(), 2, "key 7 did not match, key 5 is of another type");
        assert_eq!(table.normalized(3), Some(1.0));
        assert_eq!(table.normalized(9), Some(0.625));
        assert_eq!(table.normalized(5), None);
        let ranks: Vec<(f32, DocKey)> = table.ranks(matched.iter()).collect();
        assert_eq!(ranks, vec![(0.0, 2), (4.0, 3), (0.0, 5), (2.5, 9), (0.0, 11)]);
    }

    /// The cache keeps at most `MAX_CURSORS` cursors and `MAX_CURSOR_BYTES`, dropping the
    /// oldest first, and forgets expired cursors.
    #[test]
    fn test_cursor_cache_drops_the_oldest_past_its_count_and_memory_bounds() {
        let current = |_: usize| Versions::default();
        let cache = CursorCache::default();
        let small = || Frozen::Ordered(vec![1, 2, 3]);
        let ids: Vec<String> = (0..MAX_CURSORS + 10)
            .map(|_| cache.insert_with(cursor_of(small(), Instant::now()), &current))
            .collect();
        assert!(ids[..10].iter().all(|id| cache.get(id).is_none()));
        assert!(ids[10..].iter().all(|id| cache.get(id).is_some()));

        // Just under a third of the memory bound each: the fourth pushes the oldest one out.
        let third = (MAX_CURSOR_BYTES / 3 - 4096) / std::mem::size_of::<DocKey>();
        let big = || Frozen::Ordered(vec![7; third]);
        let big_ids: Vec<String> =
            (0..4).map(|_| cache.insert_with(cursor_of(big(), Instant::now()), &current)).collect();
        assert!(cache.get(&big_ids[0]).is_none());
        assert!(big_ids[1..].iter().all(|id| cache.get(id).is_some()));
        let held = cache.cursors.lock().held;
        assert!(held <= MAX_CURSOR_BYTES, "{held} bytes held");

        // Text scores count too: a fifth of the bound in scores pushes the oldest big one out.
        let mut scored = cursor_of(small(), Instant::now());
        let entries = MAX_CURSOR_BYTES / 5 / std::mem::size_of::<(DocKey, f32)>();
        scored.scores =
            Arc::new(ScoreTable::from_sorted((0..entries as DocKey).map(|key| (key, 0.5)).collect()));
        let scored = cache.insert_with(scored, &current);
        assert!(cache.get(&big_ids[1]).is_none());
        assert!(cache.get(&scored).is_some() && cache.get(&big_ids[2]).is_some());

        let expired = Instant::now().checked_sub(CURSOR_TTL + Duration::from_secs(1));
        if let Some(created) = expired {
            let stale = cache.insert_with(cursor_of(small(), created), &current);
            assert!(cache.get(&stale).is_none());
        }
    }

    /// The integer-encoded order is the order of the general comparison: missing values last in
    /// both directions, -0 equal to 0, ties by key.
    #[test]
    fn test_ranked_pages_follow_the_general_sort_order() {
        let values =
            [Some(3.5), None, Some(-2.0), Some(0.0), Some(-0.0), Some(1e12), Some(-1e-9), Some(3.5), None];
        let keys: Vec<DocKey> = vec![8, 1, 5, 3, 2, 7, 4, 0, 6];
        let column: Vec<Option<SortValue>> = values.iter().map(|v| v.map(SortValue::Number)).collect();
        for descending in [false, true] {
            let mut positions: Vec<usize> = (0..keys.len()).collect();
            positions.sort_by(|a, b| {
                compare_sort_values(column.get(*a), column.get(*b), descending).then(keys[*a].cmp(&keys[*b]))
            });
            let general: Vec<DocKey> = positions.into_iter().map(|p| keys[p]).collect();
            let ranked = numeric_ranks(&keys, &column, descending).expect("numbers");
            assert_eq!(
                Ranked::new(ranked.clone(), keys.len()).page(0, keys.len()),
                general,
                "descending: {descending}"
            );
            // Whatever the first page, every page is the general order's.
            for prefix in 0..=keys.len() {
                let frozen = Ranked::new(ranked.clone(), prefix);
                for (offset, end) in [(0, prefix), (0, keys.len()), (prefix.saturating_sub(2), prefix + 3)] {
                    let end = end.min(keys.len());
                    let offset = offset.min(end);
                    assert_eq!(
                        frozen.page(offset, end),
                        general[offset..end],
                        "prefix {prefix}, {offset}..{end}"
                    );
                }
            }
        }
        let text = vec![Some(SortValue::Text("a".into()))];
        assert_eq!(numeric_ranks(&[1], &text, false), None, "text takes the general path");
    }
}

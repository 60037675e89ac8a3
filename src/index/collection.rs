//! The search structures of one resource type, all keyed by a stable [`DocKey`].
//!
//! * tokens and strings: term dictionaries → roaring bitmaps (set algebra for AND/OR/NOT, chains)
//! * dates, numbers, quantities: columns by key, scanned with the query's predicate
//! * references: forward column (key → targets) and reverse postings (target → sources)

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::extract::{IndexDoc, QuantityValue, Values};
use super::DocKey;
use crate::query::value::DateRange;
use crate::schema::{ParamType, ResourceSchema};

/// Postings of one term. Most terms of a national corpus (identifiers, ids) belong to a single
/// resource: those stay inline instead of costing a bitmap allocation each.
#[derive(Clone)]
enum Posting {
    Empty,
    One(DocKey),
    Many(RoaringBitmap),
}

impl Posting {
    fn insert(&mut self, key: DocKey) {
        *self = match std::mem::replace(self, Posting::Empty) {
            Posting::Empty => Posting::One(key),
            Posting::One(existing) if existing == key => Posting::One(existing),
            Posting::One(existing) => Posting::Many([existing, key].into_iter().collect()),
            Posting::Many(mut bitmap) => {
                bitmap.insert(key);
                Posting::Many(bitmap)
            }
        };
    }

    fn remove(&mut self, key: DocKey) {
        match self {
            Posting::One(existing) if *existing == key => *self = Posting::Empty,
            Posting::Many(bitmap) => {
                bitmap.remove(key);
            }
            _ => {}
        }
    }

    fn add_to(&self, union: &mut KeyUnion) {
        match self {
            Posting::Empty => {}
            Posting::One(key) => union.add_key(*key),
            Posting::Many(bitmap) => union.add(bitmap),
        }
    }

    fn union_into(&self, out: &mut RoaringBitmap) {
        match self {
            Posting::Empty => {}
            Posting::One(key) => {
                out.insert(*key);
            }
            Posting::Many(bitmap) => *out |= bitmap,
        }
    }
}

/// The union of many postings. OR-ing small postings one by one into a growing bitmap merges
/// its sorted arrays again and again, quadratic in the result (the offers of 60,000 tariff
/// records' organizations took 40 ms): their keys are gathered and sorted once instead, large
/// postings are OR-ed.
#[derive(Default)]
pub struct KeyUnion {
    keys: Vec<DocKey>,
    large: RoaringBitmap,
}

impl KeyUnion {
    const LARGE: u64 = 4_096;

    pub fn add(&mut self, bitmap: &RoaringBitmap) {
        if bitmap.len() >= Self::LARGE {
            self.large |= bitmap;
        } else {
            self.keys.extend(bitmap.iter());
        }
    }

    pub fn add_key(&mut self, key: DocKey) {
        self.keys.push(key);
    }

    pub fn finish(mut self) -> RoaringBitmap {
        if self.keys.is_empty() {
            return self.large;
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        let small = RoaringBitmap::from_sorted_iter(self.keys).unwrap_or_default();
        if self.large.is_empty() {
            small
        } else {
            self.large | small
        }
    }
}

/// An interned term dictionary with the postings of each term.
#[derive(Default, Clone)]
pub struct Terms {
    sorted: BTreeMap<Arc<str>, u32>,
    texts: Vec<Arc<str>>,
    postings: Vec<Posting>,
}

impl Terms {
    fn intern(&mut self, term: &str) -> u32 {
        if let Some(id) = self.sorted.get(term) {
            return *id;
        }
        let id = self.postings.len() as u32;
        let shared: Arc<str> = Arc::from(term);
        self.sorted.insert(shared.clone(), id);
        self.texts.push(shared);
        self.postings.push(Posting::Empty);
        id
    }

    /// The resources holding `term` (a copy: most postings are small or inline).
    pub fn get(&self, term: &str) -> Option<RoaringBitmap> {
        let posting = self.sorted.get(term).and_then(|id| self.postings.get(*id as usize))?;
        let mut out = RoaringBitmap::new();
        posting.union_into(&mut out);
        Some(out)
    }

    /// Add the resources holding `term` to `out`.
    pub fn union_into(&self, term: &str, out: &mut RoaringBitmap) {
        if let Some(posting) = self.sorted.get(term).and_then(|id| self.postings.get(*id as usize)) {
            posting.union_into(out);
        }
    }

    /// Union of the postings of every term starting with `prefix`.
    pub fn prefix(&self, prefix: &str) -> RoaringBitmap {
        let mut union = KeyUnion::default();
        for (term, id) in
            self.sorted.range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
        {
            if !term.starts_with(prefix) {
                break;
            }
            if let Some(posting) = self.postings.get(*id as usize) {
                posting.add_to(&mut union);
            }
        }
        union.finish()
    }

    /// Union of the postings of every term the predicate accepts (a dictionary scan).
    pub fn scan(&self, mut accept: impl FnMut(&str) -> bool) -> RoaringBitmap {
        let mut union = KeyUnion::default();
        for (term, id) in &self.sorted {
            if accept(term) {
                if let Some(posting) = self.postings.get(*id as usize) {
                    posting.add_to(&mut union);
                }
            }
        }
        union.finish()
    }

    fn term_text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(|t| &**t)
    }

    fn insert(&mut self, id: u32, key: DocKey) {
        if let Some(posting) = self.postings.get_mut(id as usize) {
            posting.insert(key);
        }
    }

    fn remove(&mut self, id: u32, key: DocKey) {
        if let Some(posting) = self.postings.get_mut(id as usize) {
            posting.remove(key);
        }
    }
}

/// The targets of one key through one reference parameter. Most keys point at one target
/// (an offer's organization, a record's parent): held inline, so a pass over the column
/// follows no pointer.
#[derive(Clone, Default)]
pub enum Refs {
    #[default]
    None,
    One((u16, DocKey)),
    Many(Box<[(u16, DocKey)]>),
}

impl Refs {
    pub fn as_slice(&self) -> &[(u16, DocKey)] {
        match self {
            Refs::None => &[],
            Refs::One(target) => std::slice::from_ref(target),
            Refs::Many(targets) => targets,
        }
    }
}

impl From<Vec<(u16, DocKey)>> for Refs {
    fn from(targets: Vec<(u16, DocKey)>) -> Refs {
        match targets.as_slice() {
            [] => Refs::None,
            [one] => Refs::One(*one),
            _ => Refs::Many(targets.into()),
        }
    }
}

#[derive(Clone)]
pub enum ParamIndex {
    Tokens(Terms),
    Strings { normalized: Terms, exact: Terms },
    Dates(Column<DateRange>),
    Numbers(Column<f64>),
    Quantities(Vec<Box<[QuantityValue]>>),
    References { forward: Vec<Refs>, reverse: HashMap<(u16, DocKey), RoaringBitmap> },
    Unindexed,
}

impl ParamIndex {
    /// Take `key` out of a column-like index (dates, numbers, quantities, references); term
    /// postings are taken out through the key's term list instead.
    fn clear_column(&mut self, key: DocKey) {
        let index = key as usize;
        match self {
            ParamIndex::Dates(column) => column.clear(key),
            ParamIndex::Numbers(column) => column.clear(key),
            ParamIndex::Quantities(column) => clear_slot(column, index),
            ParamIndex::References { forward, reverse } => {
                if let Some(targets) = forward.get_mut(index) {
                    for target in std::mem::take(targets).as_slice() {
                        unlink(reverse, *target, key);
                    }
                }
            }
            ParamIndex::Tokens(_) | ParamIndex::Strings { .. } | ParamIndex::Unindexed => {}
        }
    }
}

/// Values of one parameter by key, laid out for scans: the first value of every key sits in one
/// contiguous vector (`_lastUpdated` over 430k offers is one linear pass), further values of
/// multi-valued keys in a side map.
#[derive(Clone)]
pub struct Column<T> {
    first: Vec<Option<T>>,
    rest: HashMap<DocKey, Box<[T]>>,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Column { first: Vec::new(), rest: HashMap::default() }
    }
}

impl<T: Clone> Column<T> {
    fn set(&mut self, key: DocKey, values: &[T]) {
        let index = key as usize;
        if self.first.len() <= index {
            self.first.resize_with(index + 1, || None);
        }
        if let Some(slot) = self.first.get_mut(index) {
            *slot = values.first().cloned();
        }
        match values.get(1..) {
            Some(more) if !more.is_empty() => {
                self.rest.insert(key, more.into());
            }
            _ => {
                self.rest.remove(&key);
            }
        }
    }

    fn clear(&mut self, key: DocKey) {
        if let Some(slot) = self.first.get_mut(key as usize) {
            *slot = None;
        }
        self.rest.remove(&key);
    }

    /// True when one of the key's values satisfies `test`.
    pub fn any(&self, key: DocKey, mut test: impl FnMut(&T) -> bool) -> bool {
        match self.first.get(key as usize) {
            Some(Some(value)) => {
                test(value)
                    || (!self.rest.is_empty()
                        && self.rest.get(&key).is_some_and(|more| more.iter().any(test)))
            }
            _ => false,
        }
    }

    /// The keys among `candidates` with a value satisfying `test`. A dense candidate set (a
    /// `_lastUpdated` over every location) is answered by one pass over the first values into a
    /// bitset, not by a lookup per candidate key.
    pub fn matching(&self, candidates: &RoaringBitmap, mut test: impl FnMut(&T) -> bool) -> RoaringBitmap {
        if candidates.len().saturating_mul(8) < self.first.len() as u64 {
            let accepted = candidates.iter().filter(|key| self.any(*key, &mut test));
            return RoaringBitmap::from_sorted_iter(accepted).unwrap_or_default();
        }
        let mut bits = vec![0u8; self.first.len().div_ceil(8)];
        for (index, value) in self.first.iter().enumerate() {
            if value.as_ref().is_some_and(&mut test) {
                bits[index / 8] |= 1 << (index % 8);
            }
        }
        for (key, more) in &self.rest {
            let index = *key as usize;
            if let Some(byte) = bits.get_mut(index / 8) {
                if *byte & (1 << (index % 8)) == 0 && more.iter().any(&mut test) {
                    *byte |= 1 << (index % 8);
                }
            }
        }
        RoaringBitmap::from_lsb0_bytes(0, &bits) & candidates
    }

    /// All values of a key (sorting only).
    pub fn values(&self, key: DocKey) -> Vec<T> {
        let mut out: Vec<T> = self.first.get(key as usize).cloned().flatten().into_iter().collect();
        if let Some(more) = self.rest.get(&key) {
            out.extend(more.iter().cloned());
        }
        out
    }
}

/// The version of every key, in shared chunks behind one shared list: a paging cursor keeps
/// the versions of its snapshot with one reference count (not a copy per match, nor a count per
/// chunk: a few hundred atomic increments per search cost more than the search), and a write
/// copies only the list of chunk pointers and the 8 KB chunk it changes while a cursor holds them.
#[derive(Clone, Default)]
pub struct Versions {
    chunks: Arc<Vec<Arc<Vec<u64>>>>,
}

impl Versions {
    const CHUNK: usize = 1_024;

    pub fn get(&self, key: DocKey) -> u64 {
        let index = key as usize;
        self.chunks.get(index / Self::CHUNK).and_then(|c| c.get(index % Self::CHUNK)).copied().unwrap_or(0)
    }

    /// Bytes this copy holds that `current` does not share (chunks rewritten since the copy).
    pub fn private_bytes(&self, current: &Versions) -> usize {
        if Arc::ptr_eq(&self.chunks, &current.chunks) {
            return 0;
        }
        let shared = |index: usize, chunk: &Arc<Vec<u64>>| {
            current.chunks.get(index).is_some_and(|other| Arc::ptr_eq(chunk, other))
        };
        let list = self.chunks.capacity() * std::mem::size_of::<Arc<Vec<u64>>>();
        list + self
            .chunks
            .iter()
            .enumerate()
            .filter(|(index, chunk)| !shared(*index, chunk))
            .map(|(_, chunk)| chunk.capacity() * std::mem::size_of::<u64>())
            .sum::<usize>()
    }

    fn set(&mut self, key: DocKey, version: u64) {
        let index = key as usize;
        let chunks = Arc::make_mut(&mut self.chunks);
        while chunks.len() <= index / Self::CHUNK {
            chunks.push(Arc::new(Vec::with_capacity(Self::CHUNK)));
        }
        if let Some(chunk) = chunks.get_mut(index / Self::CHUNK) {
            let chunk = Arc::make_mut(chunk);
            if chunk.len() <= index % Self::CHUNK {
                chunk.resize(index % Self::CHUNK + 1, 0);
            }
            chunk[index % Self::CHUNK] = version;
        }
    }
}

/// Maps a reference target (type, id) to its (type index, key).
pub type ResolveTarget<'a> = dyn FnMut(&str, &str) -> Option<(u16, DocKey)> + 'a;

/// What a key held, so an update can take its old postings out: (param, term) for tokens and
/// (param, normalized term, exact term) for strings, one allocation each per key.
#[derive(Default, Clone)]
struct KeyTerms {
    tokens: Box<[(u16, u32)]>,
    strings: Box<[(u16, u32, u32)]>,
}

#[derive(Clone)]
pub struct Collection {
    pub type_index: usize,
    pub resource_type: String,
    ids: Vec<Arc<str>>,
    by_id: HashMap<Arc<str>, DocKey>,
    /// Keys with a current (not deleted) resource.
    pub live: RoaringBitmap,
    versions: Versions,
    params: Vec<ParamIndex>,
    present: Vec<RoaringBitmap>,
    key_terms: Vec<KeyTerms>,
    /// The `identifier` token parameter, for references by identifier.
    identifier_param: Option<usize>,
    /// Keys allocated for references by identifier (`identifier:<value>`).
    logical: RoaringBitmap,
}

/// Prefix of the pseudo id under which a logical reference (`{type, identifier}`) is indexed.
pub const LOGICAL_PREFIX: &str = "identifier:";

impl Collection {
    pub fn new(schema: &ResourceSchema) -> Collection {
        let params = schema
            .params
            .iter()
            .map(|p| match p.param_type {
                ParamType::Token | ParamType::Uri => ParamIndex::Tokens(Terms::default()),
                ParamType::String => {
                    ParamIndex::Strings { normalized: Terms::default(), exact: Terms::default() }
                }
                ParamType::Date => ParamIndex::Dates(Column::default()),
                ParamType::Number => ParamIndex::Numbers(Column::default()),
                ParamType::Quantity => ParamIndex::Quantities(Vec::new()),
                ParamType::Reference => {
                    ParamIndex::References { forward: Vec::new(), reverse: HashMap::default() }
                }
                ParamType::Special => ParamIndex::Unindexed,
            })
            .collect();
        Collection {
            type_index: schema.type_index,
            resource_type: schema.resource_type.clone(),
            ids: Vec::new(),
            by_id: HashMap::default(),
            live: RoaringBitmap::new(),
            versions: Versions::default(),
            params,
            present: vec![RoaringBitmap::new(); schema.params.len()],
            key_terms: Vec::new(),
            identifier_param: schema.param("identifier").map(|p| p.id),
            logical: RoaringBitmap::new(),
        }
    }

    pub fn key(&self, id: &str) -> Option<DocKey> {
        self.by_id.get(id).copied()
    }

    /// The key of `id`, allocated on first sight (a reference may name a resource not loaded yet).
    pub fn key_or_insert(&mut self, id: &str) -> DocKey {
        if let Some(key) = self.by_id.get(id) {
            return *key;
        }
        let key = self.ids.len() as DocKey;
        if id.starts_with(LOGICAL_PREFIX) {
            self.logical.insert(key);
        }
        let id: Arc<str> = Arc::from(id);
        self.ids.push(id.clone());
        self.by_id.insert(id, key);
        self.versions.set(key, 0);
        self.key_terms.push(KeyTerms::default());
        key
    }

    pub fn id(&self, key: DocKey) -> Option<&Arc<str>> {
        self.ids.get(key as usize)
    }

    pub fn version(&self, key: DocKey) -> u64 {
        self.versions.get(key)
    }

    /// The versions of every key as they are now (cheap: shared chunks).
    pub fn versions(&self) -> Versions {
        self.versions.clone()
    }

    pub fn len(&self) -> u64 {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn param(&self, param: usize) -> &ParamIndex {
        self.params.get(param).unwrap_or(&ParamIndex::Unindexed)
    }

    /// Keys that have at least one value for `param`.
    pub fn present(&self, param: usize) -> RoaringBitmap {
        self.present.get(param).cloned().unwrap_or_default()
    }

    /// The first normalized string value of a string param (sort key).
    pub fn sort_string(&self, key: DocKey, param: usize) -> Option<&str> {
        let ParamIndex::Strings { normalized, .. } = self.param(param) else { return None };
        let (_, term, _) =
            self.key_terms.get(key as usize)?.strings.iter().find(|(p, _, _)| usize::from(*p) == param)?;
        normalized.term_text(*term)
    }

    /// The smallest token code of a token param (sort key); slow path, used only for `_sort`.
    pub fn sort_token(&self, key: DocKey, param: usize) -> Option<String> {
        let ParamIndex::Tokens(terms) = self.param(param) else { return None };
        self.key_terms
            .get(key as usize)?
            .tokens
            .iter()
            .filter(|(p, _)| usize::from(*p) == param)
            .filter_map(|(_, id)| terms.term_text(*id))
            .filter_map(|t| t.strip_prefix(super::extract::TOKEN_ANY_SYSTEM))
            .min()
            .map(str::to_owned)
    }

    /// Remove everything indexed for `key`, keeping the key itself (ids are never reused).
    pub fn remove(&mut self, key: DocKey) {
        let index = key as usize;
        let old = self.key_terms.get_mut(index).map(std::mem::take).unwrap_or_default();
        for (param, id) in old.tokens.iter() {
            if let Some(ParamIndex::Tokens(terms)) = self.params.get_mut(usize::from(*param)) {
                terms.remove(*id, key);
            }
        }
        for (param, n, e) in old.strings.iter() {
            if let Some(ParamIndex::Strings { normalized, exact }) = self.params.get_mut(usize::from(*param))
            {
                normalized.remove(*n, key);
                exact.remove(*e, key);
            }
        }
        for param in self.params.iter_mut() {
            param.clear_column(key);
        }
        for present in self.present.iter_mut() {
            present.remove(key);
        }
        self.live.remove(key);
    }

    /// Index `doc` under `key`, replacing what the key held. `resolve` maps a reference target
    /// (type, id) to (type index, key) in its collection.
    ///
    /// Only what differs from the key's previous content is touched: a capacity update changes
    /// one or two postings of a Location that holds dozens, and this runs on both published
    /// copies for every write.
    pub fn upsert(&mut self, key: DocKey, doc: &IndexDoc, resolve: &mut ResolveTarget<'_>) {
        let index = key as usize;
        let old = self.key_terms.get_mut(index).map(std::mem::take).unwrap_or_default();
        let mut token_terms: Vec<(u16, u32)> = Vec::new();
        let mut string_terms: Vec<(u16, u32, u32)> = Vec::new();
        let mut has_values = vec![false; self.params.len()];
        let mut given = vec![false; self.params.len()];
        for (param, values) in &doc.values {
            let param = *param;
            let Some(param_index) = self.params.get_mut(param) else { continue };
            given[param] = true;
            let has_value = match (param_index, values) {
                (ParamIndex::Tokens(terms), Values::Tokens(keys)) => {
                    token_terms.extend(keys.iter().map(|token| (param as u16, terms.intern(token))));
                    !keys.is_empty()
                }
                (ParamIndex::Strings { normalized, exact }, Values::Strings(strings)) => {
                    // The first value stays first: it is the sort key.
                    string_terms.extend(
                        strings
                            .iter()
                            .map(|(norm, raw)| (param as u16, normalized.intern(norm), exact.intern(raw))),
                    );
                    !strings.is_empty()
                }
                (ParamIndex::Dates(column), Values::Dates(dates)) => {
                    column.set(key, dates);
                    !dates.is_empty()
                }
                (ParamIndex::Numbers(column), Values::Numbers(numbers)) => {
                    column.set(key, numbers);
                    !numbers.is_empty()
                }
                (ParamIndex::Quantities(column), Values::Quantities(quantities)) => {
                    set_slot(column, index, quantities.clone().into());
                    !quantities.is_empty()
                }
                (ParamIndex::References { forward, reverse }, Values::References(references)) => {
                    let mut targets = Vec::with_capacity(references.len());
                    for reference in references {
                        if let Some(target) = resolve(&reference.target_type, &reference.id) {
                            if !targets.contains(&target) {
                                targets.push(target);
                            }
                        }
                    }
                    let previous = forward.get(index).map(Refs::as_slice).unwrap_or(&[]);
                    for target in previous.iter().filter(|t| !targets.contains(t)) {
                        unlink(reverse, *target, key);
                    }
                    for target in targets.iter().filter(|t| !previous.contains(t)) {
                        reverse.entry(*target).or_default().insert(key);
                    }
                    let has_value = !targets.is_empty();
                    if forward.len() <= index {
                        forward.resize_with(index + 1, Refs::default);
                    }
                    forward[index] = targets.into();
                    has_value
                }
                _ => {
                    given[param] = false;
                    false
                }
            };
            has_values[param] |= has_value;
        }
        // Columns and references the new version no longer has.
        for (param_index, _) in self.params.iter_mut().zip(&given).filter(|(_, given)| !**given) {
            param_index.clear_column(key);
        }
        for (param, id) in old.tokens.iter().filter(|t| !token_terms.contains(t)) {
            if let Some(ParamIndex::Tokens(terms)) = self.params.get_mut(usize::from(*param)) {
                terms.remove(*id, key);
            }
        }
        for (param, id) in token_terms.iter().filter(|t| !old.tokens.contains(t)) {
            if let Some(ParamIndex::Tokens(terms)) = self.params.get_mut(usize::from(*param)) {
                terms.insert(*id, key);
            }
        }
        for (param, n, e) in old.strings.iter() {
            let Some(ParamIndex::Strings { normalized, exact }) = self.params.get_mut(usize::from(*param))
            else {
                continue;
            };
            if !string_terms.iter().any(|(p, new_n, _)| p == param && new_n == n) {
                normalized.remove(*n, key);
            }
            if !string_terms.iter().any(|(p, _, new_e)| p == param && new_e == e) {
                exact.remove(*e, key);
            }
        }
        for (param, n, e) in string_terms.iter() {
            let Some(ParamIndex::Strings { normalized, exact }) = self.params.get_mut(usize::from(*param))
            else {
                continue;
            };
            if !old.strings.iter().any(|(p, old_n, _)| p == param && old_n == n) {
                normalized.insert(*n, key);
            }
            if !old.strings.iter().any(|(p, _, old_e)| p == param && old_e == e) {
                exact.insert(*e, key);
            }
        }
        for (present, has_value) in self.present.iter_mut().zip(&has_values) {
            if *has_value != present.contains(key) {
                if *has_value {
                    present.insert(key);
                } else {
                    present.remove(key);
                }
            }
        }
        if let Some(slot) = self.key_terms.get_mut(index) {
            *slot = KeyTerms { tokens: token_terms.into(), strings: string_terms.into() };
        }
        self.versions.set(key, doc.version);
        self.live.insert(key);
    }

    /// The live resources a logical reference key (`identifier:<value>`) designates: those with
    /// an identifier of that value. Empty for ordinary keys.
    pub fn logical_targets(&self, key: DocKey) -> RoaringBitmap {
        let (Some(id), Some(param)) = (self.id(key), self.identifier_param) else {
            return RoaringBitmap::new();
        };
        let Some(value) = id.strip_prefix(LOGICAL_PREFIX) else { return RoaringBitmap::new() };
        match self.param(param) {
            ParamIndex::Tokens(terms) => {
                terms.get(&super::extract::key_any_system(value)).map(|b| b & &self.live).unwrap_or_default()
            }
            _ => RoaringBitmap::new(),
        }
    }

    /// The logical-reference keys (`identifier:<value>`) that designate `key`.
    pub fn logical_aliases(&self, key: DocKey) -> Vec<DocKey> {
        let Some(param) = self.identifier_param else { return Vec::new() };
        let ParamIndex::Tokens(terms) = self.param(param) else { return Vec::new() };
        let Some(key_terms) = self.key_terms.get(key as usize) else { return Vec::new() };
        key_terms
            .tokens
            .iter()
            .filter(|(p, _)| usize::from(*p) == param)
            .filter_map(|(_, id)| terms.term_text(*id))
            .filter_map(|t| t.strip_prefix(super::extract::TOKEN_ANY_SYSTEM))
            .filter_map(|value| self.key(&format!("{LOGICAL_PREFIX}{value}")))
            .collect()
    }

    /// Keys of logical references (`identifier:<value>`) known to this collection.
    pub fn logical_keys(&self) -> impl Iterator<Item = DocKey> + '_ {
        self.logical.iter()
    }

    /// Targets of one key through a reference param.
    pub fn references_of(&self, param: usize, key: DocKey) -> &[(u16, DocKey)] {
        match self.param(param) {
            ParamIndex::References { forward, .. } => {
                forward.get(key as usize).map(Refs::as_slice).unwrap_or(&[])
            }
            _ => &[],
        }
    }

    /// The keys among `candidates` whose reference `param` points at one of `targets` (keys of
    /// the collection `target_type`), by one pass over the forward column against a bitset of
    /// the targets: for thousands of targets, cheaper than a reverse posting lookup per target.
    pub fn referencing_dense(
        &self,
        param: usize,
        target_type: u16,
        targets: &RoaringBitmap,
        candidates: &RoaringBitmap,
    ) -> RoaringBitmap {
        let ParamIndex::References { forward, .. } = self.param(param) else { return RoaringBitmap::new() };
        let Some(max_target) = targets.max() else { return RoaringBitmap::new() };
        let mut wanted = vec![0u64; max_target as usize / 64 + 1];
        for target in targets {
            wanted[target as usize / 64] |= 1 << (target % 64);
        }
        let is_wanted = |(t, k): &(u16, DocKey)| {
            *t == target_type && wanted.get(*k as usize / 64).is_some_and(|w| w & (1 << (k % 64)) != 0)
        };
        let mut found = vec![0u8; forward.len().div_ceil(8)];
        for (index, refs) in forward.iter().enumerate() {
            let hit = match refs {
                Refs::None => false,
                Refs::One(target) => is_wanted(target),
                Refs::Many(targets) => targets.iter().any(is_wanted),
            };
            if hit {
                found[index / 8] |= 1 << (index % 8);
            }
        }
        RoaringBitmap::from_lsb0_bytes(0, &found) & candidates
    }

    /// Sources (keys of this collection) whose reference param points at the target.
    pub fn referencing(&self, param: usize, target: (u16, DocKey)) -> Option<&RoaringBitmap> {
        match self.param(param) {
            ParamIndex::References { reverse, .. } => reverse.get(&target),
            _ => None,
        }
    }
}

/// Take `source` out of the reverse postings of `target`.
fn unlink(reverse: &mut HashMap<(u16, DocKey), RoaringBitmap>, target: (u16, DocKey), source: DocKey) {
    if let Some(bitmap) = reverse.get_mut(&target) {
        bitmap.remove(source);
        if bitmap.is_empty() {
            reverse.remove(&target);
        }
    }
}

fn clear_slot<T>(column: &mut [Box<[T]>], index: usize) {
    if let Some(slot) = column.get_mut(index) {
        *slot = Box::new([]);
    }
}

fn set_slot<T>(column: &mut Vec<Box<[T]>>, index: usize, value: Box<[T]>) {
    if column.len() <= index {
        column.resize_with(index + 1, || Box::new([]));
    }
    if let Some(slot) = column.get_mut(index) {
        *slot = value;
    }
}

#[cfg(test)]
impl Collection {
    /// Everything a search can observe, by resource id rather than key: one line per
    /// (parameter, value, id) for live resources, so two states built along different
    /// histories compare equal exactly when they answer every query the same.
    pub(crate) fn observable(&self, target_id: &dyn Fn(u16, DocKey) -> String) -> Vec<String> {
        let id_of = |key: DocKey| self.id(key).map(|id| id.to_string()).unwrap_or_default();
        let mut lines = Vec::new();
        for key in self.live.iter() {
            let id = id_of(key);
            lines.push(format!("live {id} v{}", self.version(key)));
            for (param, present) in self.present.iter().enumerate() {
                if present.contains(key) {
                    lines.push(format!("present {param} {id}"));
                }
            }
        }
        for (param, index) in self.params.iter().enumerate() {
            let mut postings = |kind: &str, terms: &Terms| {
                for (term, term_id) in &terms.sorted {
                    let mut keys = RoaringBitmap::new();
                    if let Some(posting) = terms.postings.get(*term_id as usize) {
                        posting.union_into(&mut keys);
                    }
                    for key in keys.iter() {
                        lines.push(format!("{kind} {param} {term} {}", id_of(key)));
                    }
                }
            };
            match index {
                ParamIndex::Tokens(terms) => postings("token", terms),
                ParamIndex::Strings { normalized, exact } => {
                    postings("normalized", normalized);
                    postings("exact", exact);
                }
                ParamIndex::Dates(column) => {
                    for key in self.live.iter() {
                        lines.push(format!("date {param} {} {:?}", id_of(key), column.values(key)));
                    }
                }
                ParamIndex::Numbers(column) => {
                    for key in self.live.iter() {
                        lines.push(format!("number {param} {} {:?}", id_of(key), column.values(key)));
                    }
                }
                ParamIndex::Quantities(column) => {
                    for key in self.live.iter() {
                        let values =
                            column.get(key as usize).map(|v| format!("{:?}", &**v)).unwrap_or_default();
                        lines.push(format!("quantity {param} {} {values}", id_of(key)));
                    }
                }
                ParamIndex::References { forward, reverse } => {
                    for key in self.live.iter() {
                        let targets: Vec<String> = forward
                            .get(key as usize)
                            .map(|t| t.as_slice().iter().map(|(ty, k)| target_id(*ty, *k)).collect())
                            .unwrap_or_default();
                        lines.push(format!("forward {param} {} {targets:?}", id_of(key)));
                    }
                    for ((ty, target), sources) in reverse {
                        for key in sources.iter() {
                            lines.push(format!("reverse {param} {} {}", target_id(*ty, *target), id_of(key)));
                        }
                    }
                }
                ParamIndex::Unindexed => {}
            }
        }
        lines.sort();
        lines
    }
}

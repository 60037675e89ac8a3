//! The search structures of one resource type, all keyed by a stable [`DocKey`].
//!
//! * tokens and strings: term dictionaries → roaring bitmaps (set algebra for AND/OR/NOT, chains)
//! * dates, numbers, quantities: columns by key, scanned with the query's predicate
//! * references: forward column (key → targets) and reverse postings (target → sources)

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::date_order::DateOrder;
use super::extract::{IndexDoc, QuantityValue, Values};
use super::interned::Interned;
use super::DocKey;
use crate::query::value::DateRange;
use crate::schema::{ParamType, ResourceSchema};

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

/// Unsorted recent terms a dictionary keeps before merging them into its sorted run: bounds
/// the linear part of a prefix scan.
const UNSORTED_TAIL: usize = 8_192;

/// A posting as a [`PostingTable`] holds it, in 4 bytes: no key, one key inline (most terms
/// of a national corpus: identifiers, names; most targets of a reference), or the number of a
/// [`KeySet`] in the table's `sets`. A boxed enum took 16 bytes and an allocation.
#[derive(Clone, Copy)]
struct PostingSlot(u32);

impl PostingSlot {
    const EMPTY: PostingSlot = PostingSlot(u32::MAX);
    /// Set on the number of a key set; a key this large (beyond two billion) goes to a set.
    const SET: u32 = 1 << 31;

    fn one(key: DocKey) -> Option<PostingSlot> {
        (key < Self::SET).then_some(PostingSlot(key))
    }

    /// The number of the slot's key set, if it names one.
    fn set(self) -> Option<usize> {
        (self.0 != Self::EMPTY.0 && self.0 & Self::SET != 0).then_some((self.0 & !Self::SET) as usize)
    }
}

/// The keys of a posting held by several: a short sorted run (an organization's offers, a code
/// held by a few), a bitmap beyond. A run is read as a slice, where setting up a roaring
/// iterator costs ~100 ns: most of a chain through the 7,500 organizations of a tariff filter.
#[derive(Clone)]
enum KeySet {
    Few(Vec<DocKey>),
    Many(RoaringBitmap),
}

impl KeySet {
    /// Longest run; a bitmap shrinking to half of it becomes a run again.
    const FEW_MAX: usize = 32;

    fn of(keys: &[DocKey]) -> KeySet {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        KeySet::Few(keys)
    }

    fn as_ref(&self) -> PostingRef<'_> {
        match self {
            KeySet::Few(keys) => PostingRef::Few(keys),
            KeySet::Many(bitmap) => PostingRef::Many(bitmap),
        }
    }

    fn insert(&mut self, key: DocKey) {
        match self {
            KeySet::Few(keys) => {
                if let Err(at) = keys.binary_search(&key) {
                    keys.insert(at, key);
                    if keys.len() > Self::FEW_MAX {
                        *self = KeySet::Many(keys.iter().copied().collect());
                    }
                }
            }
            KeySet::Many(bitmap) => {
                bitmap.insert(key);
            }
        }
    }

    fn remove(&mut self, key: DocKey) {
        match self {
            KeySet::Few(keys) => {
                if let Ok(at) = keys.binary_search(&key) {
                    keys.remove(at);
                }
            }
            KeySet::Many(bitmap) => {
                bitmap.remove(key);
                if bitmap.len() < (Self::FEW_MAX / 2) as u64 {
                    *self = KeySet::Few(bitmap.iter().collect());
                }
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            KeySet::Few(keys) => keys.len() as u64,
            KeySet::Many(bitmap) => bitmap.len(),
        }
    }

    fn first(&self) -> Option<DocKey> {
        match self {
            KeySet::Few(keys) => keys.first().copied(),
            KeySet::Many(bitmap) => bitmap.min(),
        }
    }
}

/// A term's postings, read from its dictionary.
#[derive(Clone, Copy)]
pub enum PostingRef<'a> {
    Empty,
    One(DocKey),
    /// A short sorted run.
    Few(&'a [DocKey]),
    Many(&'a RoaringBitmap),
}

impl<'a> PostingRef<'a> {
    pub fn iter(self) -> impl Iterator<Item = DocKey> + 'a {
        let (one, few, many) = match self {
            PostingRef::Empty => (None, None, None),
            PostingRef::One(key) => (Some(key), None, None),
            PostingRef::Few(keys) => (None, Some(keys.iter().copied()), None),
            PostingRef::Many(bitmap) => (None, None, Some(bitmap.iter())),
        };
        one.into_iter().chain(few.into_iter().flatten()).chain(many.into_iter().flatten())
    }

    /// Set the posting's keys in a bitset (least significant bit first, as
    /// [`RoaringBitmap::from_lsb0_bytes`] reads it) sized for every key.
    fn set_in(self, bits: &mut [u8]) {
        let mut set = |key: DocKey| {
            if let Some(byte) = bits.get_mut(key as usize / 8) {
                *byte |= 1 << (key % 8);
            }
        };
        match self {
            PostingRef::Empty => {}
            PostingRef::One(key) => set(key),
            PostingRef::Few(keys) => keys.iter().copied().for_each(set),
            PostingRef::Many(bitmap) => bitmap.iter().for_each(set),
        }
    }

    pub fn add_to(self, union: &mut KeyUnion) {
        match self {
            PostingRef::Empty => {}
            PostingRef::One(key) => union.add_key(key),
            PostingRef::Few(keys) => union.keys.extend_from_slice(keys),
            PostingRef::Many(bitmap) => union.add(bitmap),
        }
    }

    pub fn union_into(self, out: &mut RoaringBitmap) {
        match self {
            PostingRef::Empty => {}
            PostingRef::One(key) => {
                out.insert(key);
            }
            PostingRef::Few(keys) => out.extend(keys.iter().copied()),
            PostingRef::Many(bitmap) => *out |= bitmap,
        }
    }
}

/// An interned term dictionary with the postings of each term.
///
/// Laid out for the millions of mostly unique terms of a national corpus (identifiers, names):
/// the texts [`Interned`], a 4-byte [`PostingSlot`] per term, and, for the dictionaries that
/// answer prefix searches, the ids in text order. A map of string keys cost about 70 bytes per
/// term more (600 MiB for the identifiers alone at national scale). The text order is a sorted
/// run plus a short unsorted tail of recent terms, merged when the tail grows: a term inserted
/// into the middle of a sorted vector of millions would move it all.
#[derive(Default, Clone)]
pub struct Terms {
    texts: Interned,
    /// Whether the text order is kept (`sorted`, `unsorted`): only string dictionaries searched
    /// by prefix need it, tokens and exact strings are looked up whole.
    ordered: bool,
    sorted: Vec<u32>,
    unsorted: Vec<u32>,
    /// By term id.
    postings: PostingTable,
}

/// The postings of densely numbered things (a dictionary's term ids, a reference's target
/// keys): a 4-byte [`PostingSlot`] each, the key sets of those held by several keys apart.
#[derive(Default, Clone)]
struct PostingTable {
    slots: Vec<PostingSlot>,
    /// Slots holding at least one key.
    occupied: usize,
    /// The postings held by several keys, numbered by their slots.
    sets: Vec<KeySet>,
    /// Numbers of `sets` emptied by removals, to reuse.
    free_sets: Vec<u32>,
}

impl PostingTable {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn push_empty(&mut self) {
        self.slots.push(PostingSlot::EMPTY);
    }

    /// Of the slots holding keys, the share holding several (a set to read apart, one more
    /// cache miss per slot read).
    fn several_share(&self) -> f64 {
        let sets = self.sets.len() - self.free_sets.len();
        if self.occupied == 0 {
            0.0
        } else {
            sets as f64 / self.occupied as f64
        }
    }

    fn get(&self, id: u32) -> PostingRef<'_> {
        let Some(slot) = self.slots.get(id as usize) else {
            return PostingRef::Empty;
        };
        match slot.set() {
            Some(number) => self.sets.get(number).map_or(PostingRef::Empty, KeySet::as_ref),
            None if slot.0 == PostingSlot::EMPTY.0 => PostingRef::Empty,
            None => PostingRef::One(slot.0),
        }
    }

    /// A set number for `keys`, reusing an emptied one.
    fn new_set(&mut self, keys: &[DocKey]) -> PostingSlot {
        let set = KeySet::of(keys);
        let number = match self.free_sets.pop() {
            Some(number) => {
                if let Some(slot) = self.sets.get_mut(number as usize) {
                    *slot = set;
                }
                number
            }
            None => {
                self.sets.push(set);
                (self.sets.len() - 1) as u32
            }
        };
        PostingSlot(number | PostingSlot::SET)
    }

    /// Add `key` to the posting of `id`, numbering it if new.
    fn insert(&mut self, id: u32, key: DocKey) {
        if self.slots.len() <= id as usize {
            self.slots.resize(id as usize + 1, PostingSlot::EMPTY);
        }
        let slot = self.slots[id as usize];
        let updated = match self.get(id) {
            PostingRef::Empty => {
                self.occupied += 1;
                PostingSlot::one(key).unwrap_or_else(|| self.new_set(&[key]))
            }
            PostingRef::One(existing) if existing == key => slot,
            PostingRef::One(existing) => self.new_set(&[existing, key]),
            PostingRef::Few(_) | PostingRef::Many(_) => {
                if let Some(set) = slot.set().and_then(|number| self.sets.get_mut(number)) {
                    set.insert(key);
                }
                slot
            }
        };
        self.slots[id as usize] = updated;
    }

    fn remove(&mut self, id: u32, key: DocKey) {
        let Some(slot) = self.slots.get(id as usize).copied() else {
            return;
        };
        let updated = match slot.set() {
            None if slot.0 == key => {
                self.occupied -= 1;
                PostingSlot::EMPTY
            }
            None => slot,
            Some(number) => {
                let Some(set) = self.sets.get_mut(number) else {
                    return;
                };
                set.remove(key);
                // Back to inline once one key is left, so that churn does not pin sets.
                let remaining = match set.len() {
                    0 => {
                        self.occupied -= 1;
                        Some(PostingSlot::EMPTY)
                    }
                    1 => set.first().and_then(PostingSlot::one),
                    _ => None,
                };
                match remaining {
                    Some(inline) => {
                        *set = KeySet::Few(Vec::new());
                        self.free_sets.push(number as u32);
                        inline
                    }
                    None => slot,
                }
            }
        };
        self.slots[id as usize] = updated;
    }

    fn shrink_to_fit(&mut self) {
        self.slots.shrink_to_fit();
        self.sets.shrink_to_fit();
        for set in &mut self.sets {
            if let KeySet::Few(keys) = set {
                keys.shrink_to_fit();
            }
        }
    }
}

impl Terms {
    /// A dictionary that answers prefix searches ([`Terms::prefix`]).
    fn ordered() -> Terms {
        Terms { ordered: true, ..Terms::default() }
    }

    fn intern(&mut self, term: &str) -> u32 {
        if let Some(id) = self.lookup(term) {
            return id;
        }
        let id = self.texts.push(term);
        self.postings.push_empty();
        if self.ordered {
            self.unsorted.push(id);
            if self.unsorted.len() >= UNSORTED_TAIL {
                self.merge_unsorted();
            }
        }
        id
    }

    fn lookup(&self, term: &str) -> Option<u32> {
        self.texts.get(term)
    }

    fn text(&self, id: u32) -> &str {
        self.texts.text(id)
    }

    /// Fold the recent terms into the sorted run: each finds its place by binary search, the
    /// run is copied once.
    fn merge_unsorted(&mut self) {
        let mut recent = std::mem::take(&mut self.unsorted);
        recent.sort_unstable_by(|a, b| self.text(*a).cmp(self.text(*b)));
        let mut merged = Vec::with_capacity(self.sorted.len() + recent.len());
        let mut from = 0;
        for id in recent {
            let text = self.text(id);
            let at = from + self.sorted[from..].partition_point(|other| self.text(*other) < text);
            merged.extend_from_slice(&self.sorted[from..at]);
            merged.push(id);
            from = at;
        }
        merged.extend_from_slice(&self.sorted[from..]);
        self.sorted = merged;
    }

    fn posting_of(&self, id: u32) -> PostingRef<'_> {
        self.postings.get(id)
    }

    fn posting(&self, term: &str) -> Option<PostingRef<'_>> {
        self.lookup(term).map(|id| self.posting_of(id))
    }

    /// The resources holding `term` (a copy: most postings are small or inline).
    pub fn get(&self, term: &str) -> Option<RoaringBitmap> {
        let posting = self.posting(term)?;
        let mut out = RoaringBitmap::new();
        posting.union_into(&mut out);
        Some(out)
    }

    /// Add the resources holding `term` to `out`.
    pub fn union_into(&self, term: &str, out: &mut RoaringBitmap) {
        if let Some(posting) = self.posting(term) {
            posting.union_into(out);
        }
    }

    /// Union of the postings of every term starting with `prefix` (nothing in a dictionary
    /// not built [`ordered`](Terms::ordered)).
    pub fn prefix(&self, prefix: &str) -> RoaringBitmap {
        let mut union = KeyUnion::default();
        let start = self.sorted.partition_point(|id| self.text(*id) < prefix);
        let sorted = self.sorted[start..].iter().take_while(|id| self.text(**id).starts_with(prefix));
        let recent = self.unsorted.iter().filter(|id| self.text(**id).starts_with(prefix));
        for id in sorted.chain(recent) {
            self.posting_of(*id).add_to(&mut union);
        }
        union.finish()
    }

    /// Union of the postings of every term the predicate accepts (a dictionary scan).
    pub fn scan(&self, mut accept: impl FnMut(&str) -> bool) -> RoaringBitmap {
        let mut union = KeyUnion::default();
        for id in 0..self.postings.len() as u32 {
            if accept(self.text(id)) {
                self.posting_of(id).add_to(&mut union);
            }
        }
        union.finish()
    }

    fn term_text(&self, id: u32) -> Option<&str> {
        self.texts.try_text(id)
    }

    fn insert(&mut self, id: u32, key: DocKey) {
        if (id as usize) < self.postings.len() {
            self.postings.insert(id, key);
        }
    }

    fn remove(&mut self, id: u32, key: DocKey) {
        self.postings.remove(id, key);
    }

    /// Give back the spare capacity of a dictionary built in bulk (vectors grown by doubling
    /// hold up to half their size unused).
    fn shrink_to_fit(&mut self) {
        self.texts.shrink_to_fit();
        self.sorted.shrink_to_fit();
        self.postings.shrink_to_fit();
    }
}

/// The values of one key in a [`Column`]: none, one held inline (a pass over the column follows
/// no pointer), or several (at least two) as a run of the column's dense array of further
/// values, so that a slot is no larger than an optional value.
#[derive(Clone, Copy, Default)]
enum Slot<T> {
    #[default]
    None,
    One(T),
    Many {
        start: u32,
        len: u32,
    },
}

/// The targets of each key through one reference parameter (most keys point at one target: an
/// offer's organization, a record's parent).
pub type Refs = Column<(u16, DocKey)>;

/// The sources of each target through one reference parameter: per target type, a posting
/// slot per target key (keys are dense), so that a chain reads the sources of 50,000 target
/// locations in key order instead of hashing each (a hash map of postings cost ~300 ns per
/// target at national scale, and twice the memory).
#[derive(Default, Clone)]
pub struct ReverseRefs {
    by_type: Vec<(u16, PostingTable)>,
    /// Sources with several targets: whether one satisfies a chain is not read off one target.
    several: RoaringBitmap,
}

impl ReverseRefs {
    fn table(&self, target_type: u16) -> Option<&PostingTable> {
        self.by_type.iter().find(|(t, _)| *t == target_type).map(|(_, table)| table)
    }

    pub fn get(&self, (target_type, target): (u16, DocKey)) -> PostingRef<'_> {
        self.table(target_type).map_or(PostingRef::Empty, |table| table.get(target))
    }

    fn link(&mut self, (target_type, target): (u16, DocKey), source: DocKey) {
        let at = match self.by_type.iter().position(|(t, _)| *t == target_type) {
            Some(at) => at,
            None => {
                self.by_type.push((target_type, PostingTable::default()));
                self.by_type.len() - 1
            }
        };
        self.by_type[at].1.insert(target, source);
    }

    fn unlink(&mut self, (target_type, target): (u16, DocKey), source: DocKey) {
        if let Some((_, table)) = self.by_type.iter_mut().find(|(t, _)| *t == target_type) {
            table.remove(target, source);
        }
    }

    /// What reading the sources of each of `targets` targets of `target_type` costs, among
    /// `bound` source keys, in passes over one forward slot. Few targets have their sources
    /// gathered and sorted: a slot read out of order, and a set read apart when it holds several
    /// (measured at national scale: ~30 ns and ~200 ns, where a forward slot passes in ~2.5 ns).
    /// Many set their sources in a bitset, about five times cheaper: the 7,532 organizations of
    /// UC5 S3 set their 60,000 offers in ~35 ns each under 8 clients, where the pass over the
    /// 430,000 offers it replaced took 1 ms (that query went from 1,400 to 2,900 per second).
    fn cost_per_target(&self, target_type: u16, targets: u64, bound: usize) -> f64 {
        let Some(table) = self.table(target_type) else { return 0.0 };
        let gathered = 12.0 + 68.0 * table.several_share();
        if sources_in_bitset(targets, bound) {
            gathered / 5.0
        } else {
            gathered
        }
    }

    /// The sources of any of `targets` (of `target_type`), among `bound` possible source keys.
    fn sources(&self, target_type: u16, targets: &RoaringBitmap, bound: usize) -> RoaringBitmap {
        let Some(table) = self.table(target_type) else { return RoaringBitmap::new() };
        if !sources_in_bitset(targets.len(), bound) {
            let mut union = KeyUnion::default();
            for target in targets {
                table.get(target).add_to(&mut union);
            }
            return union.finish();
        }
        // Many targets: a bitset over the sources, no sort of the keys gathered.
        let mut bits = vec![0u8; bound.div_ceil(8)];
        for target in targets {
            table.get(target).set_in(&mut bits);
        }
        RoaringBitmap::from_lsb0_bytes(0, &bits)
    }

    fn shrink_to_fit(&mut self) {
        for (_, table) in &mut self.by_type {
            table.shrink_to_fit();
        }
    }
}

/// Whether the sources of `targets` targets are set in a bitset over the `bound` source keys
/// rather than gathered and sorted.
fn sources_in_bitset(targets: u64, bound: usize) -> bool {
    targets.saturating_mul(64) >= bound as u64
}

/// The term dictionaries of a parameter index: a token's, or a string's two.
#[derive(Clone, Copy)]
enum Dictionary {
    Tokens,
    Normalized,
    Exact,
}

#[derive(Clone)]
// One per parameter, behind an `Arc`: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum ParamIndex {
    Tokens(Terms),
    Strings { normalized: Terms, exact: Terms },
    Dates(Column<DateRange>),
    Numbers(Column<f64>),
    Quantities(Column<QuantityValue>),
    References { forward: Refs, reverse: ReverseRefs },
    Unindexed,
}

impl ParamIndex {
    fn shrink_to_fit(&mut self) {
        match self {
            ParamIndex::Tokens(terms) => terms.shrink_to_fit(),
            ParamIndex::Strings { normalized, exact } => {
                normalized.shrink_to_fit();
                exact.shrink_to_fit();
            }
            ParamIndex::Dates(column) => column.shrink_to_fit(),
            ParamIndex::Numbers(column) => column.shrink_to_fit(),
            ParamIndex::Quantities(column) => column.shrink_to_fit(),
            ParamIndex::References { forward, reverse } => {
                forward.shrink_to_fit();
                reverse.shrink_to_fit();
            }
            ParamIndex::Unindexed => {}
        }
    }

    fn dictionary(&self, which: Dictionary) -> Option<&Terms> {
        match (self, which) {
            (ParamIndex::Tokens(terms), Dictionary::Tokens) => Some(terms),
            (ParamIndex::Strings { normalized, .. }, Dictionary::Normalized) => Some(normalized),
            (ParamIndex::Strings { exact, .. }, Dictionary::Exact) => Some(exact),
            _ => None,
        }
    }

    fn dictionary_mut(&mut self, which: Dictionary) -> Option<&mut Terms> {
        match (self, which) {
            (ParamIndex::Tokens(terms), Dictionary::Tokens) => Some(terms),
            (ParamIndex::Strings { normalized, .. }, Dictionary::Normalized) => Some(normalized),
            (ParamIndex::Strings { exact, .. }, Dictionary::Exact) => Some(exact),
            _ => None,
        }
    }

    /// True when a column-like index holds something for `key` (what `clear_column` removes).
    fn has_column_value(&self, key: DocKey) -> bool {
        match self {
            ParamIndex::Dates(column) => column.has(key),
            ParamIndex::Numbers(column) => column.has(key),
            ParamIndex::Quantities(column) => column.has(key),
            ParamIndex::References { forward, .. } => forward.has(key),
            ParamIndex::Tokens(_) | ParamIndex::Strings { .. } | ParamIndex::Unindexed => false,
        }
    }

    /// Take `key` out of a column-like index (dates, numbers, quantities, references); term
    /// postings are taken out through the key's term list instead.
    fn clear_column(&mut self, key: DocKey) {
        match self {
            ParamIndex::Dates(column) => column.clear(key),
            ParamIndex::Numbers(column) => column.clear(key),
            ParamIndex::Quantities(column) => column.clear(key),
            ParamIndex::References { forward, reverse } => {
                for target in forward.get(key) {
                    reverse.unlink(*target, key);
                }
                reverse.several.remove(key);
                forward.clear(key);
            }
            ParamIndex::Tokens(_) | ParamIndex::Strings { .. } | ParamIndex::Unindexed => {}
        }
    }
}

/// Values of one parameter by key, laid out for scans: one slot per key in one contiguous vector
/// (`_lastUpdated` over 430k offers is one linear pass), a single value inline, several as a run
/// of one dense array of the column's further values.
///
/// Why the dense array: reading a multi-valued key costs the slot and its run, two cache misses,
/// where a boxed slice behind a thin pointer cost three (a tariff filter over 10,000
/// organizations with six tariffs each, a third of the search), and the runs of neighbouring keys
/// are neighbours. A key rewritten with as many values or fewer keeps its run; one with more gets
/// a new run at the end, and the array is compacted when most of it is stale.
#[derive(Clone)]
pub struct Column<T> {
    slots: Vec<Slot<T>>,
    further: Vec<T>,
    /// Values of `further` that no slot points at any more.
    stale: usize,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Column { slots: Vec::new(), further: Vec::new(), stale: 0 }
    }
}

impl<T> Column<T> {
    fn shrink_to_fit(&mut self) {
        self.slots.shrink_to_fit();
        self.further.shrink_to_fit();
    }
}

/// Stale values tolerated before a compaction is considered (small columns never compact).
const COMPACT_MIN_STALE: usize = 4_096;

impl<T: Clone> Column<T> {
    /// Number of slots (one more than the highest key ever set).
    fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn set(&mut self, key: DocKey, values: &[T]) {
        let index = key as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, Slot::default);
        }
        let Some(slot) = self.slots.get_mut(index) else { return };
        let (old_start, old_len) = match *slot {
            Slot::Many { start, len } => (start as usize, len as usize),
            Slot::None | Slot::One(_) => (0, 0),
        };
        // How many values of the key's old run the new slot still uses (the rest go stale).
        let (new_slot, kept) = match values {
            [] => (Slot::None, 0),
            [one] => (Slot::One(one.clone()), 0),
            many if many.len() <= old_len => {
                if let Some(run) = self.further.get_mut(old_start..old_start + many.len()) {
                    run.clone_from_slice(many);
                }
                (Slot::Many { start: old_start as u32, len: many.len() as u32 }, many.len())
            }
            many => {
                let start = self.further.len();
                if start + many.len() <= u32::MAX as usize {
                    self.further.extend_from_slice(many);
                    (Slot::Many { start: start as u32, len: many.len() as u32 }, 0)
                } else {
                    // Past 4 billion values (far beyond the memory of a national corpus): keep
                    // the first value rather than lose the key.
                    (Slot::One(many[0].clone()), 0)
                }
            }
        };
        *slot = new_slot;
        self.stale += old_len - kept;
        if self.stale > COMPACT_MIN_STALE && self.stale * 2 > self.further.len() {
            self.compact();
        }
    }

    /// Rewrite the further values without the stale ones, in key order.
    fn compact(&mut self) {
        let mut further = Vec::with_capacity(self.further.len() - self.stale.min(self.further.len()));
        for slot in &mut self.slots {
            if let Slot::Many { start, len } = slot {
                let run = self.further.get(*start as usize..(*start + *len) as usize).unwrap_or(&[]);
                *start = further.len() as u32;
                further.extend_from_slice(run);
            }
        }
        self.further = further;
        self.stale = 0;
    }

    fn has(&self, key: DocKey) -> bool {
        !self.get(key).is_empty()
    }

    fn clear(&mut self, key: DocKey) {
        if self.slots.get(key as usize).is_some_and(|slot| !matches!(slot, Slot::None)) {
            self.set(key, &[]);
        }
    }

    /// True when the key holds exactly `values`, in order.
    fn holds(&self, key: DocKey, values: &[T]) -> bool
    where
        T: PartialEq,
    {
        self.get(key) == values
    }

    /// The values of a key, in the order they were set.
    pub fn get(&self, key: DocKey) -> &[T] {
        self.slots.get(key as usize).map_or(&[], |slot| self.values_of(slot))
    }

    fn values_of<'a>(&'a self, slot: &'a Slot<T>) -> &'a [T] {
        match slot {
            Slot::None => &[],
            Slot::One(value) => std::slice::from_ref(value),
            Slot::Many { start, len } => {
                self.further.get(*start as usize..(*start + *len) as usize).unwrap_or(&[])
            }
        }
    }

    /// The values of every key, in key order (a pass over the column).
    pub fn each_key(&self) -> impl Iterator<Item = &[T]> + '_ {
        self.slots.iter().map(|slot| self.values_of(slot))
    }

    /// True when one of the key's values satisfies `test`.
    pub fn any(&self, key: DocKey, test: impl FnMut(&T) -> bool) -> bool {
        self.get(key).iter().any(test)
    }

    /// True when [`Column::matching`] answers `candidates` by a pass over every slot (they are
    /// too many to look each up).
    pub fn passes_over(&self, candidates: &RoaringBitmap) -> bool {
        candidates.len().saturating_mul(8) >= self.slots.len() as u64
    }

    /// The keys among `candidates` with a value satisfying `test`. A dense candidate set (a
    /// `_lastUpdated` over every location) is answered by one pass over the slots into a
    /// bitset, not by a lookup per candidate key.
    pub fn matching(&self, candidates: &RoaringBitmap, mut test: impl FnMut(&T) -> bool) -> RoaringBitmap {
        if !self.passes_over(candidates) {
            const BATCH: usize = 16;
            let mut accepted = Vec::new();
            let mut batch: Vec<DocKey> = Vec::with_capacity(BATCH);
            let mut keys = candidates.iter().peekable();
            while keys.peek().is_some() {
                batch.clear();
                batch.extend(keys.by_ref().take(BATCH));
                // Read the batch's slots first: independent loads that the core overlaps, where
                // testing each key in turn waited for one cache miss after another.
                let filled = batch
                    .iter()
                    .filter(|key| {
                        self.slots.get(**key as usize).is_some_and(|slot| !matches!(slot, Slot::None))
                    })
                    .count();
                std::hint::black_box(filled);
                accepted.extend(batch.iter().copied().filter(|key| self.any(*key, &mut test)));
            }
            return RoaringBitmap::from_sorted_iter(accepted).unwrap_or_default();
        }
        // A word of 64 keys at a time, a key with one value tested in place: this pass is most
        // of a `_lastUpdated` search over every location.
        let mut bits = vec![0u8; self.slots.len().div_ceil(64) * 8];
        for (out, slots) in bits.chunks_exact_mut(8).zip(self.slots.chunks(64)) {
            let mut word = 0u64;
            for (offset, slot) in slots.iter().enumerate() {
                let hit = match slot {
                    Slot::None => false,
                    Slot::One(value) => test(value),
                    Slot::Many { .. } => self.values_of(slot).iter().any(&mut test),
                };
                word |= u64::from(hit) << offset;
            }
            out.copy_from_slice(&word.to_le_bytes());
        }
        RoaringBitmap::from_lsb0_bytes(0, &bits) & candidates
    }

    /// All values of a key.
    pub fn values(&self, key: DocKey) -> Vec<T> {
        self.get(key).to_vec()
    }

    /// The values of a key, without copying them (sorting reads one per match).
    pub fn each(&self, key: DocKey) -> impl Iterator<Item = &T> + '_ {
        self.get(key).iter()
    }
}

/// Values by key in shared chunks behind one shared list: a clone (the second published copy of
/// the state, a paging cursor) is one reference count, and a write copies only the list of chunk
/// pointers and the chunk it changes while another holder shares them.
pub struct Chunked<T> {
    chunks: Arc<Vec<Arc<Vec<T>>>>,
}

impl<T> Clone for Chunked<T> {
    fn clone(&self) -> Self {
        Chunked { chunks: self.chunks.clone() }
    }
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Arc::default() }
    }
}

impl<T: Clone + Default> Chunked<T> {
    const CHUNK: usize = 1_024;

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / Self::CHUNK).and_then(|c| c.get(index % Self::CHUNK))
    }

    /// The slot of `index`, grown with defaults if new, unshared from other holders.
    fn slot_mut(&mut self, index: usize) -> &mut T {
        let chunks = Arc::make_mut(&mut self.chunks);
        while chunks.len() <= index / Self::CHUNK {
            chunks.push(Arc::new(Vec::with_capacity(Self::CHUNK)));
        }
        let chunk = Arc::make_mut(&mut chunks[index / Self::CHUNK]);
        if chunk.len() <= index % Self::CHUNK {
            chunk.resize(index % Self::CHUNK + 1, T::default());
        }
        &mut chunk[index % Self::CHUNK]
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// Heap bytes of the chunks and their list (not of what the values point to).
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.chunks) + self.chunks.iter().map(|chunk| vec_bytes(chunk) + 16).sum::<usize>()
    }

    /// Bytes this copy holds that `current` does not share (chunks rewritten since the copy).
    fn private_bytes(&self, current: &Chunked<T>) -> usize {
        if Arc::ptr_eq(&self.chunks, &current.chunks) {
            return 0;
        }
        let shared = |index: usize, chunk: &Arc<Vec<T>>| {
            current.chunks.get(index).is_some_and(|other| Arc::ptr_eq(chunk, other))
        };
        let list = self.chunks.capacity() * std::mem::size_of::<Arc<Vec<T>>>();
        list + self
            .chunks
            .iter()
            .enumerate()
            .filter(|(index, chunk)| !shared(*index, chunk))
            .map(|(_, chunk)| chunk.capacity() * std::mem::size_of::<T>())
            .sum::<usize>()
    }
}

/// The version of every key: a paging cursor keeps the versions of its snapshot with one
/// reference count (not a copy per match, nor a count per chunk: a few hundred atomic increments
/// per search cost more than the search).
#[derive(Clone, Default)]
pub struct Versions(Chunked<u64>);

impl Versions {
    pub fn get(&self, key: DocKey) -> u64 {
        self.0.get(key as usize).copied().unwrap_or(0)
    }

    /// Bytes this copy holds that `current` does not share (chunks rewritten since the copy).
    pub fn private_bytes(&self, current: &Versions) -> usize {
        self.0.private_bytes(&current.0)
    }

    fn set(&mut self, key: DocKey, version: u64) {
        *self.0.slot_mut(key as usize) = version;
    }
}

/// Maps a reference target (type, id) to its (type index, key).
pub type ResolveTarget<'a> = dyn FnMut(&str, &str) -> Option<(u16, DocKey)> + 'a;

/// What a key held, so an update can take its old postings out: (param, term) for tokens and
/// (param, normalized term, exact term) for strings, in order (a string param's first value is
/// its sort key).
///
/// Encoded as varints, term ids as differences from the previous one: a resource's terms are
/// mostly interned together, so a difference takes a byte or two where a (u16, u32) pair took
/// eight (340 bytes per offer, 420 MiB at national scale, as plain arrays).
#[derive(Default, Clone)]
struct KeyTerms(Box<[u8]>);

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn term_delta(from: u32, to: u32) -> u64 {
    let delta = i64::from(to) - i64::from(from);
    ((delta << 1) ^ (delta >> 63)) as u64
}

fn apply_delta(from: u32, zigzag: u64) -> u32 {
    let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
    (i64::from(from) + delta) as u32
}

/// (param, term) of a token value.
type TokenTerm = (u16, u32);
/// (param, normalized term, exact term) of a string value.
type StringTerms = (u16, u32, u32);

struct Varints<'a> {
    bytes: &'a [u8],
}

impl Varints<'_> {
    fn next(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (index, byte) in self.bytes.iter().enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Some(value);
            }
        }
        self.bytes = &[];
        None
    }
}

impl KeyTerms {
    fn encode(tokens: &[TokenTerm], strings: &[StringTerms]) -> KeyTerms {
        if tokens.is_empty() && strings.is_empty() {
            return KeyTerms::default();
        }
        let mut out = Vec::with_capacity(2 + 3 * tokens.len() + 5 * strings.len());
        push_varint(&mut out, tokens.len() as u64);
        let mut previous = 0;
        for (param, term) in tokens {
            push_varint(&mut out, u64::from(*param));
            push_varint(&mut out, term_delta(previous, *term));
            previous = *term;
        }
        let (mut previous_normalized, mut previous_exact) = (0, 0);
        for (param, normalized, exact) in strings {
            push_varint(&mut out, u64::from(*param));
            push_varint(&mut out, term_delta(previous_normalized, *normalized));
            push_varint(&mut out, term_delta(previous_exact, *exact));
            (previous_normalized, previous_exact) = (*normalized, *exact);
        }
        KeyTerms(out.into())
    }

    fn tokens(&self) -> Vec<TokenTerm> {
        self.decode().0
    }

    /// The normalized term of the first value of string param `param` (a sort key: read once
    /// per sorted match, so without decoding into vectors).
    fn first_string(&self, param: usize) -> Option<u32> {
        let mut input = Varints { bytes: &self.0 };
        let count = input.next().unwrap_or(0);
        for _ in 0..count * 2 {
            input.next()?;
        }
        let mut normalized = 0;
        while let (Some(p), Some(n), Some(_)) = (input.next(), input.next(), input.next()) {
            normalized = apply_delta(normalized, n);
            if p as usize == param {
                return Some(normalized);
            }
        }
        None
    }

    fn decode(&self) -> (Vec<TokenTerm>, Vec<StringTerms>) {
        let mut input = Varints { bytes: &self.0 };
        let count = input.next().unwrap_or(0) as usize;
        let mut tokens = Vec::with_capacity(count);
        let mut previous = 0;
        for _ in 0..count {
            let (Some(param), Some(delta)) = (input.next(), input.next()) else { break };
            previous = apply_delta(previous, delta);
            tokens.push((param as u16, previous));
        }
        let mut strings = Vec::new();
        let (mut normalized, mut exact) = (0, 0);
        while let (Some(param), Some(n), Some(e)) = (input.next(), input.next(), input.next()) {
            normalized = apply_delta(normalized, n);
            exact = apply_delta(exact, e);
            strings.push((param as u16, normalized, exact));
        }
        (tokens, strings)
    }
}

/// The ids of a collection's keys: changed only when a key is allocated, so shared by the two
/// published copies while writes update existing resources.
#[derive(Default, Clone)]
struct KeyTable {
    /// The id of each key, the key being its number.
    ids: Interned,
    /// Keys allocated for references by identifier (`identifier:<value>`).
    logical: RoaringBitmap,
}

/// Every part is shared copy-on-write between the two published copies of the state
/// ([`super::snapshot`]): a capacity write unshares the few parameter indexes it changes (a
/// date and a number column, a token posting or two), not the Location's identifier and name
/// dictionaries, which would double the memory of its side.
#[derive(Clone)]
pub struct Collection {
    pub type_index: usize,
    pub resource_type: String,
    keys: Arc<KeyTable>,
    /// Keys with a current (not deleted) resource.
    pub live: RoaringBitmap,
    versions: Versions,
    params: Vec<Arc<ParamIndex>>,
    present: Vec<RoaringBitmap>,
    key_terms: Chunked<KeyTerms>,
    /// The `identifier` token parameter, for references by identifier.
    identifier_param: Option<usize>,
    /// What searches derived from this state of the collection; emptied by any change to it.
    derived: Derived,
}

/// Passes over a date column a state of the collection serves before it orders that column:
/// ordering 430,000 keys costs about twenty passes, so a collection that changes between a few
/// searches (a storm of capacity writes) keeps the passes and never pays for an order it would
/// drop before using it.
const DATE_ORDER_AFTER_PASSES: u32 = 16;

enum DateOrderState {
    Counting(u32),
    Building,
    Ready(Arc<DateOrder>),
}

/// What a table of sort ranks ranks by: a parameter and a direction (a key without a value
/// ranks by its nearest `partOf` ancestor's, as a chained sort reads it).
pub type SortRankSpec = (usize, bool);

/// A table of sort ranks by key, filled by the searches that read it: [`RANK_UNSET`] until a
/// search computes a key's rank, which any other search of the same collection state reuses.
pub type SortRankTable = Arc<[AtomicU64]>;

/// The value of a [`SortRankTable`] entry not computed yet (no rank is 0).
pub const RANK_UNSET: u64 = 0;

/// What searches derive from one state of a collection and share until it changes: a clone
/// (the collection is about to change, copy on write) starts empty, and so does a collection
/// changed in place.
///
/// Sort ranks, why: a search sorted by an inherited column
/// (`_sort=-organization.price-validity-start-date`) ranks thousands of organizations, each by a
/// walk up its `partOf` chain through scattered slots (a third of the search). The ranks depend
/// only on the collection's state, which Location capacity writes never touch: the first search
/// after a change computes the ranks it needs, the following ones read them. Date orders: see
/// [`Collection::date_order`].
#[derive(Default)]
struct Derived {
    sort_ranks: parking_lot::Mutex<Vec<(SortRankSpec, SortRankTable)>>,
    date_orders: parking_lot::Mutex<Vec<(usize, DateOrderState)>>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
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
                    ParamIndex::Strings { normalized: Terms::ordered(), exact: Terms::default() }
                }
                ParamType::Date => ParamIndex::Dates(Column::default()),
                ParamType::Number => ParamIndex::Numbers(Column::default()),
                ParamType::Quantity => ParamIndex::Quantities(Column::default()),
                ParamType::Reference => {
                    ParamIndex::References { forward: Refs::default(), reverse: ReverseRefs::default() }
                }
                ParamType::Special => ParamIndex::Unindexed,
            })
            .map(Arc::new)
            .collect();
        Collection {
            type_index: schema.type_index,
            resource_type: schema.resource_type.clone(),
            keys: Arc::default(),
            live: RoaringBitmap::new(),
            versions: Versions::default(),
            params,
            present: vec![RoaringBitmap::new(); schema.params.len()],
            key_terms: Chunked::default(),
            identifier_param: schema.param("identifier").map(|p| p.id),
            derived: Derived::default(),
        }
    }

    /// The date column `param` in the order of its values, once this state of the collection
    /// has passed over it [`DATE_ORDER_AFTER_PASSES`] times (`None` until then, and while
    /// another search builds it): the caller passes over the column instead.
    pub fn date_order(&self, param: usize) -> Option<Arc<DateOrder>> {
        let ParamIndex::Dates(column) = self.param(param) else { return None };
        {
            let mut orders = self.derived.date_orders.lock();
            let at = match orders.iter().position(|(p, _)| *p == param) {
                Some(at) => at,
                None => {
                    orders.push((param, DateOrderState::Counting(0)));
                    orders.len() - 1
                }
            };
            let state = &mut orders[at].1;
            match state {
                DateOrderState::Ready(order) => return Some(order.clone()),
                DateOrderState::Building => return None,
                DateOrderState::Counting(passes) if *passes + 1 < DATE_ORDER_AFTER_PASSES => {
                    *passes += 1;
                    return None;
                }
                DateOrderState::Counting(_) => *state = DateOrderState::Building,
            }
        }
        // Built outside the lock: other searches pass over the column meanwhile.
        let order = Arc::new(DateOrder::new(column));
        let mut orders = self.derived.date_orders.lock();
        if let Some((_, state)) = orders.iter_mut().find(|(p, _)| *p == param) {
            *state = DateOrderState::Ready(order.clone());
        }
        Some(order)
    }

    /// The shared table of sort ranks for `spec`, created empty on first use (see
    /// [`Derived`]).
    pub fn sort_rank_table(&self, spec: SortRankSpec) -> SortRankTable {
        let mut tables = self.derived.sort_ranks.lock();
        if let Some((_, table)) = tables.iter().find(|(s, _)| *s == spec) {
            return table.clone();
        }
        let table: SortRankTable = (0..self.key_bound()).map(|_| AtomicU64::new(RANK_UNSET)).collect();
        tables.push((spec, table.clone()));
        table
    }

    /// Drop what was derived from the collection's content, before changing it.
    pub fn forget_derived(&mut self) {
        self.derived = Derived::default();
    }

    pub fn key(&self, id: &str) -> Option<DocKey> {
        self.keys.ids.get(id)
    }

    /// The key of `id`, allocated on first sight (a reference may name a resource not loaded yet).
    pub fn key_or_insert(&mut self, id: &str) -> DocKey {
        if let Some(key) = self.keys.ids.get(id) {
            return key;
        }
        let keys = Arc::make_mut(&mut self.keys);
        let key = keys.ids.push(id);
        if id.starts_with(LOGICAL_PREFIX) {
            keys.logical.insert(key);
        }
        self.versions.set(key, 0);
        *self.key_terms.slot_mut(key as usize) = KeyTerms::default();
        key
    }

    /// One more than the largest key allocated: the size of a table indexed by key.
    pub fn key_bound(&self) -> usize {
        self.keys.ids.len()
    }

    pub fn id(&self, key: DocKey) -> Option<&str> {
        self.keys.ids.try_text(key)
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

    /// Give back the spare capacity of structures built in bulk (a rebuild from the store):
    /// vectors grown by doubling hold up to half their size unused, 10 % of the national
    /// state. Indexes shared with another copy of the state are left as they are.
    pub fn shrink_to_fit(&mut self) {
        for param in &mut self.params {
            if let Some(index) = Arc::get_mut(param) {
                index.shrink_to_fit();
            }
        }
        if let Some(keys) = Arc::get_mut(&mut self.keys) {
            keys.ids.shrink_to_fit();
        }
    }

    pub fn param(&self, param: usize) -> &ParamIndex {
        self.params.get(param).map_or(&ParamIndex::Unindexed, |index| index)
    }

    /// Keys that have at least one value for `param`.
    pub fn present(&self, param: usize) -> RoaringBitmap {
        self.present.get(param).cloned().unwrap_or_default()
    }

    /// The first normalized string value of a string param (sort key).
    pub fn sort_string(&self, key: DocKey, param: usize) -> Option<&str> {
        let ParamIndex::Strings { normalized, .. } = self.param(param) else { return None };
        normalized.term_text(self.key_terms.get(key as usize)?.first_string(param)?)
    }

    /// The smallest token code of a token param (sort key); slow path, used only for `_sort`.
    pub fn sort_token(&self, key: DocKey, param: usize) -> Option<String> {
        let ParamIndex::Tokens(terms) = self.param(param) else { return None };
        self.key_terms
            .get(key as usize)?
            .tokens()
            .into_iter()
            .filter(|(p, _)| usize::from(*p) == param)
            .filter_map(|(_, id)| terms.term_text(id))
            .filter_map(|t| t.strip_prefix(super::extract::TOKEN_ANY_SYSTEM))
            .min()
            .map(str::to_owned)
    }

    /// Remove everything indexed for `key`, keeping the key itself (ids are never reused).
    pub fn remove(&mut self, key: DocKey) {
        let (old_tokens, old_strings) = std::mem::take(self.key_terms.slot_mut(key as usize)).decode();
        for (param, id) in old_tokens.iter() {
            if let Some(ParamIndex::Tokens(terms)) = self.param_mut(usize::from(*param)) {
                terms.remove(*id, key);
            }
        }
        for (param, n, e) in old_strings.iter() {
            if let Some(ParamIndex::Strings { normalized, exact }) = self.param_mut(usize::from(*param)) {
                normalized.remove(*n, key);
                exact.remove(*e, key);
            }
        }
        for param in self.params.iter_mut().filter(|p| p.has_column_value(key)) {
            Arc::make_mut(param).clear_column(key);
        }
        for present in self.present.iter_mut() {
            present.remove(key);
        }
        self.live.remove(key);
    }

    /// A parameter index to change (copied first if the other published copy shares it).
    fn param_mut(&mut self, param: usize) -> Option<&mut ParamIndex> {
        self.params.get_mut(param).map(Arc::make_mut)
    }

    /// Index `doc` under `key`, replacing what the key held. `resolve` maps a reference target
    /// (type, id) to (type index, key) in its collection.
    ///
    /// Only what differs from the key's previous content is touched, and only a parameter index
    /// that changes is unshared: a capacity update changes one or two postings and columns of a
    /// Location that holds dozens, and this runs on both published copies for every write.
    pub fn upsert(&mut self, key: DocKey, doc: &IndexDoc, resolve: &mut ResolveTarget<'_>) {
        let index = key as usize;
        let (old_tokens, old_strings) = std::mem::take(self.key_terms.slot_mut(index)).decode();
        let mut token_terms: Vec<TokenTerm> = Vec::new();
        let mut string_terms: Vec<StringTerms> = Vec::new();
        let mut has_values = vec![false; self.params.len()];
        let mut given = vec![false; self.params.len()];
        for (param, values) in &doc.values {
            let param = *param;
            let Some(shared) = self.params.get_mut(param) else { continue };
            given[param] = true;
            let has_value = match (&**shared, values) {
                (ParamIndex::Tokens(_), Values::Tokens(tokens)) => {
                    for token in tokens {
                        if let Some(id) = intern(shared, token, Dictionary::Tokens) {
                            token_terms.push((param as u16, id));
                        }
                    }
                    !tokens.is_empty()
                }
                (ParamIndex::Strings { .. }, Values::Strings(strings)) => {
                    // The first value stays first: it is the sort key.
                    for (norm, raw) in strings {
                        let n = intern(shared, norm, Dictionary::Normalized);
                        let e = intern(shared, raw, Dictionary::Exact);
                        if let (Some(n), Some(e)) = (n, e) {
                            string_terms.push((param as u16, n, e));
                        }
                    }
                    !strings.is_empty()
                }
                (ParamIndex::Dates(column), Values::Dates(dates)) => {
                    if !column.holds(key, dates) {
                        if let ParamIndex::Dates(column) = Arc::make_mut(shared) {
                            column.set(key, dates);
                        }
                    }
                    !dates.is_empty()
                }
                (ParamIndex::Numbers(column), Values::Numbers(numbers)) => {
                    if !column.holds(key, numbers) {
                        if let ParamIndex::Numbers(column) = Arc::make_mut(shared) {
                            column.set(key, numbers);
                        }
                    }
                    !numbers.is_empty()
                }
                (ParamIndex::Quantities(column), Values::Quantities(quantities)) => {
                    if !column.holds(key, quantities) {
                        if let ParamIndex::Quantities(column) = Arc::make_mut(shared) {
                            column.set(key, quantities);
                        }
                    }
                    !quantities.is_empty()
                }
                (ParamIndex::References { forward, .. }, Values::References(references)) => {
                    let mut targets = Vec::with_capacity(references.len());
                    for reference in references {
                        if let Some(target) = resolve(&reference.target_type, &reference.id) {
                            if !targets.contains(&target) {
                                targets.push(target);
                            }
                        }
                    }
                    let has_value = !targets.is_empty();
                    if !forward.holds(key, &targets) {
                        if let ParamIndex::References { forward, reverse } = Arc::make_mut(shared) {
                            relink(forward, reverse, key, targets);
                        }
                    }
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
        for (param_index, _) in
            self.params.iter_mut().zip(&given).filter(|(p, given)| !**given && p.has_column_value(key))
        {
            Arc::make_mut(param_index).clear_column(key);
        }
        for (param, id) in old_tokens.iter().filter(|t| !token_terms.contains(t)) {
            if let Some(ParamIndex::Tokens(terms)) = self.param_mut(usize::from(*param)) {
                terms.remove(*id, key);
            }
        }
        for (param, id) in token_terms.iter().filter(|t| !old_tokens.contains(t)) {
            if let Some(ParamIndex::Tokens(terms)) = self.param_mut(usize::from(*param)) {
                terms.insert(*id, key);
            }
        }
        self.update_string_postings(key, &old_strings, &string_terms, false);
        self.update_string_postings(key, &string_terms, &old_strings, true);
        for (present, has_value) in self.present.iter_mut().zip(&has_values) {
            if *has_value != present.contains(key) {
                if *has_value {
                    present.insert(key);
                } else {
                    present.remove(key);
                }
            }
        }
        *self.key_terms.slot_mut(index) = KeyTerms::encode(&token_terms, &string_terms);
        self.versions.set(key, doc.version);
        self.live.insert(key);
    }

    /// Take `key` out of (or put it into) the postings of the string terms of `changed` that
    /// `other` does not hold.
    fn update_string_postings(
        &mut self,
        key: DocKey,
        changed: &[StringTerms],
        other: &[StringTerms],
        insert: bool,
    ) {
        for (param, n, e) in changed {
            let normalized_differs = !other.iter().any(|(p, o, _)| p == param && o == n);
            let exact_differs = !other.iter().any(|(p, _, o)| p == param && o == e);
            if !normalized_differs && !exact_differs {
                continue;
            }
            let Some(ParamIndex::Strings { normalized, exact }) = self.param_mut(usize::from(*param)) else {
                continue;
            };
            for (differs, terms, id) in [(normalized_differs, normalized, n), (exact_differs, exact, e)] {
                match (differs, insert) {
                    (false, _) => {}
                    (true, true) => terms.insert(*id, key),
                    (true, false) => terms.remove(*id, key),
                }
            }
        }
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
            .tokens()
            .into_iter()
            .filter(|(p, _)| usize::from(*p) == param)
            .filter_map(|(_, id)| terms.term_text(id))
            .filter_map(|t| t.strip_prefix(super::extract::TOKEN_ANY_SYSTEM))
            .filter_map(|value| self.key(&format!("{LOGICAL_PREFIX}{value}")))
            .collect()
    }

    /// Keys of logical references (`identifier:<value>`) known to this collection.
    pub fn logical_keys(&self) -> impl Iterator<Item = DocKey> + '_ {
        self.keys.logical.iter()
    }

    /// Targets of one key through a reference param.
    pub fn references_of(&self, param: usize, key: DocKey) -> &[(u16, DocKey)] {
        match self.param(param) {
            ParamIndex::References { forward, .. } => forward.get(key),
            _ => &[],
        }
    }

    /// Splits `candidates` on their references `param` to `target_type`: the keys known to
    /// reference a resource of `targets` (first), and the keys whose answer depends on more than
    /// what `targets` says, for the caller to decide (second): a reference by identifier, and,
    /// when `targets` answers a conjunction of criteria each free to hold on another target
    /// (`one_criterion` false), a key with several references.
    ///
    /// Whichever costs least of: the reverse postings of the targets, a lookup of each candidate,
    /// one pass over the forward column against a bitset of the targets.
    pub fn referencing_split(
        &self,
        param: usize,
        target_type: u16,
        targets: &RoaringBitmap,
        candidates: &RoaringBitmap,
        target_logical: &RoaringBitmap,
        one_criterion: bool,
    ) -> (RoaringBitmap, Vec<DocKey>) {
        let ParamIndex::References { forward, reverse } = self.param(param) else {
            return (RoaringBitmap::new(), Vec::new());
        };
        let few_candidates = candidates.len().saturating_mul(8) < forward.slot_count() as u64;
        // In passes over one forward slot. A chain looks few candidates up after following them
        // forward (their slots are in cache): a read out of order, but no miss.
        let forward_cost =
            if few_candidates { candidates.len() as f64 * 3.0 } else { forward.slot_count() as f64 };
        let reverse_cost =
            targets.len() as f64 * reverse.cost_per_target(target_type, targets.len(), self.key_bound());
        if reverse_cost < forward_cost {
            // Few targets for the candidates: their sources are read from the reverse postings.
            let by_identifier = reverse.sources(target_type, target_logical, self.key_bound());
            let mut found = reverse.sources(target_type, targets, self.key_bound()) & candidates;
            let open = if one_criterion {
                by_identifier
            } else {
                // A source with several targets may need each chain to hold on a different one.
                found -= &reverse.several;
                by_identifier | &reverse.several
            };
            let undecided = ((open - &found) & candidates).iter().collect();
            return (found, undecided);
        }
        let wanted = key_words(targets);
        // Scanned for most keys when few targets match: a word lookup, not a bitmap search.
        let logical = key_words(target_logical);
        let is_wanted = |(t, k): &(u16, DocKey)| *t == target_type && has_key(&wanted, *k);
        let is_logical = |(t, k): &(u16, DocKey)| *t == target_type && has_key(&logical, *k);
        let mut undecided = Vec::new();
        // Inlined into both passes below: this runs for each of 430,000 offers.
        let mut decide = |key: DocKey, refs: &[(u16, DocKey)]| -> bool {
            let open = match refs {
                [] => return false,
                [target] if is_wanted(target) => return true,
                [target] => is_logical(target),
                _ if !one_criterion => true,
                targets if targets.iter().any(is_wanted) => return true,
                targets => targets.iter().any(is_logical),
            };
            if open {
                undecided.push(key);
            }
            false
        };
        let found = if few_candidates {
            let mut hits = Vec::new();
            for key in candidates {
                if decide(key, forward.get(key)) {
                    hits.push(key);
                }
            }
            RoaringBitmap::from_sorted_iter(hits).unwrap_or_default()
        } else {
            forward_pass(forward, decide) & candidates
        };
        undecided.retain(|key| candidates.contains(*key));
        (found, undecided)
    }

    /// Keys allocated for references by identifier (`identifier:<value>`).
    pub fn logical_key_set(&self) -> &RoaringBitmap {
        &self.keys.logical
    }

    /// Sources (keys of this collection) whose reference param points at the target.
    pub fn referencing(&self, param: usize, target: (u16, DocKey)) -> Option<PostingRef<'_>> {
        match self.param(param) {
            ParamIndex::References { reverse, .. } => Some(reverse.get(target)),
            _ => None,
        }
    }
}

/// A bitset of keys as words, for lookups in a pass over a column.
fn key_words(keys: &RoaringBitmap) -> Vec<u64> {
    let mut words = vec![0u64; keys.max().map_or(0, |max| max as usize / 64 + 1)];
    for key in keys {
        words[key as usize / 64] |= 1 << (key % 64);
    }
    words
}

fn has_key(words: &[u64], key: DocKey) -> bool {
    (words.get(key as usize / 64).copied().unwrap_or(0) >> (key % 64)) & 1 == 1
}

/// The keys whose references `hit` accepts, by one pass over a forward column, 64 keys to a
/// word of the bitset (a national chain passes 430,000 offers).
fn forward_pass(forward: &Refs, mut hit: impl FnMut(DocKey, &[(u16, DocKey)]) -> bool) -> RoaringBitmap {
    let mut bits = vec![0u8; forward.slot_count().div_ceil(64) * 8];
    let mut keys = forward.each_key().enumerate();
    for out in bits.chunks_exact_mut(8) {
        let mut word = 0u64;
        for (key, refs) in keys.by_ref().take(64) {
            word |= u64::from(hit(key as DocKey, refs)) << (key % 64);
        }
        out.copy_from_slice(&word.to_le_bytes());
    }
    RoaringBitmap::from_lsb0_bytes(0, &bits)
}

/// The id of `term` in the `which` dictionary of a parameter index, interned if new
/// (the only case that unshares the index).
fn intern(shared: &mut Arc<ParamIndex>, term: &str, which: Dictionary) -> Option<u32> {
    if let Some(id) = shared.dictionary(which)?.lookup(term) {
        return Some(id);
    }
    Arc::make_mut(shared).dictionary_mut(which).map(|terms| terms.intern(term))
}

/// Point `key` at `targets` in a reference index, keeping the reverse postings in step.
fn relink(forward: &mut Refs, reverse: &mut ReverseRefs, key: DocKey, targets: Vec<(u16, DocKey)>) {
    let previous = forward.get(key);
    for target in previous.iter().filter(|t| !targets.contains(t)) {
        reverse.unlink(*target, key);
    }
    for target in targets.iter().filter(|t| !previous.contains(t)) {
        reverse.link(*target, key);
    }
    if targets.len() > 1 {
        reverse.several.insert(key);
    } else {
        reverse.several.remove(key);
    }
    forward.set(key, &targets);
}

/// Approximate heap bytes of the search structures (capacity, not length: what the allocator
/// holds), for the memory gauges of `/metrics`. Shared `Arc`s are counted where they are held,
/// so two published copies sharing a collection each report it.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

pub(crate) fn map_bytes<K, V>(len: usize) -> usize {
    // hashbrown: one control byte per bucket, buckets a power of two at most 8/7 full.
    let buckets = (len * 8 / 7).next_power_of_two().max(if len == 0 { 0 } else { 4 });
    buckets * (std::mem::size_of::<(K, V)>() + 1)
}

impl HeapSize for RoaringBitmap {
    fn heap_bytes(&self) -> usize {
        self.serialized_size()
    }
}

impl HeapSize for KeySet {
    fn heap_bytes(&self) -> usize {
        match self {
            KeySet::Few(keys) => vec_bytes(keys),
            KeySet::Many(bitmap) => bitmap.heap_bytes(),
        }
    }
}

impl HeapSize for PostingTable {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.slots)
            + vec_bytes(&self.sets)
            + vec_bytes(&self.free_sets)
            + self.sets.iter().map(HeapSize::heap_bytes).sum::<usize>()
    }
}

impl HeapSize for ReverseRefs {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.by_type)
            + self.by_type.iter().map(|(_, table)| table.heap_bytes()).sum::<usize>()
            + self.several.heap_bytes()
    }
}

impl HeapSize for Terms {
    fn heap_bytes(&self) -> usize {
        self.texts.heap_bytes()
            + vec_bytes(&self.sorted)
            + vec_bytes(&self.unsorted)
            + self.postings.heap_bytes()
    }
}

impl<T> HeapSize for Column<T> {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.slots) + vec_bytes(&self.further)
    }
}

impl HeapSize for ParamIndex {
    fn heap_bytes(&self) -> usize {
        match self {
            ParamIndex::Tokens(terms) => terms.heap_bytes(),
            ParamIndex::Strings { normalized, exact } => normalized.heap_bytes() + exact.heap_bytes(),
            ParamIndex::Dates(column) => column.heap_bytes(),
            ParamIndex::Numbers(column) => column.heap_bytes(),
            ParamIndex::Quantities(column) => column.heap_bytes(),
            ParamIndex::References { forward, reverse } => forward.heap_bytes() + reverse.heap_bytes(),
            ParamIndex::Unindexed => 0,
        }
    }
}

impl Collection {
    /// Heap bytes by part: (ids, versions, params, present and key terms, and what searches
    /// derived from this state: sort ranks and date orders).
    pub fn heap_parts(&self) -> [(&'static str, usize); 5] {
        let ids = self.keys.ids.heap_bytes();
        let versions = self.versions.0.heap_bytes();
        let params = self.params.iter().map(|p| p.heap_bytes()).sum::<usize>();
        let key_terms = self.key_terms.heap_bytes()
            + self.key_terms.iter().map(|k: &KeyTerms| k.0.len()).sum::<usize>()
            + self.present.iter().map(HeapSize::heap_bytes).sum::<usize>()
            + self.live.heap_bytes();
        let sort_ranks =
            self.derived.sort_ranks.lock().iter().map(|(_, table)| table.len() * 8).sum::<usize>();
        let date_orders = self
            .derived
            .date_orders
            .lock()
            .iter()
            .map(|(_, state)| match state {
                DateOrderState::Ready(order) => order.heap_bytes(),
                DateOrderState::Counting(_) | DateOrderState::Building => 0,
            })
            .sum::<usize>();
        [
            ("ids", ids),
            ("versions", versions),
            ("params", params),
            ("postings_by_key", key_terms),
            ("derived", sort_ranks + date_orders),
        ]
    }
}

#[cfg(test)]
impl Collection {
    /// True when both collections hold the same (shared, not copied) index of `param`.
    pub fn shares_param(&self, other: &Collection, param: usize) -> bool {
        match (self.params.get(param), other.params.get(param)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

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
                for term_id in 0..terms.postings.len() as u32 {
                    let term = terms.text(term_id);
                    let mut keys = RoaringBitmap::new();
                    terms.posting_of(term_id).union_into(&mut keys);
                    for key in keys.iter() {
                        lines.push(format!("{kind} {param} {term} {}", id_of(key)));
                    }
                }
            };
            match &**index {
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
                        let values = format!("{:?}", column.get(key));
                        lines.push(format!("quantity {param} {} {values}", id_of(key)));
                    }
                }
                ParamIndex::References { forward, reverse } => {
                    for key in self.live.iter() {
                        let targets: Vec<String> =
                            forward.get(key).iter().map(|(ty, k)| target_id(*ty, *k)).collect();
                        lines.push(format!("forward {param} {} {targets:?}", id_of(key)));
                    }
                    for (ty, table) in &reverse.by_type {
                        for target in 0..table.len() as DocKey {
                            for key in table.get(target).iter() {
                                lines.push(format!(
                                    "reverse {param} {} {}",
                                    target_id(*ty, target),
                                    id_of(key)
                                ));
                            }
                        }
                    }
                    for key in &reverse.several {
                        lines.push(format!("several {param} {}", id_of(key)));
                    }
                }
                ParamIndex::Unindexed => {}
            }
        }
        lines.sort();
        lines
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn test_a_key_with_one_target_costs_eight_bytes_and_a_tag() {
        // The forward column of references is passed over by chains: its size is their speed.
        assert_eq!(std::mem::size_of::<Slot<(u16, DocKey)>>(), 12);
        let mut refs = Refs::default();
        refs.set(3, &[(1, 7), (2, 9)]);
        refs.set(1, &[(1, 7)]);
        assert_eq!(refs.get(3), [(1, 7), (2, 9)]);
        assert_eq!(refs.get(1), [(1, 7)]);
        assert!(refs.get(0).is_empty() && refs.get(4).is_empty());
    }

    #[test]
    fn test_a_column_slot_is_no_larger_than_an_optional_value_and_keeps_value_order() {
        assert_eq!(std::mem::size_of::<Slot<f64>>(), std::mem::size_of::<Option<f64>>());
        // A quantity (value and shared unit strings) is held inline too: no allocation per key.
        assert_eq!(std::mem::size_of::<Slot<QuantityValue>>(), 24);
        assert_eq!(std::mem::size_of::<Slot<DateRange>>(), std::mem::size_of::<Option<DateRange>>());
        let mut column: Column<f64> = Column::default();
        column.set(5, &[3.0, -1.0, 8.5]);
        column.set(2, &[4.0]);
        // A long column: a few candidates are looked up one by one, many in one pass.
        column.set(200, &[9.0]);
        assert_eq!(column.values(5), [3.0, -1.0, 8.5]);
        assert!(column.holds(5, &[3.0, -1.0, 8.5]) && !column.holds(5, &[3.0]));
        assert!(column.has(2) && !column.has(3) && !column.has(99));
        let candidates: RoaringBitmap = (0..201).collect();
        let sparse: RoaringBitmap = [2, 5].into_iter().collect();
        for within in [&candidates, &sparse] {
            let negative: Vec<DocKey> = column.matching(within, |v| *v < 0.0).iter().collect();
            assert_eq!(negative, [5]);
            let small: Vec<DocKey> = column.matching(within, |v| *v < 5.0).iter().collect();
            assert_eq!(small, [2, 5]);
        }
        column.set(5, &[]);
        assert!(!column.has(5) && column.values(5).is_empty());
        column.set(2, &[1.0, 2.0]);
        column.clear(2);
        assert!(!column.has(2));
    }

    /// Candidates looked up in batches (the slots of a batch read first) give what a test of
    /// each key gives, across batch ends, missing keys and keys past the column.
    #[test]
    fn test_sparse_candidates_match_across_batches() {
        let mut column: Column<f64> = Column::default();
        for key in (0..1_000).step_by(3) {
            let values: Vec<f64> = (0..key % 4).map(|i| f64::from(key + i)).collect();
            column.set(key, &values);
        }
        let candidates: RoaringBitmap = (0..37).map(|i| i * 17).chain([1_500, 2_000]).collect();
        assert!(candidates.len() * 8 < column.slot_count() as u64, "the per-key path");
        let odd = |v: &f64| (*v as u64) % 2 == 1;
        let expected: Vec<DocKey> =
            candidates.iter().filter(|key| column.get(*key).iter().any(odd)).collect();
        assert!(expected.len() > 5);
        assert_eq!(column.matching(&candidates, odd).iter().collect::<Vec<_>>(), expected);
    }

    /// Rewrites keep every key's values whatever their count: a shorter run is rewritten in
    /// place, a longer one moves to the end, and stale values are compacted away.
    #[test]
    fn test_column_rewrites_keep_values_and_compact_stale_runs() {
        let mut column: Column<f64> = Column::default();
        let values = |round: u32, key: u32| -> Vec<f64> {
            let count = ((round + key * 7) % 5) as usize;
            (0..count).map(|i| f64::from(round * 100 + key) + i as f64 / 10.0).collect()
        };
        for round in 0..4_000 {
            for key in (0..12).filter(|key| (round + key) % 3 != 0) {
                column.set(key, &values(round, key));
            }
            if round % 997 == 0 {
                column.clear(5);
            }
        }
        for key in 0..12 {
            let last = (0..4_000).rev().find(|round| (round + key) % 3 != 0).unwrap_or(0);
            assert_eq!(column.values(key), values(last, key), "key {key}");
        }
        assert!(
            column.further.len() <= 2 * COMPACT_MIN_STALE + 12 * 4,
            "{} further values",
            column.further.len()
        );
    }

    #[test]
    fn test_key_terms_decode_to_what_was_encoded_in_order() {
        let tokens = [(3, 7), (3, 2_000_000), (0, 1), (u16::MAX, u32::MAX), (12, 0), (12, 5)];
        let strings = [(4, 900, 12), (4, 3, u32::MAX), (9, 0, 0), (2, 70_000, 69_999)];
        let encoded = KeyTerms::encode(&tokens, &strings);
        assert_eq!(encoded.decode(), (tokens.to_vec(), strings.to_vec()));
        assert_eq!(encoded.first_string(4), Some(900), "the first value of a param is its sort key");
        assert_eq!(encoded.first_string(2), Some(70_000));
        assert_eq!(encoded.first_string(5), None);
        let empty = KeyTerms::encode(&[], &[]);
        assert_eq!(empty.decode(), (Vec::new(), Vec::new()));
        assert_eq!(KeyTerms::encode(&[], &strings).decode().1, strings.to_vec());
    }

    /// A term's postings move between inline, run, bitmap and empty as keys come and go; emptied
    /// sets are reused, and keys too large to hold inline live in a set.
    #[test]
    fn test_term_postings_go_inline_and_back_and_reuse_bitmaps() {
        let mut terms = Terms::default();
        let (a, b) = (terms.intern("a"), terms.intern("b"));
        let keys = |terms: &Terms, term: &str| terms.get(term).map(|k| k.iter().collect::<Vec<_>>());
        terms.insert(a, 7);
        terms.insert(a, 7);
        assert!(matches!(terms.posting_of(a), PostingRef::One(7)));
        terms.insert(a, 9);
        assert_eq!(keys(&terms, "a"), Some(vec![7, 9]));
        assert_eq!(terms.postings.sets.len(), 1);
        terms.remove(a, 7);
        assert!(matches!(terms.posting_of(a), PostingRef::One(9)), "one key left: inline again");
        assert_eq!(terms.postings.free_sets, vec![0]);
        terms.insert(b, 1);
        terms.insert(b, 2);
        assert_eq!(terms.postings.sets.len(), 1, "the emptied bitmap is reused");
        assert_eq!(keys(&terms, "b"), Some(vec![1, 2]));
        let large = PostingSlot::SET + 5;
        terms.remove(a, 9);
        assert!(matches!(terms.posting_of(a), PostingRef::Empty));
        terms.insert(a, large);
        assert_eq!(keys(&terms, "a"), Some(vec![large]));
        terms.remove(a, large);
        assert_eq!(keys(&terms, "a"), Some(vec![]));
        assert_eq!(keys(&terms, "b"), Some(vec![1, 2]));
        // A run grows into a bitmap past its longest, and back when half of that is left.
        for key in (3..=40).rev() {
            terms.insert(b, key * 10);
        }
        assert!(matches!(terms.posting_of(b), PostingRef::Many(_)));
        let mut expected: Vec<DocKey> = [1, 2].into_iter().chain((3..=40).map(|k| k * 10)).collect();
        assert_eq!(keys(&terms, "b"), Some(expected.clone()));
        for key in (3..=30).map(|k| k * 10) {
            terms.remove(b, key);
            expected.retain(|k| *k != key);
            assert_eq!(keys(&terms, "b"), Some(expected.clone()));
        }
        assert!(matches!(terms.posting_of(b), PostingRef::Few(run) if run == expected.as_slice()));
    }

    /// The dictionary answers as a sorted map of terms would, across merges of its unsorted tail.
    #[test]
    fn test_terms_answer_lookups_and_prefixes_like_a_sorted_map() {
        let mut terms = Terms::ordered();
        let mut reference: BTreeMap<String, RoaringBitmap> = BTreeMap::new();
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = ['a', 'b', 'c', 'é', '|', '0'];
        let check = |terms: &Terms, reference: &BTreeMap<String, RoaringBitmap>| {
            for prefix in ["", "a", "ab", "é", "c|0", "b0é", "zz"] {
                let expected = reference
                    .iter()
                    .filter(|(t, _)| t.starts_with(prefix))
                    .fold(RoaringBitmap::new(), |acc, (_, keys)| acc | keys);
                assert_eq!(terms.prefix(prefix), expected, "prefix {prefix:?}");
            }
            for (term, keys) in reference.iter().take(500) {
                assert_eq!(terms.get(term).as_ref(), Some(keys), "{term}");
            }
            assert_eq!(terms.get("absent-term"), None);
        };
        // Past two merges of the unsorted tail, with repeated terms and removals.
        for round in 0..(UNSORTED_TAIL * 2 + 500) {
            let length = 1 + (next() % 10) as usize;
            let term: String =
                (0..length).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let key = (next() % 5_000) as DocKey;
            let id = terms.intern(&term);
            assert_eq!(terms.term_text(id), Some(term.as_str()));
            if round % 7 == 0 {
                terms.remove(id, key);
                if let Some(keys) = reference.get_mut(&term) {
                    keys.remove(key);
                }
                reference.entry(term).or_default();
            } else {
                terms.insert(id, key);
                reference.entry(term).or_default().insert(key);
            }
            if round % 4_000 == 0 {
                check(&terms, &reference);
            }
        }
        check(&terms, &reference);
        assert!(terms.sorted.len() >= UNSORTED_TAIL && !terms.unsorted.is_empty(), "both parts are used");
        let scanned = terms.scan(|t| t.contains('é'));
        let expected = reference
            .iter()
            .filter(|(t, _)| t.contains('é'))
            .fold(RoaringBitmap::new(), |acc, (_, keys)| acc | keys);
        assert_eq!(scanned, expected);
    }
}

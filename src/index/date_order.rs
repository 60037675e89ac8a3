//! A date column's keys in the order of their start dates, for searches that would otherwise
//! test every key of the column.
//!
//! Why: `_lastUpdated=ge2023-08-02` over the 430,000 locations of the national corpus tested
//! every slot of the column, 10 MB read per search (most of UC1 S4 and UC2 S4), and a delta sync
//! (`_lastUpdated=gt` yesterday) paid that same full pass to find a few hundred changes. With the
//! keys ordered by start, each box of the [`DateTest`] becomes a window of starts found by binary
//! search: the keys whose start lies where the box holds whatever the range's length are taken
//! without a test, the few at the window's edges are tested, and when most keys match, the
//! smaller complement is walked instead.
//!
//! Only keys with exactly one value are ordered; a key with several is tested against the column.

use roaring::RoaringBitmap;

use super::collection::Column;
use super::DocKey;
use crate::query::value::{DateRange, DateTest};

/// The ordered view of one date column, built from one state of it (it does not follow later
/// changes: the collection drops it when it changes, see `Collection::date_order`).
pub struct DateOrder {
    starts: Vec<i64>,
    ends: Vec<i64>,
    keys: Vec<DocKey>,
    /// Bounds on `end_ms - start_ms` over the ordered keys.
    min_span: i64,
    max_span: i64,
    /// The ordered keys as a little-endian bitset, the start of an answer most keys belong to.
    single_bits: Vec<u8>,
    /// Keys with several values, tested one by one.
    several: Vec<DocKey>,
}

impl DateOrder {
    pub fn new(column: &Column<DateRange>) -> DateOrder {
        let mut entries: Vec<(i64, i64, DocKey)> = Vec::new();
        let mut several = Vec::new();
        let mut key_bound = 0usize;
        for (key, values) in column.each_key().enumerate() {
            let Ok(key) = DocKey::try_from(key) else { break };
            key_bound = key as usize + 1;
            match values {
                [] => {}
                [one] => entries.push((one.start_ms, one.end_ms, key)),
                _ => several.push(key),
            }
        }
        entries.sort_unstable_by_key(|(start, _, _)| *start);
        let spans = entries.iter().map(|(start, end, _)| end.saturating_sub(*start));
        let min_span = spans.clone().min().unwrap_or(0);
        let max_span = spans.max().unwrap_or(0);
        let mut single_bits = vec![0u8; key_bound.div_ceil(8)];
        for (_, _, key) in &entries {
            set_bit(&mut single_bits, *key);
        }
        DateOrder {
            starts: entries.iter().map(|e| e.0).collect(),
            ends: entries.iter().map(|e| e.1).collect(),
            keys: entries.iter().map(|e| e.2).collect(),
            min_span,
            max_span,
            single_bits,
            several,
        }
    }

    /// The keys among `candidates` with a value satisfying `test`: what
    /// `column.matching(candidates, |range| test.matches(*range))` answers, for the column
    /// this order was built from.
    pub fn matching(
        &self,
        column: &Column<DateRange>,
        test: &DateTest,
        candidates: &RoaringBitmap,
    ) -> RoaringBitmap {
        let mut maybe = Vec::new();
        let mut sure = Vec::new();
        for window in test.start_windows(self.min_span, self.max_span) {
            maybe.push(self.positions(window.maybe));
            sure.push(self.positions(window.sure));
        }
        let maybe = merged(maybe);
        let sure = merged(sure);
        let sure_count: usize = sure.iter().map(|(from, to)| to - from).sum();
        let tested = |position: usize| {
            test.matches(DateRange { start_ms: self.starts[position], end_ms: self.ends[position] })
        };
        let mut bits;
        if sure_count * 2 > self.keys.len() {
            // Most keys match: start from all of them and drop those that fail.
            bits = self.single_bits.clone();
            for (from, to) in without(&[(0, self.keys.len())], &maybe) {
                for key in &self.keys[from..to] {
                    clear_bit(&mut bits, *key);
                }
            }
            for (from, to) in without(&maybe, &sure) {
                for position in from..to {
                    if !tested(position) {
                        clear_bit(&mut bits, self.keys[position]);
                    }
                }
            }
        } else {
            bits = vec![0u8; self.single_bits.len()];
            for (from, to) in &sure {
                for key in &self.keys[*from..*to] {
                    set_bit(&mut bits, *key);
                }
            }
            for (from, to) in without(&maybe, &sure) {
                for position in from..to {
                    if tested(position) {
                        set_bit(&mut bits, self.keys[position]);
                    }
                }
            }
        }
        let mut found = RoaringBitmap::from_lsb0_bytes(0, &bits);
        for key in &self.several {
            if column.any(*key, |range| test.matches(*range)) {
                found.insert(*key);
            }
        }
        found & candidates
    }

    /// Heap bytes held (reported with the collection's derived structures).
    pub fn heap_bytes(&self) -> usize {
        (self.starts.capacity() + self.ends.capacity()) * std::mem::size_of::<i64>()
            + (self.keys.capacity() + self.several.capacity()) * std::mem::size_of::<DocKey>()
            + self.single_bits.capacity()
    }

    /// The positions whose start lies within the inclusive bounds, as `from..to`.
    fn positions(&self, (low, high): (i64, i64)) -> (usize, usize) {
        if low > high {
            return (0, 0);
        }
        (
            self.starts.partition_point(|start| *start < low),
            self.starts.partition_point(|start| *start <= high),
        )
    }
}

/// Position ranges sorted and joined where they overlap or touch; empty ones dropped.
fn merged(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.retain(|(from, to)| from < to);
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The parts of `ranges` outside `holes` (both merged: sorted, disjoint).
fn without(ranges: &[(usize, usize)], holes: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &(from, to) in ranges {
        let mut start = from;
        for &(hole_from, hole_to) in holes {
            if hole_to <= start || hole_from >= to {
                continue;
            }
            if hole_from > start {
                out.push((start, hole_from));
            }
            start = start.max(hole_to);
        }
        if start < to {
            out.push((start, to));
        }
    }
    out
}

fn set_bit(bits: &mut [u8], key: DocKey) {
    if let Some(byte) = bits.get_mut(key as usize / 8) {
        *byte |= 1 << (key % 8);
    }
}

fn clear_bit(bits: &mut [u8], key: DocKey) {
    if let Some(byte) = bits.get_mut(key as usize / 8) {
        *byte &= !(1 << (key % 8));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::query::value::{comma_list, DateCriterion, Prefix};

    fn column_of(values: &[Vec<(i64, i64)>]) -> Column<DateRange> {
        let mut column = Column::default();
        for (key, ranges) in values.iter().enumerate() {
            let ranges: Vec<DateRange> = ranges
                .iter()
                .map(|(start, length)| DateRange { start_ms: *start, end_ms: start + length })
                .collect();
            column.set(key as DocKey, &ranges);
        }
        column
    }

    /// Instants of one millisecond, as `meta.lastUpdated` holds: a `ge` that most keys pass is
    /// answered from the complement, a narrow `gt` from a window, both as the pass answers.
    #[test]
    fn test_instants_answer_as_the_pass_both_ways() {
        let values: Vec<Vec<(i64, i64)>> = (0..5_000i64)
            .map(|key| if key % 97 == 0 { vec![] } else { vec![((key * 7_919) % 10_000, 1)] })
            .collect();
        let column = column_of(&values);
        let order = DateOrder::new(&column);
        let all: RoaringBitmap = (0..5_000).collect();
        for (prefix, at, width) in
            [(Prefix::Ge, 2_000, 1), (Prefix::Gt, 9_990, 1), (Prefix::Eq, 4_000, 1_000)]
        {
            let test = DateTest::new(
                &[DateCriterion { prefix, range: DateRange { start_ms: at, end_ms: at + width } }],
                0,
            );
            let expected = column.matching(&all, |range| test.matches(*range));
            assert!(!expected.is_empty(), "{prefix:?}");
            assert_eq!(order.matching(&column, &test, &all), expected, "{prefix:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256)
        ))]

        /// Whatever the stored ranges (none, one or several per key, any lengths, zero
        /// included), the criteria (a comma list of any prefixes) and the candidates, the
        /// ordered view answers exactly what the pass over the column answers.
        #[test]
        fn test_proptest_order_answers_as_the_pass(
            values in proptest::collection::vec(
                proptest::collection::vec((-5_000i64..5_000, 0i64..3_000), 0..3), 0..300),
            prefixes in proptest::collection::vec(0usize..9, 1..4),
            search_start in -6_000i64..6_000,
            search_width in 1i64..2_000,
            now in -10_000i64..10_000,
            candidate_step in 1u32..5,
        ) {
            let column = column_of(&values);
            let order = DateOrder::new(&column);
            let test = DateTest::new(&comma_list(&prefixes, search_start, search_width, 1_009), now);
            let candidates: RoaringBitmap = (0..320).step_by(candidate_step as usize).collect();
            let expected = column.matching(&candidates, |range| test.matches(*range));
            prop_assert_eq!(order.matching(&column, &test, &candidates), expected);
        }
    }
}

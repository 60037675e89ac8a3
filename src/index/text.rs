//! Full-text engine: tantivy with a French analyzer (lowercase, ASCII folding, Snowball French
//! stemming). Documents are keyed by the stable `(type, DocKey)` pair stored as a FAST field,
//! never by tantivy DocIds, which move on merge.

use std::ops::Bound;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::index::SegmentReader;
use tantivy::query::{BooleanQuery, BoostQuery, InvertedIndexRangeQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher, TantivyDocument, Term};

use super::DocKey;
use crate::error::{Error, Result};

const FRENCH: &str = "fr_stem";
/// Whole-word matches rank above prefix matches (SPEC UC6: "cardio" finds cardiologie, but an
/// offer that says "cardio" itself ranks first).
const WHOLE_WORD_BOOST: f32 = 2.0;
/// Words of one query that are searched (the others are dropped): bounds the clauses of a search.
const MAX_QUERY_WORDS: usize = 16;
/// The FAST field holding each document's `(type, DocKey)`.
const KEY_FIELD: &str = "key";

pub struct TextIndex {
    /// Behind a lock so that a reindex can put a freshly built engine in place while every
    /// holder of this `TextIndex` (writer, search, export) keeps its handle. Queries never go
    /// through it: they run on the searcher stored in the search state, which pins its engine.
    engine: parking_lot::RwLock<Engine>,
    key_field: Field,
    /// The text of each resource type in a field of its own (by type index): a search reads the
    /// postings of its type only, where one shared field intersected every candidate with the
    /// 430,000 documents of the type.
    content_fields: Vec<Field>,
    analyzer: parking_lot::Mutex<TextAnalyzer>,
}

struct Engine {
    index: Index,
    writer: parking_lot::Mutex<IndexWriter>,
    reader: IndexReader,
}

/// A point-in-time view of the text index with each segment's key column opened once: opening
/// a fast-field column per segment per query was 5 % of a `_content` search.
#[derive(Clone)]
pub struct TextSearcher {
    searcher: Searcher,
    /// The key column of each segment, by segment ordinal (`None`: opened at query time, which
    /// then reports the error).
    keys: Arc<[Option<Column<u64>>]>,
}

impl TextSearcher {
    fn new(searcher: Searcher) -> TextSearcher {
        let keys = searcher
            .segment_readers()
            .iter()
            .map(|reader| reader.fast_fields().u64(KEY_FIELD).ok())
            .collect();
        TextSearcher { searcher, keys }
    }
}

fn text_error(error: tantivy::TantivyError) -> Error {
    Error::internal(format!("text index: {error}"))
}

fn combined_key(type_index: usize, key: DocKey) -> u64 {
    ((type_index as u64) << 32) | u64::from(key)
}

pub fn french_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::French))
        .build()
}

impl TextIndex {
    /// An empty index for the resource types numbered below `type_count`.
    pub fn create_in_ram(type_count: usize) -> Result<TextIndex> {
        let mut schema_builder = Schema::builder();
        let key_field = schema_builder.add_u64_field(KEY_FIELD, INDEXED | FAST);
        let indexing =
            TextFieldIndexing::default().set_tokenizer(FRENCH).set_index_option(IndexRecordOption::WithFreqs);
        let content_fields = (0..type_count)
            .map(|type_index| {
                let options = TextOptions::default().set_indexing_options(indexing.clone());
                schema_builder.add_text_field(&format!("content_{type_index}"), options)
            })
            .collect();
        let index = Index::create_in_ram(schema_builder.build());
        index.tokenizers().register(FRENCH, french_analyzer());
        let writer = index.writer_with_num_threads(1, 64_000_000).map_err(text_error)?;
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(text_error)?;
        Ok(TextIndex {
            engine: parking_lot::RwLock::new(Engine {
                index,
                writer: parking_lot::Mutex::new(writer),
                reader,
            }),
            key_field,
            content_fields,
            analyzer: parking_lot::Mutex::new(french_analyzer()),
        })
    }

    /// Replace (or remove, with `None`) the text of one document. Visible after [`commit`].
    pub fn stage(&self, type_index: usize, key: DocKey, text: Option<&str>) -> Result<()> {
        let engine = self.engine.read();
        let writer = engine.writer.lock();
        let combined = combined_key(type_index, key);
        writer.delete_term(Term::from_field_u64(self.key_field, combined));
        if let Some(text) = text {
            let field = self.content_fields.get(type_index).copied().ok_or_else(|| {
                Error::internal(format!("text index: no field for type index {type_index}"))
            })?;
            let mut document = TantivyDocument::default();
            document.add_u64(self.key_field, combined);
            document.add_text(field, text);
            writer.add_document(document).map_err(text_error)?;
        }
        Ok(())
    }

    /// Make staged changes durable in the index and return a searcher that sees them.
    pub fn commit(&self) -> Result<TextSearcher> {
        let engine = self.engine.read();
        engine.writer.lock().commit().map_err(text_error)?;
        engine.reader.reload().map_err(text_error)?;
        Ok(TextSearcher::new(engine.reader.searcher()))
    }

    /// Merge every committed segment into one, after a rebuild: a query pays its term lookups
    /// and scorer set-up once per segment, and a national rebuild leaves a dozen of them. The
    /// background merges stay on during the rebuild (suspended, the national rebuild took 132 s
    /// instead of 85 s: its commits then reload ever more segments), so one of them may hold
    /// some of the segments when this merge starts: it then tries again once that one is done
    /// (seen on the region corpus). A merge that still cannot run leaves the segments as they are.
    pub fn merge_segments(&self) -> Result<TextSearcher> {
        const ATTEMPTS: usize = 20;
        let engine = self.engine.read();
        for attempt in 1..=ATTEMPTS {
            let segments = engine.index.searchable_segment_ids().map_err(text_error)?;
            if segments.len() <= 1 {
                break;
            }
            match engine.writer.lock().merge(&segments).wait() {
                Ok(_) => break,
                Err(error) if attempt == ATTEMPTS => {
                    tracing::warn!(%error, "the text index segments could not be merged")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        engine.reader.reload().map_err(text_error)?;
        Ok(TextSearcher::new(engine.reader.searcher()))
    }

    pub fn segment_count(&self) -> usize {
        self.engine.read().reader.searcher().segment_readers().len()
    }

    pub fn searcher(&self) -> TextSearcher {
        TextSearcher::new(self.engine.read().reader.searcher())
    }

    /// Exchange engines with `other` (a reindex puts its new generation in place; `other` then
    /// holds the old one). Staged, uncommitted changes move with their engine. Both indexes are
    /// built by [`create_in_ram`](Self::create_in_ram), so their fields match; checked anyway,
    /// since a searcher of one engine is queried with the fields of this handle.
    pub fn swap_engine(&self, other: &mut TextIndex) -> Result<()> {
        if (self.key_field, &self.content_fields) != (other.key_field, &other.content_fields) {
            return Err(Error::internal("text index: the new engine has a different schema"));
        }
        std::mem::swap(&mut *self.engine.write(), other.engine.get_mut());
        Ok(())
    }

    /// The analyzed words of a query, in order, deduplicated.
    pub fn analyze(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.lock();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while stream.advance() {
            let word = stream.token().text.clone();
            if !words.contains(&word) {
                words.push(word);
            }
        }
        words.truncate(MAX_QUERY_WORDS);
        words
    }

    /// Documents of `type_index` matching every word of `text` (as a whole stemmed word or a
    /// prefix of one), with their BM25 scores when `scoring` (without, as for a chained
    /// `location._content`, tantivy skips BM25 and the scores are meaningless).
    pub fn search(
        &self,
        searcher: &TextSearcher,
        type_index: usize,
        text: &str,
        scoring: bool,
    ) -> Result<Vec<(DocKey, f32)>> {
        let words = self.analyze(text);
        let Some(field) = self.content_fields.get(type_index).copied() else {
            return Ok(Vec::new());
        };
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(words.len());
        for word in words {
            let exact: Box<dyn Query> = Box::new(BoostQuery::new(
                Box::new(TermQuery::new(Term::from_field_text(field, &word), IndexRecordOption::WithFreqs)),
                WHOLE_WORD_BOOST,
            ));
            // The terms starting with the word are a range of the sorted term dictionary: no
            // automaton to compile per query (a regex DFA was 15 % of a `_content` search).
            let upper = match prefix_upper_bound(word.as_bytes()) {
                Some(bytes) => Bound::Excluded(Term::from_field_bytes(field, &bytes)),
                None => Bound::Unbounded,
            };
            let prefix =
                InvertedIndexRangeQuery::new(Bound::Included(Term::from_field_text(field, &word)), upper);
            let either = BooleanQuery::new(vec![(Occur::Should, exact), (Occur::Should, Box::new(prefix))]);
            clauses.push((Occur::Must, Box::new(either)));
        }
        let query = BooleanQuery::new(clauses);
        searcher
            .searcher
            .search(&query, &KeyScoreCollector { keys: &searcher.keys, scoring })
            .map_err(text_error)
    }

    pub fn num_docs(&self) -> u64 {
        self.engine.read().reader.searcher().num_docs()
    }

    /// Bytes of the index's files (held in memory).
    pub fn space_bytes(&self) -> u64 {
        let index = self.index();
        let directory = index.directory();
        directory
            .list_managed_files()
            .iter()
            .filter_map(|path| tantivy::Directory::open_read(directory, path).ok())
            .map(|file| tantivy::HasLen::len(&file) as u64)
            .sum()
    }

    /// The current engine's index (a cheap handle; a later swap does not affect it).
    pub fn index(&self) -> Index {
        self.engine.read().index.clone()
    }
}

/// The least byte string greater than every string starting with `prefix`: the prefix with its
/// last byte below 0xff incremented and what follows dropped; `None` when there is none.
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte < u8::MAX)?;
    let mut upper = prefix[..=last].to_vec();
    upper[last] += 1;
    Some(upper)
}

struct KeyScoreCollector<'a> {
    keys: &'a [Option<Column<u64>>],
    scoring: bool,
}

struct KeyScoreSegmentCollector {
    keys: Column<u64>,
    hits: Vec<(DocKey, f32)>,
}

impl Collector for KeyScoreCollector<'_> {
    type Fruit = Vec<(DocKey, f32)>;
    type Child = KeyScoreSegmentCollector;

    fn for_segment(&self, segment: u32, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        let keys = match self.keys.get(segment as usize) {
            Some(Some(keys)) => keys.clone(),
            _ => reader.fast_fields().u64(KEY_FIELD)?,
        };
        Ok(KeyScoreSegmentCollector { keys, hits: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        self.scoring
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(DocKey, f32)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for KeyScoreSegmentCollector {
    type Fruit = Vec<(DocKey, f32)>;

    fn collect(&mut self, doc: u32, score: Score) {
        if let Some(combined) = self.keys.first(doc) {
            self.hits.push(((combined & 0xffff_ffff) as DocKey, score));
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_prefix_of_stem_and_whole_word_ranking() {
        let text = TextIndex::create_in_ram(2).unwrap();
        text.stage(0, 1, Some("Service de cardiologie")).unwrap();
        text.stage(0, 2, Some("Réadaptation cardiologique")).unwrap();
        text.stage(0, 3, Some("Chirurgie cardio-vasculaire")).unwrap();
        text.stage(0, 4, Some("Pédiatrie")).unwrap();
        text.stage(1, 5, Some("cardio")).unwrap();
        let searcher = text.commit().unwrap();
        let mut hits = text.search(&searcher, 0, "cardio", true).unwrap();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        let keys: Vec<_> = hits.iter().map(|h| h.0).collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], 3, "whole-word match ranks first: {hits:?}");
        let accents = text.search(&searcher, 0, "PEDIATRIE", true).unwrap();
        assert_eq!(accents.len(), 1);
        // Replacing a document's text removes the old terms.
        text.stage(0, 4, Some("Cardiopédiatrie")).unwrap();
        let searcher = text.commit().unwrap();
        assert!(text.search(&searcher, 0, "pédiatrie", true).unwrap().is_empty());
    }

    #[test]
    fn test_prefix_range_bounds_and_non_ascii_prefixes() {
        assert_eq!(prefix_upper_bound(b"cardio"), Some(b"cardip".to_vec()));
        assert_eq!(prefix_upper_bound(&[b'a', 0xff, 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(&[0xff]), None);
        let text = TextIndex::create_in_ram(1).unwrap();
        // Greek letters are not folded to ASCII: their prefixes end in multi-byte characters.
        text.stage(0, 1, Some("αβγ thérapie")).unwrap();
        text.stage(0, 2, Some("αβδ")).unwrap();
        text.stage(0, 3, Some("αγ")).unwrap();
        text.stage(0, 4, Some("cardip")).unwrap();
        let searcher = text.commit().unwrap();
        let keys = |word: &str| {
            let mut keys: Vec<DocKey> =
                text.search(&searcher, 0, word, false).unwrap().iter().map(|h| h.0).collect();
            keys.sort_unstable();
            keys
        };
        assert_eq!(keys("αβ"), vec![1, 2]);
        assert_eq!(keys("α"), vec![1, 2, 3]);
        assert_eq!(keys("cardio"), Vec::<DocKey>::new(), "the bound itself is excluded");
        assert_eq!(keys("therap"), vec![1]);
    }

    #[test]
    fn test_merged_segments_answer_as_before() {
        let text = TextIndex::create_in_ram(1).unwrap();
        for key in 0..6 {
            text.stage(0, key, Some(&format!("cardiologie {key}"))).unwrap();
            text.commit().unwrap();
        }
        text.stage(0, 2, None).unwrap();
        let before = text.commit().unwrap();
        assert!(text.segment_count() > 1);
        let keys = |searcher: &TextSearcher| {
            let mut keys: Vec<DocKey> =
                text.search(searcher, 0, "cardio", false).unwrap().iter().map(|h| h.0).collect();
            keys.sort_unstable();
            keys
        };
        let merged = text.merge_segments().unwrap();
        assert_eq!(text.segment_count(), 1);
        assert_eq!(keys(&merged), vec![0, 1, 3, 4, 5]);
        assert_eq!(keys(&before), keys(&merged));
    }

    #[test]
    fn test_swap_engine_keeps_old_searchers_and_moves_writes() {
        let live = TextIndex::create_in_ram(2).unwrap();
        live.stage(0, 1, Some("cardiologie")).unwrap();
        let old_searcher = live.commit().unwrap();
        let mut fresh = TextIndex::create_in_ram(2).unwrap();
        fresh.stage(0, 7, Some("pédiatrie")).unwrap();
        fresh.commit().unwrap();
        live.swap_engine(&mut fresh).unwrap();
        // A query that pinned the old engine still answers from it.
        assert_eq!(live.search(&old_searcher, 0, "cardiologie", true).unwrap().len(), 1);
        let searcher = live.searcher();
        assert!(live.search(&searcher, 0, "cardiologie", true).unwrap().is_empty());
        let keys: Vec<DocKey> =
            live.search(&searcher, 0, "pédiatrie", true).unwrap().iter().map(|h| h.0).collect();
        assert_eq!(keys, vec![7]);
        // Later writes go to the new engine; the old one is left in `fresh`.
        live.stage(0, 8, Some("pédiatrie néonatale")).unwrap();
        let searcher = live.commit().unwrap();
        assert_eq!(live.search(&searcher, 0, "pédiatrie", true).unwrap().len(), 2);
        assert_eq!(fresh.num_docs(), 1);
    }
}

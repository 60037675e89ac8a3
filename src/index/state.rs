//! The search state: every collection, the geo index and the text searcher, read by a request
//! as one consistent whole. It is published as immutable snapshots ([`super::snapshot`]): the
//! single writer mutates a copy no request reads, then swaps it in.

use std::sync::Arc;

use super::collection::Collection;
use super::extract::IndexDoc;
use super::geo::GeoIndex;
use super::text::TextIndex;
use super::DocKey;
use crate::error::Result;
use crate::schema::Registry;

/// A reference target (type, id) and its (type index, key), once keys are allocated.
type ResolvedTarget = ((String, String), Option<(u16, DocKey)>);

/// One change to apply to the search state.
#[derive(Debug, Clone)]
pub enum IndexChange {
    Upsert(IndexDoc),
    Delete { resource_type: String, id: String },
}

#[derive(Clone)]
pub struct SearchState {
    pub registry: Arc<Registry>,
    /// Shared between the two published copies ([`super::snapshot`]) until a change touches
    /// them (copy on write): under capacity writes only the Location side is held twice.
    pub collections: Vec<Arc<Collection>>,
    /// Points of `Location.position`, keyed by Location keys (copy on write, as collections).
    pub geo: Arc<GeoIndex>,
    pub searcher: tantivy::Searcher,
    /// Highest store change sequence reflected here.
    pub applied_seq: u64,
    /// Bumped by every reindex swap.
    pub generation: u64,
    pub location_type: usize,
    text_hashes: Vec<Vec<u64>>,
}

fn text_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

impl SearchState {
    pub fn new(registry: Arc<Registry>, searcher: tantivy::Searcher) -> SearchState {
        let collections = registry.resources.iter().map(|r| Arc::new(Collection::new(r))).collect();
        let location_type = registry.type_index("Location").unwrap_or(usize::MAX);
        let text_hashes = vec![Vec::new(); registry.resources.len()];
        SearchState {
            registry,
            collections,
            geo: Arc::new(GeoIndex::default()),
            searcher,
            applied_seq: 0,
            generation: 1,
            location_type,
            text_hashes,
        }
    }

    pub fn collection(&self, type_index: usize) -> Option<&Collection> {
        self.collections.get(type_index).map(Arc::as_ref)
    }

    pub fn collection_by_name(&self, resource_type: &str) -> Option<&Collection> {
        self.registry.type_index(resource_type).and_then(|t| self.collection(t))
    }

    /// A collection to change (cloned first if the other published copy still shares it).
    fn collection_mut(&mut self, type_index: usize) -> Option<&mut Collection> {
        self.collections.get_mut(type_index).map(Arc::make_mut)
    }

    /// The key of `id`, allocated if new; a collection is only unshared to allocate.
    fn key_or_insert(&mut self, type_index: usize, id: &str) -> Option<DocKey> {
        match self.collection(type_index)?.key(id) {
            Some(key) => Some(key),
            None => self.collection_mut(type_index).map(|c| c.key_or_insert(id)),
        }
    }

    /// Own copies of the collections written all day (Location and its capacity, equipment
    /// records), so that no capacity write waits for their copy.
    pub fn unshare_volatile(&mut self) {
        let location = self.location_type;
        let volatile: Vec<usize> = std::iter::once(location)
            .chain(self.registry.records_of(location).map(|r| r.type_index))
            .collect();
        for type_index in volatile {
            let _ = self.collection_mut(type_index);
        }
    }

    fn set_position(&mut self, key: DocKey, position: Option<(f64, f64)>) {
        // A capacity write leaves the position as it was: do not unshare the R-tree for it.
        if self.geo.position(key) != position {
            Arc::make_mut(&mut self.geo).upsert(key, position);
        }
    }

    /// Allocate keys for the changed resources (invisible until applied) and return, for each
    /// change, the text to stage in the text index when it changed: `Some(None)` removes it.
    fn prepare(&mut self, changes: &[IndexChange]) -> Vec<(usize, DocKey, Option<String>)> {
        let mut texts = Vec::new();
        for change in changes {
            let (resource_type, id, text) = match change {
                IndexChange::Upsert(doc) => (&doc.resource_type, &doc.id, Some(&doc.text)),
                IndexChange::Delete { resource_type, id } => (resource_type, id, None),
            };
            let Some(type_index) = self.registry.type_index(resource_type) else { continue };
            let Some(key) = self.key_or_insert(type_index, id) else { continue };
            let Some(hashes) = self.text_hashes.get_mut(type_index) else { continue };
            if hashes.len() <= key as usize {
                hashes.resize(key as usize + 1, 0);
            }
            let new_hash = text.filter(|t| !t.is_empty()).map(|t| text_hash(t)).unwrap_or(0);
            if let Some(old_hash) = hashes.get_mut(key as usize) {
                if *old_hash != new_hash {
                    *old_hash = new_hash;
                    texts.push((type_index, key, text.filter(|t| !t.is_empty()).cloned()));
                }
            }
        }
        texts
    }

    /// Allocate keys, stage the texts that changed and commit the text index, then apply the
    /// changes; returns the new searcher when the text changed (the other published copy
    /// replays the same changes with it, [`replay`](Self::replay)).
    pub fn apply_with_text(
        &mut self,
        text: &TextIndex,
        changes: &[IndexChange],
        max_seq: u64,
    ) -> Result<Option<tantivy::Searcher>> {
        let texts = self.prepare(changes);
        let searcher = if texts.is_empty() {
            None
        } else {
            for (type_index, key, content) in &texts {
                text.stage(*type_index, *key, content.as_deref())?;
            }
            Some(text.commit()?)
        };
        self.replay(changes, searcher.as_ref(), max_seq);
        Ok(searcher)
    }

    /// Apply changes whose texts were already staged: same changes, same order, same prior
    /// state as the copy that staged them, so `prepare` allocates the keys that copy got.
    pub fn replay(&mut self, changes: &[IndexChange], searcher: Option<&tantivy::Searcher>, max_seq: u64) {
        let _ = self.prepare(changes);
        self.apply(changes);
        if let Some(searcher) = searcher {
            self.searcher = searcher.clone();
        }
        self.applied_seq = self.applied_seq.max(max_seq);
    }

    /// Apply changes whose keys were allocated by [`prepare`].
    fn apply(&mut self, changes: &[IndexChange]) {
        for change in changes {
            match change {
                IndexChange::Upsert(doc) => {
                    self.remove_records(&doc.resource_type, &doc.id);
                    self.upsert(doc);
                    for record in &doc.records {
                        self.upsert(record);
                    }
                }
                IndexChange::Delete { resource_type, id } => {
                    self.remove_records(resource_type, id);
                    let Some(type_index) = self.registry.type_index(resource_type) else { continue };
                    let Some(key) = self.collection(type_index).and_then(|c| c.key(id)) else { continue };
                    if let Some(collection) = self.collection_mut(type_index) {
                        collection.remove(key);
                    }
                    if type_index == self.location_type {
                        self.set_position(key, None);
                    }
                }
            }
        }
    }

    /// Remove the records of a parent resource (they are re-extracted on every version).
    fn remove_records(&mut self, resource_type: &str, id: &str) {
        let Some(parent_type) = self.registry.type_index(resource_type) else { return };
        let record_types: Vec<usize> = self.registry.records_of(parent_type).map(|r| r.type_index).collect();
        for record_type in record_types {
            for index in 0.. {
                let Some(collection) = self.collection(record_type) else { break };
                let Some(key) = collection.key(&super::extract::record_id(id, index)) else { break };
                if !collection.live.contains(key) {
                    break;
                }
                if let Some(collection) = self.collection_mut(record_type) {
                    collection.remove(key);
                }
            }
        }
    }

    fn upsert(&mut self, doc: &IndexDoc) {
        let Some(type_index) = self.registry.type_index(&doc.resource_type) else { return };
        let registry = self.registry.clone();
        // Resolve reference targets first (allocating keys in other collections), then index.
        let mut targets: Vec<ResolvedTarget> = Vec::new();
        for (_, values) in &doc.values {
            if let super::extract::Values::References(references) = values {
                for reference in references {
                    let resolved = registry
                        .type_index(&reference.target_type)
                        .and_then(|t| self.key_or_insert(t, &reference.id).map(|key| (t as u16, key)));
                    targets.push(((reference.target_type.clone(), reference.id.clone()), resolved));
                }
            }
        }
        let Some(collection) = self.collection_mut(type_index) else { return };
        let key = collection.key_or_insert(&doc.id);
        let mut resolve = |target_type: &str, id: &str| {
            targets.iter().find(|((t, i), _)| t == target_type && i == id).and_then(|(_, resolved)| *resolved)
        };
        collection.upsert(key, doc, &mut resolve);
        if type_index == self.location_type {
            self.set_position(key, doc.position);
        }
    }
}

//! The search state: every collection, the geo index and the text searcher, read by a request
//! as one consistent whole. It is published as immutable snapshots ([`super::snapshot`]): the
//! single writer mutates a copy no request reads, then swaps it in.

use std::sync::Arc;

use super::collection::Collection;
use super::extract::IndexDoc;
use super::geo::GeoIndex;
use super::text::{TextIndex, TextSearcher};
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
    /// them (copy on write, down to each parameter index of a collection).
    pub collections: Vec<Arc<Collection>>,
    /// Points of `Location.position`, keyed by Location keys (copy on write, as collections).
    pub geo: Arc<GeoIndex>,
    pub searcher: TextSearcher,
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
    pub fn new(registry: Arc<Registry>, searcher: TextSearcher) -> SearchState {
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
        let collection = Arc::make_mut(self.collections.get_mut(type_index)?);
        collection.forget_derived();
        Some(collection)
    }

    /// The key of `id`, allocated if new; a collection is only unshared to allocate.
    fn key_or_insert(&mut self, type_index: usize, id: &str) -> Option<DocKey> {
        match self.collection(type_index)?.key(id) {
            Some(key) => Some(key),
            None => self.collection_mut(type_index).map(|c| c.key_or_insert(id)),
        }
    }

    /// Give back the spare capacity of a state built in bulk (see [`Collection::shrink_to_fit`]).
    pub fn shrink_to_fit(&mut self) {
        if let Some(geo) = Arc::get_mut(&mut self.geo) {
            geo.repack();
        }
        for hashes in &mut self.text_hashes {
            hashes.shrink_to_fit();
        }
        for collection in &mut self.collections {
            if let Some(collection) = Arc::get_mut(collection) {
                collection.shrink_to_fit();
            }
        }
    }

    /// Own copies of the collections written all day (Location and its capacity, equipment
    /// records): their lists of shared parameter indexes, so that the first capacity write
    /// copies only the columns it changes.
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
    ) -> Result<Option<TextSearcher>> {
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
    pub fn replay(&mut self, changes: &[IndexChange], searcher: Option<&TextSearcher>, max_seq: u64) {
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
                    self.upsert(doc);
                    for record in &doc.records {
                        self.upsert(record);
                    }
                    self.remove_records_beyond(doc);
                }
                IndexChange::Delete { resource_type, id } => {
                    self.remove_records(resource_type, id, |_| 0);
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

    /// Remove the records an earlier version of `doc` had beyond those it has now (records are
    /// numbered per type in document order and updated in place).
    fn remove_records_beyond(&mut self, doc: &IndexDoc) {
        let kept = |record_type: &str| doc.records.iter().filter(|r| r.resource_type == record_type).count();
        self.remove_records(&doc.resource_type, &doc.id, kept);
    }

    /// Remove the records of a parent resource from the `first(record type)`-th on.
    fn remove_records(&mut self, resource_type: &str, id: &str, first: impl Fn(&str) -> usize) {
        let Some(parent_type) = self.registry.type_index(resource_type) else { return };
        let record_types: Vec<(usize, usize)> =
            self.registry.records_of(parent_type).map(|r| (r.type_index, first(&r.resource_type))).collect();
        for (record_type, first) in record_types {
            for index in first.. {
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

#[cfg(test)]
mod tests {
    use roaring::RoaringBitmap;
    use serde_json::{json, Value};

    use super::*;
    use crate::index::extract::extract_resource;

    const ROR: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition";
    const NOS: &str = "https://mos.esante.gouv.fr/NOS";

    struct Version<'a> {
        capacities: &'a [(i64, &'a str)],
        equipment_limit: Option<f64>,
        organization: &'a str,
        name: &'a str,
        postal_code: Option<&'a str>,
        position: Option<(f64, f64)>,
    }

    fn location(id: &str, v: &Version<'_>) -> Value {
        let coding = |table: &str, code: &str| {
            let system = format!("{NOS}/{table}/FHIR/{}", table.replacen('_', "-", 1));
            json!({"coding": [{"system": system, "code": code}]})
        };
        let mut extension: Vec<Value> = v
            .capacities
            .iter()
            .map(|(nb, status)| {
                json!({"url": format!("{ROR}/ror-location-supported-capacity"), "extension": [
                    {"url": "nbCapacity", "valueInteger": nb},
                    {"url": "capacityStatus", "valueCodeableConcept": coding("TRE_R330-TypeStatutCapacite", status)},
                    {"url": "capacityType", "valueCodeableConcept": coding("TRE_R329-NatureCapacite", "01")},
                ]})
            })
            .collect();
        if let Some(limit) = v.equipment_limit {
            extension.push(json!({"url": format!("{ROR}/ror-location-equipment"), "extension": [
                {"url": "equipmentType", "valueCodeableConcept": coding("TRE_R212-Equipement", "088")},
                {"url": "nbInService", "valueInteger": 1},
                {"url": "limit", "extension": [{"url": "limitValue", "valueQuantity":
                    {"value": limit, "system": "http://unitsofmeasure.org", "code": "kg"}}]},
            ]}));
        }
        let mut resource = json!({
            "resourceType": "Location", "id": id, "name": v.name, "extension": extension,
            "managingOrganization": {"reference": format!("Organization/{}", v.organization)},
            "meta": {"lastUpdated": "2024-05-01T10:00:00Z"},
        });
        if let Some(postal_code) = v.postal_code {
            resource["address"] = json!({"postalCode": postal_code, "city": "Nantes"});
        }
        if let Some((latitude, longitude)) = v.position {
            resource["position"] = json!({"latitude": latitude, "longitude": longitude});
        }
        resource
    }

    /// The index change of location `id` written as `v`.
    fn upsert(registry: &Registry, id: &str, v: &Version<'_>, version: u64) -> IndexChange {
        IndexChange::Upsert(extract_resource(registry, &location(id, v), version).expect("extract"))
    }

    fn observable(state: &SearchState) -> Vec<String> {
        let target_id = |type_index: u16, key: DocKey| {
            let collection = state.collection(usize::from(type_index));
            let id = collection.and_then(|c| c.id(key)).map(|id| id.to_string()).unwrap_or_default();
            format!("{type_index}/{id}")
        };
        let mut lines = Vec::new();
        for collection in &state.collections {
            for line in collection.observable(&target_id) {
                lines.push(format!("{} {line}", collection.resource_type));
            }
        }
        for key in state.collection(state.location_type).map(|c| c.live.clone()).unwrap_or_default() {
            lines.push(format!("position {key} {:?}", state.geo.position(key)));
        }
        lines
    }

    #[test]
    fn test_updates_in_place_leave_the_state_a_fresh_build_would_have() {
        let registry = Arc::new(Registry::embedded().expect("registry"));
        let text = TextIndex::create_in_ram(registry.resources.len()).expect("text");
        let versions = [
            Version {
                capacities: &[(14, "01"), (2, "02")],
                equipment_limit: Some(250.0),
                organization: "eg-1",
                name: "Unité de soins intensifs de cardiologie",
                postal_code: Some("44000"),
                position: Some((47.21, -1.55)),
            },
            // A capacity count and status change (the bed managers' write).
            Version { capacities: &[(14, "01"), (0, "05")], ..versions_base() },
            // Fewer records, another organization, other text, no position.
            Version {
                capacities: &[(3, "02")],
                equipment_limit: None,
                organization: "eg-2",
                name: "Soins de suite",
                postal_code: None,
                position: None,
            },
            // More records than ever, equipment back with another limit, position back.
            Version {
                capacities: &[(1, "02"), (2, "02"), (3, "01")],
                equipment_limit: Some(120.0),
                organization: "eg-1",
                name: "Soins de suite",
                postal_code: Some("44100"),
                position: Some((47.25, -1.60)),
            },
        ];
        let change = |id: &str, v: &Version<'_>, version: u64| upsert(&registry, id, v, version);
        // Both states see the first version of both locations first, so keys are allocated alike.
        let start = vec![change("loc-a", &versions[0], 1), change("loc-b", &versions[0], 1)];
        for last in 1..versions.len() {
            let mut stepwise = SearchState::new(registry.clone(), text.searcher());
            stepwise.apply_with_text(&text, &start, 1).expect("apply");
            for (step, version) in versions.iter().enumerate().take(last + 1).skip(1) {
                stepwise
                    .apply_with_text(&text, &[change("loc-a", version, step as u64 + 1)], 2)
                    .expect("apply");
                if step == 1 {
                    // A deletion and re-creation on the way must not leave anything behind either.
                    let delete = IndexChange::Delete { resource_type: "Location".into(), id: "loc-b".into() };
                    stepwise.apply_with_text(&text, &[delete], 2).expect("apply");
                    stepwise.apply_with_text(&text, &[change("loc-b", &versions[2], 3)], 2).expect("apply");
                }
            }
            let mut direct = SearchState::new(registry.clone(), text.searcher());
            direct.apply_with_text(&text, &start, 1).expect("apply");
            let finals = vec![change("loc-a", &versions[last], last as u64 + 1)];
            direct.apply_with_text(&text, &finals, 2).expect("apply");
            if last >= 1 {
                direct.apply_with_text(&text, &[change("loc-b", &versions[2], 3)], 2).expect("apply");
            }
            let (stepwise, direct) = (observable(&stepwise), observable(&direct));
            assert!(stepwise.iter().any(|l| l.contains("loc-a#")), "records are indexed");
            assert_eq!(stepwise, direct, "after version {last}");
        }
    }

    #[test]
    fn test_a_capacity_write_on_one_copy_unshares_only_the_indexes_it_changes() {
        let registry = Arc::new(Registry::embedded().expect("registry"));
        let text = TextIndex::create_in_ram(registry.resources.len()).expect("text");
        let change = |id: &str, v: &Version<'_>, version: u64| upsert(&registry, id, v, version);
        let first = Version { capacities: &[(14, "01"), (2, "02")], ..versions_base() };
        let mut published = SearchState::new(registry.clone(), text.searcher());
        published
            .apply_with_text(&text, &[change("loc-a", &first, 1), change("loc-b", &first, 1)], 1)
            .expect("apply");
        let before = observable(&published);
        let mut spare = published.clone();
        let recount = Version { capacities: &[(14, "01"), (0, "05")], ..versions_base() };
        spare.apply_with_text(&text, &[change("loc-a", &recount, 2)], 2).expect("apply");

        assert_eq!(observable(&published), before, "the published copy is untouched");
        assert_ne!(observable(&spare), before, "the spare copy has the write");
        let location = registry.type_index("Location").expect("Location");
        let schema = &registry.resources[location];
        let (old, new) =
            (published.collection(location).expect("old"), spare.collection(location).expect("new"));
        let param = |code: &str| schema.param(code).map(|p| p.id).expect(code);
        for unchanged in ["identifier", "name", "organization", "address-postalcode", "near"] {
            assert!(old.shares_param(new, param(unchanged)), "{unchanged} stays shared");
        }
        for changed in ["nb-capacity", "capacity-status"] {
            assert!(!old.shares_param(new, param(changed)), "{changed} is copied");
        }
    }

    /// A date order is built by the 16th pass over one state of a collection, counted in the
    /// collection's heap, and not carried into the copy a write makes.
    #[test]
    fn test_date_order_is_built_on_the_sixteenth_pass_and_dropped_by_a_write() {
        let registry = Arc::new(Registry::embedded().expect("registry"));
        let text = TextIndex::create_in_ram(registry.resources.len()).expect("text");
        let change = |id: &str, v: &Version<'_>, version: u64| upsert(&registry, id, v, version);
        let first = Version { capacities: &[(14, "01")], ..versions_base() };
        let mut published = SearchState::new(registry.clone(), text.searcher());
        published
            .apply_with_text(&text, &[change("loc-a", &first, 1), change("loc-b", &first, 1)], 1)
            .expect("apply");
        let location = registry.type_index("Location").expect("Location");
        let last_updated = registry.resources[location].param("_lastUpdated").map(|p| p.id).expect("param");
        let derived = |state: &SearchState| {
            state
                .collection(location)
                .expect("collection")
                .heap_parts()
                .iter()
                .find(|(part, _)| *part == "derived")
                .map(|(_, bytes)| *bytes)
        };
        let collection = published.collection(location).expect("collection");
        for pass in 1..16 {
            assert!(collection.date_order(last_updated).is_none(), "pass {pass} passes over the column");
        }
        assert_eq!(derived(&published), Some(0));
        assert!(collection.date_order(last_updated).is_some(), "the 16th builds the order");
        assert!(collection.date_order(last_updated).is_some(), "and the next ones read it");
        assert!(derived(&published).is_some_and(|bytes| bytes > 0));

        let mut spare = published.clone();
        spare.apply_with_text(&text, &[change("loc-a", &first, 2)], 2).expect("apply");
        assert_eq!(derived(&spare), Some(0), "the written copy starts without it");
        assert!(spare.collection(location).expect("collection").date_order(last_updated).is_none());
        assert!(derived(&published).is_some_and(|bytes| bytes > 0), "the published copy keeps its own");
    }

    /// Every way `referencing_split` decides (the reverse postings of few targets, a lookup per
    /// candidate, a pass over the forward column) agrees with the definition, for sources with
    /// one, several and logical (identifier) references, rewritten and deleted on the way.
    #[test]
    fn test_reference_split_paths_agree_with_the_definition() {
        let registry = Arc::new(Registry::embedded().expect("registry"));
        let text = TextIndex::create_in_ram(registry.resources.len()).expect("text");
        let offer = |n: usize, version: u64| {
            let location = |l: usize| json!({"reference": format!("Location/loc-{}", l % 100)});
            let by_identifier =
                |n: usize| json!({"type": "Location", "identifier": {"value": format!("L{}", n % 3)}});
            let locations = match n % 5 {
                // A lone reference by identifier: the chain leaves the key open (undecided).
                0 if n % 10 == 5 => json!([by_identifier(n)]),
                0 => json!([]),
                1 | 2 => json!([location(n * 7 + version as usize)]),
                3 => json!([location(n), location(n * 3 + 1), location(n * 11 + 2)]),
                _ => json!([by_identifier(n), location(n)]),
            };
            let resource =
                json!({"resourceType": "HealthcareService", "id": format!("hs-{n}"), "location": locations});
            IndexChange::Upsert(extract_resource(&registry, &resource, version).expect("extract"))
        };
        let mut state = SearchState::new(registry.clone(), text.searcher());
        let first: Vec<IndexChange> = (0..300).map(|n| offer(n, 1)).collect();
        state.apply_with_text(&text, &first, 1).expect("apply");
        // Rewrites move sources between one, several and no targets; deletions leave holes.
        let rewrites: Vec<IndexChange> = (0..300).step_by(7).map(|n| offer(n * 3 % 300, 2)).collect();
        state.apply_with_text(&text, &rewrites, 2).expect("apply");
        let deletions: Vec<IndexChange> = (0..300)
            .step_by(13)
            .map(|n| IndexChange::Delete { resource_type: "HealthcareService".into(), id: format!("hs-{n}") })
            .collect();
        state.apply_with_text(&text, &deletions, 3).expect("apply");

        let offers_type = registry.type_index("HealthcareService").expect("HealthcareService");
        let location_type = registry.type_index("Location").expect("Location");
        let offers = state.collection(offers_type).expect("offers");
        let locations = state.collection(location_type).expect("locations");
        let param = registry.resources[offers_type].param("location").map(|p| p.id).expect("location");
        let tag = location_type as u16;
        let logical = locations.logical_key_set().clone();
        assert!(!logical.is_empty(), "logical references are indexed");
        let target_keys: Vec<DocKey> = (0..100).filter_map(|l| locations.key(&format!("loc-{l}"))).collect();
        let live: Vec<DocKey> = offers.live.iter().collect();
        let mut checked = 0;
        for (targets_every, candidates_every) in
            [(1, 1), (3, 1), (1, 2), (1, 3), (1, 4), (20, 1), (1, 9), (2, 40), (40, 30)]
        {
            let targets: RoaringBitmap = target_keys.iter().copied().step_by(targets_every).collect();
            let candidates: RoaringBitmap = live.iter().copied().step_by(candidates_every).collect();
            for one_criterion in [true, false] {
                let (found, undecided) =
                    offers.referencing_split(param, tag, &targets, &candidates, &logical, one_criterion);
                let mut expected_found = RoaringBitmap::new();
                let mut expected_undecided = RoaringBitmap::new();
                for key in &candidates {
                    let refs = offers.references_of(param, key);
                    let wanted = |(t, k): &(u16, DocKey)| *t == tag && targets.contains(*k);
                    let by_identifier = |(t, k): &(u16, DocKey)| *t == tag && logical.contains(*k);
                    let (is_found, is_open) = match refs {
                        [] => (false, false),
                        [one] => (wanted(one), !wanted(one) && by_identifier(one)),
                        several if one_criterion => {
                            let any = several.iter().any(wanted);
                            (any, !any && several.iter().any(by_identifier))
                        }
                        _ => (false, true),
                    };
                    if is_found {
                        expected_found.insert(key);
                    }
                    if is_open {
                        expected_undecided.insert(key);
                    }
                }
                let undecided: RoaringBitmap = undecided.into_iter().collect();
                let case =
                    format!("targets 1/{targets_every}, candidates 1/{candidates_every}, {one_criterion}");
                assert_eq!(found, expected_found, "{case}");
                assert_eq!(undecided, expected_undecided, "{case}");
                checked += found.len() + undecided.len();
            }
        }
        assert!(checked > 500, "the cases decide many sources: {checked}");
    }

    fn versions_base() -> Version<'static> {
        Version {
            capacities: &[],
            equipment_limit: Some(250.0),
            organization: "eg-1",
            name: "Unité de soins intensifs de cardiologie",
            postal_code: Some("44000"),
            position: Some((47.21, -1.55)),
        }
    }
}

//! Steering indicators (SPEC §3 UC11, §1.8): values kept current on every committed write, like
//! the precomputed tables of a dashboard, never recounted per request.
//!
//! Each indicator is a sum of *contributions*: an offer, a location or an anomaly contributes
//! to some (measure, region, dimension) cells. The writer calls [`Indicators::on_commit`] after
//! every group commit; the changed resources and the ones depending on them (an offer's
//! locations, a location's offers) are marked dirty, their previous contribution is subtracted
//! and the new one added. Contributions are memoized, so a write never reads the store again.
//! [`Indicators::recompute`] builds the same tables from scratch (tests compare both).
//!
//! Measures (documented in [`MEASURES`]):
//! * `offers-by-region-type`: live offers by region and category (HealthcareService.category);
//! * `locations-capacity-updated-24h`: locations whose latest capacityUpdateDate is within the
//!   last 24 h, by region (a time window: the sorted update times are kept, the count is a range
//!   read at the time of measurement);
//! * `available-beds`: sum of nbCapacity of capacity records with type 01 (lit) and status 02
//!   (disponible), by location region and activity (the specialties of the offers using the
//!   location; a location with no offer counts under an empty activity);
//! * `open-anomalies`: Tasks whose businessStatus is not 03, 07, 08 or 09, by region and business
//!   status. The region of an anomaly is that of the resource it is about (its focus, by reference
//!   or identifier, followed when that resource changes region or goes away), else the Task's own
//!   meta.tag: ROR Tasks carry no region themselves (SPEC §1.7 example, UC10 S3 filters anomalies
//!   by their focus's `_tag`);
//! * `offers-without-location`: offers with no location (`no-location`) or with a location that
//!   has no position or does not exist (`location-without-position`), by region.
//!
//! Values are recorded as `MeasureReport`s through the writer by [`Indicators::publish`]: one
//! `{measure}-current` report rewritten when values change, and one dated report per day
//! (`{measure}-YYYYMMDD`, the last value of the day), so the ordinary search engine serves UC11.

mod publish;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use parking_lot::Mutex;
use serde_json::Value;

pub use publish::IndicatorPublisher;

use std::sync::Arc;

use crate::error::Result;
use crate::export::extracts::{codes, reference_id, region, CapacityTotals};
use crate::fhir::focus::Focus;
use crate::index::SearchSnapshots;
use crate::store::{Committed, ResourceStore};

/// Finds what a Task is about and that resource's current region.
pub trait FocusResolver: Send + Sync {
    /// The (type, id) a Task's focus designates and its region ("" when it has none or does
    /// not exist); `None` when the focus designates nothing.
    fn resolve(&self, task: &Value) -> Option<((String, String), String)>;
}

/// Resolves foci on the published search state (identifiers) and reads regions from the store.
pub struct StoreFocusResolver {
    pub state: Arc<SearchSnapshots>,
    pub store: Arc<dyn ResourceStore>,
}

impl FocusResolver for StoreFocusResolver {
    fn resolve(&self, task: &Value) -> Option<((String, String), String)> {
        let target = match Focus::of_task(task).ok()? {
            // A reference keeps designating its target even while it does not exist.
            Focus::Reference { resource_type, id } => (resource_type, id),
            identified => identified.find(&self.state.read())?,
        };
        let region = self
            .store
            .current(&target.0, &target.1)
            .ok()
            .flatten()
            .filter(|stored| !stored.deleted)
            .and_then(|stored| serde_json::from_slice::<Value>(&stored.json).ok())
            .map(|resource| region(&resource))
            .unwrap_or_default();
        Some((target, region))
    }
}

/// What the writer calls after each group commit, with the committed changes (the new version
/// of each resource, `None` for a delete).
pub trait CommitHook: Send + Sync {
    fn on_commit(&self, committed: &[&Committed]);
}

/// One indicator definition.
#[derive(Debug, Clone, Copy)]
pub struct MeasureDef {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Name of the second stratifier (the first is always `region`); empty when none.
    pub dimension: &'static str,
}

pub const MEASURES: [MeasureDef; 5] = [
    MeasureDef {
        id: "offers-by-region-type",
        title: "Offres par région et catégorie",
        description: "Number of offers (HealthcareService) by region and category",
        dimension: "category",
    },
    MeasureDef {
        id: "locations-capacity-updated-24h",
        title: "Lieux dont la capacité a été mise à jour dans les dernières 24 h",
        description:
            "Number of locations whose latest capacityUpdateDate is within the last 24 hours, by region",
        dimension: "",
    },
    MeasureDef {
        id: "available-beds",
        title: "Lits disponibles par région et activité",
        description:
            "Sum of nbCapacity for capacity type 01 (lit) and status 02 (disponible), by region and activity",
        dimension: "activity",
    },
    MeasureDef {
        id: "open-anomalies",
        title: "Anomalies ouvertes par région et statut métier",
        description:
            "Number of Tasks whose businessStatus is not 03, 07, 08 or 09, by region and business status",
        dimension: "business-status",
    },
    MeasureDef {
        id: "offers-without-location",
        title: "Offres sans lieu ou avec un lieu sans position",
        description: "Number of offers with no location, or with a location without position, by region",
        dimension: "reason",
    },
];

const OFFERS_BY_TYPE: u8 = 0;
const CAPACITY_UPDATED: u8 = 1;
const AVAILABLE_BEDS: u8 = 2;
const OPEN_ANOMALIES: u8 = 3;
const WITHOUT_LOCATION: u8 = 4;
/// Business statuses that close an anomaly (annulé, toléré définitivement, corrigé, refusé).
const CLOSED_STATUSES: [&str; 4] = ["03", "07", "08", "09"];
const DAY_MS: i64 = 24 * 3600 * 1000;

/// One cell of an indicator, as the CSV extract and the MeasureReports show it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorRow {
    pub measure: String,
    pub region: String,
    pub dimension: String,
    pub value: f64,
}

/// An interned string (an id, a region, a code). The facts of 430k offers and locations are held
/// for the service's life: as `String`s they took about 500 MiB at national scale.
type Sym = u32;

/// Strings by symbol; never shrinks (ids are not reused, like the keys of the search state).
type Interner = crate::index::interned::Interned;

#[derive(Debug, Clone, PartialEq)]
struct OfferFacts {
    region: Sym,
    categories: Box<[Sym]>,
    specialties: Box<[Sym]>,
    locations: Box<[Sym]>,
}

#[derive(Debug, Clone, PartialEq)]
struct LocationFacts {
    region: Sym,
    has_position: bool,
    beds_available: f64,
    capacity_updated_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
struct TaskFacts {
    own_region: String,
    focus: Option<(String, String)>,
    business_status: String,
}

/// A resource some Tasks are about.
#[derive(Default)]
struct Focused {
    region: String,
    tasks: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Offer,
    Location,
    Task,
}

#[derive(Debug, Clone, PartialEq)]
enum Contribution {
    Cell { measure: u8, region: Sym, dimension: Sym, value: f64 },
    Updated { region: Sym, at_ms: i64 },
}

/// The maintained tables; equal tables mean equal indicator values at any time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    cells: BTreeMap<(u8, String, String), f64>,
    /// (region, capacity update time) → number of locations.
    capacity_updates: BTreeMap<(String, i64), u64>,
}

impl Tables {
    fn add(&mut self, contribution: &Contribution, sign: f64, strings: &Interner) {
        match contribution {
            Contribution::Cell { measure, region, dimension, value } => {
                let key = (*measure, strings.text(*region).to_owned(), strings.text(*dimension).to_owned());
                let cell = self.cells.entry(key.clone()).or_default();
                *cell += sign * value;
                // Empty cells are dropped so that tables built in any order compare equal.
                if cell.abs() < 1e-9 {
                    self.cells.remove(&key);
                }
            }
            Contribution::Updated { region, at_ms } => {
                let key = (strings.text(*region).to_owned(), *at_ms);
                let count = self.capacity_updates.entry(key.clone()).or_default();
                if sign > 0.0 {
                    *count += 1;
                } else {
                    *count = count.saturating_sub(1);
                }
                if *count == 0 {
                    self.capacity_updates.remove(&key);
                }
            }
        }
    }

    /// Every cell at `now_ms` (the 24 h window is read from the sorted update times).
    pub fn rows(&self, now_ms: i64) -> Vec<IndicatorRow> {
        let mut rows: Vec<IndicatorRow> = self
            .cells
            .iter()
            .map(|((measure, region, dimension), value)| IndicatorRow {
                measure: MEASURES[usize::from(*measure)].id.to_owned(),
                region: region.clone(),
                dimension: dimension.clone(),
                value: *value,
            })
            .collect();
        let mut recent: BTreeMap<&str, u64> = BTreeMap::new();
        for ((region, at_ms), count) in &self.capacity_updates {
            if *at_ms >= now_ms - DAY_MS && *at_ms <= now_ms {
                *recent.entry(region.as_str()).or_default() += count;
            }
        }
        rows.extend(recent.into_iter().map(|(region, count)| IndicatorRow {
            measure: MEASURES[usize::from(CAPACITY_UPDATED)].id.to_owned(),
            region: region.to_owned(),
            dimension: String::new(),
            value: count as f64,
        }));
        rows.sort_by(|a, b| {
            (&a.measure, &a.region, &a.dimension).cmp(&(&b.measure, &b.region, &b.dimension))
        });
        rows
    }
}

#[derive(Default)]
struct Engine {
    strings: Interner,
    offers: HashMap<Sym, OfferFacts>,
    locations: HashMap<Sym, LocationFacts>,
    tasks: HashMap<String, TaskFacts>,
    /// Location → offers referencing it (sorted; most locations have one).
    location_offers: HashMap<Sym, Vec<Sym>>,
    /// Type → id → the Tasks about that resource, and its region.
    focused: HashMap<String, HashMap<String, Focused>>,
    memo: HashMap<(Kind, Sym), Box<[Contribution]>>,
    tables: Tables,
}

fn offer_facts(resource: &Value, strings: &mut Interner) -> OfferFacts {
    let mut symbols = |texts: Vec<String>| texts.iter().map(|t| strings.intern(t)).collect::<Box<[Sym]>>();
    let locations: Vec<String> = resource
        .get("location")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|r| reference_id(Some(r))).filter(|id| !id.is_empty()).collect())
        .unwrap_or_default();
    OfferFacts {
        region: symbols(vec![region(resource)])[0],
        categories: symbols(codes(resource.get("category"))),
        specialties: symbols(codes(resource.get("specialty"))),
        locations: symbols(locations),
    }
}

fn location_facts(resource: &Value, strings: &mut Interner) -> LocationFacts {
    let capacity = CapacityTotals::of(resource);
    let has_position = resource.pointer("/position/latitude").and_then(Value::as_f64).is_some()
        && resource.pointer("/position/longitude").and_then(Value::as_f64).is_some();
    LocationFacts {
        region: strings.intern(&region(resource)),
        has_position,
        beds_available: capacity.beds_available,
        capacity_updated_ms: capacity.updated_ms,
    }
}

impl Engine {
    /// Record the new state of one resource and mark what its change affects.
    fn set(
        &mut self,
        resource_type: &str,
        id: &str,
        resource: Option<&Value>,
        resolver: &dyn FocusResolver,
        dirty: &mut HashSet<(Kind, Sym)>,
    ) {
        if let Some(focused) = self.focused.get_mut(resource_type).and_then(|ids| ids.get_mut(id)) {
            focused.region = resource.map(region).unwrap_or_default();
            for task in &focused.tasks {
                dirty.insert((Kind::Task, self.strings.intern(task)));
            }
        }
        match resource_type {
            "HealthcareService" => {
                let offer = self.strings.intern(id);
                let new = resource.map(|r| offer_facts(r, &mut self.strings));
                let old = match &new {
                    Some(facts) => self.offers.insert(offer, facts.clone()),
                    None => self.offers.remove(&offer),
                };
                for location in old.iter().flat_map(|o| o.locations.iter()) {
                    if let Some(offers) = self.location_offers.get_mut(location) {
                        offers.retain(|o| *o != offer);
                        if offers.is_empty() {
                            self.location_offers.remove(location);
                        }
                    }
                    dirty.insert((Kind::Location, *location));
                }
                for location in new.iter().flat_map(|o| o.locations.iter()) {
                    let offers = self.location_offers.entry(*location).or_default();
                    if let Err(at) = offers.binary_search(&offer) {
                        offers.insert(at, offer);
                    }
                    dirty.insert((Kind::Location, *location));
                }
                dirty.insert((Kind::Offer, offer));
            }
            "Location" => {
                let location = self.strings.intern(id);
                match resource.map(|r| location_facts(r, &mut self.strings)) {
                    Some(facts) => self.locations.insert(location, facts),
                    None => self.locations.remove(&location),
                };
                for offer in self.location_offers.get(&location).into_iter().flatten() {
                    dirty.insert((Kind::Offer, *offer));
                }
                dirty.insert((Kind::Location, location));
            }
            "Task" => {
                if let Some((target_type, target_id)) = self.tasks.remove(id).and_then(|old| old.focus) {
                    self.unfocus(&target_type, &target_id, id);
                }
                if let Some(task) = resource {
                    let resolved = resolver.resolve(task);
                    if let Some(((target_type, target_id), target_region)) = &resolved {
                        let focused = self
                            .focused
                            .entry(target_type.clone())
                            .or_default()
                            .entry(target_id.clone())
                            .or_default();
                        focused.region.clone_from(target_region);
                        focused.tasks.insert(id.to_owned());
                    }
                    let facts = TaskFacts {
                        own_region: region(task),
                        focus: resolved.map(|(target, _)| target),
                        business_status: codes(task.get("businessStatus")).join(";"),
                    };
                    self.tasks.insert(id.to_owned(), facts);
                }
                dirty.insert((Kind::Task, self.strings.intern(id)));
            }
            _ => {}
        }
    }

    fn unfocus(&mut self, target_type: &str, target_id: &str, task: &str) {
        let Some(ids) = self.focused.get_mut(target_type) else { return };
        if let Some(focused) = ids.get_mut(target_id) {
            focused.tasks.remove(task);
            if focused.tasks.is_empty() {
                ids.remove(target_id);
            }
        }
    }

    /// An anomaly's region: its focus's, else its own tag.
    fn task_region<'a>(&'a self, task: &'a TaskFacts) -> &'a str {
        task.focus
            .as_ref()
            .and_then(|(target_type, target_id)| self.focused.get(target_type)?.get(target_id))
            .map(|focused| focused.region.as_str())
            .filter(|region| !region.is_empty())
            .unwrap_or(&task.own_region)
    }

    /// The contributions of one entity (`&mut`: a dimension may be a string not seen before).
    fn contributions(&mut self, kind: Kind, id: Sym) -> Vec<Contribution> {
        let mut out = Vec::new();
        match kind {
            Kind::Offer => {
                let Some(offer) = self.offers.get(&id) else { return out };
                let mut categories: Vec<Sym> = offer.categories.to_vec();
                if categories.is_empty() {
                    categories.push(self.strings.intern(""));
                }
                categories.sort_unstable();
                categories.dedup();
                for category in categories {
                    out.push(Contribution::Cell {
                        measure: OFFERS_BY_TYPE,
                        region: offer.region,
                        dimension: category,
                        value: 1.0,
                    });
                }
                let reason = if offer.locations.is_empty() {
                    Some("no-location")
                } else if offer
                    .locations
                    .iter()
                    .any(|l| !self.locations.get(l).is_some_and(|f| f.has_position))
                {
                    Some("location-without-position")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    let region = offer.region;
                    out.push(Contribution::Cell {
                        measure: WITHOUT_LOCATION,
                        region,
                        dimension: self.strings.intern(reason),
                        value: 1.0,
                    });
                }
            }
            Kind::Location => {
                let Some(location) = self.locations.get(&id) else { return out };
                if let Some(at_ms) = location.capacity_updated_ms {
                    out.push(Contribution::Updated { region: location.region, at_ms });
                }
                if location.beds_available != 0.0 {
                    let (region, beds) = (location.region, location.beds_available);
                    let mut activities: Vec<Sym> = self
                        .location_offers
                        .get(&id)
                        .into_iter()
                        .flatten()
                        .filter_map(|offer| self.offers.get(offer))
                        .flat_map(|offer| offer.specialties.iter().copied())
                        .collect();
                    if activities.is_empty() {
                        activities.push(self.strings.intern(""));
                    }
                    activities.sort_unstable();
                    activities.dedup();
                    for activity in activities {
                        out.push(Contribution::Cell {
                            measure: AVAILABLE_BEDS,
                            region,
                            dimension: activity,
                            value: beds,
                        });
                    }
                }
            }
            Kind::Task => {
                let Some(task) = self.tasks.get(self.strings.text(id)) else { return out };
                if !CLOSED_STATUSES.contains(&task.business_status.as_str()) {
                    let (region, status) = (self.task_region(task).to_owned(), task.business_status.clone());
                    out.push(Contribution::Cell {
                        measure: OPEN_ANOMALIES,
                        region: self.strings.intern(&region),
                        dimension: self.strings.intern(&status),
                        value: 1.0,
                    });
                }
            }
        }
        out
    }

    /// Replace the contributions of the dirty entities.
    fn refresh(&mut self, dirty: HashSet<(Kind, Sym)>) {
        for (kind, id) in dirty {
            let new = self.contributions(kind, id);
            let old = if new.is_empty() {
                self.memo.remove(&(kind, id))
            } else {
                self.memo.insert((kind, id), new.clone().into())
            };
            if old.as_deref() == Some(&new[..]) {
                continue;
            }
            for contribution in old.iter().flat_map(|o| o.iter()) {
                self.tables.add(contribution, -1.0, &self.strings);
            }
            for contribution in &new {
                self.tables.add(contribution, 1.0, &self.strings);
            }
        }
    }
}

/// The maintained indicators of one service.
pub struct Indicators {
    engine: Mutex<Engine>,
    resolver: Arc<dyn FocusResolver>,
}

/// Types whose changes move an indicator.
fn relevant(resource_type: &str) -> bool {
    matches!(resource_type, "HealthcareService" | "Location" | "Task")
}

impl Indicators {
    /// Start from every live resource of the store (at service start, before the writer runs).
    pub fn from_store(store: &dyn ResourceStore, resolver: Arc<dyn FocusResolver>) -> Result<Indicators> {
        let engine = Self::scratch(store, resolver.as_ref())?;
        Ok(Indicators { engine: Mutex::new(engine), resolver })
    }

    /// The tables computed from scratch from the store (what the incremental ones must equal).
    pub fn recompute(&self, store: &dyn ResourceStore) -> Result<Tables> {
        Ok(Self::scratch(store, self.resolver.as_ref())?.tables)
    }

    fn scratch(store: &dyn ResourceStore, resolver: &dyn FocusResolver) -> Result<Engine> {
        let mut engine = Engine::default();
        let mut dirty = HashSet::new();
        // The foci of Tasks are read by the resolver: other types need no parsing here.
        store.scan_current(&mut |resource_type, id, _, json| {
            if relevant(resource_type) {
                let resource: Value = serde_json::from_slice(json).map_err(crate::error::Error::internal)?;
                engine.set(resource_type, id, Some(&resource), resolver, &mut dirty);
            }
            Ok(())
        })?;
        engine.refresh(dirty);
        Ok(engine)
    }

    /// The incrementally maintained tables.
    pub fn tables(&self) -> Tables {
        self.engine.lock().tables.clone()
    }

    /// Every indicator cell at `now`.
    pub fn rows(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<IndicatorRow> {
        self.engine.lock().tables.rows(now.timestamp_millis())
    }

    /// The region an anomaly counts in (its focus's, else its own tag), if the Task is live.
    pub fn anomaly_region(&self, task_id: &str) -> Option<String> {
        let engine = self.engine.lock();
        engine.tasks.get(task_id).map(|task| engine.task_region(task).to_owned())
    }

    /// Apply committed changes (the writer's hook).
    pub fn apply(&self, changes: &[(&str, &str, Option<&Value>)]) {
        let mut dirty = HashSet::new();
        let mut engine = self.engine.lock();
        for (resource_type, id, resource) in changes {
            engine.set(resource_type, id, *resource, self.resolver.as_ref(), &mut dirty);
        }
        engine.refresh(dirty);
    }
}

impl CommitHook for Indicators {
    fn on_commit(&self, committed: &[&Committed]) {
        // Every type: any resource may be what an anomaly is about (its region moves the Task).
        let changes: Vec<(&str, &str, Option<&Value>)> = committed
            .iter()
            .filter(|c| !c.noop)
            .map(|c| (c.resource_type.as_str(), c.id.as_str(), c.resource.as_deref()))
            .collect();
        if !changes.is_empty() {
            self.apply(&changes);
        }
    }
}

//! BI CSV extracts: named views with stable columns, documented in `index-schemas/exports.toml`
//! (a test checks each header against it). Like `$export`, an extract reads one snapshot of ids
//! and versions, then streams the resources from the store by version, one row at a time.

use std::collections::HashMap;
use std::io::Write;

use serde_json::Value;

use super::select::{root_query, snapshot_as, TypeSelection};
use crate::app::App;
use crate::error::{Error, Result};
use crate::index::DocKey;
use crate::query::params::RawParam;
use crate::query::parse::Handling;
use crate::security::guard::ProfileGuard;
use crate::security::projection::hides_sensitive;
use crate::security::view::project_captured;
use crate::security::AccessProfile;

/// The column documentation, embedded so that the binary and the tests read the same file.
pub const COLUMN_DOC: &str = include_str!("../../index-schemas/exports.toml");

const R30_SYSTEM: &str = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";
const CAPACITY_URL: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";
const COMMUNE_URL: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-commune-cog";
const FINESS_SYSTEM: &str = "https://finess.esante.gouv.fr";
const READ_CHUNK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extract {
    Offers,
    Locations,
    Organizations,
    Anomalies,
    Indicators,
}

impl Extract {
    pub const ALL: [Extract; 5] = [
        Extract::Offers,
        Extract::Locations,
        Extract::Organizations,
        Extract::Anomalies,
        Extract::Indicators,
    ];

    pub fn from_name(name: &str) -> Result<Extract> {
        Extract::ALL.into_iter().find(|e| e.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Extract::ALL.iter().map(|e| e.name()).collect();
            Error::not_found(format!("no extract {name:?} (extracts: {})", names.join(", ")))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Extract::Offers => "offers",
            Extract::Locations => "locations",
            Extract::Organizations => "organizations",
            Extract::Anomalies => "anomalies",
            Extract::Indicators => "indicators",
        }
    }

    /// The header, as documented in `index-schemas/exports.toml`.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Extract::Offers => &[
                "id",
                "identifier",
                "name",
                "active",
                "region",
                "last_updated",
                "organization_id",
                "category_codes",
                "type_codes",
                "specialty_codes",
                "location_ids",
            ],
            Extract::Locations => &[
                "id",
                "identifier",
                "name",
                "status",
                "region",
                "last_updated",
                "commune_cog",
                "latitude",
                "longitude",
                "managing_organization_id",
                "capacity_lines",
                "capacity_total",
                "beds_installed",
                "beds_available",
                "capacity_by_type_status",
                "capacity_updated",
            ],
            Extract::Organizations => &[
                "id",
                "name",
                "active",
                "region",
                "last_updated",
                "level",
                "parent_id",
                "ej_id",
                "finess",
                "type_codes",
            ],
            Extract::Anomalies => &[
                "id",
                "identifier",
                "status",
                "business_status",
                "code",
                "reason_code",
                "focus",
                "authored_on",
                "last_modified",
                "region",
                "last_updated",
            ],
            Extract::Indicators => &["measure", "region", "dimension", "value", "measured_at"],
        }
    }

    fn resource_type(self) -> Option<&'static str> {
        match self {
            Extract::Offers => Some("HealthcareService"),
            Extract::Locations => Some("Location"),
            Extract::Organizations => Some("Organization"),
            Extract::Anomalies => Some("Task"),
            Extract::Indicators => None,
        }
    }

    /// Take the snapshot the extract will stream.
    pub fn plan(self, app: &App, filters: &ExtractFilters) -> Result<ExtractPlan> {
        self.plan_as(app, filters, AccessProfile::P1)
    }

    /// As [`plan`], for an access profile: the rows hold what the profile sees (hidden
    /// resources are absent, the others projected before their columns are read).
    pub fn plan_as(self, app: &App, filters: &ExtractFilters, profile: AccessProfile) -> Result<ExtractPlan> {
        if self == Extract::Indicators && hides_sensitive(profile) {
            // Indicator values aggregate sensitive offers and every capacity record.
            return Err(Error::Forbidden {
                message: format!(
                    "the indicators extract is not available to access profile {}",
                    profile.number()
                ),
            });
        }
        let Some(resource_type) = self.resource_type() else {
            let measured_at = chrono::Utc::now();
            let rows = app
                .indicators
                .rows(measured_at)
                .into_iter()
                .filter(|row| filters.region.as_ref().is_none_or(|r| *r == row.region))
                .filter(|_| filters.since_ms.is_none_or(|s| measured_at.timestamp_millis() >= s))
                .collect();
            return Ok(ExtractPlan {
                extract: self,
                selection: Vec::new(),
                hierarchy: HashMap::new(),
                indicator_rows: rows,
                measured_at: measured_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                profile,
                anomaly_region: None,
            });
        };
        let mut params = Vec::new();
        let mut anomaly_region = None;
        match &filters.region {
            Some(region) if self == Extract::Anomalies => anomaly_region = Some(region.clone()),
            Some(region) => params.push(RawParam { name: "_tag".into(), values: vec![region.clone()] }),
            None => {}
        }
        let context = app.parse_context(Handling::Strict);
        let root = root_query(&context, resource_type, &[params], filters.since.as_deref(), false)?;
        let guard = ProfileGuard::for_profile(profile, &app.registry, app.store.as_ref());
        let selection = snapshot_as(&app.state, &app.text, std::slice::from_ref(&root), guard.as_ref())?;
        let hierarchy = if self == Extract::Organizations {
            organization_hierarchy(app, &selection)
        } else {
            HashMap::new()
        };
        Ok(ExtractPlan {
            extract: self,
            selection,
            hierarchy,
            indicator_rows: Vec::new(),
            measured_at: String::new(),
            profile,
            anomaly_region,
        })
    }
}

/// `region` (meta.tag code) and `since` (meta.lastUpdated ≥) filters.
#[derive(Debug, Clone, Default)]
pub struct ExtractFilters {
    pub region: Option<String>,
    pub since: Option<String>,
    since_ms: Option<i64>,
}

impl ExtractFilters {
    pub fn new(region: Option<String>, since: Option<String>) -> Result<ExtractFilters> {
        let since_ms = match &since {
            None => None,
            Some(value) => Some(parse_since(value)?),
        };
        Ok(ExtractFilters { region: region.filter(|r| !r.is_empty()), since, since_ms })
    }
}

/// `since` as a date (`2024-01-01`) or an RFC 3339 instant.
fn parse_since(value: &str) -> Result<i64> {
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(instant.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| Error::param("since", format!("since must be a date or an instant, got {value:?}")))
}

/// Parent and top ancestor of each selected organization, from the `partof` reference postings
/// of the same snapshot.
fn organization_hierarchy(
    app: &App,
    selection: &[TypeSelection],
) -> HashMap<DocKey, (String, String, usize)> {
    let state = app.state.read();
    let mut out = HashMap::new();
    let Some(type_index) = state.registry.type_index("Organization") else { return out };
    let Some(partof) = state.registry.resource("Organization").and_then(|s| s.param("partof")).map(|p| p.id)
    else {
        return out;
    };
    let Some(collection) = state.collection(type_index) else { return out };
    for type_selection in selection.iter().filter(|s| s.type_index == type_index) {
        for (key, _, _) in &type_selection.entries {
            let mut chain: Vec<DocKey> = Vec::new();
            let mut current = *key;
            // Bounded walk: a partOf cycle in bad data must not hang the extract.
            while chain.len() < 32 {
                let Some((_, parent)) = collection
                    .references_of(partof, current)
                    .iter()
                    .find(|(t, _)| usize::from(*t) == type_index)
                else {
                    break;
                };
                if *parent == *key || chain.contains(parent) {
                    break;
                }
                chain.push(*parent);
                current = *parent;
            }
            let name = |k: &DocKey| collection.id(*k).map(|id| id.to_string()).unwrap_or_default();
            let parent = chain.first().map(name).unwrap_or_default();
            let top = chain
                .last()
                .map(name)
                .unwrap_or_else(|| collection.id(*key).map(|i| i.to_string()).unwrap_or_default());
            out.insert(*key, (parent, top, chain.len()));
        }
    }
    out
}

/// A snapshot ready to be written.
pub struct ExtractPlan {
    pub extract: Extract,
    selection: Vec<TypeSelection>,
    hierarchy: HashMap<DocKey, (String, String, usize)>,
    indicator_rows: Vec<crate::indicators::IndicatorRow>,
    measured_at: String,
    /// The access profile the rows are projected for.
    profile: AccessProfile,
    /// Anomalies: the region rows must have (an anomaly's region is its focus's, known to the
    /// indicators, so it is not a `_tag` criterion of the selection).
    anomaly_region: Option<String>,
}

impl ExtractPlan {
    /// Rows the extract will hold.
    pub fn total(&self) -> u64 {
        if self.extract == Extract::Indicators {
            return self.indicator_rows.len() as u64;
        }
        self.selection.iter().map(|s| s.entries.len() as u64).sum()
    }

    /// Write the header and every row; `progress` gets the number of rows written per batch.
    pub fn write(&self, app: &App, out: &mut dyn Write, progress: &dyn Fn(u64)) -> Result<u64> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(self.extract.columns()).map_err(csv_error)?;
        let mut rows = 0u64;
        if self.extract == Extract::Indicators {
            for row in &self.indicator_rows {
                writer
                    .write_record([
                        row.measure.as_str(),
                        row.region.as_str(),
                        row.dimension.as_str(),
                        &format_number(row.value),
                        self.measured_at.as_str(),
                    ])
                    .map_err(csv_error)?;
                rows += 1;
            }
            progress(rows);
        }
        for type_selection in &self.selection {
            let resource_type = type_selection.resource_type.as_str();
            let mut offset = 0;
            for chunk in type_selection.entries.chunks(READ_CHUNK) {
                let contexts = type_selection.contexts.get(offset..offset + chunk.len()).unwrap_or_default();
                offset += chunk.len();
                let keys: Vec<(&str, &str, u64)> =
                    chunk.iter().map(|(_, id, version)| (resource_type, &**id, *version)).collect();
                let resources = app.store.read_many(&keys)?;
                for (index, ((key, id, version), json)) in chunk.iter().zip(resources).enumerate() {
                    let json = json.ok_or_else(|| {
                        Error::internal(format!(
                            "{resource_type}/{id} version {version} is missing from the store"
                        ))
                    })?;
                    let mut resource: Value = serde_json::from_slice(&json).map_err(Error::internal)?;
                    if !self.profile.is_unrestricted() {
                        let context = contexts.get(index).copied().unwrap_or_default();
                        if !project_captured(&app.registry, self.profile, context, &mut resource) {
                            continue;
                        }
                    }
                    let row = self.row(app, *key, id, &resource);
                    if self
                        .anomaly_region
                        .as_ref()
                        .is_some_and(|wanted| row.get(ANOMALY_REGION) != Some(wanted))
                    {
                        continue;
                    }
                    writer.write_record(&row).map_err(csv_error)?;
                    rows += 1;
                }
                progress(chunk.len() as u64);
            }
        }
        writer.flush()?;
        Ok(rows)
    }

    fn row(&self, app: &App, key: DocKey, id: &str, resource: &Value) -> Vec<String> {
        let text = |name: &str| resource.get(name).map(scalar).unwrap_or_default();
        let meta = |pointer: &str| resource.pointer(pointer).map(scalar).unwrap_or_default();
        match self.extract {
            Extract::Offers => vec![
                text("id"),
                identifiers(resource),
                text("name"),
                text("active"),
                region(resource),
                meta("/meta/lastUpdated"),
                reference_id(resource.get("providedBy")),
                concept_codes(resource.get("category")),
                concept_codes(resource.get("type")),
                concept_codes(resource.get("specialty")),
                resource
                    .get("location")
                    .and_then(Value::as_array)
                    .map(|l| l.iter().map(|r| reference_id(Some(r))).collect::<Vec<_>>().join(";"))
                    .unwrap_or_default(),
            ],
            Extract::Locations => {
                let capacity = CapacityTotals::of(resource);
                vec![
                    text("id"),
                    identifiers(resource),
                    text("name"),
                    text("status"),
                    region(resource),
                    meta("/meta/lastUpdated"),
                    extensions(resource, COMMUNE_URL)
                        .next()
                        .map(|e| concept_codes(e.get("valueCodeableConcept")))
                        .unwrap_or_default(),
                    meta("/position/latitude"),
                    meta("/position/longitude"),
                    reference_id(resource.get("managingOrganization")),
                    capacity.lines.to_string(),
                    format_number(capacity.total),
                    format_number(capacity.beds_installed),
                    format_number(capacity.beds_available),
                    capacity.by_type_status(),
                    capacity.updated.unwrap_or_default(),
                ]
            }
            Extract::Organizations => {
                let (parent, top, depth) = self.hierarchy.get(&key).cloned().unwrap_or_default();
                let level = match depth {
                    0 => "EJ",
                    1 => "EG",
                    _ => "OI",
                };
                let finess = resource
                    .get("identifier")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter(|i| i.get("system").and_then(Value::as_str) == Some(FINESS_SYSTEM))
                            .filter_map(|i| i.get("value").and_then(Value::as_str))
                            .collect::<Vec<_>>()
                            .join(";")
                    })
                    .unwrap_or_default();
                vec![
                    text("id"),
                    text("name"),
                    text("active"),
                    region(resource),
                    meta("/meta/lastUpdated"),
                    level.to_owned(),
                    parent,
                    top,
                    finess,
                    concept_codes(resource.get("type")),
                ]
            }
            Extract::Anomalies => vec![
                text("id"),
                identifiers(resource),
                text("status"),
                concept_codes(resource.get("businessStatus")),
                concept_codes(resource.get("code")),
                concept_codes(resource.get("reasonCode")),
                focus_text(resource.get("focus")),
                text("authoredOn"),
                text("lastModified"),
                app.indicators.anomaly_region(id).unwrap_or_else(|| region(resource)),
                meta("/meta/lastUpdated"),
            ],
            Extract::Indicators => Vec::new(),
        }
    }
}

/// Position of `region` among the anomalies columns.
const ANOMALY_REGION: usize = 9;

fn csv_error(error: csv::Error) -> Error {
    Error::internal(format!("csv: {error}"))
}

pub(crate) fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The region code of a resource: its TRE_R30 `meta.tag`, else its first tag code.
pub fn region(resource: &Value) -> String {
    let tags = resource.pointer("/meta/tag").and_then(Value::as_array);
    let Some(tags) = tags else { return String::new() };
    tags.iter()
        .find(|t| t.get("system").and_then(Value::as_str) == Some(R30_SYSTEM))
        .or_else(|| tags.first())
        .and_then(|t| t.get("code").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

fn identifiers(resource: &Value) -> String {
    match resource.get("identifier") {
        Some(Value::Array(ids)) => {
            ids.iter().filter_map(|i| i.get("value").and_then(Value::as_str)).collect::<Vec<_>>().join(";")
        }
        Some(Value::Object(id)) => id.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

/// Codes of a CodeableConcept or a list of them, `;`-joined.
pub fn concept_codes(value: Option<&Value>) -> String {
    codes(value).join(";")
}

pub fn codes(value: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut visit = |concept: &Value| {
        if let Some(codings) = concept.get("coding").and_then(Value::as_array) {
            out.extend(
                codings.iter().filter_map(|c| c.get("code").and_then(Value::as_str)).map(str::to_owned),
            );
        }
    };
    match value {
        Some(Value::Array(concepts)) => concepts.iter().for_each(&mut visit),
        Some(concept @ Value::Object(_)) => visit(concept),
        _ => {}
    }
    out
}

/// The id of a literal reference `Type/id`.
pub fn reference_id(reference: Option<&Value>) -> String {
    reference
        .and_then(|r| r.get("reference"))
        .and_then(Value::as_str)
        .and_then(crate::index::extract::parse_reference)
        .map(|r| r.id)
        .unwrap_or_default()
}

fn focus_text(focus: Option<&Value>) -> String {
    let Some(focus) = focus else { return String::new() };
    if let Some(reference) = focus.get("reference").and_then(Value::as_str) {
        return reference.to_owned();
    }
    let type_name = focus.get("type").and_then(Value::as_str).unwrap_or_default();
    let identifier = focus.pointer("/identifier/value").and_then(Value::as_str).unwrap_or_default();
    format!("{type_name}|{identifier}")
}

/// Extensions of `resource` with the given URL.
pub fn extensions<'a>(resource: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    resource
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |e| e.get("url").and_then(Value::as_str) == Some(url))
}

/// Capacity sums of one Location (ror-location-supported-capacity records).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CapacityTotals {
    pub lines: u64,
    pub total: f64,
    pub beds_installed: f64,
    pub beds_available: f64,
    /// (capacityType, capacityStatus) → sum, in key order.
    pub by_type_status: std::collections::BTreeMap<(String, String), f64>,
    /// Latest capacityUpdateDate, as written.
    pub updated: Option<String>,
    pub updated_ms: Option<i64>,
}

impl CapacityTotals {
    pub fn of(location: &Value) -> CapacityTotals {
        let mut totals = CapacityTotals::default();
        for record in extensions(location, CAPACITY_URL) {
            let parts = record.get("extension").and_then(Value::as_array);
            let part = |url: &str| {
                parts.and_then(|p| p.iter().find(|e| e.get("url").and_then(Value::as_str) == Some(url)))
            };
            let count =
                part("nbCapacity").and_then(|e| e.get("valueInteger")).and_then(Value::as_f64).unwrap_or(0.0);
            let capacity_type =
                concept_codes(part("capacityType").and_then(|e| e.get("valueCodeableConcept")));
            let status = concept_codes(part("capacityStatus").and_then(|e| e.get("valueCodeableConcept")));
            totals.lines += 1;
            totals.total += count;
            if capacity_type == "01" && status == "01" {
                totals.beds_installed += count;
            }
            if capacity_type == "01" && status == "02" {
                totals.beds_available += count;
            }
            *totals.by_type_status.entry((capacity_type, status)).or_default() += count;
            if let Some(date) =
                part("capacityUpdateDate").and_then(|e| e.get("valueDateTime")).and_then(Value::as_str)
            {
                if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(date) {
                    let ms = instant.timestamp_millis();
                    if totals.updated_ms.is_none_or(|m| ms > m) {
                        totals.updated_ms = Some(ms);
                        totals.updated = Some(date.to_owned());
                    }
                }
            }
        }
        totals
    }

    fn by_type_status(&self) -> String {
        self.by_type_status
            .iter()
            .map(|((t, s), n)| format!("{t}/{s}={}", format_number(*n)))
            .collect::<Vec<_>>()
            .join(";")
    }
}

//! Recording indicator values as FHIR resources through the writer: the `Measure` definitions,
//! a `{measure}-current` `MeasureReport` rewritten when a value changes, and one dated report
//! per day. Publishing is decoupled from the write path (a background thread, at most once per
//! interval) so that a burst of writes costs one extra group commit, not one per write.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{IndicatorRow, Indicators, MEASURES};
use crate::error::Result;
use crate::export::extracts::format_number;
use crate::ingest::writer::Writer;
use crate::store::WriteOp;

/// System of the Measure identifiers and group codes.
pub const INDICATOR_SYSTEM: &str = "https://ror-search.example/fhir/indicators";

/// Publishes the values of [`Indicators`] as Measure / MeasureReport resources.
pub struct IndicatorPublisher {
    indicators: Arc<Indicators>,
    writer: Writer,
    /// What was last written: measure id → (day, rows); nothing is rewritten while unchanged.
    last: Mutex<HashMap<&'static str, (String, Vec<IndicatorRow>)>>,
    measures_written: Mutex<bool>,
}

impl IndicatorPublisher {
    pub fn new(indicators: Arc<Indicators>, writer: Writer) -> IndicatorPublisher {
        IndicatorPublisher {
            indicators,
            writer,
            last: Mutex::new(HashMap::new()),
            measures_written: Mutex::new(false),
        }
    }

    /// Record the values at `now`: the Measures on first call, then for each measure whose
    /// values or day changed, its current and its daily report. Returns the resources written.
    pub fn publish(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut ops = Vec::new();
        {
            let mut measures_written = self.measures_written.lock();
            if !*measures_written {
                ops.extend(MEASURES.iter().map(|m| put(measure_resource(m, now))));
                *measures_written = true;
            }
        }
        let rows = self.indicators.rows(now);
        let day = now.format("%Y%m%d").to_string();
        let mut last = self.last.lock();
        let mut published = Vec::new();
        for measure in &MEASURES {
            let measure_rows: Vec<IndicatorRow> =
                rows.iter().filter(|r| r.measure == measure.id).cloned().collect();
            if last.get(measure.id).is_some_and(|(d, r)| *d == day && *r == measure_rows) {
                continue;
            }
            ops.push(put(report_resource(
                measure.id,
                &format!("{}-current", measure.id),
                &measure_rows,
                now,
            )));
            ops.push(put(report_resource(measure.id, &format!("{}-{day}", measure.id), &measure_rows, now)));
            published.push((measure.id, (day.clone(), measure_rows)));
        }
        if ops.is_empty() {
            return Ok(0);
        }
        let count = ops.len();
        self.writer.submit(ops)?;
        last.extend(published);
        Ok(count)
    }

    /// Publish every `interval` in a background thread, for the life of the process.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> Result<()> {
        std::thread::Builder::new()
            .name("ror-indicators".into())
            .spawn(move || loop {
                crate::search::pool::yield_to_searches();
                if let Err(error) = self.publish(Utc::now()) {
                    tracing::warn!(%error, "publishing the indicators failed");
                }
                std::thread::sleep(interval);
            })
            .map_err(crate::error::Error::internal)?;
        Ok(())
    }
}

fn put(resource: Value) -> WriteOp {
    WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: false }
}

fn measure_resource(measure: &super::MeasureDef, now: DateTime<Utc>) -> Value {
    let mut group_code = json!({"coding": [{"system": INDICATOR_SYSTEM, "code": measure.id}]});
    if let Some(object) = group_code.as_object_mut() {
        object.insert("text".into(), json!(measure.title));
    }
    let mut stratifiers = vec![json!({"code": {"text": "region"}})];
    if !measure.dimension.is_empty() {
        stratifiers.push(json!({"code": {"text": measure.dimension}}));
    }
    json!({
        "resourceType": "Measure",
        "id": measure.id,
        "meta": {"profile": ["https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-measure"]},
        "identifier": [{"system": INDICATOR_SYSTEM, "value": measure.id}],
        "name": measure.id.replace('-', "_"),
        "title": measure.title,
        "status": "active",
        "date": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "description": measure.description,
        "purpose": "Indicateur de pilotage du ROR (UC11), maintenu à chaque écriture",
        "topic": [{"text": "pilotage"}],
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-type", "code": "structure"}]}],
        "scoring": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-scoring", "code": "continuous-variable"}]},
        "group": [{"code": group_code, "description": measure.description, "stratifier": stratifiers}],
    })
}

fn report_resource(measure_id: &str, id: &str, rows: &[IndicatorRow], now: DateTime<Utc>) -> Value {
    let measure = MEASURES.iter().find(|m| m.id == measure_id);
    let dimension = measure.map(|m| m.dimension).unwrap_or_default();
    let total: f64 = rows.iter().map(|r| r.value).sum();
    let strata: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut components = vec![json!({"code": {"text": "region"}, "value": {"text": row.region}})];
            if !dimension.is_empty() {
                components.push(json!({"code": {"text": dimension}, "value": {"text": row.dimension}}));
            }
            json!({"component": components, "measureScore": {"value": row.value}})
        })
        .collect();
    let mut stratifier_codes = vec![json!({"text": "region"})];
    if !dimension.is_empty() {
        stratifier_codes.push(json!({"text": dimension}));
    }
    let day_start = now.format("%Y-%m-%dT00:00:00Z").to_string();
    json!({
        "resourceType": "MeasureReport",
        "id": id,
        "meta": {"profile": ["https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-measurereport"]},
        "identifier": [{"system": INDICATOR_SYSTEM, "value": id}],
        "status": "complete",
        "type": "summary",
        "measure": format!("Measure/{measure_id}"),
        "date": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "period": {"start": day_start, "end": now.to_rfc3339_opts(SecondsFormat::Secs, true)},
        "group": [{
            "code": {"coding": [{"system": INDICATOR_SYSTEM, "code": measure_id}]},
            "measureScore": {"value": total},
            "stratifier": [{"code": stratifier_codes, "stratum": strata}],
        }],
        "extension": [{
            "url": "https://ror-search.example/fhir/StructureDefinition/indicator-total",
            "valueString": format_number(total),
        }],
    })
}

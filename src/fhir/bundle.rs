//! Searchset Bundle rendering. Resources are spliced in as the stored JSON bytes, so a page is
//! never parsed and re-serialized (unless `_elements` asks for a projection).

use serde_json::{json, Value};

use crate::error::{Error, IssueCode, Result};
use crate::search::{EntryMode, SearchPage};
use crate::store::ResourceStore;

pub const LOCATION_DISTANCE_URL: &str = "http://hl7.org/fhir/StructureDefinition/location-distance";

pub struct BundleLinks {
    pub base_url: String,
    pub self_url: String,
    pub next_url: Option<String>,
}

fn push_json(out: &mut String, value: &Value) {
    out.push_str(&value.to_string());
}

/// Keep only the requested top-level elements (+ mandatory ones) and mark the result SUBSETTED.
pub fn project_elements(resource: &[u8], elements: &[String]) -> Result<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(resource).map_err(Error::internal)?;
    if let Some(object) = value.as_object_mut() {
        object.retain(|key, _| {
            matches!(key.as_str(), "resourceType" | "id" | "meta") || elements.iter().any(|e| e == key)
        });
        let meta = object.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let tags = meta.entry("tag").or_insert_with(|| json!([]));
            if let Some(tags) = tags.as_array_mut() {
                tags.push(json!({
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": "SUBSETTED",
                    "display": "subsetted"
                }));
            }
        }
    }
    serde_json::to_vec(&value).map_err(Error::internal)
}

/// The access-profile projection of a page: (type, id, stored JSON) of each resource → the JSON
/// to send, `None` to leave the entry out (the resource does not exist for the caller).
pub type PageProjection<'a> = &'a dyn Fn(&[StoredResource<'_>]) -> Result<Vec<Option<Vec<u8>>>>;

/// A stored resource: type, id, JSON bytes.
pub type StoredResource<'b> = (&'b str, &'b str, &'b [u8]);

/// Render one page as a FHIR searchset Bundle.
pub fn render_searchset(
    store: &dyn ResourceStore,
    page: &SearchPage,
    links: &BundleLinks,
    elements: Option<&[String]>,
    ignored: &[(String, String)],
) -> Result<String> {
    render_searchset_projected(store, page, links, elements, ignored, None)
}

/// As [`render_searchset`]; with a `projection` (restricted access profiles) the resources are
/// parsed and projected, otherwise the stored bytes are spliced in as they are.
pub fn render_searchset_projected(
    store: &dyn ResourceStore,
    page: &SearchPage,
    links: &BundleLinks,
    elements: Option<&[String]>,
    ignored: &[(String, String)],
    projection: Option<PageProjection<'_>>,
) -> Result<String> {
    let keys: Vec<(&str, &str, u64)> =
        page.entries.iter().map(|e| (e.resource_type.as_str(), &*e.id, e.version)).collect();
    let mut resources = store.read_many(&keys)?;
    if let Some(projection) = projection {
        let stored: Vec<(usize, StoredResource<'_>)> = keys
            .iter()
            .zip(resources.iter())
            .enumerate()
            .filter_map(|(index, ((resource_type, id, _), bytes))| {
                bytes.as_ref().map(|b| (index, (*resource_type, *id, &**b)))
            })
            .collect();
        let items: Vec<StoredResource<'_>> = stored.iter().map(|(_, item)| *item).collect();
        let projected = projection(&items)?;
        let mut shown: Vec<Option<std::sync::Arc<[u8]>>> = vec![None; resources.len()];
        for ((index, _), bytes) in stored.iter().zip(projected) {
            if let (Some(slot), Some(bytes)) = (shown.get_mut(*index), bytes) {
                *slot = Some(bytes.into());
            }
        }
        resources = shown;
    }
    let mut out =
        String::with_capacity(4096 + resources.iter().flatten().map(|r| r.len() + 256).sum::<usize>());
    out.push_str("{\"resourceType\":\"Bundle\",\"id\":");
    push_json(&mut out, &Value::String(uuid::Uuid::new_v4().to_string()));
    out.push_str(",\"meta\":{\"lastUpdated\":");
    push_json(
        &mut out,
        &Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    out.push_str("},\"type\":\"searchset\",\"total\":");
    out.push_str(&page.total.to_string());
    out.push_str(",\"link\":[{\"relation\":\"self\",\"url\":");
    push_json(&mut out, &Value::String(links.self_url.clone()));
    out.push('}');
    if let Some(next) = &links.next_url {
        out.push_str(",{\"relation\":\"next\",\"url\":");
        push_json(&mut out, &Value::String(next.clone()));
        out.push('}');
    }
    out.push_str("],\"entry\":[");
    let mut first = true;
    for (entry, resource) in page.entries.iter().zip(resources.iter()) {
        let Some(bytes) = resource else { continue };
        if bytes.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str("{\"fullUrl\":");
        push_json(
            &mut out,
            &Value::String(format!("{}/{}/{}", links.base_url, entry.resource_type, entry.id)),
        );
        out.push_str(",\"resource\":");
        match (elements, entry.mode) {
            (Some(elements), _) if !elements.is_empty() => {
                let projected = project_elements(bytes, elements)?;
                out.push_str(std::str::from_utf8(&projected).map_err(Error::internal)?);
            }
            _ => out.push_str(std::str::from_utf8(bytes).map_err(Error::internal)?),
        }
        let mut search = serde_json::Map::new();
        search.insert(
            "mode".into(),
            Value::String(match entry.mode {
                EntryMode::Match => "match".into(),
                EntryMode::Include => "include".into(),
            }),
        );
        if let Some(score) = entry.score {
            search.insert("score".into(), json!(score));
        }
        if let Some(distance_m) = entry.distance_m {
            let km = (distance_m / 10.0).round() / 100.0;
            search.insert(
                "extension".into(),
                json!([{
                    "url": LOCATION_DISTANCE_URL,
                    "valueDistance": {"value": km, "unit": "km", "system": "http://unitsofmeasure.org", "code": "km"}
                }]),
            );
        }
        out.push_str(",\"search\":");
        push_json(&mut out, &Value::Object(search));
        out.push('}');
    }
    if !ignored.is_empty() {
        let issues: Vec<Value> = ignored
            .iter()
            .map(|(name, reason)| {
                crate::fhir::outcome::issue(
                    "warning",
                    IssueCode::NotSupported,
                    &format!("parameter {name:?} ignored: {reason}"),
                    Some(name),
                )
            })
            .collect();
        if !first {
            out.push(',');
        }
        let outcome = json!({
            "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "resource": {"resourceType": "OperationOutcome", "issue": issues},
            "search": {"mode": "outcome"}
        });
        push_json(&mut out, &outcome);
    }
    out.push_str("]}");
    Ok(out)
}

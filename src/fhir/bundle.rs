//! Searchset Bundle rendering. Resources are spliced in as the stored JSON bytes, so a page is
//! never parsed and re-serialized (unless `_elements` asks for a projection).

use serde_json::{json, Value};

use crate::error::{Error, IssueCode, Result};
use crate::search::{EntryMode, EntryRef, SearchPage};
use crate::store::ResourceStore;

pub const LOCATION_DISTANCE_URL: &str = "http://hl7.org/fhir/StructureDefinition/location-distance";

pub struct BundleLinks {
    pub base_url: String,
    pub self_url: String,
    pub next_url: Option<String>,
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
) -> Result<Vec<u8>> {
    render_searchset_projected(store, page, links, elements, ignored, None)
}

/// Bytes reserved per entry of a page: a body grows past it (the vector doubling) only when
/// its resources are large, such as locations with many capacity records.
const ENTRY_BYTES_GUESS: usize = 3072;

/// As [`render_searchset`]; with a `projection` (restricted access profiles) the resources are
/// parsed and projected, otherwise the stored bytes are copied from the store's pages straight
/// into the Bundle (stored JSON is `serde_json` output, valid UTF-8 by construction, so the
/// body is built as bytes and never re-validated).
pub fn render_searchset_projected(
    store: &dyn ResourceStore,
    page: &SearchPage,
    links: &BundleLinks,
    elements: Option<&[String]>,
    ignored: &[(String, String)],
    projection: Option<PageProjection<'_>>,
) -> Result<Vec<u8>> {
    let keys: Vec<(&str, &str, u64)> =
        page.entries.iter().map(|e| (e.resource_type.as_str(), &*e.id, e.version)).collect();
    let mut out = Vec::with_capacity(4096 + page.entries.len() * ENTRY_BYTES_GUESS);
    out.extend_from_slice(b"{\"resourceType\":\"Bundle\",\"id\":\"");
    out.extend_from_slice(
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).as_bytes(),
    );
    out.extend_from_slice(b"\",\"meta\":{\"lastUpdated\":\"");
    out.extend_from_slice(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).as_bytes());
    out.extend_from_slice(b"\"},\"type\":\"searchset\",\"total\":");
    out.extend_from_slice(page.total.to_string().as_bytes());
    out.extend_from_slice(b",\"link\":[{\"relation\":\"self\",\"url\":");
    push_json_str(&mut out, &links.self_url)?;
    out.push(b'}');
    if let Some(next) = &links.next_url {
        out.extend_from_slice(b",{\"relation\":\"next\",\"url\":");
        push_json_str(&mut out, next)?;
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"entry\":[");
    let mut first = true;
    let mut push_next = |out: &mut Vec<u8>, entry: &EntryRef, bytes: &[u8]| -> Result<()> {
        // An empty version is a deletion.
        if bytes.is_empty() {
            return Ok(());
        }
        if !first {
            out.push(b',');
        }
        first = false;
        push_entry(out, links, entry, bytes, elements)
    };
    match projection {
        None => store.read_each(&keys, &mut |index, bytes| match page.entries.get(index) {
            Some(entry) => push_next(&mut out, entry, bytes),
            None => Ok(()),
        })?,
        Some(projection) => {
            let resources = store.read_many(&keys)?;
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
            for ((index, _), bytes) in stored.iter().zip(projected) {
                if let (Some(entry), Some(bytes)) = (page.entries.get(*index), bytes) {
                    push_next(&mut out, entry, &bytes)?;
                }
            }
        }
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
            out.push(b',');
        }
        let outcome = json!({
            "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "resource": {"resourceType": "OperationOutcome", "issue": issues},
            "search": {"mode": "outcome"}
        });
        serde_json::to_writer(&mut out, &outcome).map_err(Error::internal)?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

fn push_json_str(out: &mut Vec<u8>, text: &str) -> Result<()> {
    serde_json::to_writer(out, text).map_err(Error::internal)
}

fn push_json_number(out: &mut Vec<u8>, number: f64) -> Result<()> {
    serde_json::to_writer(out, &number).map_err(Error::internal)
}

/// One entry: `fullUrl`, the resource (projected on `_elements`), `search` (mode, score, the
/// `location-distance` extension), the members in that order.
fn push_entry(
    out: &mut Vec<u8>,
    links: &BundleLinks,
    entry: &EntryRef,
    bytes: &[u8],
    elements: Option<&[String]>,
) -> Result<()> {
    out.extend_from_slice(b"{\"fullUrl\":");
    let full_url = [links.base_url.as_str(), "/", &entry.resource_type, "/", &entry.id].concat();
    push_json_str(out, &full_url)?;
    out.extend_from_slice(b",\"resource\":");
    match elements {
        Some(elements) if !elements.is_empty() => out.extend_from_slice(&project_elements(bytes, elements)?),
        _ => out.extend_from_slice(bytes),
    }
    out.extend_from_slice(match entry.mode {
        EntryMode::Match => b",\"search\":{\"mode\":\"match\"",
        EntryMode::Include => b",\"search\":{\"mode\":\"include\"",
    });
    if let Some(score) = entry.score {
        out.extend_from_slice(b",\"score\":");
        push_json_number(out, score)?;
    }
    if let Some(distance_m) = entry.distance_m {
        let km = (distance_m / 10.0).round() / 100.0;
        out.extend_from_slice(b",\"extension\":[{\"url\":");
        push_json_str(out, LOCATION_DISTANCE_URL)?;
        out.extend_from_slice(b",\"valueDistance\":{\"value\":");
        push_json_number(out, km)?;
        out.extend_from_slice(
            b",\"unit\":\"km\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"km\"}}]",
        );
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

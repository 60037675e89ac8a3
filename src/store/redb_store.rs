//! The embedded store of record on redb: copy-on-write B-trees, one durable (fsync) commit per
//! group of units.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use super::{ChangeEntry, Committed, ResourceStore, StoredVersion, WriteOp};
use crate::error::{Error, Result};

/// "Type/id" → (current version, deleted flag).
const CURRENT: TableDefinition<&str, (u64, bool)> = TableDefinition::new("current");
/// ("Type/id", version) → resource JSON (empty for a delete marker).
const VERSIONS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("versions");
/// change sequence → ("Type/id", version).
const CHANGES: TableDefinition<u64, (&str, u64)> = TableDefinition::new("changes");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const LAST_SEQ: &str = "last_seq";
const STORE_CACHE_BYTES: usize = 256 << 20;

pub struct RedbStore {
    db: Database,
}

fn storage_key(resource_type: &str, id: &str) -> String {
    format!("{resource_type}/{id}")
}

impl RedbStore {
    pub fn open(path: &Path) -> Result<RedbStore> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // The search state answers queries; the store serves page reads and writes, so a modest
        // cache keeps the national corpus's resident memory low.
        let db = Database::builder().set_cache_size(STORE_CACHE_BYTES).create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(CURRENT)?;
            txn.open_table(VERSIONS)?;
            txn.open_table(CHANGES)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        Ok(RedbStore { db })
    }
}

fn now_instant() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sets server-owned meta: versionId always, lastUpdated unless the source's is kept.
fn stamp_meta(resource: &mut Value, version: u64, keep_last_updated: bool, now: &str) -> Result<String> {
    let object =
        resource.as_object_mut().ok_or_else(|| Error::body(None, "the resource must be a JSON object"))?;
    let meta = object.entry("meta").or_insert_with(|| Value::Object(Default::default()));
    let meta = meta.as_object_mut().ok_or_else(|| Error::body(Some("meta"), "meta must be an object"))?;
    meta.insert("versionId".into(), Value::String(version.to_string()));
    let keep = keep_last_updated && meta.get("lastUpdated").and_then(Value::as_str).is_some();
    if !keep {
        meta.insert("lastUpdated".into(), Value::String(now.to_owned()));
    }
    Ok(meta.get("lastUpdated").and_then(Value::as_str).unwrap_or(now).to_owned())
}

fn resource_identity(resource: &Value) -> Result<(String, String)> {
    let resource_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::body(Some("resourceType"), "resourceType is missing"))?;
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::unprocessable(format!("{resource_type}.id"), "the resource has no id"))?;
    Ok((resource_type.to_owned(), id.to_owned()))
}

impl ResourceStore for RedbStore {
    fn commit_units(&self, units: Vec<Vec<WriteOp>>) -> Result<Vec<Result<Vec<Committed>>>> {
        let txn = self.db.begin_write()?;
        let mut results = Vec::with_capacity(units.len());
        {
            let mut current = txn.open_table(CURRENT)?;
            let mut versions = txn.open_table(VERSIONS)?;
            let mut changes = txn.open_table(CHANGES)?;
            let mut meta = txn.open_table(META)?;
            let mut seq = meta.get(LAST_SEQ)?.map(|g| g.value()).unwrap_or(0);
            let now = now_instant();
            for unit in units {
                // Check every precondition of the unit before writing anything, so a failed
                // unit leaves no partial state inside the shared transaction.
                let mut planned = Vec::with_capacity(unit.len());
                let mut failure = None;
                // Versions the unit itself assigns, so two ops on one resource chain correctly.
                let mut pending: std::collections::HashMap<String, (u64, bool)> = Default::default();
                for op in unit {
                    let (resource_type, id, if_match, create_only) = match &op {
                        WriteOp::Put { resource, if_match, create_only, .. } => {
                            match resource_identity(resource) {
                                Ok((t, i)) => (t, i, *if_match, *create_only),
                                Err(e) => {
                                    failure = Some(e);
                                    break;
                                }
                            }
                        }
                        WriteOp::Delete { resource_type, id, if_match } => {
                            (resource_type.clone(), id.clone(), *if_match, false)
                        }
                    };
                    let key = storage_key(&resource_type, &id);
                    let existing = match pending.get(&key) {
                        Some(state) => Some(*state),
                        None => current.get(key.as_str())?.map(|g| g.value()),
                    };
                    let (previous_version, previously_deleted) = existing.unwrap_or((0, true));
                    let exists = existing.is_some() && !previously_deleted;
                    if let Some(expected) = if_match {
                        if !exists || expected != previous_version {
                            failure = Some(Error::PreconditionFailed {
                                message: format!(
                                    "version conflict on {key}: If-Match {expected}, current version {}",
                                    if exists { previous_version.to_string() } else { "none".into() }
                                ),
                            });
                            break;
                        }
                    }
                    if create_only && exists {
                        failure = Some(Error::Conflict { message: format!("{key} already exists") });
                        break;
                    }
                    let is_delete = matches!(op, WriteOp::Delete { .. });
                    if is_delete && !exists {
                        planned.push((op, key, resource_type, id, previous_version, exists, true));
                        continue;
                    }
                    let version = previous_version + 1;
                    pending.insert(key.clone(), (version, is_delete));
                    planned.push((op, key, resource_type, id, version, exists, false));
                }
                if let Some(error) = failure {
                    results.push(Err(error));
                    continue;
                }
                let mut committed = Vec::with_capacity(planned.len());
                let mut unit_error = None;
                for (op, key, resource_type, id, version, existed, noop) in planned {
                    if noop {
                        committed.push(Committed {
                            resource_type,
                            id,
                            version,
                            seq,
                            last_updated: now.clone(),
                            resource: None,
                            created: false,
                            noop: true,
                        });
                        continue;
                    }
                    seq += 1;
                    match op {
                        WriteOp::Put { mut resource, keep_last_updated, .. } => {
                            let last_updated =
                                match stamp_meta(&mut resource, version, keep_last_updated, &now) {
                                    Ok(v) => v,
                                    Err(e) => {
                                        unit_error = Some(e);
                                        break;
                                    }
                                };
                            let bytes = serde_json::to_vec(&resource).map_err(Error::internal)?;
                            versions.insert((key.as_str(), version), bytes.as_slice())?;
                            current.insert(key.as_str(), (version, false))?;
                            changes.insert(seq, (key.as_str(), version))?;
                            committed.push(Committed {
                                resource_type,
                                id,
                                version,
                                seq,
                                last_updated,
                                resource: Some(Arc::new(resource)),
                                created: !existed,
                                noop: false,
                            });
                        }
                        WriteOp::Delete { .. } => {
                            let empty: &[u8] = &[];
                            versions.insert((key.as_str(), version), empty)?;
                            current.insert(key.as_str(), (version, true))?;
                            changes.insert(seq, (key.as_str(), version))?;
                            committed.push(Committed {
                                resource_type,
                                id,
                                version,
                                seq,
                                last_updated: now.clone(),
                                resource: None,
                                created: false,
                                noop: false,
                            });
                        }
                    }
                }
                match unit_error {
                    // stamp_meta only fails before anything of that op was written, and the
                    // resource shape was validated upstream; still, report rather than panic.
                    Some(error) => results.push(Err(error)),
                    None => results.push(Ok(committed)),
                }
            }
            meta.insert(LAST_SEQ, seq)?;
        }
        txn.commit()?;
        Ok(results)
    }

    fn current(&self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        let txn = self.db.begin_read()?;
        let current = txn.open_table(CURRENT)?;
        let key = storage_key(resource_type, id);
        let Some((version, _)) = current.get(key.as_str())?.map(|g| g.value()) else {
            return Ok(None);
        };
        let versions = txn.open_table(VERSIONS)?;
        Ok(versions.get((key.as_str(), version))?.map(|bytes| {
            let bytes = bytes.value();
            StoredVersion { version, deleted: bytes.is_empty(), json: Arc::from(bytes) }
        }))
    }

    fn version(&self, resource_type: &str, id: &str, version: u64) -> Result<Option<StoredVersion>> {
        let txn = self.db.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let key = storage_key(resource_type, id);
        Ok(versions.get((key.as_str(), version))?.map(|bytes| {
            let bytes = bytes.value();
            StoredVersion { version, deleted: bytes.is_empty(), json: Arc::from(bytes) }
        }))
    }

    fn read_many(&self, keys: &[(&str, &str, u64)]) -> Result<Vec<Option<Arc<[u8]>>>> {
        let txn = self.db.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let mut out = Vec::with_capacity(keys.len());
        let mut key = String::new();
        for (resource_type, id, version) in keys {
            key.clear();
            key.push_str(resource_type);
            key.push('/');
            key.push_str(id);
            out.push(versions.get((key.as_str(), *version))?.map(|bytes| Arc::from(bytes.value())));
        }
        Ok(out)
    }

    fn history(&self, resource_type: &str, id: &str) -> Result<Vec<StoredVersion>> {
        let txn = self.db.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let key = storage_key(resource_type, id);
        let mut out = Vec::new();
        for entry in versions.range((key.as_str(), 0)..=(key.as_str(), u64::MAX))? {
            let (k, v) = entry?;
            let bytes = v.value();
            out.push(StoredVersion {
                version: k.value().1,
                deleted: bytes.is_empty(),
                json: Arc::from(bytes),
            });
        }
        out.reverse();
        Ok(out)
    }

    fn scan_current(&self, visit: &mut super::ScanVisitor<'_>) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let current = txn.open_table(CURRENT)?;
        let versions = txn.open_table(VERSIONS)?;
        let mut count = 0;
        for entry in current.iter()? {
            let (key, state) = entry?;
            let (version, deleted) = state.value();
            if deleted {
                continue;
            }
            let key = key.value();
            let Some((resource_type, id)) = key.split_once('/') else { continue };
            if let Some(bytes) = versions.get((key, version))? {
                visit(resource_type, id, version, bytes.value())?;
                count += 1;
            }
        }
        Ok(count)
    }

    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<ChangeEntry>> {
        let txn = self.db.begin_read()?;
        let changes = txn.open_table(CHANGES)?;
        let mut out = Vec::new();
        for entry in changes.range(after.saturating_add(1)..)? {
            let (seq, value) = entry?;
            let (key, version) = value.value();
            if let Some((resource_type, id)) = key.split_once('/') {
                out.push(ChangeEntry {
                    seq: seq.value(),
                    resource_type: resource_type.to_owned(),
                    id: id.to_owned(),
                    version,
                });
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn last_seq(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(LAST_SEQ)?.map(|g| g.value()).unwrap_or(0))
    }

    fn counts(&self) -> Result<Vec<(String, u64)>> {
        let txn = self.db.begin_read()?;
        let current = txn.open_table(CURRENT)?;
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for entry in current.iter()? {
            let (key, state) = entry?;
            if state.value().1 {
                continue;
            }
            if let Some((resource_type, _)) = key.value().split_once('/') {
                *counts.entry(resource_type.to_owned()).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn put(resource: Value) -> WriteOp {
        WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: true }
    }

    #[test]
    fn test_versions_changes_and_failed_unit() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("store.redb")).unwrap();
        let a =
            json!({"resourceType": "Location", "id": "a", "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}});
        let results = store.commit_units(vec![vec![put(a.clone())]]).unwrap();
        let committed = results[0].as_ref().unwrap();
        assert_eq!(committed[0].version, 1);
        assert_eq!(committed[0].last_updated, "2020-01-01T00:00:00Z");
        // A stale If-Match fails its unit only; the other unit of the group commits.
        let stale = WriteOp::Put {
            resource: a.clone(),
            if_match: Some(7),
            create_only: false,
            keep_last_updated: true,
        };
        let results = store
            .commit_units(vec![
                vec![put(json!({"resourceType": "Location", "id": "b"})), stale],
                vec![put(a)],
            ])
            .unwrap();
        assert!(results[0].is_err());
        assert_eq!(results[1].as_ref().unwrap()[0].version, 2);
        assert!(store.current("Location", "b").unwrap().is_none());
        assert_eq!(store.history("Location", "a").unwrap().len(), 2);
        assert_eq!(store.changes_since(0, 10).unwrap().len(), 2);
        assert_eq!(store.last_seq().unwrap(), 2);
        let results = store
            .commit_units(vec![vec![WriteOp::Delete {
                resource_type: "Location".into(),
                id: "a".into(),
                if_match: None,
            }]])
            .unwrap();
        assert_eq!(results[0].as_ref().unwrap()[0].version, 3);
        assert!(store.current("Location", "a").unwrap().unwrap().deleted);
        assert_eq!(store.counts().unwrap(), vec![]);
    }
}

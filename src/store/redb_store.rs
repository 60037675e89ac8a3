//! The embedded store of record on redb: copy-on-write B-trees, one durable (fsync) commit per
//! group of units.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use super::version_cache::VersionCache;
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
/// Set once the per-type live counts below are maintained (stores written before them are
/// counted once at open).
const COUNTS_READY: &str = "counts_ready";
/// `count:<Type>` → live resources of that type, kept by every commit: `counts()` is then a
/// few reads instead of a scan of every key (the reindex checks it while writes wait).
const COUNT_PREFIX: &str = "count:";
const STORE_CACHE_BYTES: usize = 32 << 20;

pub struct RedbStore {
    /// `None` once closed ([`ResourceStore::close`]).
    db: parking_lot::RwLock<Option<Database>>,
    /// Versions rendered lately ([`ResourceStore::read_each`]), kept out of the B-tree.
    rendered: VersionCache,
}

fn closed() -> Error {
    Error::internal("the store is closed")
}

fn storage_key(resource_type: &str, id: &str) -> String {
    format!("{resource_type}/{id}")
}

impl RedbStore {
    fn begin_read(&self) -> Result<redb::ReadTransaction> {
        let db = self.db.read();
        Ok(db.as_ref().ok_or_else(closed)?.begin_read()?)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction> {
        let db = self.db.read();
        Ok(db.as_ref().ok_or_else(closed)?.begin_write()?)
    }

    /// Open (or create) the store, with no cache of rendered versions: for the commands that
    /// load, reindex or check it.
    pub fn open(path: &Path) -> Result<RedbStore> {
        RedbStore::open_with_version_cache(path, 0)
    }

    /// Open for serving: up to `cache_bytes` of the versions that search pages show are kept
    /// decoded from the B-tree ([`super::version_cache`]).
    pub fn open_with_version_cache(path: &Path, cache_bytes: u64) -> Result<RedbStore> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // The search state answers queries; the store serves page reads and writes, so a modest
        // cache keeps the national corpus's resident memory low.
        // A store not closed cleanly (a crash, `kill -9`) is repaired on open: every page is
        // checked, tens of seconds at national scale. Say so, with the progress.
        let reported = std::sync::atomic::AtomicU64::new(u64::MAX);
        let db = Database::builder()
            .set_cache_size(STORE_CACHE_BYTES)
            .set_repair_callback(move |session| {
                let tenth = (session.progress() * 10.0) as u64;
                if reported.swap(tenth, std::sync::atomic::Ordering::Relaxed) != tenth {
                    tracing::warn!(
                        progress = session.progress(),
                        "the store was not closed cleanly: repairing it"
                    );
                }
            })
            .create(path)?;
        let txn = db.begin_write()?;
        {
            let current = txn.open_table(CURRENT)?;
            txn.open_table(VERSIONS)?;
            txn.open_table(CHANGES)?;
            let mut meta = txn.open_table(META)?;
            if meta.get(COUNTS_READY)?.is_none() {
                let mut counts: HashMap<String, u64> = HashMap::new();
                for entry in current.iter()? {
                    let (key, state) = entry?;
                    if !state.value().1 {
                        if let Some((resource_type, _)) = key.value().split_once('/') {
                            *counts.entry(resource_type.to_owned()).or_default() += 1;
                        }
                    }
                }
                for (resource_type, count) in counts {
                    meta.insert(format!("{COUNT_PREFIX}{resource_type}").as_str(), count)?;
                }
                meta.insert(COUNTS_READY, 1)?;
            }
        }
        txn.commit()?;
        Ok(RedbStore { db: parking_lot::RwLock::new(Some(db)), rendered: VersionCache::new(cache_bytes) })
    }
}

fn now_instant() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sets server-owned meta: versionId always, lastUpdated unless the source's is kept.
pub(crate) fn stamp_meta(
    resource: &mut Value,
    version: u64,
    keep_last_updated: bool,
    now: &str,
) -> Result<String> {
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

pub(crate) fn resource_identity(resource: &Value) -> Result<(String, String)> {
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
    fn close(&self) {
        // Dropping the database writes its clean-shutdown mark.
        drop(self.db.write().take());
    }

    fn commit_units(&self, units: Vec<Vec<WriteOp>>) -> Result<Vec<Result<Vec<Committed>>>> {
        let txn = self.begin_write()?;
        let mut results = Vec::with_capacity(units.len());
        {
            let mut current = txn.open_table(CURRENT)?;
            let mut versions = txn.open_table(VERSIONS)?;
            let mut changes = txn.open_table(CHANGES)?;
            let mut meta = txn.open_table(META)?;
            let mut seq = meta.get(LAST_SEQ)?.map(|g| g.value()).unwrap_or(0);
            let now = now_instant();
            // Resources written by earlier units of this group, so that a later unit (or a
            // later op of the same unit) reads them and chains versions correctly.
            let mut group_state: HashMap<String, Pending> = HashMap::new();
            let mut count_deltas: HashMap<String, i64> = HashMap::new();
            for unit in units {
                // Plan the whole unit (preconditions checked, patches applied) before writing
                // anything, so a failed unit leaves no partial state in the shared transaction.
                let mut unit_state: HashMap<String, Pending> = HashMap::new();
                let planned = plan_unit(unit, &current, &versions, &group_state, &mut unit_state, &now);
                let planned = match planned {
                    Ok(planned) => planned,
                    Err(error) => {
                        results.push(Err(error));
                        continue;
                    }
                };
                let mut committed = Vec::with_capacity(planned.len());
                for write in planned {
                    match write.action {
                        Action::Put { .. } if !write.existed => {
                            *count_deltas.entry(write.resource_type.clone()).or_default() += 1;
                        }
                        Action::Delete => *count_deltas.entry(write.resource_type.clone()).or_default() -= 1,
                        _ => {}
                    }
                    match write.action {
                        Action::Noop => committed.push(Committed {
                            resource_type: write.resource_type,
                            id: write.id,
                            version: write.version,
                            seq,
                            last_updated: now.clone(),
                            resource: None,
                            json: None,
                            created: false,
                            noop: true,
                            from_prepared: false,
                        }),
                        Action::Put { resource, last_updated, from_prepared, json } => {
                            seq += 1;
                            let bytes: Arc<[u8]> = match (json, &resource) {
                                (Some(bytes), _) => bytes,
                                (None, Some(resource)) => {
                                    serde_json::to_vec(resource.as_ref()).map_err(Error::internal)?.into()
                                }
                                (None, None) => return Err(Error::internal("a write without content")),
                            };
                            versions.insert((write.key.as_str(), write.version), bytes.as_ref())?;
                            current.insert(write.key.as_str(), (write.version, false))?;
                            changes.insert(seq, (write.key.as_str(), write.version))?;
                            committed.push(Committed {
                                resource_type: write.resource_type,
                                id: write.id,
                                version: write.version,
                                seq,
                                last_updated,
                                resource,
                                json: Some(bytes),
                                created: !write.existed,
                                noop: false,
                                from_prepared,
                            });
                        }
                        Action::Delete => {
                            seq += 1;
                            let empty: &[u8] = &[];
                            versions.insert((write.key.as_str(), write.version), empty)?;
                            current.insert(write.key.as_str(), (write.version, true))?;
                            changes.insert(seq, (write.key.as_str(), write.version))?;
                            committed.push(Committed {
                                resource_type: write.resource_type,
                                id: write.id,
                                version: write.version,
                                seq,
                                last_updated: now.clone(),
                                resource: None,
                                json: None,
                                created: false,
                                noop: false,
                                from_prepared: false,
                            });
                        }
                    }
                }
                group_state.extend(unit_state);
                results.push(Ok(committed));
            }
            meta.insert(LAST_SEQ, seq)?;
            for (resource_type, delta) in count_deltas {
                let key = format!("{COUNT_PREFIX}{resource_type}");
                let count = meta.get(key.as_str())?.map(|g| g.value()).unwrap_or(0);
                meta.insert(key.as_str(), count.saturating_add_signed(delta))?;
            }
        }
        txn.commit()?;
        Ok(results)
    }

    fn current(&self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let key = storage_key(resource_type, id);
        Ok(versions.get((key.as_str(), version))?.map(|bytes| {
            let bytes = bytes.value();
            StoredVersion { version, deleted: bytes.is_empty(), json: Arc::from(bytes) }
        }))
    }

    fn read_each(
        &self,
        keys: &[(&str, &str, u64)],
        visit: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        // Opened at the first version not kept: a page of kept versions takes no transaction.
        let mut versions = None;
        let mut key = String::new();
        for (index, (resource_type, id, version)) in keys.iter().enumerate() {
            key.clear();
            key.push_str(resource_type);
            key.push('/');
            key.push_str(id);
            if let Some(bytes) = self.rendered.get(&key, *version) {
                visit(index, &bytes)?;
                continue;
            }
            let versions = match &mut versions {
                Some(table) => table,
                None => versions.insert(self.begin_read()?.open_table(VERSIONS)?),
            };
            if let Some(bytes) = versions.get((key.as_str(), *version))? {
                self.rendered.insert(&key, *version, bytes.value());
                visit(index, bytes.value())?;
            }
        }
        Ok(())
    }

    fn history(&self, resource_type: &str, id: &str) -> Result<Vec<StoredVersion>> {
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(LAST_SEQ)?.map(|g| g.value()).unwrap_or(0))
    }

    fn counts(&self) -> Result<Vec<(String, u64)>> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META)?;
        let mut counts = Vec::new();
        // `;` follows `:` in ASCII: the range holds exactly the `count:` keys.
        for entry in meta.range("count:".."count;")? {
            let (key, count) = entry?;
            let count = count.value();
            if count > 0 {
                if let Some(resource_type) = key.value().strip_prefix(COUNT_PREFIX) {
                    counts.push((resource_type.to_owned(), count));
                }
            }
        }
        Ok(counts)
    }
}

/// What a unit has done to a resource so far: version, deleted flag, content.
#[derive(Clone)]
struct Pending {
    version: u64,
    deleted: bool,
    resource: Option<Arc<Value>>,
}

enum Action {
    /// `from_prepared`: the resource is the caller's [`PreparedPatch`](super::PreparedPatch).
    /// `json`: the resource as serialized by the loader, when it is what the store would write
    /// (the loader keeps no parsed `resource` then).
    Put {
        resource: Option<Arc<Value>>,
        last_updated: String,
        from_prepared: bool,
        json: Option<Arc<[u8]>>,
    },
    Delete,
    Noop,
}

struct PlannedWrite {
    key: String,
    resource_type: String,
    id: String,
    version: u64,
    existed: bool,
    action: Action,
}

type CurrentTable<'a> = redb::Table<'a, &'static str, (u64, bool)>;
type VersionsTable<'a> = redb::Table<'a, (&'static str, u64), &'static [u8]>;

fn lookup(
    key: &str,
    current: &CurrentTable<'_>,
    versions: &VersionsTable<'_>,
    group_state: &HashMap<String, Pending>,
    unit_state: &HashMap<String, Pending>,
    need_content: bool,
) -> Result<Option<Pending>> {
    if let Some(pending) = unit_state.get(key).or_else(|| group_state.get(key)) {
        return Ok(Some(pending.clone()));
    }
    let Some((version, deleted)) = current.get(key)?.map(|g| g.value()) else { return Ok(None) };
    let resource = if need_content && !deleted {
        match versions.get((key, version))? {
            Some(bytes) => {
                Some(Arc::new(serde_json::from_slice::<Value>(bytes.value()).map_err(Error::internal)?))
            }
            None => None,
        }
    } else {
        None
    };
    Ok(Some(Pending { version, deleted, resource }))
}

fn plan_unit(
    unit: Vec<WriteOp>,
    current: &CurrentTable<'_>,
    versions: &VersionsTable<'_>,
    group_state: &HashMap<String, Pending>,
    unit_state: &mut HashMap<String, Pending>,
    now: &str,
) -> Result<Vec<PlannedWrite>> {
    let mut planned = Vec::with_capacity(unit.len());
    for op in unit {
        let (resource_type, id, if_match) = match &op {
            WriteOp::Put { resource, if_match, .. } => {
                let (t, i) = resource_identity(resource)?;
                (t, i, *if_match)
            }
            WriteOp::Load { resource_type, id, .. } => (resource_type.clone(), id.clone(), None),
            WriteOp::Delete { resource_type, id, if_match }
            | WriteOp::Patch { resource_type, id, if_match, .. } => {
                (resource_type.clone(), id.clone(), *if_match)
            }
        };
        let key = storage_key(&resource_type, &id);
        let existing = lookup(&key, current, versions, group_state, unit_state, false)?;
        let previous_version = existing.as_ref().map(|p| p.version).unwrap_or(0);
        let exists = existing.as_ref().is_some_and(|p| !p.deleted);
        if let Some(expected) = if_match {
            if !exists || expected != previous_version {
                return Err(Error::PreconditionFailed {
                    message: format!(
                        "version conflict on {key}: If-Match {expected}, current version {}",
                        if exists { previous_version.to_string() } else { "none".into() }
                    ),
                });
            }
        }
        let version = previous_version + 1;
        let action = match op {
            WriteOp::Put { mut resource, create_only, keep_last_updated, .. } => {
                if create_only && exists {
                    return Err(Error::Conflict { message: format!("{key} already exists") });
                }
                let last_updated = stamp_meta(&mut resource, version, keep_last_updated, now)?;
                Action::Put {
                    resource: Some(Arc::new(resource)),
                    last_updated,
                    from_prepared: false,
                    json: None,
                }
            }
            // The loader stamped and serialized version 1: as it is for a new resource.
            WriteOp::Load { last_updated, json, .. } if version == 1 => {
                Action::Put { resource: None, last_updated, from_prepared: false, json: Some(json) }
            }
            WriteOp::Load { json, .. } => {
                let mut resource: Value = serde_json::from_slice(&json).map_err(Error::internal)?;
                let last_updated = stamp_meta(&mut resource, version, true, now)?;
                Action::Put {
                    resource: Some(Arc::new(resource)),
                    last_updated,
                    from_prepared: false,
                    json: None,
                }
            }
            WriteOp::Delete { .. } if !exists => Action::Noop,
            WriteOp::Delete { .. } => Action::Delete,
            WriteOp::Patch { patcher, prepared, .. } => {
                if !exists {
                    return Err(Error::not_found(format!("{key} is not known")));
                }
                let prepared = prepared.filter(|p| p.base_version == previous_version);
                let from_prepared = prepared.is_some();
                let mut resource = match prepared {
                    Some(prepared) => prepared.resource,
                    None => {
                        let with_content = lookup(&key, current, versions, group_state, unit_state, true)?;
                        let Some(base) = with_content.and_then(|p| p.resource) else {
                            return Err(Error::not_found(format!("{key} is not known")));
                        };
                        (patcher.0)(&base)?
                    }
                };
                let last_updated = stamp_meta(&mut resource, version, false, now)?;
                Action::Put { resource: Some(Arc::new(resource)), last_updated, from_prepared, json: None }
            }
        };
        let (version, deleted, content) = match &action {
            Action::Noop => (previous_version, true, None),
            Action::Delete => (version, true, None),
            Action::Put { resource, .. } => (version, false, resource.clone()),
        };
        unit_state.insert(key.clone(), Pending { version, deleted, resource: content });
        planned.push(PlannedWrite { key, resource_type, id, version, existed: exists, action });
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn put(resource: Value) -> WriteOp {
        WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: true }
    }

    /// A loaded resource is stored exactly as a `Put` would store it: the loader's serialization
    /// when the resource is new, a fresh one for a later version (read back from that JSON).
    #[test]
    fn test_loads_store_what_puts_store() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = RedbStore::open(&dir.path().join("loaded.redb")).unwrap();
        let put_only = RedbStore::open(&dir.path().join("put.redb")).unwrap();
        let dated = json!({"resourceType": "Location", "id": "a", "name": "Unité",
            "meta": {"source": "x", "lastUpdated": "2020-01-01T00:00:00Z"}});
        let undated = json!({"resourceType": "Location", "id": "b", "name": "Soins"});
        for _ in 0..2 {
            let ops: Vec<WriteOp> = [dated.clone(), undated.clone()]
                .into_iter()
                .map(|r| super::super::prepare_load(r).unwrap())
                .collect();
            assert!(matches!(ops[0], WriteOp::Load { .. }) && matches!(ops[1], WriteOp::Put { .. }));
            let by_load = loaded.commit_units(vec![ops]).unwrap();
            let by_put = put_only.commit_units(vec![vec![put(dated.clone())]]).unwrap();
            let (by_load, by_put) = (&by_load[0].as_ref().unwrap()[0], &by_put[0].as_ref().unwrap()[0]);
            assert_eq!(by_load.version, by_put.version);
            assert_eq!(by_load.last_updated, by_put.last_updated);
            assert_eq!(by_load.json, by_put.json, "version {}", by_load.version);
            // A first version is not kept parsed: the loader freed it.
            assert_eq!(by_load.resource.is_none(), by_load.version == 1);
            let stored = |store: &RedbStore| store.current("Location", "a").unwrap().unwrap().json;
            assert_eq!(stored(&loaded), stored(&put_only), "version {}", by_load.version);
        }
        let second = loaded.current("Location", "a").unwrap().unwrap();
        let second: Value = serde_json::from_slice(&second.json).unwrap();
        assert_eq!(second["meta"]["versionId"], "2");
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

    #[test]
    fn test_live_counts_follow_creates_deletes_and_recreates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = RedbStore::open(&path).unwrap();
        let location = |id: &str| put(json!({"resourceType": "Location", "id": id}));
        let delete =
            |id: &str| WriteOp::Delete { resource_type: "Location".into(), id: id.into(), if_match: None };
        store
            .commit_units(vec![
                vec![location("a"), location("b"), location("a")],
                vec![put(json!({"resourceType": "Task", "id": "t"}))],
            ])
            .unwrap();
        assert_eq!(store.counts().unwrap(), vec![("Location".into(), 2), ("Task".into(), 1)]);
        store.commit_units(vec![vec![delete("a")], vec![delete("a")], vec![delete("zz")]]).unwrap();
        assert_eq!(store.counts().unwrap(), vec![("Location".into(), 1), ("Task".into(), 1)]);
        // A failed unit changes no count.
        let stale = WriteOp::Put {
            resource: json!({"resourceType": "Location", "id": "c"}),
            if_match: Some(9),
            create_only: false,
            keep_last_updated: true,
        };
        assert!(store.commit_units(vec![vec![location("d"), stale]]).unwrap()[0].is_err());
        store.commit_units(vec![vec![location("a")]]).unwrap();
        assert_eq!(store.counts().unwrap(), vec![("Location".into(), 2), ("Task".into(), 1)]);
        // A store written before the counts existed is counted once when opened.
        drop(store);
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.remove(COUNTS_READY).unwrap();
                meta.remove("count:Location").unwrap();
            }
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.counts().unwrap(), vec![("Location".into(), 2), ("Task".into(), 1)]);
    }
}

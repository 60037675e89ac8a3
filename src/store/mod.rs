//! Store of record: every resource as received (after validation), each version kept, with a
//! monotonically increasing change sequence. It is the only durable truth; the search state is
//! derived from it and can always be rebuilt.
//!
//! The [`ResourceStore`] trait keeps everything above it independent of the backend (DESIGN.md
//! "Scale": an embedded store now, PostgreSQL later). [`RedbStore`] is the embedded default.

mod redb_store;
mod version_cache;

use std::sync::Arc;

pub use redb_store::RedbStore;
use serde_json::Value;

use crate::error::Result;

/// One resource write inside a unit of work. A unit (a PUT, a POST, a transaction Bundle) commits
/// all its operations or none.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Create or replace `resource` (its `resourceType` and `id` must be set).
    Put {
        resource: Value,
        /// `If-Match`: the version the client last saw; the write fails with 412 when stale.
        if_match: Option<u64>,
        /// Fail with 409/412 if the resource already exists (POST with a server id never collides).
        create_only: bool,
        /// Keep an incoming `meta.lastUpdated` (ingest of source data); when false, now is set.
        keep_last_updated: bool,
    },
    /// A resource of source data (`ror-search load`): a `Put` keeping the incoming
    /// `meta.lastUpdated`, which the loader already stamped as version 1 and serialized
    /// ([`prepare_load`]). The store writes `json` as is when the resource is new, instead of
    /// serializing it on the commit thread that bounds a load; else it reads, stamps and
    /// serializes it again. The parsed resource is not carried: it is freed by the thread
    /// that parsed it, while still in its cache.
    Load {
        resource_type: String,
        id: String,
        last_updated: String,
        json: Arc<[u8]>,
    },
    Delete {
        resource_type: String,
        id: String,
        if_match: Option<u64>,
    },
    /// Read-modify-write of the current version inside the transaction: `patcher` gets the
    /// current resource and returns the new one (or an error that fails the unit). The new
    /// version always gets the current time as `meta.lastUpdated`.
    Patch {
        resource_type: String,
        id: String,
        if_match: Option<u64>,
        patcher: Patcher,
        /// The patch already applied (and checked) by the caller to the version it read: used
        /// as is when that version is still the current one, so the single writer does not
        /// parse, patch and validate; otherwise `patcher` runs on the current version.
        prepared: Option<PreparedPatch>,
    },
}

/// The result of a [`Patcher`] on one version, computed outside the writer.
#[derive(Debug, Clone)]
pub struct PreparedPatch {
    pub base_version: u64,
    pub resource: Value,
}

/// The change a PATCH makes, applied by the store to the version it reads.
#[derive(Clone)]
pub struct Patcher(pub Arc<PatchFn>);

/// Current resource → patched resource.
pub type PatchFn = dyn Fn(&Value) -> Result<Value> + Send + Sync;

impl std::fmt::Debug for Patcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Patcher")
    }
}

/// The result of one committed operation.
#[derive(Debug, Clone)]
pub struct Committed {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub seq: u64,
    pub last_updated: String,
    /// The stored resource (with server meta); `None` for a delete.
    pub resource: Option<Arc<Value>>,
    /// Its stored JSON, the body of a write's answer (not serialized a second time).
    pub json: Option<Arc<[u8]>>,
    /// True when the resource did not exist (or was deleted) before this write.
    pub created: bool,
    /// True when the operation changed nothing (DELETE of an absent resource).
    pub noop: bool,
    /// True when a PATCH stored the caller's [`PreparedPatch`] (its base was still current).
    pub from_prepared: bool,
}

/// A stored version of a resource.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub version: u64,
    pub deleted: bool,
    pub json: Arc<[u8]>,
}

/// A change-sequence entry: what the search state, reindex replay and exports read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEntry {
    pub seq: u64,
    pub resource_type: String,
    pub id: String,
    pub version: u64,
}

/// Called with (type, id, version, JSON) for each live resource.
pub type ScanVisitor<'a> = dyn FnMut(&str, &str, u64, &[u8]) -> Result<()> + 'a;

pub trait ResourceStore: Send + Sync {
    /// Commit several independent units in one durable transaction (group commit). Each unit gets
    /// its own result; a failed unit leaves no trace, the others still commit.
    fn commit_units(&self, units: Vec<Vec<WriteOp>>) -> Result<Vec<Result<Vec<Committed>>>>;
    /// The current version of a resource, deleted ones included.
    fn current(&self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>>;
    /// One version of a resource.
    fn version(&self, resource_type: &str, id: &str, version: u64) -> Result<Option<StoredVersion>>;
    /// Several versions at once, in one read transaction (a Bundle page), copied out.
    fn read_many(&self, keys: &[(&str, &str, u64)]) -> Result<Vec<Option<Arc<[u8]>>>> {
        let mut found = vec![None; keys.len()];
        self.read_each(keys, &mut |index, bytes| {
            if let Some(slot) = found.get_mut(index) {
                *slot = Some(Arc::from(bytes));
            }
            Ok(())
        })?;
        Ok(found)
    }
    /// Several versions at once, in one read transaction, each found version's bytes lent to
    /// `visit` (with its index in `keys`) in the order of `keys` instead of copied out: a page
    /// is rendered straight from the store's pages.
    fn read_each(
        &self,
        keys: &[(&str, &str, u64)],
        visit: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()>;
    /// All versions of a resource, newest first.
    fn history(&self, resource_type: &str, id: &str) -> Result<Vec<StoredVersion>>;
    /// Visit every live resource, in key order.
    fn scan_current(&self, visit: &mut ScanVisitor<'_>) -> Result<u64>;
    /// The change entries with `seq > after`, at most `limit`.
    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<ChangeEntry>>;
    /// The last committed change sequence number.
    fn last_seq(&self) -> Result<u64>;
    /// Count of live resources per type.
    fn counts(&self) -> Result<Vec<(String, u64)>>;
    /// Close the store at shutdown, once every write is committed: the next open finds it
    /// clean instead of repairing it (half a minute at national scale). Later calls fail.
    fn close(&self) {}
}

/// The [`WriteOp::Load`] of a validated resource with a `meta.lastUpdated`, else a plain `Put`
/// (the store sets the time of its commit).
pub fn prepare_load(mut resource: Value) -> Result<WriteOp> {
    let dated = resource.pointer("/meta/lastUpdated").and_then(Value::as_str).is_some();
    if !dated {
        return Ok(WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: true });
    }
    let last_updated = redb_store::stamp_meta(&mut resource, 1, true, "")?;
    let json = serde_json::to_vec(&resource).map_err(crate::error::Error::internal)?.into();
    let (resource_type, id) = redb_store::resource_identity(&resource)?;
    Ok(WriteOp::Load { resource_type, id, last_updated, json })
}

//! The single writer: group-commits write units to the store (one fsync for many units), then
//! applies the committed changes to the search state and publishes them, then acknowledges.
//! An acknowledged write is therefore durable *and* visible to the next search.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::index::extract::{extract_resource, IndexDoc};
use crate::index::text::TextIndex;
use crate::index::{IndexChange, SearchSnapshots, SearchState};
use crate::store::{Committed, ResourceStore, WriteOp};

/// Units taken per group commit at most.
const MAX_GROUP: usize = 512;

/// A group commit slower than this is logged with its store and publication times.
const SLOW_GROUP: std::time::Duration = std::time::Duration::from_millis(100);

struct WriteRequest {
    ops: Vec<WriteOp>,
    /// Index documents the caller extracted from prepared patches, by op (see
    /// [`Writer::submit_prepared`]); empty when none.
    docs: Vec<Option<IndexDoc>>,
    reply: SyncSender<Result<Vec<Committed>>>,
}

/// What the writer thread works on while an exclusive task runs: nothing is committed,
/// published or acknowledged meanwhile, so the store and the search state stand still.
pub struct WriterContext<'a> {
    pub store: &'a dyn ResourceStore,
    pub state: &'a SearchSnapshots,
    pub text: &'a TextIndex,
}

type Exclusive = Box<dyn FnOnce(&WriterContext<'_>) + Send>;

enum Message {
    Write(WriteRequest),
    Exclusive(Exclusive),
}

#[derive(Default, Debug, Clone, Copy)]
pub struct WriterStats {
    pub groups: u64,
    pub units: u64,
    pub last_publish_micros: u64,
}

#[derive(Clone)]
pub struct Writer {
    sender: SyncSender<Message>,
    pub stats: Arc<parking_lot::Mutex<WriterStats>>,
}

impl Writer {
    pub fn spawn(
        store: Arc<dyn ResourceStore>,
        state: Arc<SearchSnapshots>,
        text: Arc<TextIndex>,
        hook: Option<Arc<dyn crate::indicators::CommitHook>>,
        priority: crate::search::pool::SearchPriority,
    ) -> Result<Writer> {
        let (sender, receiver) = mpsc::sync_channel::<Message>(4096);
        let stats = Arc::new(parking_lot::Mutex::new(WriterStats::default()));
        let thread_stats = stats.clone();
        crate::search::pool::spawn_prioritized(
            "ror-writer".into(),
            move || crate::search::pool::take_commit_priority(priority),
            move || run(receiver, store, state, text, thread_stats, hook),
        )?;
        Ok(Writer { sender, stats })
    }

    /// Commit one unit (all or nothing) and wait until it is durable and searchable.
    pub fn submit(&self, ops: Vec<WriteOp>) -> Result<Vec<Committed>> {
        self.submit_prepared(ops, Vec::new())
    }

    /// As [`submit`](Self::submit), with the index document of each op's prepared patch
    /// (extracted on the caller's thread with version 0): when the store uses the prepared
    /// resource, the single writer only stamps the document's version and `_lastUpdated`
    /// instead of extracting it again.
    pub fn submit_prepared(&self, ops: Vec<WriteOp>, docs: Vec<Option<IndexDoc>>) -> Result<Vec<Committed>> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.sender
            .send(Message::Write(WriteRequest { ops, docs, reply }))
            .map_err(|_| Error::internal("the writer thread has stopped"))?;
        answer.recv().map_err(|_| Error::internal("the writer thread dropped the request"))?
    }

    /// Run `work` on the writer thread between two group commits and return its result: the
    /// writes queued meanwhile wait, so `work` sees a store and a search state that no write
    /// changes under it (the reindex swap needs that). Keep it short: it delays every write.
    pub fn run_exclusive<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&WriterContext<'_>) -> R + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let task: Exclusive = Box::new(move |context: &WriterContext<'_>| {
            let _ = reply.send(work(context));
        });
        self.sender
            .send(Message::Exclusive(task))
            .map_err(|_| Error::internal("the writer thread has stopped"))?;
        answer.recv().map_err(|_| Error::internal("the exclusive task on the writer thread failed"))
    }

    /// Commit several independent units; they share group commits, each gets its own result.
    pub fn submit_many(&self, units: Vec<Vec<WriteOp>>) -> Vec<Result<Vec<Committed>>> {
        let mut answers = Vec::with_capacity(units.len());
        for ops in units {
            let (reply, answer) = mpsc::sync_channel(1);
            match self.sender.send(Message::Write(WriteRequest { ops, docs: Vec::new(), reply })) {
                Ok(()) => answers.push(Ok(answer)),
                Err(_) => answers.push(Err(Error::internal("the writer thread has stopped"))),
            }
        }
        answers
            .into_iter()
            .map(|answer| {
                answer.and_then(|a| {
                    a.recv().map_err(|_| Error::internal("the writer thread dropped the request"))?
                })
            })
            .collect()
    }
}

fn run(
    receiver: Receiver<Message>,
    store: Arc<dyn ResourceStore>,
    state: Arc<SearchSnapshots>,
    text: Arc<TextIndex>,
    stats: Arc<parking_lot::Mutex<WriterStats>>,
    hook: Option<Arc<dyn crate::indicators::CommitHook>>,
) {
    let context = WriterContext { store: store.as_ref(), state: &state, text: &text };
    while let Ok(message) = receiver.recv() {
        let first = match message {
            Message::Write(request) => request,
            Message::Exclusive(work) => {
                run_exclusive(work, &context);
                continue;
            }
        };
        let mut batch = vec![first];
        // An exclusive task ends the group: it must see every write queued before it.
        let mut exclusive = None;
        while batch.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(Message::Write(request)) => batch.push(request),
                Ok(Message::Exclusive(work)) => {
                    exclusive = Some(work);
                    break;
                }
                Err(_) => break,
            }
        }
        commit_group(batch, &context, &stats, hook.as_deref());
        if let Some(work) = exclusive {
            run_exclusive(work, &context);
        }
    }
}

fn run_exclusive(work: Exclusive, context: &WriterContext<'_>) {
    // A panic there must not stop the writer; the caller sees its reply channel dropped.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(context))).is_err() {
        tracing::error!("an exclusive task panicked on the writer thread");
    }
}

fn commit_group(
    batch: Vec<WriteRequest>,
    context: &WriterContext<'_>,
    stats: &parking_lot::Mutex<WriterStats>,
    hook: Option<&dyn crate::indicators::CommitHook>,
) {
    let started = Instant::now();
    let mut docs = Vec::with_capacity(batch.len());
    let (units, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|r| {
            docs.push(r.docs);
            (r.ops, r.reply)
        })
        .unzip();
    let unit_count = units.len() as u64;
    let committing = Instant::now();
    let results = match context.store.commit_units(units) {
        Ok(results) => results,
        Err(error) => {
            tracing::error!(%error, "group commit failed");
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
            return;
        }
    };
    let mut committed: Vec<&Committed> = Vec::new();
    let mut prepared_docs: Vec<Option<IndexDoc>> = Vec::new();
    for (result, mut unit_docs) in results.iter().zip(docs) {
        let Ok(entries) = result else { continue };
        unit_docs.resize_with(entries.len(), || None);
        committed.extend(entries);
        prepared_docs.extend(unit_docs);
    }
    let committed_in = committing.elapsed();
    let publishing = Instant::now();
    let published = publish_prepared(context.state, context.text, &committed, prepared_docs);
    let published_in = publishing.elapsed();
    // A slow group holds back every write queued behind it: say which half was slow.
    if committed_in + published_in > SLOW_GROUP {
        tracing::warn!(
            units = unit_count,
            store_commit_ms = committed_in.as_millis() as u64,
            publish_ms = published_in.as_millis() as u64,
            "slow group commit"
        );
    }
    if let Err(error) = published {
        // The writes are durable; the search state is rebuilt from the store at restart.
        tracing::error!(%error, "applying committed changes to the search state failed");
    }
    // Commit hook (steering indicators): sees exactly what was committed, before the ack.
    if let Some(hook) = hook {
        hook.on_commit(&committed);
    }
    {
        let mut stats = stats.lock();
        stats.groups += 1;
        stats.units += unit_count;
        stats.last_publish_micros = started.elapsed().as_micros() as u64;
    }
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
}

/// Turn committed writes into index changes and publish them in the next snapshot (writer).
/// `prepared[i]`, when present and `committed[i]` stored the prepared patch it came from, is
/// the document of that resource before the store stamped its version and `lastUpdated`.
fn publish_prepared(
    snapshots: &SearchSnapshots,
    text: &TextIndex,
    committed: &[&Committed],
    prepared: Vec<Option<IndexDoc>>,
) -> Result<()> {
    if committed.is_empty() {
        return Ok(());
    }
    let registry = snapshots.read().registry.clone();
    let mut changes = Vec::with_capacity(committed.len());
    let mut max_seq = 0;
    let mut prepared = prepared.into_iter();
    for entry in committed {
        max_seq = max_seq.max(entry.seq);
        let prepared_doc = prepared.next().flatten().filter(|_| entry.from_prepared);
        if entry.noop {
            continue;
        }
        if let Some(doc) = prepared_doc.and_then(|doc| stamp_doc(&registry, doc, entry)) {
            changes.push(IndexChange::Upsert(doc));
            continue;
        }
        match &entry.resource {
            Some(resource) => match extract_resource(&registry, resource, entry.version) {
                Ok(doc) => changes.push(IndexChange::Upsert(doc)),
                Err(error) => tracing::warn!(%error, id = %entry.id, "stored resource could not be indexed"),
            },
            None => changes.push(IndexChange::Delete {
                resource_type: entry.resource_type.clone(),
                id: entry.id.clone(),
            }),
        }
    }
    snapshots.apply_changes(text, changes, max_seq)
}

/// The document of a prepared patch with what the store stamped: the version (of the resource
/// and its records) and `_lastUpdated`, the only indexed values the stamp changes. `None` sends
/// the resource back to a full extraction.
fn stamp_doc(registry: &crate::schema::Registry, mut doc: IndexDoc, entry: &Committed) -> Option<IndexDoc> {
    let last_updated = crate::query::value::parse_date_range(&entry.last_updated).ok()?;
    let param = registry.resource(&doc.resource_type)?.param("_lastUpdated")?.id;
    doc.values.retain(|(p, _)| *p != param);
    doc.values.push((param, crate::index::extract::Values::Dates(vec![last_updated])));
    doc.version = entry.version;
    for record in &mut doc.records {
        record.version = entry.version;
    }
    Some(doc)
}

/// Stage text, commit the text index, then apply all engines, on a state being built (start-up,
/// a reindexed generation) that no request reads yet.
pub fn apply_changes(
    state: &mut SearchState,
    text: &TextIndex,
    changes: Vec<IndexChange>,
    max_seq: u64,
) -> Result<()> {
    state.apply_with_text(text, &changes, max_seq).map(|_| ())
}

/// Apply to `state` the store changes that follow its `applied_seq`, at most `limit` change
/// entries, each resource at the version its last change in the batch wrote, and return how many
/// entries were applied (0 once caught up). A reindexed generation catches up with the writes
/// that arrived during its rebuild this way.
pub fn catch_up(
    store: &dyn ResourceStore,
    state: &mut SearchState,
    text: &TextIndex,
    limit: usize,
) -> Result<usize> {
    let (registry, after) = (state.registry.clone(), state.applied_seq);
    let entries = store.changes_since(after, limit.max(1))?;
    let Some(max_seq) = entries.last().map(|e| e.seq) else { return Ok(0) };
    // Earlier changes of a resource are superseded by its last one in the batch.
    let mut last_of: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for (position, entry) in entries.iter().enumerate() {
        last_of.insert((entry.resource_type.as_str(), entry.id.as_str()), position);
    }
    let latest: Vec<&crate::store::ChangeEntry> = entries
        .iter()
        .enumerate()
        .filter(|(p, e)| last_of.get(&(e.resource_type.as_str(), e.id.as_str())) == Some(p))
        .map(|(_, e)| e)
        .collect();
    let keys: Vec<(&str, &str, u64)> =
        latest.iter().map(|e| (e.resource_type.as_str(), e.id.as_str(), e.version)).collect();
    let versions = store.read_many(&keys)?;
    let mut changes = Vec::with_capacity(latest.len());
    for (entry, bytes) in latest.iter().zip(versions) {
        let (version, bytes) = match bytes {
            Some(bytes) => (entry.version, bytes),
            // Not expected (versions are kept); the current version is as good for a replay.
            None => match store.current(&entry.resource_type, &entry.id)? {
                Some(current) => (current.version, current.json),
                None => (entry.version, Arc::from(&[][..])),
            },
        };
        if bytes.is_empty() {
            changes.push(IndexChange::Delete {
                resource_type: entry.resource_type.clone(),
                id: entry.id.clone(),
            });
            continue;
        }
        let extracted = serde_json::from_slice::<Value>(&bytes)
            .map_err(Error::internal)
            .and_then(|resource| extract_resource(&registry, &resource, version));
        match extracted {
            Ok(doc) => changes.push(IndexChange::Upsert(doc)),
            Err(error) => tracing::warn!(%error, id = %entry.id, "stored resource could not be indexed"),
        }
    }
    apply_changes(state, text, changes, max_seq)?;
    Ok(entries.len())
}

/// Rebuild the search state from every live resource of the store. JSON parsing and value
/// extraction, the costly part, run on a fixed pool of workers (one per core) while this thread
/// reads the store and applies the batches already extracted, in store order (keys are numbered
/// in that order, which is the default order of search results).
///
/// Why a pool and a pipeline: spawning workers for each batch left this thread idle during
/// extraction and the workers idle during the apply, and each batch's short-lived threads left
/// their allocator pages behind, partly used, for good.
pub fn rebuild(
    store: &dyn ResourceStore,
    state: &mut SearchState,
    text: &TextIndex,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<u64> {
    use std::panic::AssertUnwindSafe;
    use std::sync::mpsc;
    const BATCH: usize = 8_192;
    type Batch = Vec<(u64, Vec<u8>)>;
    type Job = (Batch, mpsc::SyncSender<Vec<IndexChange>>);
    type InFlight = std::collections::VecDeque<mpsc::Receiver<Vec<IndexChange>>>;
    let registry = state.registry.clone();
    let last_seq = store.last_seq()?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
    // Batches extracted ahead of the apply: enough to keep every worker busy, few enough that
    // the transient JSON stays a small part of the peak memory.
    let ahead = threads + 1;
    let failures = std::sync::atomic::AtomicU64::new(0);
    let extract = |batch: Batch| -> Vec<IndexChange> {
        batch
            .iter()
            .filter_map(|(version, bytes)| {
                let extracted = serde_json::from_slice::<Value>(bytes)
                    .map_err(Error::internal)
                    .and_then(|resource| extract_resource(&registry, &resource, *version));
                match extracted {
                    Ok(doc) => Some(IndexChange::Upsert(doc)),
                    Err(error) => {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(%error, "stored resource could not be indexed");
                        None
                    }
                }
            })
            .collect()
    };
    let (jobs, queue) = mpsc::sync_channel::<Job>(ahead);
    let queue = parking_lot::Mutex::new(queue);
    let count = std::thread::scope(|scope| -> Result<u64> {
        for _ in 0..threads {
            let (queue, extract) = (&queue, &extract);
            scope.spawn(move || loop {
                let job = queue.lock().recv();
                let Ok((batch, reply)) = job else { break };
                // A panic drops the reply: the rebuild then fails with an error naming the
                // cause, instead of the panic taking the whole process down with the scope.
                let Ok(changes) = std::panic::catch_unwind(AssertUnwindSafe(|| extract(batch))) else {
                    break;
                };
                // The apply side has stopped (an error) when nobody waits for the reply.
                if reply.send(changes).is_err() {
                    break;
                }
            });
        }
        let mut in_flight = InFlight::new();
        let mut apply_oldest = |in_flight: &mut InFlight, max_seq: u64| -> Result<()> {
            let Some(reply) = in_flight.pop_front() else { return Ok(()) };
            let changes = reply.recv().map_err(|_| Error::internal("an extraction worker stopped"))?;
            apply_changes(state, text, changes, max_seq)
        };
        let mut pending: Batch = Vec::with_capacity(BATCH);
        let submit = |batch: Batch, in_flight: &mut InFlight| -> Result<()> {
            let (reply, answer) = mpsc::sync_channel(1);
            jobs.send((batch, reply)).map_err(|_| Error::internal("the extraction workers stopped"))?;
            in_flight.push_back(answer);
            Ok(())
        };
        let count = store.scan_current(&mut |_, _, version, bytes| {
            pending.push((version, bytes.to_vec()));
            if pending.len() >= BATCH {
                submit(std::mem::replace(&mut pending, Vec::with_capacity(BATCH)), &mut in_flight)?;
                while in_flight.len() > ahead {
                    apply_oldest(&mut in_flight, 0)?;
                }
            }
            if let Some(progress) = progress {
                progress.inc(1);
            }
            Ok(())
        });
        let finished = count.and_then(|count| {
            submit(pending, &mut in_flight)?;
            while in_flight.len() > 1 {
                apply_oldest(&mut in_flight, 0)?;
            }
            apply_oldest(&mut in_flight, last_seq)?;
            Ok(count)
        });
        // Closing the queue lets the workers go (after an error too: their replies are dropped).
        drop(jobs);
        drop(in_flight);
        finished
    })?;
    state.searcher = text.merge_segments()?;
    state.shrink_to_fit();
    let failures = failures.into_inner();
    if failures > 0 {
        tracing::warn!(failures, "some stored resources could not be indexed");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::Registry;
    use crate::store::RedbStore;

    fn put(resource: Value) -> Vec<WriteOp> {
        vec![WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: false }]
    }

    fn organization(id: &str, name: &str) -> Vec<WriteOp> {
        put(json!({"resourceType": "Organization", "id": id, "name": name}))
    }

    #[test]
    fn test_catch_up_replays_creates_updates_and_deletes_after_a_rebuild() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(&dir.path().join("store.redb")).expect("store");
        let registry = Arc::new(Registry::embedded().expect("registry"));
        store.commit_units(vec![organization("o1", "Alpha"), organization("o2", "Beta")]).expect("commit");
        let text = TextIndex::create_in_ram(registry.resources.len()).expect("text");
        let mut state = SearchState::new(registry, text.searcher());
        rebuild(&store, &mut state, &text, None).expect("rebuild");
        assert_eq!(catch_up(&store, &mut state, &text, 10).expect("nothing to replay"), 0);

        let delete =
            vec![WriteOp::Delete { resource_type: "Organization".into(), id: "o2".into(), if_match: None }];
        store
            .commit_units(vec![
                organization("o1", "Alpha renamed"),
                delete,
                organization("o3", "Gamma"),
                organization("o3", "Gamma renamed"),
            ])
            .expect("commit");
        // Small batches: a resource changed in two batches is applied twice, ending at its last version.
        let mut applied = 0;
        loop {
            let step = catch_up(&store, &mut state, &text, 2).expect("catch up");
            if step == 0 {
                break;
            }
            applied += step;
        }
        assert_eq!(applied, 4);
        assert_eq!(state.applied_seq, store.last_seq().expect("last seq"));
        let organizations = state.collection_by_name("Organization").expect("collection");
        assert_eq!(organizations.len(), 2);
        let live = |id: &str| organizations.key(id).is_some_and(|k| organizations.live.contains(k));
        assert!(live("o1") && live("o3") && !live("o2"));
        let version = |id: &str| organizations.key(id).map(|k| organizations.version(k));
        assert_eq!(version("o1"), Some(2));
        assert_eq!(version("o3"), Some(2));
    }
}

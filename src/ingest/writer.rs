//! The single writer: group-commits write units to the store (one fsync for many units), then
//! applies the committed changes to the search state and publishes them, then acknowledges.
//! An acknowledged write is therefore durable *and* visible to the next search.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::index::extract::extract_resource;
use crate::index::text::TextIndex;
use crate::index::{IndexChange, SearchState};
use crate::store::{Committed, ResourceStore, WriteOp};

/// Units taken per group commit at most.
const MAX_GROUP: usize = 512;

struct WriteRequest {
    ops: Vec<WriteOp>,
    reply: SyncSender<Result<Vec<Committed>>>,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct WriterStats {
    pub groups: u64,
    pub units: u64,
    pub last_publish_micros: u64,
}

#[derive(Clone)]
pub struct Writer {
    sender: SyncSender<WriteRequest>,
    pub stats: Arc<parking_lot::Mutex<WriterStats>>,
}

impl Writer {
    pub fn spawn(
        store: Arc<dyn ResourceStore>,
        state: Arc<RwLock<SearchState>>,
        text: Arc<TextIndex>,
        hook: Option<Arc<dyn crate::indicators::CommitHook>>,
    ) -> Result<Writer> {
        let (sender, receiver) = mpsc::sync_channel::<WriteRequest>(4096);
        let stats = Arc::new(parking_lot::Mutex::new(WriterStats::default()));
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("ror-writer".into())
            .spawn(move || run(receiver, store, state, text, thread_stats, hook))
            .map_err(Error::internal)?;
        Ok(Writer { sender, stats })
    }

    /// Commit one unit (all or nothing) and wait until it is durable and searchable.
    pub fn submit(&self, ops: Vec<WriteOp>) -> Result<Vec<Committed>> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.sender
            .send(WriteRequest { ops, reply })
            .map_err(|_| Error::internal("the writer thread has stopped"))?;
        answer.recv().map_err(|_| Error::internal("the writer thread dropped the request"))?
    }

    /// Commit several independent units; they share group commits, each gets its own result.
    pub fn submit_many(&self, units: Vec<Vec<WriteOp>>) -> Vec<Result<Vec<Committed>>> {
        let mut answers = Vec::with_capacity(units.len());
        for ops in units {
            let (reply, answer) = mpsc::sync_channel(1);
            match self.sender.send(WriteRequest { ops, reply }) {
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
    receiver: Receiver<WriteRequest>,
    store: Arc<dyn ResourceStore>,
    state: Arc<RwLock<SearchState>>,
    text: Arc<TextIndex>,
    stats: Arc<parking_lot::Mutex<WriterStats>>,
    hook: Option<Arc<dyn crate::indicators::CommitHook>>,
) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (units, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.ops, r.reply)).unzip();
        let unit_count = units.len() as u64;
        let results = match store.commit_units(units) {
            Ok(results) => results,
            Err(error) => {
                tracing::error!(%error, "group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
                continue;
            }
        };
        let committed: Vec<&Committed> = results.iter().filter_map(|r| r.as_ref().ok()).flatten().collect();
        if let Err(error) = publish(&state, &text, &committed) {
            // The writes are durable; the search state is rebuilt from the store at restart.
            tracing::error!(%error, "applying committed changes to the search state failed");
        }
        // Commit hook (steering indicators): sees exactly what was committed, before the ack.
        if let Some(hook) = &hook {
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
}

/// Turn committed writes into index changes and apply them (used by the writer and at startup).
pub fn publish(state: &RwLock<SearchState>, text: &TextIndex, committed: &[&Committed]) -> Result<()> {
    if committed.is_empty() {
        return Ok(());
    }
    let registry = state.read().registry.clone();
    let mut changes = Vec::with_capacity(committed.len());
    let mut max_seq = 0;
    for entry in committed {
        max_seq = max_seq.max(entry.seq);
        if entry.noop {
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
    apply_changes(state, text, changes, max_seq)
}

/// Stage text, commit the text index, then apply all engines under one short write lock.
pub fn apply_changes(
    state: &RwLock<SearchState>,
    text: &TextIndex,
    changes: Vec<IndexChange>,
    max_seq: u64,
) -> Result<()> {
    let texts = state.write().prepare(&changes);
    let searcher = if texts.is_empty() {
        None
    } else {
        for (type_index, key, content) in &texts {
            text.stage(*type_index, *key, content.as_deref())?;
        }
        Some(text.commit()?)
    };
    let mut guard = state.write();
    guard.apply(&changes);
    if let Some(searcher) = searcher {
        guard.searcher = searcher;
    }
    guard.applied_seq = guard.applied_seq.max(max_seq);
    Ok(())
}

/// Rebuild the search state from every live resource of the store. JSON parsing and value
/// extraction, the costly part, run on every core; applying to the state stays single-threaded.
pub fn rebuild(
    store: &dyn ResourceStore,
    state: &RwLock<SearchState>,
    text: &TextIndex,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<u64> {
    const BATCH: usize = 8_192;
    let registry = state.read().registry.clone();
    let last_seq = store.last_seq()?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
    let mut pending: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
    let failures = std::sync::atomic::AtomicU64::new(0);
    let extract_batch = |batch: Vec<(u64, Vec<u8>)>| -> Vec<IndexChange> {
        let chunk_size = batch.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = batch
                .chunks(chunk_size)
                .map(|chunk| {
                    let registry = &registry;
                    let failures = &failures;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .filter_map(|(version, bytes)| {
                                let extracted = serde_json::from_slice::<Value>(bytes)
                                    .map_err(Error::internal)
                                    .and_then(|resource| extract_resource(registry, &resource, *version));
                                match extracted {
                                    Ok(doc) => Some(IndexChange::Upsert(doc)),
                                    Err(error) => {
                                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        tracing::warn!(%error, "stored resource could not be indexed");
                                        None
                                    }
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
        })
    };
    let count = store.scan_current(&mut |_, _, version, bytes| {
        pending.push((version, bytes.to_vec()));
        if pending.len() >= BATCH {
            let changes = extract_batch(std::mem::take(&mut pending));
            apply_changes(state, text, changes, 0)?;
        }
        if let Some(progress) = progress {
            progress.inc(1);
        }
        Ok(())
    })?;
    let changes = extract_batch(pending);
    apply_changes(state, text, changes, last_seq)?;
    let failures = failures.into_inner();
    if failures > 0 {
        tracing::warn!(failures, "some stored resources could not be indexed");
    }
    Ok(count)
}

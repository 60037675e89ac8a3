//! Online reindex: build a new generation of the search state from the store while queries are
//! served from the current one, catch it up with the writes that arrived meanwhile from the
//! change sequence, check it against the store's counts, and swap it in.
//!
//! The swap runs on the writer thread ([`Writer::run_exclusive`]): between the last replayed
//! change and the swap no write can commit, so the new generation misses none. The new state is
//! published as the next snapshot and the text index swaps its engine, so the writer, the search
//! service and exports, which all hold the same handles, see the new generation at once; requests
//! in flight finish on the old snapshot.

use std::sync::Arc;

use super::tasks::{AdminTasks, Task, TaskPhase};
use crate::error::{Error, Result};
use crate::index::text::TextIndex;
use crate::index::{SearchSnapshots, SearchState};
use crate::ingest::writer::{catch_up, rebuild, Writer, WriterContext};
use crate::schema::Registry;
use crate::store::ResourceStore;

pub const KIND: &str = "reindex";

/// Change entries applied per catch-up step.
const REPLAY_BATCH: usize = 4_096;
/// The worker hands over to the writer thread once this few changes remain: the writer replays
/// them while writes wait, so this bounds the pause writes see.
const SWAP_WHEN_BEHIND: u64 = 256;
/// Catch-up rounds before handing over anyway, should writes arrive faster than the replay.
const MAX_REPLAY_ROUNDS: usize = 10_000;

/// The outcome of `POST /admin/reindex`.
pub enum Started {
    New(Arc<Task>),
    /// One reindex at a time: the one queued or running.
    AlreadyRunning(Arc<Task>),
}

/// A search state and its text index, built together.
struct Generation {
    state: SearchState,
    text: TextIndex,
}

/// What the swap leaves to drop off the writer thread: the generation that lost it.
type Garbage = Box<dyn std::any::Any + Send>;

/// Start a reindex in the background unless one is running.
pub fn start(
    tasks: &AdminTasks,
    store: Arc<dyn ResourceStore>,
    registry: Arc<Registry>,
    state: &SearchSnapshots,
    writer: Writer,
) -> Result<Started> {
    let target = state.read().generation + 1;
    let task = match tasks.begin_exclusive(KIND, target) {
        Ok(task) => task,
        Err(running) => return Ok(Started::AlreadyRunning(running)),
    };
    let worker_task = task.clone();
    let spawned = std::thread::Builder::new().name("ror-reindex".into()).spawn(move || {
        crate::search::pool::yield_to_searches();
        let task = worker_task;
        let started = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&task, store.as_ref(), registry, &writer)
        }));
        match outcome {
            Ok(Ok(generation)) => {
                tracing::info!(
                    task = %task.id,
                    generation,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "reindex done, new generation serving"
                );
                task.succeed(generation);
            }
            Ok(Err(error)) => {
                tracing::error!(task = %task.id, %error, "reindex failed, the current generation keeps serving");
                task.fail(error.to_string());
            }
            Err(_) => {
                tracing::error!(task = %task.id, "reindex panicked, the current generation keeps serving");
                task.fail("the reindex worker panicked");
            }
        }
    });
    if let Err(error) = spawned {
        task.fail(format!("could not start the reindex worker: {error}"));
        return Err(Error::internal(error));
    }
    Ok(Started::New(task))
}

fn run(task: &Task, store: &dyn ResourceStore, registry: Arc<Registry>, writer: &Writer) -> Result<u64> {
    let total: u64 = store.counts()?.iter().map(|(_, n)| n).sum();
    task.enter(TaskPhase::Scanning, total);
    let text = TextIndex::create_in_ram(registry.resources.len())?;
    let mut state = SearchState::new(registry, text.searcher());
    rebuild(store, &mut state, &text, Some(task.scan_progress()))?;

    // Catch up off the writer thread while most of the backlog remains, so that the part done
    // with writes paused stays small.
    task.enter(TaskPhase::Replaying, 0);
    let from = state.applied_seq;
    for _ in 0..MAX_REPLAY_ROUNDS {
        let applied = state.applied_seq;
        let last = store.last_seq()?;
        task.set_progress(applied.saturating_sub(from), last.saturating_sub(from));
        if last.saturating_sub(applied) <= SWAP_WHEN_BEHIND
            || catch_up(store, &mut state, &text, REPLAY_BATCH)? == 0
        {
            break;
        }
    }

    task.enter(TaskPhase::Swapping, 1);
    let generation = Generation { state, text };
    let (result, garbage) = writer.run_exclusive(move |context| swap_in(context, generation))?;
    // The generation that lost the swap (the old one, or the new one on failure) is freed here
    // rather than on the writer thread, where it would delay writes.
    drop(garbage);
    result
}

/// On the writer thread: final replay, count check, swap. Returns the generation now serving and
/// the one to drop.
fn swap_in(context: &WriterContext<'_>, mut new: Generation) -> (Result<u64>, Garbage) {
    // Writes wait for as long as this runs: logged, since it is the reindex's only cost to them.
    let paused = std::time::Instant::now();
    let mut replayed = 0;
    loop {
        match catch_up(context.store, &mut new.state, &new.text, REPLAY_BATCH) {
            Ok(0) => break,
            Ok(applied) => replayed += applied,
            Err(error) => return (Err(error), Box::new(new)),
        }
    }
    let last_seq = match context.store.last_seq() {
        Ok(seq) => seq,
        Err(error) => return (Err(error), Box::new(new)),
    };
    if let Err(error) = check_counts(context.store, &new.state) {
        return (Err(error), Box::new(new));
    }
    let generation = context.state.read().generation + 1;
    new.state.generation = generation;
    new.state.applied_seq = new.state.applied_seq.max(last_seq);
    // The new state's searcher belongs to the new engine: after both swaps, the writer stages
    // into the engine whose searcher the state holds. Queries in flight keep the old state and
    // its searcher, which pins the old engine until they finish.
    if let Err(error) = context.text.swap_engine(&mut new.text) {
        return (Err(error), Box::new(new));
    }
    let Generation { state, text: old_text } = new;
    let old_state = context.state.replace(state);
    tracing::info!(
        generation,
        replayed,
        writes_paused_ms = paused.elapsed().as_millis() as u64,
        "new search state generation swapped in"
    );
    (Ok(generation), Box::new((old_state, old_text)))
}

/// Every served type has as many live resources in `state` as in the store.
fn check_counts(store: &dyn ResourceStore, state: &SearchState) -> Result<()> {
    let mut expected: std::collections::HashMap<String, u64> = store.counts()?.into_iter().collect();
    let mut mismatches = Vec::new();
    for collection in &state.collections {
        let is_record = state.registry.served(&collection.resource_type).is_none();
        let stored = expected.remove(&collection.resource_type).unwrap_or(0);
        if !is_record && collection.len() != stored {
            mismatches.push(format!(
                "{}: store {stored}, index {}",
                collection.resource_type,
                collection.len()
            ));
        }
    }
    for (resource_type, stored) in expected {
        mismatches.push(format!("{resource_type}: store {stored}, not indexed"));
    }
    if mismatches.is_empty() {
        return Ok(());
    }
    mismatches.sort();
    Err(Error::internal(format!("the new generation does not match the store ({})", mismatches.join("; "))))
}

//! `ror-search load FILE…`: NDJSON (one resource per line) or Bundle JSON files into the store.
//! Resources are validated like HTTP writes and committed in chunks; a file's invalid resource
//! stops the load with its file, line and element.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use serde_json::Value;

use super::validate::validate_resource;
use crate::error::{Error, Result};
use crate::schema::Registry;
use crate::store::{ResourceStore, WriteOp};

/// Resources per store transaction.
const CHUNK: usize = 2_000;
/// Lines per batch handed to a checking worker.
const BATCH: usize = 500;

#[derive(Debug, Default, Clone, Copy)]
pub struct LoadSummary {
    pub resources: u64,
    pub files: u64,
}

fn open(path: &Path) -> Result<Box<dyn Read>> {
    let file = std::fs::File::open(path).map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(flate2::read::GzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// Load `paths` into `store`. `on_resource` is called once per loaded resource (progress).
///
/// Lines are parsed, validated and serialized by one worker per core, while this thread reads
/// the next lines and a commit thread writes the previous chunk, in file order.
pub fn load_files(
    registry: &Registry,
    store: &dyn ResourceStore,
    paths: &[std::path::PathBuf],
    on_resource: &mut dyn FnMut(u64),
) -> Result<LoadSummary> {
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<WriteOp>>(2);
        let committer = scope.spawn(move || -> Result<()> {
            for ops in received {
                for result in store.commit_units(vec![ops])? {
                    result?;
                }
            }
            Ok(())
        });
        let mut workers = Workers::start(scope, registry);
        let produced = produce(&mut workers, paths, on_resource, &|ops| {
            chunks.send(ops).map_err(|_| Error::internal("the commit thread stopped"))
        });
        drop(workers);
        drop(chunks);
        let committed =
            committer.join().unwrap_or_else(|_| Err(Error::internal("the commit thread panicked")));
        // A failed commit stops the producer too: its error is the one to report.
        committed?;
        produced
    })
}

/// A batch's writes, in order; an invalid resource is an error naming its file and line.
type Checked = Vec<Result<WriteOp>>;

/// Work for a checking worker, from the file `name`.
struct Batch {
    name: Arc<str>,
    work: Work,
}

enum Work {
    /// NDJSON lines, numbered.
    Lines(Vec<(usize, String)>),
    /// Resources already parsed (a Bundle file's entries), with their line.
    Resources(Vec<(usize, Value)>),
}

/// Long-lived checking threads, one per core. A thread per batch cost more than the batch's
/// own allocations: each new thread's allocator heap started empty and an ended thread's
/// pages had to be reclaimed by another.
struct Workers {
    inputs: Vec<SyncSender<Batch>>,
    outputs: Vec<Receiver<Checked>>,
    /// Workers holding a batch, oldest first: results are taken in the order batches were given.
    busy: VecDeque<usize>,
    next: usize,
}

impl Workers {
    fn start<'scope>(scope: &'scope std::thread::Scope<'scope, '_>, registry: &'scope Registry) -> Workers {
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for _ in 0..worker_count() {
            let (input, batches) = std::sync::mpsc::sync_channel::<Batch>(1);
            let (results, output) = std::sync::mpsc::sync_channel::<Checked>(1);
            scope.spawn(move || {
                for Batch { name, work } in batches {
                    let checked = match work {
                        Work::Lines(lines) => check_lines(registry, &name, lines),
                        Work::Resources(resources) => check_each(registry, &name, resources),
                    };
                    if results.send(checked).is_err() {
                        return;
                    }
                }
            });
            inputs.push(input);
            outputs.push(output);
        }
        Workers { inputs, outputs, busy: VecDeque::new(), next: 0 }
    }

    /// Hand `batch` to the next worker; when all are busy, first take the oldest result.
    fn submit(&mut self, batch: Batch) -> Result<Option<Checked>> {
        let oldest = if self.busy.len() == self.inputs.len() { self.take()? } else { None };
        let worker = self.next;
        self.inputs[worker].send(batch).map_err(|_| Error::internal("a load worker stopped"))?;
        self.busy.push_back(worker);
        self.next = (worker + 1) % self.inputs.len();
        Ok(oldest)
    }

    /// The oldest batch's result, `None` when no batch is out.
    fn take(&mut self) -> Result<Option<Checked>> {
        let Some(worker) = self.busy.pop_front() else { return Ok(None) };
        let checked = self.outputs[worker].recv().map_err(|_| Error::internal("a load worker stopped"))?;
        Ok(Some(checked))
    }
}

/// Parse and validate `paths`, handing chunks of writes to `commit` in file order.
fn produce(
    workers: &mut Workers,
    paths: &[std::path::PathBuf],
    on_resource: &mut dyn FnMut(u64),
    commit: &dyn Fn(Vec<WriteOp>) -> Result<()>,
) -> Result<LoadSummary> {
    let mut files = 0;
    let mut resources = 0;
    let mut chunk: Vec<WriteOp> = Vec::with_capacity(CHUNK);
    let mut accept = |checked: Checked| -> Result<()> {
        for write in checked {
            chunk.push(write?);
            resources += 1;
            on_resource(1);
            if chunk.len() >= CHUNK {
                commit(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))?;
            }
        }
        Ok(())
    };
    for path in paths {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let mut reader = BufReader::new(open(path)?);
        let mut first_line = String::new();
        reader.read_line(&mut first_line).map_err(|e| Error::internal(format!("{name}: {e}")))?;
        // A file is NDJSON when its first line is a whole JSON value; otherwise it is one
        // (pretty-printed) JSON document: a Bundle or a single resource.
        let ndjson = !first_line.trim().is_empty()
            && serde_json::from_str::<serde::de::IgnoredAny>(&first_line).is_ok();
        if ndjson {
            let mut lines = reader.lines().enumerate();
            let mut batch = vec![(1, first_line)];
            loop {
                while batch.len() < BATCH {
                    match lines.next() {
                        Some((index, Ok(line))) => {
                            if !line.trim().is_empty() {
                                batch.push((index + 2, line));
                            }
                        }
                        Some((_, Err(e))) => return Err(Error::internal(format!("{name}: {e}"))),
                        None => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
                let lines = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if let Some(checked) =
                    workers.submit(Batch { name: name.clone(), work: Work::Lines(lines) })?
                {
                    accept(checked)?;
                }
            }
        } else {
            let mut text = first_line;
            reader.read_to_string(&mut text).map_err(|e| Error::internal(format!("{name}: {e}")))?;
            if !text.trim().is_empty() {
                let document: Value = serde_json::from_str(&text)
                    .map_err(|e| Error::body(None, format!("{name}: not JSON: {e}")))?;
                let mut entries = resources_of(1, document).into_iter().peekable();
                while entries.peek().is_some() {
                    let part = entries.by_ref().take(BATCH).collect();
                    let batch = Batch { name: name.clone(), work: Work::Resources(part) };
                    if let Some(checked) = workers.submit(batch)? {
                        accept(checked)?;
                    }
                }
            }
        }
        files += 1;
    }
    while let Some(checked) = workers.take()? {
        accept(checked)?;
    }
    if !chunk.is_empty() {
        commit(chunk)?;
    }
    Ok(LoadSummary { resources, files })
}

/// Parse and check NDJSON lines, in order.
fn check_lines(registry: &Registry, name: &str, lines: Vec<(usize, String)>) -> Checked {
    lines
        .into_iter()
        .flat_map(|(line_number, line)| match serde_json::from_str::<Value>(&line) {
            Ok(document) => check_each(registry, name, resources_of(line_number, document)),
            Err(e) => vec![Err(Error::body(None, format!("{name} line {line_number}: not JSON: {e}")))],
        })
        .collect()
}

/// A document's resources: a Bundle's entries, or the document itself.
fn resources_of(line_number: usize, document: Value) -> Vec<(usize, Value)> {
    if document.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        let entries = match document {
            Value::Object(mut object) => match object.remove("entry") {
                Some(Value::Array(entries)) => entries,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        entries
            .into_iter()
            .filter_map(|entry| match entry {
                Value::Object(mut entry) => entry.remove("resource"),
                _ => None,
            })
            .map(|resource| (line_number, resource))
            .collect()
    } else {
        vec![(line_number, document)]
    }
}

/// Validate resources in order; each valid resource becomes the write that loads it.
fn check_each(registry: &Registry, name: &str, resources: Vec<(usize, Value)>) -> Checked {
    resources
        .into_iter()
        .map(|(line_number, resource)| {
            let checked = match validate_resource(registry, &resource, None) {
                Ok((_, Some(_))) => crate::store::prepare_load(resource),
                Ok((_, None)) => Err(Error::body(Some("id"), "the resource has no id")),
                Err(error) => Err(error),
            };
            checked.map_err(|e| Error::body(e.expression(), format!("{name} line {line_number}: {e}")))
        })
        .collect()
}

fn worker_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8)
}

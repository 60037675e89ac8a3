//! `ror-search load FILE…`: NDJSON (one resource per line) or Bundle JSON files into the store.
//! Resources are validated like HTTP writes and committed in chunks; a file's invalid resource
//! stops the load with its file, line and element.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use super::validate::validate_resource;
use crate::error::{Error, Result};
use crate::schema::Registry;
use crate::store::{ResourceStore, WriteOp};

/// Resources per store transaction.
const CHUNK: usize = 2_000;

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
/// Commits run on their own thread, in file order, while the next lines are parsed and
/// validated: the store transaction of a chunk no longer leaves the other cores idle.
pub fn load_files(
    registry: &Registry,
    store: &dyn ResourceStore,
    paths: &[std::path::PathBuf],
    on_resource: &mut dyn FnMut(u64),
) -> Result<LoadSummary> {
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<WriteOp>>(2);
        // Freeing a chunk's parsed resources took an eighth of the commit thread, the one that
        // bounds a load: another thread does it.
        let (done, to_free) = std::sync::mpsc::sync_channel::<Vec<crate::store::Committed>>(2);
        scope.spawn(move || to_free.into_iter().for_each(drop));
        let committer = scope.spawn(move || -> Result<()> {
            for ops in received {
                for result in store.commit_units(vec![ops])? {
                    let _ = done.send(result?);
                }
            }
            Ok(())
        });
        let produced = produce(registry, paths, on_resource, &|ops| {
            chunks.send(ops).map_err(|_| Error::internal("the commit thread stopped"))
        });
        drop(chunks);
        let committed =
            committer.join().unwrap_or_else(|_| Err(Error::internal("the commit thread panicked")));
        // A failed commit stops the producer too: its error is the one to report.
        committed?;
        produced
    })
}

/// Parse and validate `paths`, handing chunks of writes to `commit` in file order.
fn produce(
    registry: &Registry,
    paths: &[std::path::PathBuf],
    on_resource: &mut dyn FnMut(u64),
    commit: &dyn Fn(Vec<WriteOp>) -> Result<()>,
) -> Result<LoadSummary> {
    let mut summary = LoadSummary::default();
    let mut chunk: Vec<WriteOp> = Vec::with_capacity(CHUNK);
    let flush = |chunk: &mut Vec<WriteOp>| -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        commit(std::mem::replace(chunk, Vec::with_capacity(CHUNK)))
    };
    for path in paths {
        let name = path.display().to_string();
        let mut reader = BufReader::new(open(path)?);
        let mut first_line = String::new();
        reader.read_line(&mut first_line).map_err(|e| Error::internal(format!("{name}: {e}")))?;
        // A file is NDJSON when its first line is a whole JSON value; otherwise it is one
        // (pretty-printed) JSON document: a Bundle or a single resource.
        let mut documents: Vec<(usize, Value)> = Vec::new();
        let first_value =
            if first_line.trim().is_empty() { None } else { serde_json::from_str::<Value>(&first_line).ok() };
        let ndjson = first_value.is_some();
        if let Some(value) = first_value {
            documents.push((1, value));
        } else {
            let mut text = first_line;
            reader.read_to_string(&mut text).map_err(|e| Error::internal(format!("{name}: {e}")))?;
            if !text.trim().is_empty() {
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| Error::body(None, format!("{name}: not JSON: {e}")))?;
                documents.push((1, value));
            }
        }
        let mut lines = ndjson.then(|| reader.lines().enumerate());
        // Parsing and validation are the costly part of a load: they run on every core, a
        // batch of lines at a time; commits stay in file order.
        let mut raw: Vec<(usize, String)> = Vec::with_capacity(CHUNK);
        loop {
            let next_line = match lines.as_mut() {
                Some(iterator) => iterator.next(),
                None => None,
            };
            let done = next_line.is_none();
            if let Some((index, line)) = next_line {
                let line = line.map_err(|e| Error::internal(format!("{name}: {e}")))?;
                if !line.trim().is_empty() {
                    raw.push((index + 2, line));
                }
            }
            if raw.len() >= CHUNK || (done && !raw.is_empty()) {
                for (line_number, result) in parse_batch(std::mem::take(&mut raw)) {
                    let value = result.map_err(|e| {
                        Error::body(None, format!("{name} line {line_number}: not JSON: {e}"))
                    })?;
                    documents.push((line_number, value));
                }
            }
            if !documents.is_empty() {
                let batch = std::mem::take(&mut documents);
                for (line_number, resource) in validate_batch(registry, batch) {
                    let resource = resource.map_err(|e| {
                        Error::body(e.expression(), format!("{name} line {line_number}: {e}"))
                    })?;
                    chunk.push(resource);
                    summary.resources += 1;
                    on_resource(1);
                    if chunk.len() >= CHUNK {
                        flush(&mut chunk)?;
                    }
                }
            }
            if done {
                break;
            }
        }
        summary.files += 1;
    }
    flush(&mut chunk)?;
    Ok(summary)
}

fn worker_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8)
}

/// Parse lines on every core, keeping their order.
fn parse_batch(lines: Vec<(usize, String)>) -> Vec<(usize, std::result::Result<Value, serde_json::Error>)> {
    let size = lines.len().div_ceil(worker_count()).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = lines
            .chunks(size)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk.iter().map(|(n, line)| (*n, serde_json::from_str(line))).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    })
}

/// Expand Bundles and validate every resource on every core, keeping their order; each valid
/// resource becomes the write that loads it.
fn validate_batch(registry: &Registry, documents: Vec<(usize, Value)>) -> Vec<(usize, Result<WriteOp>)> {
    let mut resources = Vec::with_capacity(documents.len());
    for (line_number, document) in documents {
        if document.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
            let entries = document.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
            resources.extend(
                entries.into_iter().filter_map(|e| e.get("resource").cloned()).map(|r| (line_number, r)),
            );
        } else {
            resources.push((line_number, document));
        }
    }
    let size = resources.len().div_ceil(worker_count()).max(1);
    let mut owned_chunks: Vec<Vec<(usize, Value)>> = Vec::new();
    let mut rest = resources;
    while !rest.is_empty() {
        let tail = rest.split_off(size.min(rest.len()));
        owned_chunks.push(std::mem::replace(&mut rest, tail));
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = owned_chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(n, resource)| {
                            let checked = match validate_resource(registry, &resource, None) {
                                Ok((_, Some(_))) => crate::store::prepare_load(resource),
                                Ok((_, None)) => Err(Error::body(Some("id"), "the resource has no id")),
                                Err(error) => Err(error),
                            };
                            (n, checked)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    })
}

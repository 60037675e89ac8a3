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

fn put(resource: Value) -> WriteOp {
    WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: true }
}

/// Load `paths` into `store`. `on_resource` is called once per loaded resource (progress).
pub fn load_files(
    registry: &Registry,
    store: &dyn ResourceStore,
    paths: &[std::path::PathBuf],
    on_resource: &mut dyn FnMut(u64),
) -> Result<LoadSummary> {
    let mut summary = LoadSummary::default();
    let mut chunk: Vec<WriteOp> = Vec::with_capacity(CHUNK);
    let flush = |chunk: &mut Vec<WriteOp>| -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(chunk);
        for result in store.commit_units(vec![ops])? {
            result?;
        }
        Ok(())
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
        loop {
            for (line_number, document) in documents.drain(..) {
                let resources: Vec<Value> = if document.get("resourceType").and_then(Value::as_str)
                    == Some("Bundle")
                {
                    document
                        .get("entry")
                        .and_then(Value::as_array)
                        .map(|entries| entries.iter().filter_map(|e| e.get("resource").cloned()).collect())
                        .unwrap_or_default()
                } else {
                    vec![document]
                };
                for resource in resources {
                    let (_, id) = validate_resource(registry, &resource, None).map_err(|e| {
                        Error::body(e.expression(), format!("{name} line {line_number}: {e}"))
                    })?;
                    if id.is_none() {
                        return Err(Error::body(
                            Some("id"),
                            format!("{name} line {line_number}: the resource has no id"),
                        ));
                    }
                    chunk.push(put(resource));
                    summary.resources += 1;
                    on_resource(1);
                    if chunk.len() >= CHUNK {
                        flush(&mut chunk)?;
                    }
                }
            }
            let Some(iterator) = lines.as_mut() else { break };
            let Some((index, line)) = iterator.next() else { break };
            let line = line.map_err(|e| Error::internal(format!("{name}: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| Error::body(None, format!("{name} line {}: not JSON: {e}", index + 2)))?;
            documents.push((index + 2, value));
        }
        summary.files += 1;
    }
    flush(&mut chunk)?;
    Ok(summary)
}

//! One buffered NDJSON file per resource type, written by a dedicated thread.
//!
//! Resources are serialised where they are built (freeing a JSON tree on another thread
//! than the one that allocated it makes glibc's allocator much slower), and the bytes go in
//! batches through a bounded channel to a thread that does the file I/O. The channel keeps
//! memory bounded and the file order identical to the order of `write` calls.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use serde_json::Value;

use crate::generate::error::GenerateError;

/// The resource types of the corpus, in the order of [`GenerateSummary::counts`].
///
/// [`GenerateSummary::counts`]: crate::generate::GenerateSummary
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Organization,
    Location,
    HealthcareService,
    PractitionerRole,
    Practitioner,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Organization,
        Kind::Location,
        Kind::HealthcareService,
        Kind::PractitionerRole,
        Kind::Practitioner,
    ];

    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Organization => "Organization",
            Kind::Location => "Location",
            Kind::HealthcareService => "HealthcareService",
            Kind::PractitionerRole => "PractitionerRole",
            Kind::Practitioner => "Practitioner",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Organization => 0,
            Kind::Location => 1,
            Kind::HealthcareService => 2,
            Kind::PractitionerRole => 3,
            Kind::Practitioner => 4,
        }
    }
}

/// Bytes of serialised resources per batch.
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight, so at most a few tens of MB are queued.
const QUEUE: usize = 16;

/// Resource counts by type name, and the written files, both in `Kind::ALL` order.
pub type Written = (Vec<(String, u64)>, Vec<PathBuf>);

/// Serialised lines for each resource type, in `Kind::ALL` order.
type Batch = Vec<Vec<u8>>;

fn empty_batch() -> Batch {
    Kind::ALL.iter().map(|_| Vec::with_capacity(BATCH_BYTES / 4)).collect()
}

struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
}

/// The five output files of a corpus.
pub struct Output {
    paths: Vec<PathBuf>,
    counts: [u64; 5],
    pending: Batch,
    pending_bytes: usize,
    sender: Option<SyncSender<Batch>>,
    worker: Option<JoinHandle<Result<(), GenerateError>>>,
}

impl Output {
    /// Creates (or truncates) `<Type>.ndjson` for every resource type in `dir`.
    pub fn create(dir: &Path) -> Result<Output, GenerateError> {
        std::fs::create_dir_all(dir).map_err(|source| GenerateError::Io { path: dir.to_owned(), source })?;
        let mut sinks = Vec::with_capacity(Kind::ALL.len());
        for kind in Kind::ALL {
            let path = dir.join(format!("{}.ndjson", kind.resource_type()));
            let file =
                File::create(&path).map_err(|source| GenerateError::Io { path: path.clone(), source })?;
            sinks.push(Sink { path, out: BufWriter::with_capacity(1 << 20, file) });
        }
        let paths = sinks.iter().map(|s| s.path.clone()).collect();
        let (sender, receiver) = sync_channel::<Batch>(QUEUE);
        let worker = std::thread::Builder::new()
            .name("corpus-writer".to_owned())
            .spawn(move || {
                for batch in receiver {
                    for (sink, bytes) in sinks.iter_mut().zip(batch) {
                        sink.out
                            .write_all(&bytes)
                            .map_err(|source| GenerateError::Io { path: sink.path.clone(), source })?;
                    }
                }
                for sink in &mut sinks {
                    sink.out
                        .flush()
                        .map_err(|source| GenerateError::Io { path: sink.path.clone(), source })?;
                }
                Ok(())
            })
            .map_err(|source| GenerateError::Io { path: dir.to_owned(), source })?;
        Ok(Output {
            paths,
            counts: [0; 5],
            pending: empty_batch(),
            pending_bytes: 0,
            sender: Some(sender),
            worker: Some(worker),
        })
    }

    /// Appends one resource as one line.
    pub fn write(&mut self, kind: Kind, resource: Value) -> Result<(), GenerateError> {
        let index = kind.index();
        self.counts[index] += 1;
        let buffer = &mut self.pending[index];
        let before = buffer.len();
        serde_json::to_writer(&mut *buffer, &resource)
            .map_err(|source| GenerateError::Json { resource_type: kind.resource_type(), source })?;
        buffer.push(b'\n');
        self.pending_bytes += buffer.len() - before;
        drop(resource);
        if self.pending_bytes >= BATCH_BYTES {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), GenerateError> {
        let batch = std::mem::replace(&mut self.pending, empty_batch());
        self.pending_bytes = 0;
        let delivered = self.sender.as_ref().is_some_and(|sender| sender.send(batch).is_ok());
        if delivered {
            Ok(())
        } else {
            // The writer stopped early: its own error says why.
            self.join().and(Err(self.stopped()))
        }
    }

    fn stopped(&self) -> GenerateError {
        GenerateError::Io {
            path: self.paths.first().cloned().unwrap_or_default(),
            source: std::io::Error::other("the corpus writer thread stopped"),
        }
    }

    fn join(&mut self) -> Result<(), GenerateError> {
        self.sender = None;
        match self.worker.take() {
            Some(worker) => worker.join().map_err(|_| self.stopped())?,
            None => Ok(()),
        }
    }

    pub fn count(&self, kind: Kind) -> u64 {
        self.counts[kind.index()]
    }

    /// Writes what is pending, waits for the writer, and returns the counts and paths in
    /// [`Kind::ALL`] order.
    pub fn finish(mut self) -> Result<Written, GenerateError> {
        if self.pending_bytes > 0 {
            self.send()?;
        }
        self.join()?;
        let counts =
            Kind::ALL.iter().map(|kind| (kind.resource_type().to_owned(), self.count(*kind))).collect();
        Ok((counts, std::mem::take(&mut self.paths)))
    }
}

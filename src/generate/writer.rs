//! One buffered NDJSON file per resource type.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
    pub const ALL: [Kind; 5] =
        [Kind::Organization, Kind::Location, Kind::HealthcareService, Kind::PractitionerRole, Kind::Practitioner];

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

struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
    count: u64,
}

/// The five output files of a corpus.
pub struct Output {
    sinks: Vec<Sink>,
}

impl Output {
    /// Creates (or truncates) `<Type>.ndjson` for every resource type in `dir`.
    pub fn create(dir: &Path) -> Result<Output, GenerateError> {
        std::fs::create_dir_all(dir).map_err(|source| GenerateError::Io { path: dir.to_owned(), source })?;
        let mut sinks = Vec::with_capacity(Kind::ALL.len());
        for kind in Kind::ALL {
            let path = dir.join(format!("{}.ndjson", kind.resource_type()));
            let file = File::create(&path).map_err(|source| GenerateError::Io { path: path.clone(), source })?;
            sinks.push(Sink { path, out: BufWriter::with_capacity(1 << 20, file), count: 0 });
        }
        Ok(Output { sinks })
    }

    /// Appends one resource as one line.
    pub fn write(&mut self, kind: Kind, resource: &Value) -> Result<(), GenerateError> {
        let sink = &mut self.sinks[kind.index()];
        serde_json::to_writer(&mut sink.out, resource)
            .map_err(|source| GenerateError::Json { resource_type: kind.resource_type(), source })?;
        sink.out.write_all(b"\n").map_err(|source| GenerateError::Io { path: sink.path.clone(), source })?;
        sink.count += 1;
        Ok(())
    }

    pub fn count(&self, kind: Kind) -> u64 {
        self.sinks[kind.index()].count
    }

    /// Flushes every file and returns the counts and paths, in [`Kind::ALL`] order.
    pub fn finish(self) -> Result<(Vec<(String, u64)>, Vec<PathBuf>), GenerateError> {
        let mut counts = Vec::with_capacity(self.sinks.len());
        let mut files = Vec::with_capacity(self.sinks.len());
        for (kind, mut sink) in Kind::ALL.into_iter().zip(self.sinks) {
            sink.out.flush().map_err(|source| GenerateError::Io { path: sink.path.clone(), source })?;
            counts.push((kind.resource_type().to_owned(), sink.count));
            files.push(sink.path);
        }
        Ok((counts, files))
    }
}

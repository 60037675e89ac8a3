//! FHIR Bulk Data `$export` at system level (SPEC §3 UC2 S1bis/S1ter, §4.3): kick-off parameters,
//! a job registry with a bound on concurrent exports, and the background writer of the files.
//!
//! Choices (README "Decisions"): `_type` defaults to `HealthcareService` as on the national server;
//! offers always come with their UC2 closure (`includeAssociatedData` is accepted and needs
//! nothing more); `_typeFilter` alternatives of one type are OR-ed; `_since` filters the root
//! resources on `_lastUpdated` while their linked resources come whole, so each file set is
//! self-contained; `application/fhir+ndjson` gives one NDJSON file per type, the national
//! `application/fhir+json` variant gives `collection` Bundles of at most
//! [`RESOURCES_PER_BUNDLE`] resources.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::select::{root_query, RootQuery, TypeSelection};
use crate::error::{Error, Result};
use crate::query::params::{parse_query_string, RawParam};
use crate::query::parse::ParseContext;
use crate::schema::Registry;
use crate::security::view::project_captured;
use crate::security::Principal;
use crate::store::ResourceStore;

/// Resources per `collection` Bundle file in the `application/fhir+json` variant.
pub const RESOURCES_PER_BUNDLE: usize = 10_000;
/// Exports running at once; a kick-off beyond it answers 429.
pub const MAX_RUNNING_EXPORTS: usize = 2;
/// Finished jobs (and their files) are kept this long after completion.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Resources read from the store per transaction while writing files.
const READ_CHUNK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `application/fhir+ndjson`: one resource per line, one file per type (Bulk Data default).
    Ndjson,
    /// `application/fhir+json`: `collection` Bundles, as the national server produces.
    Bundle,
}

impl OutputFormat {
    pub fn parse(value: &str) -> Result<OutputFormat> {
        // A `+` left unencoded in a query string reads as a space.
        let normalized = value.trim().replace(' ', "+").to_ascii_lowercase();
        match normalized.as_str() {
            "application/fhir+ndjson" | "application/ndjson" | "ndjson" => Ok(OutputFormat::Ndjson),
            "application/fhir+json" | "application/json" | "json" => Ok(OutputFormat::Bundle),
            _ => Err(Error::param(
                "_outputFormat",
                format!(
                    "unsupported _outputFormat {value:?} (application/fhir+ndjson or application/fhir+json)"
                ),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Ndjson => "application/fhir+ndjson",
            OutputFormat::Bundle => "application/fhir+json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Bundle => "json",
        }
    }
}

/// The kick-off parameters of one export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub types: Vec<String>,
    /// (resource type, its search parameters), from `_typeFilter`.
    pub type_filters: Vec<(String, Vec<RawParam>)>,
    pub since: Option<String>,
    pub format: OutputFormat,
}

impl ExportRequest {
    /// Read the kick-off parameters. Unknown parameters are ignored, or rejected when `strict`
    /// (`Prefer: handling=strict`), as Bulk Data allows.
    pub fn parse(params: &[RawParam], strict: bool) -> Result<ExportRequest> {
        let mut request = ExportRequest {
            types: Vec::new(),
            type_filters: Vec::new(),
            since: None,
            format: OutputFormat::Ndjson,
        };
        for param in params {
            match param.name.as_str() {
                "_outputFormat" => {
                    let value = param.values.join(",");
                    request.format = OutputFormat::parse(&value)?;
                }
                "_type" => request.types.extend(param.values.iter().map(|v| v.trim().to_owned())),
                "_since" => {
                    let value = param.values.join(",");
                    chrono::DateTime::parse_from_rfc3339(value.trim()).map_err(|e| {
                        Error::param("_since", format!("_since must be a FHIR instant, got {value:?}: {e}"))
                    })?;
                    request.since = Some(value.trim().to_owned());
                }
                "_typeFilter" => {
                    for filter in join_type_filters(&param.values) {
                        let (resource_type, query) = filter.split_once('?').ok_or_else(|| {
                            Error::param("_typeFilter", format!("{filter:?} is not Type?query"))
                        })?;
                        let params = parse_query_string(query)
                            .map_err(|e| Error::param("_typeFilter", e.to_string()))?;
                        request.type_filters.push((resource_type.trim().to_owned(), params));
                    }
                }
                // Accepted: the UC2 closure is always exported (SPEC §4.3, deviation 3).
                "includeAssociatedData" => {}
                other if strict => {
                    return Err(Error::param(other, format!("{other} is not supported by $export")));
                }
                _ => {}
            }
        }
        Ok(request)
    }

    /// The root types: `_type`, plus the types named by `_typeFilter`; `HealthcareService`
    /// when neither is given.
    pub fn root_types(&self) -> Vec<String> {
        let mut types = self.types.clone();
        for (resource_type, _) in &self.type_filters {
            if !types.contains(resource_type) {
                types.push(resource_type.clone());
            }
        }
        if types.is_empty() {
            types.push("HealthcareService".into());
        }
        types
    }

    pub fn root_queries(&self, context: &ParseContext<'_>) -> Result<Vec<RootQuery>> {
        self.root_types()
            .iter()
            .map(|resource_type| {
                if context.registry.served(resource_type).is_none() {
                    return Err(Error::param(
                        "_type",
                        format!("resource type {resource_type:?} is not served"),
                    ));
                }
                let filters: Vec<Vec<RawParam>> = self
                    .type_filters
                    .iter()
                    .filter(|(t, _)| t == resource_type)
                    .map(|(_, params)| params.clone())
                    .collect();
                root_query(context, resource_type, &filters, self.since.as_deref(), true).map_err(|e| match e
                {
                    Error::InvalidParam { param, message } => {
                        Error::param("_typeFilter", format!("{param}: {message}"))
                    }
                    other => other,
                })
            })
            .collect()
    }
}

/// `_typeFilter` values were split on commas like any parameter; a piece that does not start a
/// new `Type?` filter belongs to the previous filter's query.
fn join_type_filters(values: &[String]) -> Vec<String> {
    let mut filters: Vec<String> = Vec::new();
    for value in values {
        let starts_filter = value
            .split_once('?')
            .is_some_and(|(t, _)| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()));
        match filters.last_mut() {
            Some(last) if !starts_filter => {
                last.push(',');
                last.push_str(value);
            }
            _ => filters.push(value.clone()),
        }
    }
    filters
}

/// One produced file.
#[derive(Debug, Clone)]
pub struct OutputFile {
    pub resource_type: String,
    pub name: String,
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub enum JobStatus {
    Running,
    Complete(Vec<OutputFile>),
    Failed(Error),
}

pub struct ExportJob {
    pub id: String,
    /// The kick-off URL, echoed in the manifest.
    pub request_url: String,
    /// When the snapshot was taken (RFC 3339).
    pub transaction_time: String,
    pub format: OutputFormat,
    pub total: u64,
    done: AtomicU64,
    cancelled: AtomicBool,
    status: Mutex<JobStatus>,
    finished: Mutex<Option<Instant>>,
    dir: PathBuf,
    /// Who kicked the export off: its files are projected for that profile, and only that
    /// consumer sees the job.
    pub principal: Principal,
}

impl ExportJob {
    /// Whether `principal` may poll, download or cancel this job (another consumer, or the same
    /// one under another profile, is told it does not exist).
    pub fn belongs_to(&self, principal: &Principal) -> bool {
        self.principal.consumer == principal.consumer && self.principal.profile == principal.profile
    }

    pub fn status(&self) -> JobStatus {
        self.status.lock().clone()
    }

    /// Resources written so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// `X-Progress` text while running.
    pub fn progress(&self) -> String {
        let done = self.done();
        let percent = (done * 100).checked_div(self.total).unwrap_or(100);
        format!("{percent}% ({done} of {} resources written)", self.total)
    }

    /// The Bulk Data completion manifest, with file URLs under `base` (the FHIR base URL).
    pub fn manifest(&self, base: &str, files: &[OutputFile]) -> Value {
        let output: Vec<Value> = files
            .iter()
            .map(|f| {
                json!({
                    "type": f.resource_type,
                    "url": format!("{base}/$export-file/{}/{}", self.id, f.name),
                    "count": f.count,
                })
            })
            .collect();
        json!({
            "transactionTime": self.transaction_time,
            "request": self.request_url,
            "requiresAccessToken": false,
            "output": output,
            "error": [],
        })
    }
}

/// The registry of export jobs, their files under `<data dir>/exports/<job id>/`.
pub struct ExportJobs {
    root: PathBuf,
    max_running: usize,
    jobs: Mutex<HashMap<String, Arc<ExportJob>>>,
}

impl ExportJobs {
    /// Jobs live in memory only, so files left by an earlier process are orphans: remove them.
    pub fn open(root: PathBuf, max_running: usize) -> Result<ExportJobs> {
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        Ok(ExportJobs { root, max_running, jobs: Mutex::new(HashMap::new()) })
    }

    /// Start writing `selection` for `principal` in a background thread: the files hold what
    /// its access profile sees of the selection (taken with [`super::select::snapshot_as`] for
    /// that profile). `Ok(None)` when the bound on running exports is reached (the caller
    /// answers 429).
    #[allow(clippy::too_many_arguments)]
    pub fn start_as(
        &self,
        store: Arc<dyn ResourceStore>,
        registry: Arc<Registry>,
        selection: Vec<TypeSelection>,
        format: OutputFormat,
        request_url: String,
        transaction_time: String,
        principal: Principal,
    ) -> Result<Option<Arc<ExportJob>>> {
        let mut jobs = self.jobs.lock();
        let expired: Vec<String> = jobs
            .iter()
            .filter(|(_, job)| job.finished.lock().is_some_and(|t| t.elapsed() > RETENTION))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(job) = jobs.remove(&id) {
                let _ = std::fs::remove_dir_all(&job.dir);
            }
        }
        let running = jobs.values().filter(|j| matches!(*j.status.lock(), JobStatus::Running)).count();
        if running >= self.max_running {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let dir = self.root.join(&id);
        std::fs::create_dir_all(&dir)?;
        let job = Arc::new(ExportJob {
            id: id.clone(),
            request_url,
            transaction_time,
            format,
            total: selection.iter().map(|s| s.entries.len() as u64).sum(),
            done: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            status: Mutex::new(JobStatus::Running),
            finished: Mutex::new(None),
            dir,
            principal,
        });
        let worker_job = job.clone();
        std::thread::Builder::new()
            .name(format!("ror-export-{}", &id[..8.min(id.len())]))
            .spawn(move || {
                crate::search::pool::yield_to_searches();
                let result = write_files(store.as_ref(), &registry, &selection, &worker_job);
                let status = match result {
                    Ok(files) => JobStatus::Complete(files),
                    Err(error) => {
                        tracing::error!(%error, job = %worker_job.id, "export failed");
                        JobStatus::Failed(error)
                    }
                };
                if worker_job.cancelled.load(Ordering::Relaxed) {
                    let _ = std::fs::remove_dir_all(&worker_job.dir);
                }
                *worker_job.status.lock() = status;
                *worker_job.finished.lock() = Some(Instant::now());
            })
            .map_err(Error::internal)?;
        jobs.insert(id, job.clone());
        Ok(Some(job))
    }

    /// Jobs by status (`running`, `complete`, `failed`), for the metrics.
    pub fn status_counts(&self) -> [(&'static str, u64); 3] {
        let mut counts = [("running", 0), ("complete", 0), ("failed", 0)];
        for job in self.jobs.lock().values() {
            let slot = match job.status() {
                JobStatus::Running => 0,
                JobStatus::Complete(_) => 1,
                JobStatus::Failed(_) => 2,
            };
            counts[slot].1 += 1;
        }
        counts
    }

    pub fn get(&self, id: &str) -> Option<Arc<ExportJob>> {
        self.jobs.lock().get(id).cloned()
    }

    /// Cancel a job (running or finished) and delete its files. False when unknown.
    pub fn cancel(&self, id: &str) -> bool {
        let Some(job) = self.jobs.lock().remove(id) else { return false };
        job.cancelled.store(true, Ordering::Relaxed);
        // A running worker stops at its next chunk and removes the directory itself; removing
        // it here too covers finished jobs.
        let _ = std::fs::remove_dir_all(&job.dir);
        true
    }

    /// Path of a produced file of a completed job.
    pub fn file(&self, id: &str, name: &str) -> Option<(PathBuf, OutputFormat)> {
        let job = self.get(id)?;
        let JobStatus::Complete(files) = job.status() else { return None };
        files.iter().find(|f| f.name == name).map(|f| (job.dir.join(&f.name), job.format))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Counts bytes written through it.
struct Counting<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(data)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An output file being written.
struct OpenFile {
    writer: Counting<BufWriter<File>>,
    file: OutputFile,
}

impl OpenFile {
    fn create(dir: &Path, resource_type: &str, name: String, format: OutputFormat) -> Result<OpenFile> {
        let mut writer =
            Counting { inner: BufWriter::with_capacity(1 << 20, File::create(dir.join(&name))?), bytes: 0 };
        if format == OutputFormat::Bundle {
            let id = uuid::Uuid::new_v4();
            write!(
                writer,
                "{{\"resourceType\":\"Bundle\",\"id\":\"{id}\",\"type\":\"collection\",\"entry\":["
            )?;
        }
        Ok(OpenFile {
            writer,
            file: OutputFile { resource_type: resource_type.to_owned(), name, count: 0, bytes: 0 },
        })
    }

    fn push(&mut self, format: OutputFormat, json: &[u8]) -> Result<()> {
        match format {
            OutputFormat::Ndjson => {
                // Stored JSON is compact; a resource received pretty-printed is re-serialized so
                // that it stays on one line.
                if json.contains(&b'\n') {
                    let value: Value = serde_json::from_slice(json).map_err(Error::internal)?;
                    serde_json::to_writer(&mut self.writer, &value).map_err(Error::internal)?;
                } else {
                    self.writer.write_all(json)?;
                }
                self.writer.write_all(b"\n")?;
            }
            OutputFormat::Bundle => {
                if self.file.count > 0 {
                    self.writer.write_all(b",")?;
                }
                self.writer.write_all(b"{\"resource\":")?;
                self.writer.write_all(json)?;
                self.writer.write_all(b"}")?;
            }
        }
        self.file.count += 1;
        Ok(())
    }

    fn finish(mut self, format: OutputFormat) -> Result<OutputFile> {
        if format == OutputFormat::Bundle {
            self.writer.write_all(b"]}")?;
        }
        self.writer.flush()?;
        self.file.bytes = self.writer.bytes;
        Ok(self.file)
    }
}

/// Stream every selected version from the store into the job's files.
fn write_files(
    store: &dyn ResourceStore,
    registry: &Registry,
    selection: &[TypeSelection],
    job: &ExportJob,
) -> Result<Vec<OutputFile>> {
    let format = job.format;
    let profile = job.principal.profile;
    let mut files = Vec::new();
    for type_selection in selection {
        if type_selection.entries.is_empty() {
            continue;
        }
        let resource_type = type_selection.resource_type.as_str();
        let file_name = |index: usize| match format {
            OutputFormat::Ndjson => format!("{resource_type}.{}", format.extension()),
            OutputFormat::Bundle => format!("{resource_type}-{}.{}", index + 1, format.extension()),
        };
        let mut file_index = 0;
        let mut current = OpenFile::create(&job.dir, resource_type, file_name(file_index), format)?;
        let mut offset = 0;
        for chunk in type_selection.entries.chunks(READ_CHUNK) {
            if job.cancelled.load(Ordering::Relaxed) {
                return Err(Error::Gone { message: "the export was cancelled".into() });
            }
            let keys: Vec<(&str, &str, u64)> =
                chunk.iter().map(|(_, id, version)| (resource_type, &**id, *version)).collect();
            let resources = store.read_many(&keys)?;
            let contexts = type_selection.contexts.get(offset..offset + chunk.len()).unwrap_or_default();
            offset += chunk.len();
            for (index, ((_, id, version), json)) in chunk.iter().zip(resources).enumerate() {
                let mut json = json.ok_or_else(|| {
                    Error::internal(format!(
                        "{resource_type}/{id} version {version} is missing from the store"
                    ))
                })?;
                if !profile.is_unrestricted() {
                    // Restricted profiles get the projection (profile 1 keeps the stored bytes).
                    let mut resource: Value = serde_json::from_slice(&json).map_err(Error::internal)?;
                    let context = contexts.get(index).copied().unwrap_or_default();
                    if !project_captured(registry, profile, context, &mut resource) {
                        continue;
                    }
                    json = serde_json::to_vec(&resource).map_err(Error::internal)?.into();
                }
                if format == OutputFormat::Bundle && current.file.count as usize >= RESOURCES_PER_BUNDLE {
                    files.push(current.finish(format)?);
                    file_index += 1;
                    current = OpenFile::create(&job.dir, resource_type, file_name(file_index), format)?;
                }
                current.push(format, &json)?;
            }
            job.done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        files.push(current.finish(format)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_output_format_accepts_both_variants() {
        assert_eq!(OutputFormat::parse("application/fhir+ndjson").ok(), Some(OutputFormat::Ndjson));
        assert_eq!(OutputFormat::parse("application/fhir ndjson").ok(), Some(OutputFormat::Ndjson));
        assert_eq!(OutputFormat::parse("application/fhir+json").ok(), Some(OutputFormat::Bundle));
        assert_eq!(OutputFormat::parse("application/json").ok(), Some(OutputFormat::Bundle));
        assert!(OutputFormat::parse("text/csv").is_err());
    }

    #[test]
    fn test_type_filters_split_on_commas_are_rejoined() {
        let values =
            vec!["HealthcareService?_tag=a".to_owned(), "b".to_owned(), "Organization?_id=x".to_owned()];
        assert_eq!(join_type_filters(&values), vec!["HealthcareService?_tag=a,b", "Organization?_id=x"]);
    }
}

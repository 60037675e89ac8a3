//! Extraction routes: the Bulk Data `$export` flow (kick-off, status, cancel, files) and the BI
//! CSV extracts (`/export/{name}.csv`). Long work runs off the async workers: selection in the
//! blocking pool, file writing in the export job's thread, streamed bodies from producer threads.

use std::io::Read;

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::{background, HttpState, FHIR_JSON};
use crate::error::{Error, IssueCode, Result};
use crate::export::body::channel;
use crate::export::bulk::{ExportRequest, JobStatus};
use crate::export::extracts::{Extract, ExtractFilters};
use crate::export::select::snapshot_as;
use crate::query::params::parse_query_string;
use crate::query::parse::Handling;
use crate::security::guard::ProfileGuard;
use crate::security::Principal;

/// Registered before the `/fhir` scope so that `$export` is not read as a resource type.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/fhir/$export", web::get().to(kickoff))
        .route("/fhir/$export-poll-status", web::get().to(poll))
        .route("/fhir/$export-poll-status", web::delete().to(cancel))
        .route("/fhir/$export-file/{job}/{file}", web::get().to(download))
        .route("/export/{name}.csv", web::get().to(csv_extract));
}

fn base_url(state: &HttpState, request: &HttpRequest) -> String {
    if let Some(base) = &state.base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let info = request.connection_info();
    format!("{}://{}/fhir", info.scheme(), info.host())
}

fn prefers(request: &HttpRequest, wanted: &str) -> bool {
    request
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|part| part.trim().eq_ignore_ascii_case(wanted))
}

fn outcome(status: StatusCode, severity: &str, code: IssueCode, message: &str) -> HttpResponse {
    let body = crate::fhir::outcome::operation_outcome(severity, code, message, None);
    HttpResponse::build(status).content_type(FHIR_JSON).body(body.to_string())
}

/// `GET [BASE]/$export`: take the snapshot now, write the files in the background, answer 202
/// with the status URL. `Prefer: respond-async` is expected but, as on the national server
/// (SPEC §4.3, deviation 2), not required.
async fn kickoff(state: Data<HttpState>, request: HttpRequest) -> Result<HttpResponse> {
    let query = request.query_string().to_owned();
    let params = parse_query_string(&query).map_err(|e| Error::param("$export", e.to_string()))?;
    let export = ExportRequest::parse(&params, prefers(&request, "handling=strict"))?;
    let base = base_url(&state, &request);
    let request_url =
        if query.is_empty() { format!("{base}/$export") } else { format!("{base}/$export?{query}") };
    // The caller at kick-off: the snapshot is taken and the files are written for its profile.
    let principal = Principal::of(&request);
    let app = state.app.clone();
    let job = background(move || {
        // Strict: a misspelt `_typeFilter` parameter must not silently export everything.
        let context = app.parse_context(Handling::Strict);
        let roots = export.root_queries(&context)?;
        let transaction_time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let guard = ProfileGuard::for_profile(principal.profile, &app.registry, app.store.as_ref());
        let selection = snapshot_as(&app.state, &app.text, &roots, guard.as_ref())?;
        app.exports.start_as(
            app.store.clone(),
            app.registry.clone(),
            selection,
            export.format,
            request_url,
            transaction_time,
            principal,
        )
    })
    .await?;
    let Some(job) = job else {
        let mut response = outcome(
            StatusCode::TOO_MANY_REQUESTS,
            "error",
            IssueCode::TooCostly,
            "too many exports are running; retry later",
        );
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
        return Ok(response);
    };
    let status_url = format!("{base}/$export-poll-status?_jobId={}", job.id);
    let mut response = outcome(
        StatusCode::ACCEPTED,
        "information",
        IssueCode::Informational,
        &format!("export {} started: poll {status_url}", job.id),
    );
    let location = header::HeaderValue::from_str(&status_url).map_err(Error::internal)?;
    response.headers_mut().insert(header::CONTENT_LOCATION, location);
    Ok(response)
}

fn job_id(request: &HttpRequest) -> Result<String> {
    let params =
        parse_query_string(request.query_string()).map_err(|e| Error::param("_jobId", e.to_string()))?;
    params
        .into_iter()
        .find(|p| p.name == "_jobId")
        .and_then(|p| p.values.into_iter().next())
        .ok_or_else(|| Error::param("_jobId", "the status URL needs _jobId"))
}

/// `GET` on the status URL: 202 + `X-Progress` while running, 200 + manifest when complete.
async fn poll(state: Data<HttpState>, request: HttpRequest) -> Result<HttpResponse> {
    let id = job_id(&request)?;
    let principal = Principal::of(&request);
    let job = state
        .app
        .exports
        .get(&id)
        .filter(|job| job.belongs_to(&principal))
        .ok_or_else(|| Error::not_found(format!("no export job {id:?}")))?;
    match job.status() {
        JobStatus::Running => {
            let mut response =
                outcome(StatusCode::ACCEPTED, "information", IssueCode::Informational, &job.progress());
            let headers = response.headers_mut();
            let progress = header::HeaderValue::from_str(&job.progress()).map_err(Error::internal)?;
            headers.insert(header::HeaderName::from_static("x-progress"), progress);
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            Ok(response)
        }
        JobStatus::Complete(files) => {
            let manifest = job.manifest(&base_url(&state, &request), &files);
            Ok(HttpResponse::Ok().content_type("application/json").body(manifest.to_string()))
        }
        JobStatus::Failed(error) => Err(error),
    }
}

/// `DELETE` on the status URL: cancel the job and remove its files (202).
async fn cancel(state: Data<HttpState>, request: HttpRequest) -> Result<HttpResponse> {
    let id = job_id(&request)?;
    let principal = Principal::of(&request);
    let owned = state.app.exports.get(&id).is_some_and(|job| job.belongs_to(&principal));
    if !owned || !state.app.exports.cancel(&id) {
        return Err(Error::not_found(format!("no export job {id:?}")));
    }
    Ok(outcome(
        StatusCode::ACCEPTED,
        "information",
        IssueCode::Informational,
        &format!("export {id} cancelled"),
    ))
}

/// A produced file, streamed from disk.
async fn download(
    state: Data<HttpState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let (id, name) = path.into_inner();
    let principal = Principal::of(&request);
    let owned = state.app.exports.get(&id).is_some_and(|job| job.belongs_to(&principal));
    let (file_path, format) = state
        .app
        .exports
        .file(&id, &name)
        .filter(|_| owned)
        .ok_or_else(|| Error::not_found(format!("no file {name:?} in export {id:?}")))?;
    let mut file = std::fs::File::open(&file_path)?;
    let (mut writer, body) = channel();
    std::thread::Builder::new()
        .name("ror-export-file".into())
        .spawn(move || {
            crate::search::pool::yield_to_searches();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match file.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => {
                        if std::io::Write::write_all(&mut writer, &buffer[..n]).is_err() {
                            return;
                        }
                    }
                    Err(error) => return writer.fail(Error::from(error)),
                }
            }
        })
        .map_err(Error::internal)?;
    Ok(HttpResponse::Ok().content_type(format.content_type()).body(body))
}

/// `GET /export/{name}.csv?region=…&since=…`: a BI extract, streamed as it is produced.
async fn csv_extract(
    state: Data<HttpState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let extract = Extract::from_name(&path.into_inner())?;
    let params =
        parse_query_string(request.query_string()).map_err(|e| Error::param("query", e.to_string()))?;
    let mut region = None;
    let mut since = None;
    for param in params {
        let value = param.values.join(",");
        match param.name.as_str() {
            "region" => region = Some(value),
            "since" => since = Some(value),
            other => {
                return Err(Error::param(
                    other,
                    format!("unknown extract parameter {other:?} (region, since)"),
                ))
            }
        }
    }
    let filters = ExtractFilters::new(region, since)?;
    let profile = Principal::of(&request).profile;
    let app = state.app.clone();
    // Select before answering, so that a bad filter is a 400 and not a cut stream.
    let plan = background(move || {
        let plan = extract.plan_as(&app, &filters, profile)?;
        Ok((app, plan))
    })
    .await?;
    let (app, plan) = plan;
    let (writer, body) = channel();
    std::thread::Builder::new()
        .name("ror-export-csv".into())
        .spawn(move || {
            crate::search::pool::yield_to_searches();
            let mut writer = writer;
            match plan.write(&app, &mut writer, &|_| {}) {
                Ok(_) => {}
                Err(error) => writer.fail(error),
            }
        })
        .map_err(Error::internal)?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}

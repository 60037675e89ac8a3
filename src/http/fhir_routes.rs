//! FHIR REST routes: search, read, vread, history, create, update, delete, transaction/batch,
//! metadata; plus health and admin status.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{background, HttpState, FHIR_JSON};
use crate::error::{Error, Result};
use crate::fhir::bundle::{render_searchset_projected, BundleLinks, PageProjection};
use crate::index::extract::IndexDoc;
use crate::ingest::bundle::{entry_response, error_response, new_id, plan_bundle};
use crate::ingest::patch::{parse_fhirpath_patch, parse_json_patch, patcher, Patch};
use crate::ingest::validate::{is_valid_id, validate_resource};
use crate::query::params::{encode_query, parse_query_string, RawParam};
use crate::query::parse::Handling;
use crate::search::execute::Guard;
use crate::security::guard::ProfileGuard;
use crate::security::view::Projector;
use crate::security::{AccessProfile, Principal};
use crate::store::{Committed, PreparedPatch, StoredVersion, WriteOp};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/admin/status", web::get().to(admin_status))
        .service(
            web::scope("/fhir")
                .route("", web::post().to(transaction))
                .route("/", web::post().to(transaction))
                .route("/metadata", web::get().to(metadata))
                .route("/{type}", web::get().to(search_get))
                .route("/{type}", web::post().to(create))
                .route("/{type}", web::patch().to(conditional_patch))
                .route("/{type}/_search", web::post().to(search_post))
                .route("/{type}/{id}", web::get().to(read))
                .route("/{type}/{id}", web::put().to(update))
                .route("/{type}/{id}", web::delete().to(delete))
                .route("/{type}/{id}", web::patch().to(patch))
                .route("/{type}/{id}/_history", web::get().to(history))
                .route("/{type}/{id}/_history/{version}", web::get().to(vread)),
        );
}

fn base_url(state: &HttpState, request: &HttpRequest) -> String {
    if let Some(base) = &state.base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let info = request.connection_info();
    format!("{}://{}/fhir", info.scheme(), info.host())
}

fn handling(request: &HttpRequest) -> Handling {
    let strict = request
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|part| part.trim().eq_ignore_ascii_case("handling=strict"));
    if strict {
        Handling::Strict
    } else {
        Handling::Lenient
    }
}

fn fhir_json(
    status: actix_web::http::StatusCode,
    body: impl actix_web::body::MessageBody + 'static,
) -> HttpResponse {
    HttpResponse::build(status).content_type(FHIR_JSON).body(body)
}

fn check_type(state: &HttpState, resource_type: &str) -> Result<()> {
    if state.app.registry.served(resource_type).is_none() {
        return Err(Error::not_found(format!("resource type {resource_type:?} is not served here")));
    }
    Ok(())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn admin_status(state: Data<HttpState>) -> Result<HttpResponse> {
    let app = state.app.clone();
    let body = background(move || {
        let counts = app.store.counts()?;
        let last_seq = app.store.last_seq()?;
        let search = app.state.read();
        let index_counts: Vec<Value> = search
            .collections
            .iter()
            .map(|c| json!({"type": c.resource_type, "live": c.len()}))
            .collect();
        let stats = *app.writer.stats.lock();
        Ok(json!({
            "store": {"counts": counts.into_iter().map(|(t, n)| json!({"type": t, "count": n})).collect::<Vec<_>>(), "lastSeq": last_seq},
            "index": {"collections": index_counts, "appliedSeq": search.applied_seq, "generation": search.generation,
                      "locationsWithPosition": search.geo.len(), "textDocuments": app.text.num_docs()},
            "writer": {"groups": stats.groups, "units": stats.units, "lastPublishMicros": stats.last_publish_micros},
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

async fn metadata(state: Data<HttpState>, request: HttpRequest) -> HttpResponse {
    let base = base_url(&state, &request);
    fhir_json(
        actix_web::http::StatusCode::OK,
        crate::fhir::capability::capability_statement(&state.app.registry, &base).to_string(),
    )
}

async fn search_get(
    state: Data<HttpState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let resource_type = path.into_inner();
    let params =
        parse_query_string(request.query_string()).map_err(|e| Error::param(param_of(&e), e.to_string()))?;
    run_search(state, resource_type, params, &request).await
}

async fn search_post(
    state: Data<HttpState>,
    path: web::Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse> {
    let resource_type = path.into_inner();
    let body = std::str::from_utf8(&body)
        .map_err(|_| Error::body(None, "the _search body must be UTF-8 form data"))?;
    let mut params =
        parse_query_string(request.query_string()).map_err(|e| Error::param(param_of(&e), e.to_string()))?;
    params.extend(parse_query_string(body).map_err(|e| Error::param(param_of(&e), e.to_string()))?);
    run_search(state, resource_type, params, &request).await
}

fn param_of(error: &crate::query::params::ParamError) -> String {
    let text = error.to_string();
    text.split('"').nth(1).unwrap_or("query").to_owned()
}

async fn run_search(
    state: Data<HttpState>,
    resource_type: String,
    params: Vec<RawParam>,
    request: &HttpRequest,
) -> Result<HttpResponse> {
    check_type(&state, &resource_type)?;
    let handling = handling(request);
    let base = base_url(&state, request);
    let profile = Principal::of(request).profile;
    let app = state.app.clone();
    let body = state
        .app
        .search_pool
        .run(move || {
            let context = app.parse_context(handling);
            let mut search_request = context.parse_search(&resource_type, &params)?;
            // Profile 1 builds no guard: the unrestricted path is today's, at no cost.
            let guard = ProfileGuard::for_profile(profile, &app.registry, app.store.as_ref());
            if let Some(guard) = &guard {
                guard.strip_hidden_sorts(&app.registry, &mut search_request);
            }
            let page = app.search.search_with(&search_request, guard.as_ref().map(|g| g as &dyn Guard))?;
            let self_url = format!("{base}/{resource_type}?{}", encode_query(&search_request.applied));
            let next_url = page.next.as_ref().map(|(cursor, offset)| {
                format!(
                    "{base}/{resource_type}?{}",
                    encode_query(&[
                        ("_getpages".to_owned(), cursor.clone()),
                        ("_getpagesoffset".to_owned(), offset.to_string()),
                        ("_count".to_owned(), page.count.to_string()),
                    ])
                )
            });
            let links = BundleLinks { base_url: base.clone(), self_url, next_url };
            let projector = Projector::new(profile, &app.state);
            let project = |items: &[(&str, &str, &[u8])]| match &projector {
                Some(projector) => projector.project_bytes(items),
                None => Ok(items.iter().map(|(_, _, bytes)| Some(bytes.to_vec())).collect()),
            };
            render_searchset_projected(
                app.store.as_ref(),
                &page,
                &links,
                search_request.elements.as_deref(),
                &search_request.ignored,
                projector.as_ref().map(|_| &project as PageProjection<'_>),
            )
        })
        .await?;
    Ok(fhir_json(actix_web::http::StatusCode::OK, body))
}

fn resource_response(
    status: actix_web::http::StatusCode,
    resource_type: &str,
    id: &str,
    version: u64,
    json: &[u8],
) -> Result<HttpResponse> {
    let body = std::str::from_utf8(json).map_err(Error::internal)?.to_owned();
    let last_modified = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/meta/lastUpdated").and_then(Value::as_str).map(str::to_owned))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    let mut builder = HttpResponse::build(status);
    builder.content_type(FHIR_JSON).insert_header((header::ETAG, format!("W/\"{version}\"")));
    if let Some(last_modified) = last_modified {
        builder.insert_header((header::LAST_MODIFIED, last_modified));
    }
    let _ = (resource_type, id);
    Ok(builder.body(body))
}

/// What the caller sees of one stored version: the projected JSON for a restricted profile,
/// `None` when the resource does not exist for it. A deletion is judged by the last version
/// before it, so that a hidden resource is not revealed as "deleted" either.
fn shown_version(
    app: &crate::app::App,
    profile: AccessProfile,
    resource_type: &str,
    id: &str,
    version: StoredVersion,
) -> Result<Option<StoredVersion>> {
    let Some(projector) = Projector::new(profile, &app.state) else { return Ok(Some(version)) };
    if version.deleted {
        let history = app.store.history(resource_type, id)?;
        return Ok(match history.iter().find(|v| !v.deleted) {
            Some(last) if projector.project_one(resource_type, id, &last.json)?.is_none() => None,
            _ => Some(version),
        });
    }
    let Some(projected) = projector.project_one(resource_type, id, &version.json)? else { return Ok(None) };
    let json = serde_json::to_vec(&projected).map_err(Error::internal)?;
    Ok(Some(StoredVersion { json: json.into(), ..version }))
}

async fn read(
    state: Data<HttpState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let (resource_type, id) = path.into_inner();
    check_type(&state, &resource_type)?;
    let profile = Principal::of(&request).profile;
    let app = state.app.clone();
    let (rt, i) = (resource_type.clone(), id.clone());
    let stored = state
        .app
        .search_pool
        .run(move || match app.store.current(&rt, &i)? {
            Some(version) => shown_version(&app, profile, &rt, &i, version),
            None => Ok(None),
        })
        .await?;
    match stored {
        None => Err(Error::not_found(format!("{resource_type}/{id} is not known"))),
        Some(version) if version.deleted => {
            Err(Error::Gone { message: format!("{resource_type}/{id} was deleted") })
        }
        Some(version) => resource_response(
            actix_web::http::StatusCode::OK,
            &resource_type,
            &id,
            version.version,
            &version.json,
        ),
    }
}

async fn vread(
    state: Data<HttpState>,
    path: web::Path<(String, String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let (resource_type, id, version) = path.into_inner();
    check_type(&state, &resource_type)?;
    let version: u64 =
        version.parse().map_err(|_| Error::param("_history", format!("invalid version id {version:?}")))?;
    let profile = Principal::of(&request).profile;
    let app = state.app.clone();
    let (rt, i) = (resource_type.clone(), id.clone());
    let stored = state
        .app
        .search_pool
        .run(move || match app.store.version(&rt, &i, version)? {
            Some(stored) => shown_version(&app, profile, &rt, &i, stored),
            None => Ok(None),
        })
        .await?;
    match stored {
        None => Err(Error::not_found(format!("{resource_type}/{id}/_history/{version} is not known"))),
        Some(v) if v.deleted => {
            Err(Error::Gone { message: format!("{resource_type}/{id} version {version} is a deletion") })
        }
        Some(v) => {
            resource_response(actix_web::http::StatusCode::OK, &resource_type, &id, v.version, &v.json)
        }
    }
}

async fn history(
    state: Data<HttpState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let (resource_type, id) = path.into_inner();
    check_type(&state, &resource_type)?;
    let base = base_url(&state, &request);
    let profile = Principal::of(&request).profile;
    let app = state.app.clone();
    let (rt, i) = (resource_type.clone(), id.clone());
    let versions = state
        .app
        .search_pool
        .run(move || {
            let versions = app.store.history(&rt, &i)?;
            let Some(projector) = Projector::new(profile, &app.state) else { return Ok(versions) };
            // Hidden now (judged by its last version) = unknown; hidden versions are left out.
            let live: Vec<&StoredVersion> = versions.iter().filter(|v| !v.deleted).collect();
            let items: Vec<(&str, &str, &[u8])> =
                live.iter().map(|v| (rt.as_str(), i.as_str(), &*v.json)).collect();
            let projected = projector.project_bytes(&items)?;
            if projected.first().is_some_and(Option::is_none) {
                return Ok(Vec::new());
            }
            let mut shown: std::collections::HashMap<u64, Vec<u8>> = std::collections::HashMap::new();
            for (version, json) in live.iter().zip(projected) {
                if let Some(json) = json {
                    shown.insert(version.version, json);
                }
            }
            Ok(versions
                .into_iter()
                .filter_map(|v| match shown.remove(&v.version) {
                    _ if v.deleted => Some(v),
                    Some(json) => Some(StoredVersion { json: json.into(), ..v }),
                    None => None,
                })
                .collect())
        })
        .await?;
    if versions.is_empty() {
        return Err(Error::not_found(format!("{resource_type}/{id} is not known")));
    }
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| {
            let full_url = format!("{base}/{resource_type}/{id}");
            if v.deleted {
                json!({"fullUrl": full_url, "request": {"method": "DELETE", "url": format!("{resource_type}/{id}")}})
            } else {
                let resource: Value = serde_json::from_slice(&v.json).unwrap_or(Value::Null);
                json!({"fullUrl": full_url, "resource": resource, "request": {"method": "PUT", "url": format!("{resource_type}/{id}")}})
            }
        })
        .collect();
    let bundle =
        json!({"resourceType": "Bundle", "type": "history", "total": entries.len(), "entry": entries});
    Ok(fhir_json(actix_web::http::StatusCode::OK, bundle.to_string()))
}

fn parse_body(body: &Bytes) -> Result<Value> {
    if body.is_empty() {
        return Err(Error::body(None, "the request body is empty"));
    }
    serde_json::from_slice(body).map_err(|e| Error::body(None, format!("the body is not valid JSON: {e}")))
}

fn if_match(request: &HttpRequest) -> Result<Option<u64>> {
    let Some(value) = request.headers().get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().map_err(|_| Error::body(Some("If-Match"), "If-Match is not ASCII"))?;
    let trimmed = text.trim().trim_start_matches("W/").trim_matches('"');
    trimmed.parse().map(Some).map_err(|_| {
        Error::body(Some("If-Match"), format!("invalid If-Match {text:?}: expected W/\"<version>\""))
    })
}

/// The answer to a write, with the resource as the caller may see it (projected for a
/// restricted profile; no body when the written resource does not exist for it).
async fn written(
    state: &HttpState,
    request: &HttpRequest,
    status: actix_web::http::StatusCode,
    base: &str,
    committed: Committed,
) -> Result<HttpResponse> {
    let profile = Principal::of(request).profile;
    if profile.is_unrestricted() {
        return write_response(status, base, &committed);
    }
    let app = state.app.clone();
    let projected = background(move || {
        let mut committed = committed;
        // The answer shows the caller's projection, never the stored JSON as is.
        committed.json = None;
        if let (Some(projector), Some(resource)) =
            (Projector::new(profile, &app.state), committed.resource.take())
        {
            let (resource_type, id) = (committed.resource_type.clone(), committed.id.clone());
            let shown = projector.project_values(vec![(&resource_type, &id, (*resource).clone())]);
            committed.resource = shown.into_iter().next().flatten().map(std::sync::Arc::new);
        }
        Ok(committed)
    })
    .await?;
    write_response(status, base, &projected)
}

/// A restricted caller cannot change (nor learn of) a resource that does not exist for it.
async fn check_writable(
    state: &HttpState,
    request: &HttpRequest,
    resource_type: &str,
    id: &str,
) -> Result<()> {
    let profile = Principal::of(request).profile;
    if profile.is_unrestricted() {
        return Ok(());
    }
    let app = state.app.clone();
    let (rt, i) = (resource_type.to_owned(), id.to_owned());
    if background(move || hidden_now(&app, profile, &rt, &i)).await? {
        return Err(Error::not_found(format!("{resource_type}/{id} is not known")));
    }
    Ok(())
}

/// Whether the current version of a resource exists but not for `profile`.
fn hidden_now(app: &crate::app::App, profile: AccessProfile, resource_type: &str, id: &str) -> Result<bool> {
    match app.store.current(resource_type, id)? {
        Some(version) if !version.deleted => {
            Ok(shown_version(app, profile, resource_type, id, version)?.is_none())
        }
        _ => Ok(false),
    }
}

fn write_response(
    status: actix_web::http::StatusCode,
    base: &str,
    committed: &Committed,
) -> Result<HttpResponse> {
    let mut builder = HttpResponse::build(status);
    builder.content_type(FHIR_JSON).insert_header((header::ETAG, format!("W/\"{}\"", committed.version)));
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(&committed.last_updated) {
        builder.insert_header((
            header::LAST_MODIFIED,
            time.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ));
    }
    builder.insert_header((
        header::LOCATION,
        format!("{base}/{}/{}/_history/{}", committed.resource_type, committed.id, committed.version),
    ));
    match (&committed.json, &committed.resource) {
        (Some(json), _) => Ok(builder.body(Bytes::copy_from_slice(json))),
        (None, resource) => Ok(builder.body(resource.as_ref().map(|r| r.to_string()).unwrap_or_default())),
    }
}

/// Commit `document` on `target` (type, id), prepared against its current version, and answer
/// like any write (the resource, `ETag`, `Last-Modified`).
async fn commit_patch(
    state: &HttpState,
    request: &HttpRequest,
    base: &str,
    (resource_type, id): (String, String),
    if_match: Option<u64>,
    document: Patch,
) -> Result<HttpResponse> {
    let document = Arc::new(document);
    let (prepared, doc) = prepare_patch(state, &resource_type, &id, if_match, &document).await?.unzip();
    let patcher = patcher(state.app.registry.clone(), Arc::unwrap_or_clone(document));
    let op = WriteOp::Patch { resource_type, id, if_match, patcher, prepared };
    let app = state.app.clone();
    let mut committed = background(move || app.writer.submit_prepared(vec![op], vec![doc])).await?;
    let committed = committed.pop().ok_or_else(|| Error::internal("the writer returned no result"))?;
    written(state, request, actix_web::http::StatusCode::OK, base, committed).await
}

/// Apply a patch to the version current now, on the worker pool: the single writer then only
/// checks that this version is still the current one (else it patches the newer one itself).
/// A patch that does not apply to the current version fails here, as it would in the writer.
async fn prepare_patch(
    state: &HttpState,
    resource_type: &str,
    id: &str,
    if_match: Option<u64>,
    patch: &Arc<Patch>,
) -> Result<Option<(PreparedPatch, IndexDoc)>> {
    let (app, patch) = (state.app.clone(), patch.clone());
    let (resource_type, id) = (resource_type.to_owned(), id.to_owned());
    background(move || {
        let Some(current) = app.store.current(&resource_type, &id)? else { return Ok(None) };
        // Absent, deleted or stale against If-Match: the writer gives the 404 or 412.
        if current.deleted || if_match.is_some_and(|expected| expected != current.version) {
            return Ok(None);
        }
        let base: Value = serde_json::from_slice(&current.json).map_err(Error::internal)?;
        // The index document too, off the single writer, which only stamps version and lastUpdated.
        let (resource, doc) = crate::ingest::patch::patch_and_index(&app.registry, &patch, base)?;
        Ok(Some((PreparedPatch { base_version: current.version, resource }, doc)))
    })
    .await
}

async fn submit_one(state: &HttpState, op: WriteOp) -> Result<Committed> {
    let app = state.app.clone();
    let mut committed = background(move || app.writer.submit(vec![op])).await?;
    committed.pop().ok_or_else(|| Error::internal("the writer returned no result"))
}

/// UC8 S2 (`POST [BASE]/Bundle` with a `collection` of Tasks): the national server's way of
/// reporting several anomalies at once. Bundles are not stored as such; each entry is created,
/// all or nothing, exactly as the same entries POSTed in a `transaction` would be.
async fn create_from_collection(
    state: Data<HttpState>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse> {
    let bundle = parse_body(&body)?;
    match bundle.get("type").and_then(Value::as_str) {
        Some("collection") => {}
        Some("transaction") | Some("batch") => {
            return Err(Error::body(
                Some("Bundle.type"),
                "transaction and batch Bundles are posted to the base URL ([BASE]), not to [BASE]/Bundle",
            ))
        }
        _ => {
            return Err(Error::body(
                Some("Bundle.type"),
                "only a `collection` Bundle of resources to create can be posted to [BASE]/Bundle",
            ))
        }
    }
    let entries = bundle.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
    if entries.is_empty() {
        return Err(Error::body(Some("Bundle.entry"), "the collection has no entry"));
    }
    let mut transaction_entries = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let resource_type = entry
            .get("resource")
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::body(Some(&format!("Bundle.entry[{index}].resource")), "each entry needs a resource")
            })?
            .to_owned();
        let mut entry = entry;
        if let Some(object) = entry.as_object_mut() {
            object.insert("request".into(), serde_json::json!({"method": "POST", "url": resource_type}));
        }
        transaction_entries.push(entry);
    }
    let transaction_bundle =
        serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": transaction_entries});
    let mut response = transaction(state, request, Bytes::from(transaction_bundle.to_string())).await?;
    if response.status() == actix_web::http::StatusCode::OK {
        *response.status_mut() = actix_web::http::StatusCode::CREATED;
    }
    Ok(response)
}

async fn create(
    state: Data<HttpState>,
    path: web::Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse> {
    let resource_type = path.into_inner();
    if resource_type == "Bundle" {
        return create_from_collection(state, request, body).await;
    }
    check_type(&state, &resource_type)?;
    let mut resource = parse_body(&body)?;
    validate_resource(&state.app.registry, &resource, Some(&resource_type))?;
    state.app.check_task_focus(&resource, &[])?;
    if let Some(object) = resource.as_object_mut() {
        object.insert("id".into(), Value::String(new_id()));
    }
    let base = base_url(&state, &request);
    let committed = submit_one(
        &state,
        WriteOp::Put { resource, if_match: None, create_only: true, keep_last_updated: true },
    )
    .await?;
    written(&state, &request, actix_web::http::StatusCode::CREATED, &base, committed).await
}

async fn update(
    state: Data<HttpState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse> {
    let (resource_type, id) = path.into_inner();
    check_type(&state, &resource_type)?;
    if !is_valid_id(&id) {
        return Err(Error::param("id", format!("invalid id {id:?}")));
    }
    let mut resource = parse_body(&body)?;
    let (_, body_id) = validate_resource(&state.app.registry, &resource, Some(&resource_type))?;
    state.app.check_task_focus(&resource, &[])?;
    match body_id {
        Some(body_id) if body_id != id => {
            return Err(Error::body(
                Some(&format!("{resource_type}.id")),
                format!("resource id {body_id:?} does not match the URL id {id:?}"),
            ))
        }
        Some(_) => {}
        None => {
            if let Some(object) = resource.as_object_mut() {
                object.insert("id".into(), Value::String(id.clone()));
            }
        }
    }
    let if_match = if_match(&request)?;
    let base = base_url(&state, &request);
    check_writable(&state, &request, &resource_type, &id).await?;
    let committed =
        submit_one(&state, WriteOp::Put { resource, if_match, create_only: false, keep_last_updated: true })
            .await?;
    let status = if committed.created {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    written(&state, &request, status, &base, committed).await
}

async fn delete(
    state: Data<HttpState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let (resource_type, id) = path.into_inner();
    check_type(&state, &resource_type)?;
    let if_match = if_match(&request)?;
    check_writable(&state, &request, &resource_type, &id).await?;
    let committed = submit_one(&state, WriteOp::Delete { resource_type, id, if_match }).await?;
    let mut builder = HttpResponse::NoContent();
    if !committed.noop {
        builder.insert_header((header::ETAG, format!("W/\"{}\"", committed.version)));
    }
    Ok(builder.finish())
}

async fn transaction(state: Data<HttpState>, request: HttpRequest, body: Bytes) -> Result<HttpResponse> {
    let bundle = parse_body(&body)?;
    let base = base_url(&state, &request);
    let (bundle_type, mut planned) = plan_bundle(&state.app.registry, &bundle)?;
    // Tasks must focus on something that exists, here or earlier in the same Bundle.
    let written: Vec<(String, String)> = planned
        .iter()
        .filter_map(|p| match p {
            Ok(crate::ingest::bundle::PlannedEntry { op: WriteOp::Put { resource, .. }, .. }) => Some((
                resource.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned(),
                resource.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            )),
            _ => None,
        })
        .collect();
    for (index, entry) in planned.iter_mut().enumerate() {
        if let Ok(crate::ingest::bundle::PlannedEntry { op: WriteOp::Put { resource, .. }, .. }) = entry {
            if let Err(error) = state.app.check_task_focus(resource, &written) {
                *entry = Err(Error::unprocessable(
                    format!("Bundle.entry[{index}].resource.focus"),
                    error.to_string(),
                ));
            }
        }
    }
    // A restricted caller cannot write to a resource that does not exist for it.
    let profile = Principal::of(&request).profile;
    if !profile.is_unrestricted() {
        let targets: Vec<Option<(String, String)>> = planned
            .iter()
            .map(|entry| match entry {
                Ok(crate::ingest::bundle::PlannedEntry { op, .. }) => match op {
                    WriteOp::Put { resource, .. } => Some((
                        resource.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        resource.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    )),
                    WriteOp::Patch { resource_type, id, .. }
                    | WriteOp::Delete { resource_type, id, .. }
                    | WriteOp::Load { resource_type, id, .. } => Some((resource_type.clone(), id.clone())),
                },
                Err(_) => None,
            })
            .collect();
        let app = state.app.clone();
        let hidden = background(move || {
            targets
                .iter()
                .map(|target| match target {
                    Some((resource_type, id)) => hidden_now(&app, profile, resource_type, id),
                    None => Ok(false),
                })
                .collect::<Result<Vec<bool>>>()
        })
        .await?;
        for (index, (entry, hidden)) in planned.iter_mut().zip(hidden).enumerate() {
            if hidden {
                *entry =
                    Err(Error::not_found(format!("Bundle.entry[{index}]: the target resource is not known")));
            }
        }
    }
    let app = state.app.clone();
    if bundle_type == "transaction" {
        // All or nothing: the first invalid entry fails the whole Bundle before anything is written.
        let mut ops = Vec::with_capacity(planned.len());
        let mut methods = Vec::with_capacity(planned.len());
        for entry in planned {
            let entry = entry?;
            methods.push(entry.method);
            ops.push(entry.op);
        }
        let profile = Principal::of(&request).profile;
        let committed = background(move || {
            let mut committed = app.writer.submit(ops)?;
            // The response shows the written resources as the caller may see them.
            if let Some(projector) = Projector::new(profile, &app.state) {
                let owned: Vec<(String, String, Value)> = committed
                    .iter()
                    .filter_map(|c| {
                        c.resource.as_ref().map(|r| (c.resource_type.clone(), c.id.clone(), (**r).clone()))
                    })
                    .collect();
                let items = owned.iter().map(|(t, i, r)| (t.as_str(), i.as_str(), r.clone())).collect();
                let mut shown = projector.project_values(items).into_iter();
                for c in committed.iter_mut().filter(|c| c.resource.is_some()) {
                    c.resource = shown.next().flatten().map(std::sync::Arc::new);
                }
            }
            Ok(committed)
        })
        .await?;
        let entries: Vec<Value> = committed
            .iter()
            .zip(methods.iter())
            .map(|(c, method)| {
                let mut entry = json!({"response": entry_response(method, c)});
                if let (Some(resource), Some(object)) = (&c.resource, entry.as_object_mut()) {
                    object.insert(
                        "fullUrl".into(),
                        Value::String(format!("{base}/{}/{}", c.resource_type, c.id)),
                    );
                    object.insert("resource".into(), (**resource).clone());
                }
                entry
            })
            .collect();
        let response = json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries});
        return Ok(fhir_json(actix_web::http::StatusCode::OK, response.to_string()));
    }
    // Batch: each entry is its own unit; one failing entry does not stop the others.
    let results = background(move || {
        let mut methods = Vec::with_capacity(planned.len());
        let mut units = Vec::new();
        let mut slots = Vec::with_capacity(planned.len());
        for entry in planned {
            match entry {
                Err(error) => slots.push(Err(error)),
                Ok(entry) => {
                    slots.push(Ok(units.len()));
                    methods.push(entry.method);
                    units.push(vec![entry.op]);
                }
            }
        }
        let mut committed: Vec<Option<Result<Vec<Committed>>>> =
            app.writer.submit_many(units).into_iter().map(Some).collect();
        let results = slots
            .into_iter()
            .map(|slot| {
                let index = slot?;
                let method = methods.get(index).cloned().unwrap_or_default();
                let result = committed
                    .get_mut(index)
                    .and_then(Option::take)
                    .unwrap_or_else(|| Err(Error::internal("missing batch result")));
                result.map(|mut c| (method, c.pop()))
            })
            .collect::<Vec<_>>();
        Ok(results)
    })
    .await?;
    let entries: Vec<Value> = results
        .into_iter()
        .map(|result| match result {
            Ok((method, Some(committed))) => json!({"response": entry_response(&method, &committed)}),
            Ok((_, None)) => json!({"response": {"status": "200 OK"}}),
            Err(error) => json!({"response": error_response(&error)}),
        })
        .collect();
    let response = json!({"resourceType": "Bundle", "type": "batch-response", "entry": entries});
    Ok(fhir_json(actix_web::http::StatusCode::OK, response.to_string()))
}

/// The patch document of a PATCH request: JSON Patch (`application/json-patch+json`, or any JSON
/// array) or FHIRPath Patch (a `Parameters` resource).
fn patch_document(request: &HttpRequest, body: &Bytes) -> Result<Patch> {
    let document = parse_body(body)?;
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.contains("json-patch") || document.is_array() {
        parse_json_patch(&document)
    } else {
        parse_fhirpath_patch(&document)
    }
}

async fn patch(
    state: Data<HttpState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse> {
    let (resource_type, id) = path.into_inner();
    check_type(&state, &resource_type)?;
    let document = patch_document(&request, &body)?;
    let if_match = if_match(&request)?;
    let base = base_url(&state, &request);
    check_writable(&state, &request, &resource_type, &id).await?;
    let target = (resource_type, id);
    commit_patch(&state, &request, &base, target, if_match, document).await
}

/// `PATCH [base]/Location?identifier=…`: the search must select exactly one resource.
async fn conditional_patch(
    state: Data<HttpState>,
    path: web::Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse> {
    let resource_type = path.into_inner();
    check_type(&state, &resource_type)?;
    let params =
        parse_query_string(request.query_string()).map_err(|e| Error::param(param_of(&e), e.to_string()))?;
    if params.is_empty() {
        return Err(Error::param(
            "query",
            "a conditional PATCH needs search parameters (e.g. ?identifier=…)",
        ));
    }
    let document = patch_document(&request, &body)?;
    let if_match = if_match(&request)?;
    let base = base_url(&state, &request);
    let profile = Principal::of(&request).profile;
    let app = state.app.clone();
    let search_type = resource_type.clone();
    let id = background(move || {
        let context = app.parse_context(Handling::Strict);
        let mut search = context.parse_search(&search_type, &params)?;
        search.count = 2;
        search.includes.clear();
        search.revincludes.clear();
        // The selection sees what the caller sees: a hidden resource is never the one patched.
        let guard = ProfileGuard::for_profile(profile, &app.registry, app.store.as_ref());
        let page = app.search.search_with(&search, guard.as_ref().map(|g| g as &dyn Guard))?;
        match page.total {
            0 => Err(Error::not_found(format!("no {search_type} matches the conditional PATCH criteria"))),
            1 => page.entries.first().map(|e| e.id.to_string()).ok_or_else(|| Error::internal("match without entry")),
            n => Err(Error::PreconditionFailed { message: format!("{n} {search_type} resources match the conditional PATCH criteria; exactly one is required") }),
        }
    })
    .await?;
    let target = (resource_type, id);
    commit_patch(&state, &request, &base, target, if_match, document).await
}

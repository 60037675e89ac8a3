//! Admin task routes: `POST /admin/reindex`, `GET /admin/tasks`, `GET /admin/tasks/{id}`.
//! (`/admin/status` lives with the FHIR routes.)
//!
//! One reindex at a time: a `POST /admin/reindex` while one is queued or running answers 409 with
//! an OperationOutcome and `Content-Location` naming the running task, so that a client can
//! follow it instead of starting another.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Data};
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::{HttpState, FHIR_JSON};
use crate::admin::reindex::Started;
use crate::error::{Error, Result};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/reindex", web::post().to(reindex))
        .route("/admin/tasks", web::get().to(list_tasks))
        .route("/admin/tasks/{id}", web::get().to(get_task));
}

async fn reindex(state: Data<HttpState>) -> Result<HttpResponse> {
    match state.app.start_reindex()? {
        Started::New(task) => Ok(HttpResponse::Accepted()
            .insert_header((header::CONTENT_LOCATION, task.location()))
            .json(task.to_json())),
        Started::AlreadyRunning(task) => {
            let error = Error::Conflict {
                message: format!(
                    "a reindex is already {} (task {}); follow {} instead",
                    task.status().as_str(),
                    task.id,
                    task.location()
                ),
            };
            Ok(HttpResponse::build(StatusCode::CONFLICT)
                .insert_header((header::CONTENT_LOCATION, task.location()))
                .content_type(FHIR_JSON)
                .body(error.to_operation_outcome().to_string()))
        }
    }
}

async fn list_tasks(state: Data<HttpState>) -> HttpResponse {
    let tasks: Vec<Value> = state.app.tasks.list().iter().map(|t| t.to_json()).collect();
    HttpResponse::Ok().json(json!({ "tasks": tasks }))
}

async fn get_task(state: Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse> {
    let id = path.into_inner();
    let task = state.app.tasks.get(&id).ok_or_else(|| Error::not_found(format!("no admin task {id:?}")))?;
    Ok(HttpResponse::Ok().json(task.to_json()))
}

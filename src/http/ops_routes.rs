//! Operations endpoints: readiness and Prometheus metrics (`/healthz` lives with the FHIR routes).

use actix_web::web::{self, Data};
use actix_web::HttpResponse;
use serde_json::json;

use super::HttpState;
use crate::error::{Error, Result};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/readyz", web::get().to(readyz)).route("/metrics", web::get().to(metrics));
}

/// Ready once the search state is built (the server only listens after that) and until
/// shutdown begins.
async fn readyz(state: Data<HttpState>) -> Result<HttpResponse> {
    if !state.ops.is_ready() {
        return Err(Error::Unavailable { message: "shutting down".into() });
    }
    let generation = state.app.state.read().generation;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "generation": generation})))
}

async fn metrics(state: Data<HttpState>) -> Result<HttpResponse> {
    let app = state.app.clone();
    let ops = state.ops.clone();
    let body = web::block(move || ops.metrics.render(&app))
        .await
        .map_err(|e| Error::internal(format!("worker pool: {e}")))?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}

//! The thin HTTP shell: routes, extraction of FHIR parameters from the raw query string, and
//! blocking work moved off the async workers.

mod export_routes;
mod fhir_routes;
mod response;

use std::sync::Arc;

use actix_web::web;

pub use response::FHIR_JSON;

use crate::app::App;

/// Shared state of the HTTP handlers.
pub struct HttpState {
    pub app: Arc<App>,
    /// Public base URL of the FHIR endpoint (`http://host/fhir`); derived from the request when unset.
    pub base_url: Option<String>,
    pub max_body_bytes: usize,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before the /fhir scope: `$export` must not be read as a resource type.
    export_routes::configure(cfg);
    fhir_routes::configure(cfg);
}

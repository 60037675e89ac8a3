//! The thin HTTP shell: routes, extraction of FHIR parameters from the raw query string, and
//! blocking work moved off the async workers.

mod admin_routes;
mod console_routes;
mod export_routes;
mod fhir_routes;
pub mod metrics;
pub mod middleware;
mod ops_routes;
mod response;

use std::sync::Arc;

use actix_web::web;

pub use console_routes::ConsoleSettings;
pub use response::FHIR_JSON;

use crate::app::App;

/// Shared state of the HTTP handlers.
pub struct HttpState {
    pub app: Arc<App>,
    /// Public base URL of the FHIR endpoint (`http://host/fhir`); derived from the request when unset.
    pub base_url: Option<String>,
    pub max_body_bytes: usize,
    /// Authentication, metrics, readiness and the request time limit.
    pub ops: Arc<middleware::Operations>,
}

impl HttpState {
    /// Without security, default limits: local development and tests.
    pub fn new(app: Arc<App>, base_url: Option<String>) -> HttpState {
        HttpState {
            app,
            base_url,
            max_body_bytes: crate::config::Limits::default().max_body_bytes,
            ops: Arc::new(middleware::Operations::default()),
        }
    }
}

/// Run blocking request work (a write, an export plan) on actix's blocking pool, whose threads
/// yield the CPU to searches ([`crate::search::pool::yield_to_searches`]) unless they run at
/// the real-time priority of the HTTP worker that started them. Reads go to the search pool.
pub(crate) async fn background<T: Send + 'static>(
    work: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    let work = move || {
        crate::search::pool::yield_to_searches_unless_realtime();
        work()
    };
    web::block(work).await.map_err(|e| crate::error::Error::internal(format!("worker pool: {e}")))?
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before the /fhir scope: `$export` must not be read as a resource type.
    export_routes::configure(cfg);
    fhir_routes::configure(cfg);
    admin_routes::configure(cfg);
    ops_routes::configure(cfg);
    console_routes::configure(cfg);
}

/// The whole HTTP application as `serve` runs it (middleware, limits, routes): the server and
/// the tests build it the same way.
pub fn application(
    state: web::Data<HttpState>,
    console: web::Data<ConsoleSettings>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let max_body_bytes = state.max_body_bytes;
    actix_web::App::new()
        .wrap(actix_web::middleware::from_fn(middleware::guard))
        .app_data(state)
        .app_data(console)
        .app_data(web::PayloadConfig::new(max_body_bytes))
        .configure(configure)
}

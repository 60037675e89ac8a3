//! The one middleware every request goes through: request id and tracing span, authentication
//! and authorization (401/403), the request time limit (503), metrics, and the guarantee that
//! every error leaves as a FHIR `OperationOutcome` (also actix's own: unknown route, wrong
//! method, body too large, undecodable path).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpMessage, HttpResponse};
use tracing::Instrument;

use super::metrics::Metrics;
use super::{HttpState, FHIR_JSON};
use crate::error::Error;
use crate::security::auth::{Access, Authenticator, Denied, PeerCertificate};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Operational state shared by the middleware and the operations routes.
pub struct Operations {
    pub metrics: Metrics,
    pub auth: Authenticator,
    pub request_timeout: Duration,
    /// False once shutdown has begun: `/readyz` answers 503 so load balancers drain us.
    pub ready: AtomicBool,
}

impl Operations {
    pub fn new(auth: Authenticator, request_timeout: Duration) -> Operations {
        Operations { metrics: Metrics::default(), auth, request_timeout, ready: AtomicBool::new(true) }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

impl Default for Operations {
    fn default() -> Self {
        Operations::new(Authenticator::disabled(), Duration::from_secs(60))
    }
}

/// A client-supplied request id is kept when it is short and plain, so logs can be joined
/// across services; anything else is replaced.
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

fn error_response(error: &Error) -> HttpResponse {
    let mut builder = HttpResponse::build(
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    if matches!(error, Error::Unauthorized { .. }) {
        builder.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"ror\""));
    }
    builder.content_type(FHIR_JSON).body(error.to_operation_outcome().to_string())
}

fn denied_error(denied: Denied) -> Error {
    match denied {
        Denied::Unauthenticated { expression, message } => Error::Unauthorized { expression, message },
        Denied::Forbidden { message } => Error::Forbidden { message },
    }
}

fn is_fhir_body(response: &HttpResponse<BoxBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

/// actix answers some failures itself (no route, wrong method, payload too large, bad path)
/// with a plain-text body; FHIR clients get an `OperationOutcome` instead.
fn as_operation_outcome(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if status.as_u16() < 400 || is_fhir_body(response.response()) {
        return response;
    }
    let message = match response.response().error() {
        Some(error) => error.to_string(),
        None => status.canonical_reason().unwrap_or("request failed").to_owned(),
    };
    let error = match status.as_u16() {
        404 => Error::not_found(format!("no such endpoint: {message}")),
        405 => Error::NotSupported { message: format!("method not allowed here: {message}") },
        413 => Error::PayloadTooLarge { message: format!("request body too large: {message}") },
        401 => Error::Unauthorized { expression: None, message },
        403 => Error::Forbidden { message },
        429 => Error::TooManyRequests { message },
        503 => Error::Unavailable { message },
        code if code >= 500 => Error::internal(message),
        _ => Error::body(None, message),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let (request, _) = response.into_parts();
    let mut replacement = error_response(&error);
    if let Some(allow) = allow {
        replacement.headers_mut().insert(header::ALLOW, allow);
    }
    // The status stays what actix chose (e.g. 405 with its Allow header).
    *replacement.status_mut() = status;
    ServiceResponse::new(request, replacement)
}

pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let span = tracing::info_span!("request", id = %id, method = %method, path = %request.path());
    let operations = request.app_data::<Data<HttpState>>().map(|state| {
        crate::search::pool::serve_searches_from_this_thread(state.app.search_pool.priority());
        state.ops.clone()
    });
    let Some(operations) = operations else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let access = Access::of(&method, request.path());
    let refusal = if access == Access::Open {
        None
    } else {
        let certificate = request.conn_data::<PeerCertificate>().map(|c| c.0.clone());
        match operations.auth.authenticate(certificate.as_deref(), request.headers()).and_then(|consumer| {
            operations.auth.authorize(&consumer, &access, request.headers()).map(|()| consumer)
        }) {
            Ok(consumer) => {
                // Without security nothing is attached: `Principal::of` then means unrestricted,
                // and an outer layer (tests) may attach its own principal.
                if operations.auth.enabled() {
                    request.extensions_mut().insert(consumer.principal);
                }
                None
            }
            Err(denied) => Some(denied_error(denied)),
        }
    };
    let response = match refusal {
        Some(error) => {
            span.in_scope(|| tracing::info!(status = error.http_status(), reason = %error, "refused"));
            operations.metrics.refused(error.http_status());
            request.into_response(error_response(&error))
        }
        None => {
            let deadline = started.checked_add(operations.request_timeout);
            match actix_web::rt::time::timeout(
                operations.request_timeout,
                crate::search::pool::within_deadline(deadline, next.call(request).instrument(span.clone())),
            )
            .await
            {
                Ok(result) => as_operation_outcome(result?.map_into_boxed_body()),
                Err(_) => {
                    operations.metrics.refused(503);
                    // The request was moved into the abandoned handler: actix renders this
                    // error through `ResponseError`, as an OperationOutcome.
                    return Err(Error::Unavailable {
                        message: format!(
                            "the request took longer than {} s and was abandoned",
                            operations.request_timeout.as_secs()
                        ),
                    }
                    .into());
                }
            }
        }
    };
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    operations.metrics.observe(&route, method.as_str(), status, seconds);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms = seconds * 1e3, "request failed");
        } else if seconds > 1.0 {
            tracing::info!(status, elapsed_ms = seconds * 1e3, "slow request");
        } else {
            tracing::debug!(status, elapsed_ms = seconds * 1e3, "request");
        }
    });
    Ok(response)
}

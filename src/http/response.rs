//! Every error leaves as a FHIR `OperationOutcome` with its status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::Error;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if self.http_status() >= 500 {
            tracing::error!(error = %self, "request failed");
        }
        HttpResponse::build(self.status_code())
            .content_type(FHIR_JSON)
            .body(self.to_operation_outcome().to_string())
    }
}

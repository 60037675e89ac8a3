//! The crate error type and its single mapping to an HTTP status and a FHIR `OperationOutcome`.

use std::sync::Arc;

/// FHIR `OperationOutcome.issue.code` values used by this service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    Invalid,
    Structure,
    Required,
    Value,
    Processing,
    NotSupported,
    NotFound,
    Conflict,
    Exception,
    TooCostly,
    Deleted,
    Duplicate,
    Security,
    Forbidden,
    Informational,
    Login,
    Timeout,
    Throttled,
}

impl IssueCode {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::Processing => "processing",
            IssueCode::NotSupported => "not-supported",
            IssueCode::NotFound => "not-found",
            IssueCode::Conflict => "conflict",
            IssueCode::Exception => "exception",
            IssueCode::TooCostly => "too-costly",
            IssueCode::Deleted => "deleted",
            IssueCode::Duplicate => "duplicate",
            IssueCode::Security => "security",
            IssueCode::Forbidden => "forbidden",
            IssueCode::Informational => "informational",
            IssueCode::Login => "login",
            IssueCode::Timeout => "timeout",
            IssueCode::Throttled => "throttled",
        }
    }
}

/// Every failure the service can report. Each variant knows its HTTP status and the FHIR
/// expression (parameter name or element path) it is about.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A search parameter or its value is malformed or unsupported.
    #[error("{message}")]
    InvalidParam { param: String, message: String },
    /// The request body is not what the interaction needs (not JSON, wrong resourceType…).
    #[error("{message}")]
    InvalidBody { expression: Option<String>, message: String },
    /// The resource is well-formed JSON but breaks a profile or business rule.
    #[error("{message}")]
    Unprocessable { expression: Option<String>, message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    PreconditionFailed { message: String },
    #[error("{message}")]
    NotSupported { message: String },
    #[error("{message}")]
    TooCostly { message: String },
    #[error("{message}")]
    PayloadTooLarge { message: String },
    /// Missing or invalid credentials (401).
    #[error("{message}")]
    Unauthorized { expression: Option<String>, message: String },
    /// Authenticated, but outside the consumer's profile or roles (403).
    #[error("{message}")]
    Forbidden { message: String },
    /// Too many requests of a kind at once (429).
    #[error("{message}")]
    TooManyRequests { message: String },
    /// The request could not be served in time or the service is shutting down (503).
    #[error("{message}")]
    Unavailable { message: String },
    #[error("storage error: {0}")]
    Store(Arc<str>),
    #[error("internal error: {0}")]
    Internal(Arc<str>),
}

impl Error {
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParam { param: param.into(), message: message.into() }
    }

    pub fn body(expression: Option<&str>, message: impl Into<String>) -> Self {
        Error::InvalidBody { expression: expression.map(str::to_owned), message: message.into() }
    }

    pub fn unprocessable(expression: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unprocessable { expression: Some(expression.into()), message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound { message: message.into() }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(message.to_string().into())
    }

    pub fn store(message: impl std::fmt::Display) -> Self {
        Error::Store(message.to_string().into())
    }

    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidParam { .. } | Error::InvalidBody { .. } => 400,
            Error::Unprocessable { .. } => 422,
            Error::NotFound { .. } => 404,
            Error::Gone { .. } => 410,
            Error::Conflict { .. } => 409,
            Error::PreconditionFailed { .. } => 412,
            Error::NotSupported { .. } => 405,
            Error::TooCostly { .. } => 400,
            Error::PayloadTooLarge { .. } => 413,
            Error::Unauthorized { .. } => 401,
            Error::Forbidden { .. } => 403,
            Error::TooManyRequests { .. } => 429,
            Error::Unavailable { .. } => 503,
            Error::Store(_) | Error::Internal(_) => 500,
        }
    }

    pub fn issue_code(&self) -> IssueCode {
        match self {
            Error::InvalidParam { .. } => IssueCode::Invalid,
            Error::InvalidBody { .. } => IssueCode::Structure,
            Error::Unprocessable { .. } => IssueCode::Processing,
            Error::NotFound { .. } => IssueCode::NotFound,
            Error::Gone { .. } => IssueCode::Deleted,
            Error::Conflict { .. } => IssueCode::Conflict,
            Error::PreconditionFailed { .. } => IssueCode::Conflict,
            Error::NotSupported { .. } => IssueCode::NotSupported,
            Error::TooCostly { .. } => IssueCode::TooCostly,
            Error::PayloadTooLarge { .. } => IssueCode::TooCostly,
            Error::Unauthorized { .. } => IssueCode::Login,
            Error::Forbidden { .. } => IssueCode::Forbidden,
            Error::TooManyRequests { .. } => IssueCode::Throttled,
            Error::Unavailable { .. } => IssueCode::Timeout,
            Error::Store(_) | Error::Internal(_) => IssueCode::Exception,
        }
    }

    /// The FHIR expression the error is about: a search parameter name or an element path.
    pub fn expression(&self) -> Option<&str> {
        match self {
            Error::InvalidParam { param, .. } => Some(param.as_str()),
            Error::InvalidBody { expression, .. }
            | Error::Unprocessable { expression, .. }
            | Error::Unauthorized { expression, .. } => expression.as_deref(),
            _ => None,
        }
    }

    /// The error as a FHIR `OperationOutcome` resource.
    pub fn to_operation_outcome(&self) -> serde_json::Value {
        crate::fhir::outcome::operation_outcome(
            "error",
            self.issue_code(),
            &self.to_string(),
            self.expression(),
        )
    }
}

impl From<redb::Error> for Error {
    fn from(error: redb::Error) -> Self {
        Error::store(error)
    }
}
impl From<redb::TransactionError> for Error {
    fn from(error: redb::TransactionError) -> Self {
        Error::store(error)
    }
}
impl From<redb::TableError> for Error {
    fn from(error: redb::TableError) -> Self {
        Error::store(error)
    }
}
impl From<redb::StorageError> for Error {
    fn from(error: redb::StorageError) -> Self {
        Error::store(error)
    }
}
impl From<redb::CommitError> for Error {
    fn from(error: redb::CommitError) -> Self {
        Error::store(error)
    }
}
impl From<redb::DatabaseError> for Error {
    fn from(error: redb::DatabaseError) -> Self {
        Error::store(error)
    }
}
impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::internal(error)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

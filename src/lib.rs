//! ror-search: a search service for the French national directory of health care offers (ROR),
//! serving its FHIR R4 API from one binary.

pub mod admin;
pub mod app;
pub mod config;
pub mod error;
pub mod export;
pub mod fhir;
pub mod fhirpath;
pub mod generate;
pub mod http;
pub mod index;
pub mod indicators;
pub mod ingest;
pub mod query;
pub mod schema;
pub mod search;
pub mod security;
pub mod store;

pub use error::{Error, Result};

//! ror-search: a search service for the French national directory of health care offers (ROR),
//! serving its FHIR R4 API from one binary.

pub mod app;
pub mod error;
pub mod fhir;
pub mod generate {
    pub mod error;
    pub mod reference;
    pub enum Scale { Demo }
    impl std::str::FromStr for Scale { type Err = String; fn from_str(_: &str) -> Result<Self, String> { Ok(Scale::Demo) } }
    pub struct GenerateOptions { pub scale: Scale, pub seed: u64, pub out_dir: std::path::PathBuf, pub progress: bool }
    pub struct GenerateSummary { pub counts: Vec<(String, u64)>, pub files: Vec<std::path::PathBuf> }
    pub fn generate(_: &GenerateOptions) -> Result<GenerateSummary, error::GenerateError> { todo!() }
}
pub mod http;
pub mod index;
pub mod ingest;
pub mod query;
pub mod schema;
pub mod search;
pub mod store;

pub use error::{Error, Result};

//! Search parameter schema: the registry of `index-schemas/` and the FHIRPath subset used to extract values.

pub mod fhirpath;
pub mod registry;

pub use registry::{ParamId, ParamType, Registry, ResourceSchema, SearchParam};

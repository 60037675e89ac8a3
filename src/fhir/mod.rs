//! FHIR wire helpers: OperationOutcome, searchset Bundles, the CapabilityStatement.

pub mod bundle;
pub mod capability;
pub mod focus;
pub mod outcome;

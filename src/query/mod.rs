//! FHIR search semantics in one place: raw parameters, typed values, `_filter`, and their
//! compilation to a criterion tree.

pub mod ast;
pub mod filter;
pub mod params;
pub mod parse;
pub mod value;

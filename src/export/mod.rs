//! Extraction: the FHIR Bulk Data `$export` (SPEC §3 UC2 S1bis/S1ter, §4.3) and the BI CSV extracts.
//!
//! Both read one consistent snapshot: the match keys and versions are taken under the search-state
//! snapshot once ([`select`]), then the resources are streamed by version from the store, which
//! keeps every version, so concurrent writes never tear an extract and memory stays bounded by
//! the id list, not by the resources.

pub mod body;
pub mod bulk;
pub mod extracts;
pub mod select;

pub use bulk::{ExportJobs, ExportRequest, OutputFormat};

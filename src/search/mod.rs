//! Search execution: evaluation of criteria, ordering, paging, includes.

pub mod execute;
pub mod include;
pub mod pool;
pub mod service;

pub use service::{EntryMode, EntryRef, SearchPage, SearchService};

//! The derived search state: collections (tokens, strings, columns, references), the geo index
//! and the full-text index, rebuilt from the store of record at will.

pub mod collection;
pub mod date_order;
pub mod extract;
pub mod geo;
pub mod interned;
pub mod normalize;
pub mod snapshot;
pub mod state;
pub mod text;
pub mod ucum;

/// Stable internal key of a resource within its type. Never a tantivy DocId.
pub type DocKey = u32;

pub use snapshot::SearchSnapshots;
pub use state::{IndexChange, SearchState};

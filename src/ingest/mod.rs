//! Write path: validation, Bundles, the single writer and file loading.

pub mod bundle;
pub mod load;
pub mod patch;
pub mod validate;
pub mod writer;

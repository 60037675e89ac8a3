//! Errors of the corpus generator and of the embedded reference data.

use std::path::PathBuf;

/// Everything that can go wrong while loading the embedded tables or writing a corpus.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// An embedded table (reference data or code list) could not be decoded.
    #[error("embedded table {table} is unreadable: {detail}")]
    EmbeddedData { table: &'static str, detail: String },

    /// A code the generator wants to emit is not in its embedded code list, which means
    /// the catalog and the code lists disagree.
    #[error("code {code:?} is not in code list {list}")]
    UnknownCode { list: &'static str, code: String },

    /// A commune code referenced by the generator is not in the communes table.
    #[error("commune {0:?} is not in the communes table")]
    UnknownCommune(String),

    /// A scenario that the corpus must cover has no suitable real establishment.
    #[error("no establishment fits scenario {0}")]
    MissingAnchor(&'static str),

    /// `Scale::from_str` got something else than demo, region or national.
    #[error("unknown scale {0:?}: expected demo, region or national")]
    UnknownScale(String),

    /// Creating or writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Serialising a generated resource failed.
    #[error("cannot serialise a {resource_type}: {source}")]
    Json {
        resource_type: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

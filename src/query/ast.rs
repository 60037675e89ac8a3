//! The schema-bound criterion tree a search request compiles to. Plain data: it can be logged,
//! compared and evaluated by [`crate::search::execute`].

use crate::query::value::{DateCriterion, NumberCriterion, QuantityCriterion};
use crate::schema::ParamId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StringMode {
    /// Default FHIR string search: starts-with, case- and accent-insensitive.
    StartsWith,
    Exact,
    Contains,
    EndsWith,
}

/// A reference search target: an optional type and an id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReferenceTarget {
    pub target_type: Option<usize>,
    pub id: String,
}

/// One node of a search. Every leaf applies to the resource type being evaluated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Criterion {
    All,
    And {
        all: Vec<Criterion>,
    },
    Or {
        any: Vec<Criterion>,
    },
    Not {
        inner: Box<Criterion>,
    },
    /// Any of the token keys (see `index::extract::token_keys`).
    Token {
        param: ParamId,
        keys: Vec<String>,
    },
    String {
        param: ParamId,
        mode: StringMode,
        values: Vec<String>,
    },
    Date {
        param: ParamId,
        values: Vec<DateCriterion>,
    },
    Number {
        param: ParamId,
        values: Vec<NumberCriterion>,
    },
    Quantity {
        param: ParamId,
        values: Vec<QuantityCriterion>,
    },
    Reference {
        param: ParamId,
        targets: Vec<ReferenceTarget>,
    },
    Missing {
        param: ParamId,
        missing: bool,
    },
    /// `param.inner`: resources whose reference `param` points at a `target_type` resource
    /// matching `inner`; with `above`, at one whose `partof` ancestor-or-self matches.
    Chain {
        param: ParamId,
        target_type: usize,
        above: bool,
        inner: Box<Criterion>,
    },
    /// `_has:source:param:inner`: resources referenced through `param` by a `source_type`
    /// resource matching `inner`.
    Has {
        source_type: usize,
        param: ParamId,
        inner: Box<Criterion>,
    },
    /// Locations within `radius_m` of (lat, lon).
    Near {
        lat: f64,
        lon: f64,
        radius_m: f64,
    },
    /// Full text.
    Content {
        text: String,
    },
}

impl Criterion {
    pub fn and(mut all: Vec<Criterion>) -> Criterion {
        all.retain(|c| *c != Criterion::All);
        match all.len() {
            0 => Criterion::All,
            1 => all.pop().unwrap_or(Criterion::All),
            _ => Criterion::And { all },
        }
    }

    pub fn or(mut any: Vec<Criterion>) -> Criterion {
        if any.len() == 1 {
            return any.pop().unwrap_or(Criterion::All);
        }
        Criterion::Or { any }
    }

    pub fn negate(inner: Criterion) -> Criterion {
        Criterion::Not { inner: Box::new(inner) }
    }

    /// True when the tree contains a proximity criterion (results are then ordered by distance).
    pub fn has_near(&self) -> bool {
        match self {
            Criterion::Near { .. } => true,
            Criterion::And { all } => all.iter().any(Criterion::has_near),
            Criterion::Or { any } => any.iter().any(Criterion::has_near),
            Criterion::Chain { inner, .. } => inner.has_near(),
            _ => false,
        }
    }

    /// True when the tree contains a full-text criterion on the searched type itself.
    pub fn has_content(&self) -> bool {
        match self {
            Criterion::Content { .. } => true,
            Criterion::And { all } => all.iter().any(Criterion::has_content),
            Criterion::Or { any } => any.iter().any(Criterion::has_content),
            _ => false,
        }
    }
}

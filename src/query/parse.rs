//! Raw FHIR search parameters + the registry → a [`SearchRequest`]: the criterion tree plus the
//! result controls (`_count`, `_sort`, `_include`…). Every error names the parameter and value.
//!
//! Name grammar handled here (SPEC.md §2, §3):
//! ```text
//! name     := has | chain | leaf
//! has      := '_has:' Type ':' refParam ':' name            -- reverse chain, nests
//! chain    := refParam [':' (Type | 'above')] '.' name      -- `organization:above.identifier`
//!           | refParam ':' Type ':' name                    -- UC10 form `focus:HealthcareService:identifier`
//! leaf     := param [':' modifier]                          -- a trailing `:above` after a chain
//!                                                           -- applies to the chain (ROR reading)
//! ```

use crate::error::{Error, Result};
use crate::query::ast::{Criterion, ReferenceTarget, StringMode};
use crate::query::filter::{parse_filter, FilterExpr, FilterLimits, FilterOp};
use crate::query::params::{split_unescaped, unescape, RawParam};
use crate::query::value::{
    parse_count, parse_date_criterion, parse_near, parse_near_insee, parse_number_criterion,
    parse_quantity_criterion, parse_token,
};
use crate::schema::{ParamType, Registry, ResourceSchema, SearchParam};

/// Default page size (SPEC RG_RECH_52).
pub const DEFAULT_COUNT: u32 = 200;
/// Largest page a client may ask for, unless configured otherwise.
pub const MAX_COUNT: u32 = 1000;
/// Most OR alternatives one parameter may carry, unless configured otherwise.
pub const MAX_OR_VALUES: usize = 1000;

/// Where the commune centres for `near-insee-code` come from.
pub trait CommuneLookup {
    /// (lat, lon) of the centre of the commune with this INSEE COG code.
    fn centre(&self, cog: &str) -> Option<(f64, f64)>;
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SortKey {
    pub descending: bool,
    /// Reference params walked from the searched type (chained sort), as (type, param).
    pub chain: Vec<(usize, usize)>,
    /// Type and param whose value is the key; `None` param = relevance / distance.
    pub target_type: usize,
    pub param: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Include {
    pub source_type: usize,
    pub param: usize,
    pub target_type: Option<usize>,
    pub iterate: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchRequest {
    pub resource_type: usize,
    pub criterion: Criterion,
    pub count: u32,
    pub offset: u32,
    pub sort: Vec<SortKey>,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    pub elements: Option<Vec<String>>,
    pub summary_count: bool,
    /// Unknown or unsupported parameters ignored under lenient handling: (name, reason).
    pub ignored: Vec<(String, String)>,
    /// Parameters actually applied, in request order (for the `self` link).
    pub applied: Vec<(String, String)>,
    /// A cursor id (`_getpages`) continuing an earlier search.
    pub page_cursor: Option<String>,
    /// `_matching=record`: capacity, equipment and tariff criteria must hold on one record.
    pub record_matching: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Strict,
    Lenient,
}

pub struct ParseContext<'a> {
    pub registry: &'a Registry,
    pub communes: &'a dyn CommuneLookup,
    pub handling: Handling,
    pub filter_limits: FilterLimits,
    /// Largest `_count` (configuration `limits.max_count`).
    pub max_count: u32,
    /// Most values one parameter may OR together (`limits.max_or_values`).
    pub max_or_values: usize,
}

/// Parameters that control the result rather than select resources.
const RESULT_PARAMS: &[&str] = &[
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_elements",
    "_summary",
    "_total",
    "_format",
    "_pretty",
    "_offset",
    "_getpages",
    "_getpagesoffset",
    "_contained",
    "_containedType",
    "_matching",
];

impl<'a> ParseContext<'a> {
    fn schema(&self, type_index: usize) -> Result<&'a ResourceSchema> {
        self.registry.resources.get(type_index).ok_or_else(|| Error::internal("unknown resource type index"))
    }

    fn type_by_name(&self, name: &str) -> Option<usize> {
        self.registry.served(name).map(|schema| schema.type_index)
    }

    /// Build the whole request for `resource_type` from raw parameters.
    pub fn parse_search(&self, resource_type: &str, params: &[RawParam]) -> Result<SearchRequest> {
        let type_index = self
            .type_by_name(resource_type)
            .ok_or_else(|| Error::not_found(format!("unknown resource type {resource_type:?}")))?;
        let mut request = SearchRequest {
            resource_type: type_index,
            criterion: Criterion::All,
            count: DEFAULT_COUNT,
            offset: 0,
            sort: Vec::new(),
            includes: Vec::new(),
            revincludes: Vec::new(),
            elements: None,
            summary_count: false,
            ignored: Vec::new(),
            applied: Vec::new(),
            page_cursor: None,
            record_matching: false,
        };
        let mut criteria = Vec::new();
        for raw in params {
            let joined = raw.values.iter().map(|v| escape_commas(v)).collect::<Vec<_>>().join(",");
            if raw.values.len() > self.max_or_values {
                return Err(Error::param(
                    &raw.name,
                    format!("too many values for {:?} (max {})", raw.name, self.max_or_values),
                ));
            }
            let base_name = raw.name.split(':').next().unwrap_or_default();
            if RESULT_PARAMS.contains(&base_name) {
                match self.parse_result_param(&mut request, raw) {
                    Ok(()) => request.applied.push((raw.name.clone(), joined)),
                    Err(BuildError::Unknown(reason)) => self.ignore(&mut request, &raw.name, reason)?,
                    Err(BuildError::Invalid(error)) => return Err(error),
                }
                continue;
            }
            match self.build(type_index, &raw.name, &raw.values) {
                Ok(criterion) => {
                    criteria.push(criterion);
                    request.applied.push((raw.name.clone(), joined));
                }
                Err(BuildError::Unknown(reason)) => self.ignore(&mut request, &raw.name, reason)?,
                Err(BuildError::Invalid(error)) => return Err(error),
            }
        }
        request.criterion = Criterion::and(criteria);
        if request.record_matching {
            request.criterion = self.record_level(type_index, request.criterion);
        }
        Ok(request)
    }

    fn ignore(&self, request: &mut SearchRequest, name: &str, reason: String) -> Result<()> {
        match self.handling {
            Handling::Strict => Err(Error::param(name, reason)),
            Handling::Lenient => {
                request.ignored.push((name.to_owned(), reason));
                Ok(())
            }
        }
    }

    fn parse_result_param(&self, request: &mut SearchRequest, raw: &RawParam) -> Result<(), BuildError> {
        let name = raw.name.as_str();
        let first = raw.values.first().map(String::as_str).unwrap_or("");
        let invalid = |message: String| BuildError::Invalid(Error::param(name, message));
        let unsupported = |message: String| BuildError::Unknown(message);
        match name {
            "_count" => {
                let count = parse_count(first, u32::MAX).map_err(|e| invalid(e.to_string()))?;
                if count > self.max_count {
                    return Err(invalid(format!(
                        "_count={first} is above this server's maximum of {} per page",
                        self.max_count
                    )));
                }
                request.count = count;
            }
            "_offset" | "_getpagesoffset" => {
                request.offset = first
                    .parse()
                    .map_err(|_| invalid(format!("{name} must be a whole number, got {first:?}")))?;
            }
            "_getpages" => request.page_cursor = Some(first.to_owned()),
            "_matching" => match first {
                "record" => request.record_matching = true,
                "independent" => request.record_matching = false,
                other => {
                    return Err(invalid(format!("_matching must be independent or record, got {other:?}")))
                }
            },
            "_summary" => match first {
                "count" => request.summary_count = true,
                "false" => {}
                other => {
                    return Err(unsupported(format!("_summary={other} is not supported (count, false)")))
                }
            },
            "_elements" => {
                let elements: Vec<String> =
                    raw.values.iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
                request.elements = Some(elements);
            }
            "_total" | "_format" | "_pretty" => {}
            "_sort" => {
                for value in &raw.values {
                    let sort = self.parse_sort(request.resource_type, value).map_err(invalid)?;
                    request.sort.push(sort);
                }
            }
            "_include" | "_include:iterate" | "_revinclude" | "_revinclude:iterate" => {
                let iterate = name.ends_with(":iterate");
                let reverse = name.starts_with("_revinclude");
                for value in &raw.values {
                    let includes = self
                        .parse_include(request.resource_type, value, iterate, reverse)
                        .map_err(unsupported)?;
                    if reverse {
                        request.revincludes.extend(includes);
                    } else {
                        request.includes.extend(includes);
                    }
                }
            }
            other => return Err(unsupported(format!("parameter {other:?} is not supported"))),
        }
        Ok(())
    }

    fn parse_sort(&self, type_index: usize, value: &str) -> Result<SortKey, String> {
        let (descending, path) = match value.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let mut current = type_index;
        let mut chain = Vec::new();
        let mut segments: Vec<&str> = path.split('.').collect();
        let last = segments.pop().unwrap_or_default();
        for segment in segments {
            let schema = self.schema(current).map_err(|e| e.to_string())?;
            let code = segment.split(':').next().unwrap_or_default();
            let param =
                schema.param(code).filter(|p| p.param_type == ParamType::Reference).ok_or_else(|| {
                    format!("_sort: {code:?} is not a reference parameter of {}", schema.resource_type)
                })?;
            let target = param
                .targets
                .first()
                .and_then(|t| self.type_by_name(t))
                .ok_or_else(|| format!("_sort: {code:?} has no target type"))?;
            chain.push((current, param.id));
            current = target;
        }
        let schema = self.schema(current).map_err(|e| e.to_string())?;
        let code = last.split(':').next().unwrap_or_default();
        let param = schema
            .param(code)
            .ok_or_else(|| format!("_sort: unknown parameter {code:?} on {}", schema.resource_type))?;
        if matches!(param.param_type, ParamType::Reference | ParamType::Special) {
            return Err(format!("_sort: {code:?} cannot be sorted on"));
        }
        Ok(SortKey { descending, chain, target_type: current, param: param.id })
    }

    fn parse_include(
        &self,
        searched: usize,
        value: &str,
        iterate: bool,
        reverse: bool,
    ) -> Result<Vec<Include>, String> {
        if value == "*" {
            // Every reference of the searched type (forward) / every reference to it (reverse).
            let mut out = Vec::new();
            if reverse {
                let searched_name = self.registry.type_name(searched).to_owned();
                for schema in self.registry.resources.iter().filter(|r| r.record.is_none()) {
                    for param in schema.reference_params().filter(|p| p.targets.contains(&searched_name)) {
                        out.push(Include {
                            source_type: schema.type_index,
                            param: param.id,
                            target_type: Some(searched),
                            iterate,
                        });
                    }
                }
            } else {
                let schema = self.schema(searched).map_err(|e| e.to_string())?;
                for param in schema.reference_params() {
                    out.push(Include { source_type: searched, param: param.id, target_type: None, iterate });
                }
            }
            return Ok(out);
        }
        let mut parts = value.split(':');
        let source_name = parts.next().unwrap_or_default();
        let param_code =
            parts.next().ok_or_else(|| format!("include {value:?} must be Type:parameter[:targetType]"))?;
        let target_name = parts.next();
        // SPEC §6.3: UC5 writes `Healthcareservice:location`; resource type names are matched
        // case-insensitively in include values (documented decision).
        let source_type = self
            .registry
            .resources
            .iter()
            .find(|r| r.record.is_none() && r.resource_type.eq_ignore_ascii_case(source_name))
            .map(|r| r.type_index)
            .ok_or_else(|| format!("include {value:?}: unknown resource type {source_name:?}"))?;
        let schema = self.schema(source_type).map_err(|e| e.to_string())?;
        let param =
            schema.param(param_code).filter(|p| p.param_type == ParamType::Reference).ok_or_else(|| {
                format!(
                    "include {value:?}: {param_code:?} is not a reference parameter of {}",
                    schema.resource_type
                )
            })?;
        let target_type = match target_name {
            Some(name) => Some(
                self.type_by_name(name)
                    .ok_or_else(|| format!("include {value:?}: unknown target type {name:?}"))?,
            ),
            None => None,
        };
        Ok(vec![Include { source_type, param: param.id, target_type, iterate }])
    }

    /// Compile one parameter (name with chains/modifiers, OR values) on `type_index`.
    pub fn build(&self, type_index: usize, name: &str, values: &[String]) -> Result<Criterion, BuildError> {
        self.build_op(type_index, name, values, FilterOp::ParamEquals, 0)
    }

    fn build_op(
        &self,
        type_index: usize,
        name: &str,
        values: &[String],
        op: FilterOp,
        depth: usize,
    ) -> Result<Criterion, BuildError> {
        if depth > 8 {
            return Err(BuildError::Invalid(Error::param(
                name,
                format!("parameter {name:?} chains too deep (max 8)"),
            )));
        }
        let schema = self.schema(type_index).map_err(BuildError::Invalid)?;
        if let Some(rest) = name.strip_prefix("_has:") {
            let mut parts = rest.splitn(3, ':');
            let (Some(source_name), Some(ref_code), Some(inner_name)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(BuildError::Invalid(Error::param(
                    name,
                    format!("{name:?}: _has needs _has:Type:reference:parameter"),
                )));
            };
            let source_type = self.type_by_name(source_name).ok_or_else(|| {
                BuildError::Invalid(Error::param(
                    name,
                    format!("{name:?}: unknown resource type {source_name:?}"),
                ))
            })?;
            let source_schema = self.schema(source_type).map_err(BuildError::Invalid)?;
            let param = source_schema
                .param(ref_code)
                .filter(|p| {
                    p.param_type == ParamType::Reference
                        && p.targets.iter().any(|t| t == &schema.resource_type)
                })
                .ok_or_else(|| {
                    BuildError::Invalid(Error::param(
                        name,
                        format!(
                            "{name:?}: {source_name}.{ref_code} is not a reference to {}",
                            schema.resource_type
                        ),
                    ))
                })?;
            let inner =
                self.build_op(source_type, inner_name, values, op, depth + 1).map_err(|e| e.named(name))?;
            return Ok(Criterion::Has { source_type, param: param.id, inner: Box::new(inner) });
        }
        if name == "_filter" {
            let mut any = Vec::new();
            for value in values {
                let expression = parse_filter(value, &self.filter_limits)
                    .map_err(|e| BuildError::Invalid(Error::param("_filter", e.to_string())))?;
                any.push(self.filter_to_criterion(type_index, &expression, depth)?);
            }
            return Ok(Criterion::or(any));
        }
        // Chain: the first '.' splits the reference parameter from the rest.
        if let Some((head, tail)) = name.split_once('.') {
            return self.build_chain(schema, name, head, tail, values, op, depth);
        }
        let (code, modifier) = match name.split_once(':') {
            Some((code, modifier)) => (code, Some(modifier)),
            None => (name, None),
        };
        // UC10 form `focus:HealthcareService:identifier` (SPEC §6.3): reference:Type:param.
        if let Some(modifier) = modifier {
            if let Some((type_name, inner)) = modifier.split_once(':') {
                if self.type_by_name(type_name).is_some() {
                    let head = format!("{code}:{type_name}");
                    return self.build_chain(schema, name, &head, inner, values, op, depth);
                }
            }
        }
        match code {
            "_content" | "_text" => {
                if !schema.content {
                    return Err(BuildError::Unknown(format!(
                        "_content is not supported on {}",
                        schema.resource_type
                    )));
                }
                let text = values.iter().map(|v| unescape(v)).collect::<Vec<_>>().join(" ");
                if values.len() > 1 {
                    // Comma-separated alternatives are OR.
                    return Ok(Criterion::or(
                        values.iter().map(|v| Criterion::Content { text: unescape(v) }).collect(),
                    ));
                }
                return Ok(Criterion::Content { text });
            }
            "_has" => {
                return Err(BuildError::Invalid(Error::param(
                    name,
                    "_has needs _has:Type:reference:parameter",
                )));
            }
            _ => {}
        }
        let Some(param) = schema.param(code) else {
            return Err(BuildError::Unknown(format!(
                "unknown search parameter {code:?} for {}",
                schema.resource_type
            )));
        };
        self.build_leaf(schema, param, name, modifier, values, op)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_chain(
        &self,
        schema: &ResourceSchema,
        full_name: &str,
        head: &str,
        tail: &str,
        values: &[String],
        op: FilterOp,
        depth: usize,
    ) -> Result<Criterion, BuildError> {
        let (code, head_modifier) = match head.split_once(':') {
            Some((code, modifier)) => (code, Some(modifier)),
            None => (head, None),
        };
        let param = schema.param(code).filter(|p| p.param_type == ParamType::Reference).ok_or_else(|| {
            if schema.param(code).is_some() {
                BuildError::Invalid(Error::param(
                    full_name,
                    format!("{full_name:?}: {code:?} is not a reference parameter and cannot be chained"),
                ))
            } else {
                BuildError::Unknown(format!("unknown search parameter {code:?} for {}", schema.resource_type))
            }
        })?;
        let mut above = false;
        let mut target_names: Vec<&str> = param.targets.iter().map(String::as_str).collect();
        match head_modifier {
            None => {}
            Some("above") => above = true,
            Some(type_name) => {
                if !param.targets.iter().any(|t| t == type_name) {
                    return Err(BuildError::Invalid(Error::param(
                        full_name,
                        format!("{full_name:?}: {code} cannot point to {type_name:?}"),
                    )));
                }
                target_names = vec![type_name];
            }
        }
        // `organization.identifier:above`: the trailing :above qualifies the chain (ROR reading).
        let mut tail = tail.to_owned();
        if let Some(stripped) = tail.strip_suffix(":above") {
            if !stripped.contains('.') && !stripped.starts_with("_has") {
                above = true;
                tail = stripped.to_owned();
            }
        }
        let mut any = Vec::new();
        let mut last_error = None;
        for target_name in &target_names {
            let Some(target_type) = self.type_by_name(target_name) else { continue };
            match self.build_op(target_type, &tail, values, op, depth + 1).map_err(|e| e.named(full_name)) {
                Ok(inner) => {
                    let above_here = above && self.hierarchy_param(target_type).is_some();
                    any.push(Criterion::Chain {
                        param: param.id,
                        target_type,
                        above: above_here,
                        inner: Box::new(inner),
                    })
                }
                Err(error) => last_error = Some(error),
            }
        }
        if any.is_empty() {
            return Err(last_error
                .unwrap_or_else(|| BuildError::Unknown(format!("{full_name:?} has no target type"))));
        }
        Ok(Criterion::or(any))
    }

    /// Record-level semantics: chains through the same reference are merged (one location must
    /// satisfy all `location.*` criteria), then the criteria on record parameters of one
    /// resource are grouped into one reverse chain from the record type, so that a single
    /// capacity line (equipment, tariff) satisfies all of them.
    pub fn record_level(&self, type_index: usize, criterion: Criterion) -> Criterion {
        match criterion {
            Criterion::And { all } => {
                // Merge chains through the same reference first, so that their inner criteria
                // are grouped together below.
                let mut merged: Vec<Criterion> = Vec::new();
                for child in all {
                    if let Criterion::Chain { param, target_type, above, inner } = child {
                        let existing = merged.iter_mut().find(|c| {
                            matches!(c, Criterion::Chain { param: p, target_type: t, above: a, .. } if *p == param && *t == target_type && *a == above)
                        });
                        if let Some(Criterion::Chain { inner: existing_inner, .. }) = existing {
                            let previous = std::mem::replace(existing_inner.as_mut(), Criterion::All);
                            let mut parts = match previous {
                                Criterion::And { all } => all,
                                other => vec![other],
                            };
                            parts.push(*inner);
                            **existing_inner = Criterion::and(parts);
                            continue;
                        }
                        merged.push(Criterion::Chain { param, target_type, above, inner });
                    } else {
                        merged.push(child);
                    }
                }
                // Group leaves on record parameters, one group per record type.
                let mut rest = Vec::new();
                let mut groups: Vec<(usize, usize, Vec<Criterion>)> = Vec::new();
                for child in merged {
                    match self.record_leaf(type_index, &child) {
                        Some((record_type, parent_param, leaf)) => {
                            match groups.iter_mut().find(|g| g.0 == record_type) {
                                Some(group) => group.2.push(leaf),
                                None => groups.push((record_type, parent_param, vec![leaf])),
                            }
                        }
                        None => rest.push(self.record_level(type_index, child)),
                    }
                }
                for (record_type, parent_param, leaves) in groups {
                    rest.push(Criterion::Has {
                        source_type: record_type,
                        param: parent_param,
                        inner: Box::new(Criterion::and(leaves)),
                    });
                }
                Criterion::and(rest)
            }
            Criterion::Or { any } => {
                Criterion::or(any.into_iter().map(|c| self.record_level(type_index, c)).collect())
            }
            Criterion::Not { inner } => Criterion::negate(self.record_level(type_index, *inner)),
            Criterion::Chain { param, target_type, above, inner } => Criterion::Chain {
                param,
                target_type,
                above,
                inner: Box::new(self.record_level(target_type, *inner)),
            },
            Criterion::Has { source_type, param, inner } => {
                Criterion::Has { source_type, param, inner: Box::new(self.record_level(source_type, *inner)) }
            }
            leaf => match self.record_leaf(type_index, &leaf) {
                Some((record_type, parent_param, record_leaf)) => Criterion::Has {
                    source_type: record_type,
                    param: parent_param,
                    inner: Box::new(record_leaf),
                },
                None => leaf,
            },
        }
    }

    /// When `leaf` is a criterion on a record parameter of `type_index`: the record type, its
    /// parent reference and the same criterion on the record's parameter.
    fn record_leaf(&self, type_index: usize, leaf: &Criterion) -> Option<(usize, usize, Criterion)> {
        let param = match leaf {
            Criterion::Token { param, .. }
            | Criterion::String { param, .. }
            | Criterion::Date { param, .. }
            | Criterion::Number { param, .. }
            | Criterion::Quantity { param, .. } => *param,
            _ => return None,
        };
        for record in self.registry.records_of(type_index) {
            let spec = record.record.as_ref()?;
            if let Some((_, record_param)) =
                spec.param_map.iter().find(|(parent_param, _)| *parent_param == param)
            {
                let mut mapped = leaf.clone();
                match &mut mapped {
                    Criterion::Token { param, .. }
                    | Criterion::String { param, .. }
                    | Criterion::Date { param, .. }
                    | Criterion::Number { param, .. }
                    | Criterion::Quantity { param, .. } => *param = *record_param,
                    _ => {}
                }
                return Some((record.type_index, spec.parent_param, mapped));
            }
        }
        None
    }

    /// The `partof` self-reference of a type, if it has a hierarchy.
    pub fn hierarchy_param(&self, type_index: usize) -> Option<usize> {
        let schema = self.registry.resources.get(type_index)?;
        schema
            .params
            .iter()
            .find(|p| {
                p.code == "partof"
                    && p.param_type == ParamType::Reference
                    && p.targets.contains(&schema.resource_type)
            })
            .map(|p| p.id)
    }

    fn build_leaf(
        &self,
        schema: &ResourceSchema,
        param: &SearchParam,
        name: &str,
        modifier: Option<&str>,
        values: &[String],
        op: FilterOp,
    ) -> Result<Criterion, BuildError> {
        let invalid = |message: String| BuildError::Invalid(Error::param(name, message));
        if values.is_empty() || values.iter().all(|v| v.is_empty()) {
            return Err(invalid(format!("parameter {name:?} has no value")));
        }
        if modifier == Some("missing") {
            let missing = match values.first().map(String::as_str) {
                Some("true") => true,
                Some("false") => false,
                other => {
                    return Err(invalid(format!(
                        "{name}: expected true or false, got {:?}",
                        other.unwrap_or("")
                    )))
                }
            };
            return Ok(Criterion::Missing { param: param.id, missing });
        }
        if op == FilterOp::Pr {
            let present = values.first().map(String::as_str) != Some("false");
            return Ok(Criterion::Missing { param: param.id, missing: !present });
        }
        let negate_op = matches!(op, FilterOp::Ne)
            && !matches!(param.param_type, ParamType::Date | ParamType::Number | ParamType::Quantity);
        let criterion = match param.param_type {
            ParamType::Token | ParamType::Uri => {
                let (negate, of_type) = match modifier {
                    None => (false, false),
                    Some("not") => (true, false),
                    Some("of-type") => (false, true),
                    Some("exact") | Some("below") if param.param_type == ParamType::Uri => (false, false),
                    Some(other) => {
                        return Err(invalid(format!(
                            "modifier :{other} is not supported on token parameter {:?}",
                            param.code
                        )))
                    }
                };
                let mut keys = Vec::new();
                for value in values {
                    if of_type {
                        let parts = split_unescaped(value, '|');
                        let [type_system, type_code, identifier] = parts.as_slice() else {
                            return Err(invalid(format!(
                                "{name}: expected system|code|value, got {value:?}"
                            )));
                        };
                        keys.push(crate::index::extract::key_of_type(type_system, type_code, identifier));
                        continue;
                    }
                    // Spaces are never part of a system or code; UC2 S5 writes `organization.type= https://…`.
                    let token = parse_token(value.trim()).map_err(|e| invalid(format!("{name}: {e}")))?;
                    use crate::index::extract::{key_any_system, key_system_code, key_system_only};
                    keys.push(match (token.system.as_deref(), token.code.as_deref()) {
                        (None, Some(code)) => key_any_system(code),
                        (Some(system), Some(code)) => key_system_code(system, code),
                        (Some(system), None) => key_system_only(system),
                        (None, None) => return Err(invalid(format!("{name}: empty token"))),
                    });
                }
                let leaf = Criterion::Token { param: param.id, keys };
                if negate {
                    Criterion::negate(leaf)
                } else {
                    leaf
                }
            }
            ParamType::String => {
                let mode = match (modifier, op) {
                    (Some("exact"), _) => StringMode::Exact,
                    (Some("contains"), _) | (None, FilterOp::Co) => StringMode::Contains,
                    (None, FilterOp::Ew) => StringMode::EndsWith,
                    (None, _) => StringMode::StartsWith,
                    (Some(other), _) => {
                        return Err(invalid(format!(
                            "modifier :{other} is not supported on string parameter {:?}",
                            param.code
                        )))
                    }
                };
                let values = values.iter().map(|v| unescape(v)).collect();
                Criterion::String { param: param.id, mode, values }
            }
            ParamType::Date => {
                reject_modifier(name, modifier)?;
                let mut parsed = Vec::new();
                for value in values {
                    let value = with_filter_prefix(op, value);
                    parsed.push(parse_date_criterion(&value).map_err(|e| invalid(format!("{name}: {e}")))?);
                }
                Criterion::Date { param: param.id, values: parsed }
            }
            ParamType::Number => {
                reject_modifier(name, modifier)?;
                let mut parsed = Vec::new();
                for value in values {
                    let value = with_filter_prefix(op, value);
                    parsed.push(parse_number_criterion(&value).map_err(|e| invalid(format!("{name}: {e}")))?);
                }
                Criterion::Number { param: param.id, values: parsed }
            }
            ParamType::Quantity => {
                reject_modifier(name, modifier)?;
                let mut parsed = Vec::new();
                for value in values {
                    let value = with_filter_prefix(op, value);
                    parsed
                        .push(parse_quantity_criterion(&value).map_err(|e| invalid(format!("{name}: {e}")))?);
                }
                Criterion::Quantity { param: param.id, values: parsed }
            }
            ParamType::Reference => {
                let forced_type = match modifier {
                    None => None,
                    Some(type_name) => Some(self.type_by_name(type_name).ok_or_else(|| {
                        invalid(format!(
                            "modifier :{type_name} is not supported on reference parameter {:?}",
                            param.code
                        ))
                    })?),
                };
                let mut targets = Vec::new();
                for value in values {
                    let value = unescape(value);
                    match crate::index::extract::parse_reference(&value) {
                        Some(reference) => {
                            let target_type = self.type_by_name(&reference.target_type).ok_or_else(|| {
                                invalid(format!("{name}: unknown resource type in reference {value:?}"))
                            })?;
                            targets
                                .push(ReferenceTarget { target_type: Some(target_type), id: reference.id });
                        }
                        None => targets.push(ReferenceTarget { target_type: forced_type, id: value }),
                    }
                }
                Criterion::Reference { param: param.id, targets }
            }
            ParamType::Special => self.build_special(schema, param, name, modifier, values)?,
        };
        Ok(if negate_op { Criterion::negate(criterion) } else { criterion })
    }

    fn build_special(
        &self,
        _schema: &ResourceSchema,
        param: &SearchParam,
        name: &str,
        modifier: Option<&str>,
        values: &[String],
    ) -> Result<Criterion, BuildError> {
        reject_modifier(name, modifier)?;
        let invalid = |message: String| BuildError::Invalid(Error::param(name, message));
        let mut any = Vec::new();
        for value in values {
            match param.code.as_str() {
                "near" => {
                    let near = parse_near(value).map_err(|e| invalid(format!("{name}: {e}")))?;
                    any.push(Criterion::Near { lat: near.lat, lon: near.lon, radius_m: near.radius_m });
                }
                "near-insee-code" => {
                    let near = parse_near_insee(value).map_err(|e| invalid(format!("{name}: {e}")))?;
                    let (lat, lon) = self.communes.centre(&near.cog).ok_or_else(|| {
                        invalid(format!("{name}: unknown INSEE commune code {:?}", near.cog))
                    })?;
                    any.push(Criterion::Near { lat, lon, radius_m: near.radius_m });
                }
                other => {
                    return Err(BuildError::Unknown(format!("special parameter {other:?} is not supported")))
                }
            }
        }
        Ok(Criterion::or(any))
    }

    fn filter_to_criterion(
        &self,
        type_index: usize,
        expression: &FilterExpr,
        depth: usize,
    ) -> Result<Criterion, BuildError> {
        Ok(match expression {
            FilterExpr::And(items) => Criterion::and(
                items
                    .iter()
                    .map(|item| self.filter_to_criterion(type_index, item, depth))
                    .collect::<Result<_, _>>()?,
            ),
            FilterExpr::Or(items) => Criterion::or(
                items
                    .iter()
                    .map(|item| self.filter_to_criterion(type_index, item, depth))
                    .collect::<Result<_, _>>()?,
            ),
            FilterExpr::Not(inner) => Criterion::negate(self.filter_to_criterion(type_index, inner, depth)?),
            FilterExpr::Compare { path, op, value } => {
                let values = match op {
                    // `path=value` inside _filter keeps URL semantics, commas included.
                    FilterOp::ParamEquals => split_unescaped(value, ','),
                    // The parser resolved the _filter escapes; re-escape so the URL-value parsers
                    // read the value as one literal alternative.
                    _ => vec![value.replace('\\', "\\\\").replace(',', "\\,")],
                };
                match op {
                    FilterOp::ParamEquals
                    | FilterOp::Eq
                    | FilterOp::Ne
                    | FilterOp::Gt
                    | FilterOp::Lt
                    | FilterOp::Ge
                    | FilterOp::Le
                    | FilterOp::Sa
                    | FilterOp::Eb
                    | FilterOp::Ap
                    | FilterOp::Co
                    | FilterOp::Sw
                    | FilterOp::Ew
                    | FilterOp::Pr => {}
                    other => {
                        return Err(BuildError::Invalid(Error::param(
                            "_filter",
                            format!("_filter operator {other:?} is not supported (supported: eq ne gt lt ge le sa eb ap co sw ew pr)"),
                        )))
                    }
                }
                match self.build_op(type_index, path, &values, *op, depth + 1) {
                    Ok(criterion) => criterion,
                    // Inside _filter an unknown parameter is always an error: dropping it would
                    // change the meaning of the whole boolean expression.
                    Err(BuildError::Unknown(reason)) => {
                        return Err(BuildError::Invalid(Error::param(
                            "_filter",
                            format!("_filter: {reason}"),
                        )))
                    }
                    Err(error) => return Err(error),
                }
            }
        })
    }
}

fn reject_modifier(name: &str, modifier: Option<&str>) -> Result<(), BuildError> {
    match modifier {
        None => Ok(()),
        Some(modifier) => Err(BuildError::Invalid(Error::param(
            name,
            format!("modifier :{modifier} is not supported on {name:?}"),
        ))),
    }
}

/// `_filter` comparison operators become the equivalent URL prefix.
fn with_filter_prefix(op: FilterOp, value: &str) -> String {
    let prefix = match op {
        FilterOp::Eq => "eq",
        FilterOp::Ne => "ne",
        FilterOp::Gt => "gt",
        FilterOp::Lt => "lt",
        FilterOp::Ge => "ge",
        FilterOp::Le => "le",
        FilterOp::Sa => "sa",
        FilterOp::Eb => "eb",
        FilterOp::Ap => "ap",
        _ => "",
    };
    format!("{prefix}{value}")
}

fn escape_commas(value: &str) -> String {
    value.replace(',', "\\,")
}

/// A parameter that could not be compiled.
#[derive(Debug)]
pub enum BuildError {
    /// Unknown or unsupported: ignored under lenient handling, an error under strict.
    Unknown(String),
    /// Known but malformed: always an error.
    Invalid(Error),
}

impl BuildError {
    /// Report a chained parameter's error under the name the client wrote (`_filter` keeps its own).
    fn named(self, name: &str) -> BuildError {
        match self {
            BuildError::Invalid(Error::InvalidParam { param, message }) if param != "_filter" => {
                let param = if name.ends_with(param.as_str()) { name.to_owned() } else { param };
                BuildError::Invalid(Error::InvalidParam { param, message })
            }
            other => other,
        }
    }
}

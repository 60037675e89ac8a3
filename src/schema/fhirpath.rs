//! The FHIRPath subset the index paths of `index-schemas/search-parameters.toml` use.
//!
//! Grammar (one expression):
//! ```text
//! expr    := path ( '|' path )*
//! path    := TypeName ( '.' step )*
//! step    := member | 'where(' field '=' quoted ( 'and' field '=' quoted )* ')' | 'as(' Type ')' | 'ofType(' Type ')'
//! member  := identifier          -- `value` alone matches any value[x] choice
//! ```
//! This is deliberately small: it covers every path of SPEC.md §2 (extension filters by url,
//! `notAvailable.where(id='…')`, choice types and `as(Range).low`), and is evaluated on
//! `serde_json::Value` without building FHIR model types.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Member(String),
    /// `where(a='x' and b='y')`: keep nodes whose string members equal the literals.
    Where(Vec<(String, String)>),
    /// `as(Type)` / `ofType(Type)` after a choice member selects `member + Type`.
    As(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub paths: Vec<Path>,
    pub source: String,
}

impl Expression {
    pub fn parse(source: &str) -> Result<Expression, String> {
        let mut paths = Vec::new();
        for part in split_top_level(source, '|') {
            paths.push(parse_path(part.trim())?);
        }
        if paths.is_empty() {
            return Err(format!("empty FHIRPath expression {source:?}"));
        }
        Ok(Expression { paths, source: source.to_owned() })
    }

    /// Every node the expression selects on `resource` (arrays are flattened).
    pub fn evaluate<'a>(&self, resource: &'a Value) -> Vec<&'a Value> {
        let mut out = Vec::new();
        for path in &self.paths {
            out.extend(evaluate_path(path, resource));
        }
        out
    }
}

fn split_top_level(source: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut start = 0usize;
    for (index, ch) in source.char_indices() {
        match ch {
            '\'' => in_quote = !in_quote,
            '(' if !in_quote => depth += 1,
            ')' if !in_quote => depth = depth.saturating_sub(1),
            c if c == separator && !in_quote && depth == 0 => {
                parts.push(&source[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&source[start..]);
    parts
}

fn parse_path(source: &str) -> Result<Path, String> {
    let mut segments = split_top_level(source, '.').into_iter();
    let root = segments.next().map(str::trim).unwrap_or_default().to_owned();
    if root.is_empty() {
        return Err(format!("FHIRPath {source:?} has no root type"));
    }
    let mut steps = Vec::new();
    for segment in segments {
        let segment = segment.trim();
        if let Some(inner) = segment.strip_prefix("where(").and_then(|s| s.strip_suffix(')')) {
            let mut conditions = Vec::new();
            for condition in inner.split(" and ") {
                let (field, literal) = condition
                    .split_once('=')
                    .ok_or_else(|| format!("unsupported where() condition {condition:?}"))?;
                let literal = literal.trim();
                let literal = literal
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .ok_or_else(|| format!("where() literal must be quoted: {literal:?}"))?;
                conditions.push((field.trim().to_owned(), literal.to_owned()));
            }
            steps.push(Step::Where(conditions));
        } else if let Some(inner) = segment
            .strip_prefix("as(")
            .or_else(|| segment.strip_prefix("ofType("))
            .and_then(|s| s.strip_suffix(')'))
        {
            steps.push(Step::As(inner.trim().to_owned()));
        } else if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            steps.push(Step::Member(segment.to_owned()));
        } else {
            return Err(format!("unsupported FHIRPath step {segment:?} in {source:?}"));
        }
    }
    Ok(Path { root, steps })
}

fn push_flat<'a>(out: &mut Vec<&'a Value>, value: &'a Value) {
    match value {
        Value::Array(items) => out.extend(items.iter().filter(|item| !item.is_null())),
        Value::Null => {}
        other => out.push(other),
    }
}

fn evaluate_path<'a>(path: &Path, resource: &'a Value) -> Vec<&'a Value> {
    let mut current: Vec<&'a Value> = vec![resource];
    let mut index = 0;
    while index < path.steps.len() {
        let step = &path.steps[index];
        let mut next = Vec::new();
        match step {
            Step::Member(name) => {
                let choice_type = match path.steps.get(index + 1) {
                    Some(Step::As(type_name)) => Some(type_name.as_str()),
                    _ => None,
                };
                for node in &current {
                    let Some(object) = node.as_object() else { continue };
                    if let Some(type_name) = choice_type {
                        let key = format!("{name}{type_name}");
                        if let Some(value) = object.get(&key) {
                            push_flat(&mut next, value);
                        } else if let Some(value) = object.get(name) {
                            push_flat(&mut next, value);
                        }
                    } else if let Some(value) = object.get(name) {
                        push_flat(&mut next, value);
                    } else if name == "value" {
                        // FHIRPath `value` on an extension resolves the value[x] choice.
                        for (key, value) in object {
                            if key.len() > 5
                                && key.starts_with("value")
                                && key[5..].starts_with(|c: char| c.is_ascii_uppercase())
                            {
                                push_flat(&mut next, value);
                            }
                        }
                    }
                }
                if choice_type.is_some() {
                    index += 1;
                }
            }
            Step::Where(conditions) => {
                for node in &current {
                    let keep = conditions.iter().all(|(field, literal)| {
                        node.get(field).and_then(Value::as_str).is_some_and(|v| v == literal)
                    });
                    if keep {
                        next.push(node);
                    }
                }
            }
            Step::As(_) => next = current.clone(),
        }
        current = next;
        index += 1;
    }
    current
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn test_extension_value_choice() {
        let expression =
            Expression::parse("Location.extension.where(url='u').extension.where(url='nbCapacity').value")
                .unwrap();
        let resource = json!({"extension": [
            {"url": "u", "extension": [{"url": "nbCapacity", "valueInteger": 3}]},
            {"url": "u", "extension": [{"url": "nbCapacity", "valueInteger": 5}]},
            {"url": "other", "extension": [{"url": "nbCapacity", "valueInteger": 7}]}
        ]});
        let values: Vec<_> = expression.evaluate(&resource).into_iter().cloned().collect();
        assert_eq!(values, vec![json!(3), json!(5)]);
    }

    #[test]
    fn test_as_range_low_and_union() {
        let expression = Expression::parse("X.extension.where(url='p').value.as(Range).low").unwrap();
        let resource = json!({"extension": [{"url": "p", "valueRange": {"low": {"value": 15}}}]});
        assert_eq!(expression.evaluate(&resource), vec![&json!({"value": 15})]);
        let union = Expression::parse("Organization.name | Organization.alias").unwrap();
        let org = json!({"name": "A", "alias": ["B", "C"]});
        assert_eq!(union.evaluate(&org).len(), 3);
    }

    #[test]
    fn test_where_id() {
        let expression = Expression::parse("H.notAvailable.where(id='closingReopeningDate').during").unwrap();
        let resource = json!({"notAvailable": [{"id": "x", "during": {"start": "2020"}}, {"id": "closingReopeningDate", "during": {"start": "2021"}}]});
        assert_eq!(expression.evaluate(&resource), vec![&json!({"start": "2021"})]);
    }
}

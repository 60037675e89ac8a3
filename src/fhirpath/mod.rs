//! A FHIRPath evaluator for write paths (FHIRPath Patch): it returns the *locations* of the
//! selected nodes, so that patch operations can change them in place.
//!
//! Grammar (the subset the ROR PATCH examples use, SPEC.md §3 UC7/UC9):
//! ```text
//! expr       := or
//! or         := and ( 'or' and )*
//! and        := equality ( 'and' equality )*
//! equality   := path ( ('=' | '!=') literal )?
//! path       := step ( '.' step )*
//! step       := identifier index? | 'where' '(' expr ')' index? | 'exists' '(' ')' | 'first' '(' ')'
//!             | ('as' | 'ofType') '(' identifier ')' | '(' expr ')'
//! index      := '[' integer ']'
//! literal    := 'string' | number | 'true' | 'false'
//! ```
//! `value` alone matches any `value[x]` choice. Inside `where(…)`, paths are relative to the
//! candidate node and a path used as a condition is true when it selects something (`exists`).

use serde_json::Value;

/// One step of a location inside a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

pub type Location = Vec<Segment>;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Member { name: String, index: Option<usize> },
    Where { condition: Box<Expr>, index: Option<usize> },
    Exists,
    First,
    As(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Path(Vec<Step>),
    Equals { path: Vec<Step>, literal: Literal, negate: bool },
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FhirPath {
    /// Leading type name (`Location`), when the path starts with one.
    pub root_type: Option<String>,
    pub steps: Vec<Step>,
    pub source: String,
}

/// Deepest nesting of `(…)` and `where(…)`: the parser and the evaluator recurse once per level,
/// on threads with 2 MiB stacks, and the ROR paths nest three levels at most.
const MAX_NESTING: usize = 32;

struct Parser<'a> {
    chars: Vec<char>,
    position: usize,
    source: &'a str,
    /// Open `(…)` and `where(…)` around the current position.
    depth: usize,
}

fn error(source: &str, position: usize, message: &str) -> String {
    format!("invalid FHIRPath {source:?} at column {position}: {message}")
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.chars.get(self.position).is_some_and(|c| c.is_whitespace()) {
            self.position += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn eat(&mut self, expected: char) -> bool {
        self.skip_space();
        if self.peek() == Some(expected) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, expected: char) -> Result<(), String> {
        if self.eat(expected) {
            Ok(())
        } else {
            Err(error(self.source, self.position, &format!("expected {expected:?}")))
        }
    }

    fn identifier(&mut self) -> Option<String> {
        self.skip_space();
        let start = self.position;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.position += 1;
        }
        (self.position > start).then(|| self.chars[start..self.position].iter().collect())
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_space();
        let end = self.position + word.len();
        if end > self.chars.len() {
            return false;
        }
        let candidate: String = self.chars[self.position..end].iter().collect();
        let boundary = self.chars.get(end).is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == '_'));
        if candidate == word && boundary {
            self.position = end;
            true
        } else {
            false
        }
    }

    fn index(&mut self) -> Result<Option<usize>, String> {
        if !self.eat('[') {
            return Ok(None);
        }
        self.skip_space();
        let start = self.position;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.position += 1;
        }
        let digits: String = self.chars[start..self.position].iter().collect();
        let index = digits.parse().map_err(|_| error(self.source, start, "expected an index"))?;
        self.expect(']')?;
        Ok(Some(index))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        self.skip_space();
        match self.peek() {
            Some('\'') => {
                self.position += 1;
                let mut text = String::new();
                loop {
                    match self.peek() {
                        None => return Err(error(self.source, self.position, "unterminated string")),
                        Some('\\') => {
                            self.position += 1;
                            if let Some(c) = self.peek() {
                                text.push(c);
                                self.position += 1;
                            }
                        }
                        Some('\'') => {
                            self.position += 1;
                            return Ok(Literal::String(text));
                        }
                        Some(c) => {
                            text.push(c);
                            self.position += 1;
                        }
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let start = self.position;
                self.position += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.position += 1;
                }
                let text: String = self.chars[start..self.position].iter().collect();
                text.parse().map(Literal::Number).map_err(|_| error(self.source, start, "invalid number"))
            }
            _ => {
                if self.keyword("true") {
                    Ok(Literal::Bool(true))
                } else if self.keyword("false") {
                    Ok(Literal::Bool(false))
                } else {
                    Err(error(self.source, self.position, "expected a literal"))
                }
            }
        }
    }

    fn path(&mut self) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        loop {
            self.skip_space();
            if self.eat('(') {
                // A parenthesised sub-expression used as a path start is only allowed as a condition.
                return Err(error(self.source, self.position, "parenthesised paths are not supported"));
            }
            let start = self.position;
            let Some(name) = self.identifier() else {
                return Err(error(self.source, self.position, "expected a name"));
            };
            if self.eat('(') {
                match name.as_str() {
                    "where" => {
                        let condition = self.or()?;
                        self.expect(')')?;
                        let index = self.index()?;
                        steps.push(Step::Where { condition: Box::new(condition), index });
                    }
                    "exists" => {
                        self.expect(')')?;
                        steps.push(Step::Exists);
                    }
                    "first" => {
                        self.expect(')')?;
                        steps.push(Step::First);
                    }
                    "as" | "ofType" => {
                        let type_name = self
                            .identifier()
                            .ok_or_else(|| error(self.source, self.position, "expected a type"))?;
                        self.expect(')')?;
                        steps.push(Step::As(type_name));
                    }
                    other => {
                        return Err(error(
                            self.source,
                            start,
                            &format!("function {other}() is not supported"),
                        ))
                    }
                }
            } else {
                let index = self.index()?;
                steps.push(Step::Member { name, index });
            }
            self.skip_space();
            if self.peek() == Some('.') {
                self.position += 1;
                continue;
            }
            return Ok(steps);
        }
    }

    fn equality(&mut self) -> Result<Expr, String> {
        self.skip_space();
        if self.peek() == Some('(') {
            self.position += 1;
            let inner = self.or()?;
            self.expect(')')?;
            return Ok(inner);
        }
        let path = self.path()?;
        self.skip_space();
        if self.peek() == Some('!') && self.chars.get(self.position + 1) == Some(&'=') {
            self.position += 2;
            let literal = self.literal()?;
            return Ok(Expr::Equals { path, literal, negate: true });
        }
        if self.eat('=') {
            let literal = self.literal()?;
            return Ok(Expr::Equals { path, literal, negate: false });
        }
        Ok(Expr::Path(path))
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.equality()?];
        while self.keyword("and") {
            items.push(self.equality()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    /// Every nested `(…)` and `where(…)` goes through here, so the depth is counted once.
    fn or(&mut self) -> Result<Expr, String> {
        if self.depth >= MAX_NESTING {
            return Err(error(
                self.source,
                self.position,
                &format!("nested deeper than {MAX_NESTING} levels"),
            ));
        }
        self.depth += 1;
        let result = self.or_items();
        self.depth -= 1;
        result
    }

    fn or_items(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }
}

impl FhirPath {
    pub fn parse(source: &str) -> Result<FhirPath, String> {
        if source.len() > 8192 {
            return Err("FHIRPath expression too long (max 8192 characters)".into());
        }
        let mut parser = Parser { chars: source.chars().collect(), position: 0, source, depth: 0 };
        let mut steps = parser.path()?;
        parser.skip_space();
        if parser.position < parser.chars.len() {
            return Err(error(source, parser.position, "unexpected text"));
        }
        let root_type = match steps.first() {
            Some(Step::Member { name, index: None })
                if name.starts_with(|c: char| c.is_ascii_uppercase()) =>
            {
                let name = name.clone();
                steps.remove(0);
                Some(name)
            }
            _ => None,
        };
        Ok(FhirPath { root_type, steps, source: source.to_owned() })
    }

    /// Locations of the nodes the path selects in `resource`.
    pub fn select(&self, resource: &Value) -> Result<Vec<Location>, String> {
        if let Some(root_type) = &self.root_type {
            let actual = resource.get("resourceType").and_then(Value::as_str).unwrap_or_default();
            if actual != root_type && root_type != "Resource" && root_type != "DomainResource" {
                return Err(format!(
                    "path {:?} starts with {root_type} but the resource is a {actual}",
                    self.source
                ));
            }
        }
        Ok(evaluate_steps(&self.steps, vec![(Vec::new(), resource)])
            .into_iter()
            .map(|(location, _)| location)
            .collect())
    }
}

type Node<'a> = (Location, &'a Value);

fn children<'a>(location: &Location, value: &'a Value, out: &mut Vec<Node<'a>>) {
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let mut child = location.clone();
                child.push(Segment::Index(index));
                out.push((child, item));
            }
        }
        Value::Null => {}
        other => out.push((location.clone(), other)),
    }
}

fn is_extension_member(step: &Step) -> bool {
    matches!(step, Step::Member { name, index: None } if name == "extension")
}

fn evaluate_steps<'a>(steps: &[Step], start: Vec<Node<'a>>) -> Vec<Node<'a>> {
    let origin = start.clone();
    let mut current = start;
    let mut position = 0;
    while position < steps.len() {
        let step = &steps[position];
        let mut next: Vec<Node<'a>> = Vec::new();
        match step {
            Step::Member { name, index } => {
                let choice = match steps.get(position + 1) {
                    Some(Step::As(type_name)) => Some(type_name.clone()),
                    _ => None,
                };
                for (location, node) in &current {
                    let Some(object) = node.as_object() else { continue };
                    let mut selected = Vec::new();
                    let key = match &choice {
                        Some(type_name) if object.contains_key(&format!("{name}{type_name}")) => {
                            Some(format!("{name}{type_name}"))
                        }
                        _ if object.contains_key(name) => Some(name.clone()),
                        _ if name == "value" => object
                            .keys()
                            .find(|k| {
                                k.len() > 5
                                    && k.starts_with("value")
                                    && k[5..].starts_with(|c: char| c.is_ascii_uppercase())
                            })
                            .cloned(),
                        _ => None,
                    };
                    if let Some(key) = key {
                        if let Some(child) = object.get(&key) {
                            let mut child_location = location.clone();
                            child_location.push(Segment::Key(key));
                            children(&child_location, child, &mut selected);
                        }
                    }
                    match index {
                        Some(i) => next.extend(selected.into_iter().nth(*i)),
                        None => next.extend(selected),
                    }
                }
                if choice.is_some() {
                    position += 1;
                }
            }
            Step::Where { condition, index } => {
                let mut kept: Vec<Node<'a>> =
                    current.into_iter().filter(|(_, node)| truthy(condition, node)).collect();
                // SPEC UC7 S6 writes `extension.extension.where(url='…limit' …)` for an extension
                // that is a child, not a grandchild: when the grandchildren match nothing, the
                // same test is read one level up (documented tolerance).
                if kept.is_empty()
                    && position >= 2
                    && is_extension_member(&steps[position - 1])
                    && is_extension_member(&steps[position - 2])
                {
                    let one_level_up = evaluate_steps(&steps[..position - 1], origin.clone());
                    kept = one_level_up.into_iter().filter(|(_, node)| truthy(condition, node)).collect();
                }
                match index {
                    Some(i) => next.extend(kept.into_iter().nth(*i)),
                    None => next = kept,
                }
            }
            Step::First => next.extend(current.into_iter().next()),
            Step::Exists | Step::As(_) => next = current,
        }
        current = next;
        position += 1;
    }
    current
}

fn literal_matches(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::String(text), Literal::String(expected)) => text == expected,
        (Value::Number(number), Literal::Number(expected)) => {
            number.as_f64().is_some_and(|n| (n - expected).abs() < 1e-9)
        }
        (Value::String(text), Literal::Number(expected)) => {
            text.parse::<f64>().is_ok_and(|n| (n - expected).abs() < 1e-9)
        }
        (Value::Bool(flag), Literal::Bool(expected)) => flag == expected,
        _ => false,
    }
}

/// A condition evaluated on one candidate node.
fn truthy(expr: &Expr, node: &Value) -> bool {
    match expr {
        Expr::Path(path) => !evaluate_steps(path, vec![(Vec::new(), node)]).is_empty(),
        Expr::Equals { path, literal, negate } => {
            let any = evaluate_steps(path, vec![(Vec::new(), node)])
                .iter()
                .any(|(_, v)| literal_matches(v, literal));
            any != *negate
        }
        Expr::And(items) => items.iter().all(|item| truthy(item, node)),
        Expr::Or(items) => items.iter().any(|item| truthy(item, node)),
    }
}

/// The node at `location`, mutably.
pub fn get_mut<'a>(value: &'a mut Value, location: &[Segment]) -> Option<&'a mut Value> {
    let mut current = value;
    for segment in location {
        current = match segment {
            Segment::Key(key) => current.as_object_mut()?.get_mut(key)?,
            Segment::Index(index) => current.as_array_mut()?.get_mut(*index)?,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn location_doc() -> Value {
        json!({"resourceType": "Location", "extension": [
            {"url": "cap", "extension": [
                {"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"code": "02"}]}},
                {"url": "nbCapacity", "valueInteger": 3}]},
            {"url": "cap", "extension": [
                {"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"code": "01"}]}},
                {"url": "nbCapacity", "valueInteger": 9}]},
            {"url": "eq", "extension": [
                {"url": "equipmentType", "valueCodeableConcept": {"coding": [{"code": "089"}]}},
                {"url": "nbInService", "valueInteger": 2},
                {"url": "limit", "extension": [{"url": "limitValue", "valueQuantity": {"value": 300, "unit": "kg"}}]}]}
        ]})
    }

    #[test]
    fn test_nested_where_with_and() {
        let doc = location_doc();
        let path = FhirPath::parse("Location.extension.where(url='cap').where(extension.where(url = 'capacityStatus' and valueCodeableConcept.coding.code = '02'))").unwrap();
        assert_eq!(
            path.select(&doc).unwrap(),
            vec![vec![Segment::Key("extension".into()), Segment::Index(0)]]
        );
    }

    #[test]
    fn test_indexer_number_literal_and_choice() {
        let doc = location_doc();
        let path = FhirPath::parse("Location.extension.where(url='eq' and extension.where(url='equipmentType' and valueCodeableConcept.coding[0].code='089') and extension.extension.where(url='limitValue' and valueQuantity.value=300 and valueQuantity.unit='kg')).extension.where(url='nbInService')").unwrap();
        let selected = path.select(&doc).unwrap();
        assert_eq!(selected.len(), 1);
        let mut doc = doc;
        let node = get_mut(&mut doc, &selected[0]).unwrap();
        assert_eq!(node["valueInteger"], 2);
        let value_path = FhirPath::parse("Location.extension.where(url='eq').extension.where(url='limit').extension.where(url='limitValue').valueQuantity.value").unwrap();
        assert_eq!(value_path.select(&doc).unwrap().len(), 1);
        assert!(FhirPath::parse("Location.extension.where(url='x'").is_err());
        assert!(FhirPath::parse("Task.businessStatus").unwrap().select(&doc).is_err());
    }
}

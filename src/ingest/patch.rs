//! PATCH: FHIRPath Patch (`Parameters`, as in the ROR examples) and JSON Patch (RFC 6902).
//! A patch is applied to the current version inside the store transaction (atomic
//! read-modify-write); a patch that does not apply changes nothing and answers 422.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fhirpath::{get_mut, FhirPath, Location, Segment, Step};

#[derive(Debug, Clone, PartialEq)]
pub enum FhirPathOperation {
    Add { path: FhirPath, name: Option<String>, values: Vec<Value> },
    Insert { path: FhirPath, index: usize, values: Vec<Value> },
    Delete { path: FhirPath },
    Replace { path: FhirPath, values: Vec<Value> },
    Move { path: FhirPath, source: usize, destination: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    FhirPath(Vec<FhirPathOperation>),
    Json(Vec<Value>),
}

fn invalid(expression: &str, message: impl Into<String>) -> Error {
    Error::unprocessable(expression, message)
}

/// Deepest nesting of arrays and objects a patched resource may reach: what serde_json reads
/// back (its recursion limit), so that the stored version can be parsed again. Patch operations
/// can otherwise nest values into values without bound.
const MAX_JSON_NESTING: usize = 127;

/// Whether `value`, placed inside `enclosing` arrays and objects, nests deeper than allowed.
/// Recursion stops at the limit, so a deep value costs no more stack than a legal one.
fn nests_too_deep(value: &Value, enclosing: usize) -> bool {
    match value {
        Value::Array(_) | Value::Object(_) if enclosing >= MAX_JSON_NESTING => true,
        Value::Array(items) => items.iter().any(|item| nests_too_deep(item, enclosing + 1)),
        Value::Object(object) => object.values().any(|item| nests_too_deep(item, enclosing + 1)),
        _ => false,
    }
}

/// Checked before a value is put in place, so that no over-deep document ever exists (dropping
/// or serializing one recurses once per level).
fn check_nesting<'a>(values: impl IntoIterator<Item = &'a Value>, enclosing: usize, at: &str) -> Result<()> {
    if values.into_iter().any(|value| nests_too_deep(value, enclosing)) {
        return Err(invalid(
            at,
            format!(
                "the patched resource would nest arrays and objects deeper than {MAX_JSON_NESTING} levels"
            ),
        ));
    }
    Ok(())
}

/// The value[x] of a Parameters part, or its parts as an element.
fn part_values(part: &Value, at: &str) -> Result<Vec<Value>> {
    let Some(object) = part.as_object() else { return Err(invalid(at, "a parameter must be an object")) };
    for (key, value) in object {
        if key.len() > 5 && key.starts_with("value") && key[5..].starts_with(|c: char| c.is_ascii_uppercase())
        {
            return Ok(vec![value.clone()]);
        }
    }
    let Some(parts) = object.get("part").and_then(Value::as_array) else {
        return Err(invalid(at, "the value parameter has neither value[x] nor part"));
    };
    let named = parts.iter().all(|p| p.get("name").is_some());
    if named {
        // Standard FHIRPath Patch: each part names a child element.
        let mut element = Map::new();
        for (index, child) in parts.iter().enumerate() {
            let name = child.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let mut values = part_values(child, &format!("{at}.part[{index}]"))?;
            let value = if values.len() == 1 { values.remove(0) } else { Value::Array(values) };
            match element.get_mut(&name) {
                Some(Value::Array(existing)) => existing.push(value),
                Some(existing) => {
                    let previous = existing.take();
                    *existing = Value::Array(vec![previous, value]);
                }
                None => {
                    element.insert(name, value);
                }
            }
        }
        return Ok(vec![Value::Object(element)]);
    }
    // The ROR examples carry the new element(s) directly: `part: [{"extension": [ … ]}]`.
    let mut values = Vec::new();
    for part in parts {
        match part.as_object() {
            Some(object) if object.len() == 1 && object.get("extension").is_some_and(Value::is_array) => {
                values.extend(object.get("extension").and_then(Value::as_array).cloned().unwrap_or_default());
            }
            Some(_) => values.push(part.clone()),
            None => return Err(invalid(at, "a part must be an object")),
        }
    }
    Ok(values)
}

/// Parse a FHIRPath Patch `Parameters` resource.
pub fn parse_fhirpath_patch(parameters: &Value) -> Result<Patch> {
    if parameters.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(Error::body(Some("resourceType"), "a FHIRPath Patch body must be a Parameters resource"));
    }
    let operations = parameters.get("parameter").and_then(Value::as_array).cloned().unwrap_or_default();
    if operations.is_empty() {
        return Err(invalid("Parameters.parameter", "the patch has no operation"));
    }
    let mut parsed = Vec::with_capacity(operations.len());
    for (index, operation) in operations.iter().enumerate() {
        let at = format!("Parameters.parameter[{index}]");
        if operation.get("name").and_then(Value::as_str) != Some("operation") {
            return Err(invalid(&at, "each parameter must be named \"operation\""));
        }
        let parts = operation.get("part").and_then(Value::as_array).cloned().unwrap_or_default();
        let find = |name: &str| parts.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(name));
        let text = |name: &str| -> Option<String> {
            let part = find(name)?;
            ["valueString", "valueCode", "valueUri"]
                .iter()
                .find_map(|k| part.get(*k).and_then(Value::as_str).map(str::to_owned))
        };
        let integer = |name: &str| -> Result<usize> {
            let part =
                find(name).ok_or_else(|| invalid(&at, format!("the operation needs a {name} part")))?;
            part.get("valueInteger")
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .ok_or_else(|| invalid(&format!("{at}.{name}"), format!("{name} must be a valueInteger ≥ 0")))
        };
        let kind = text("type").ok_or_else(|| invalid(&format!("{at}.type"), "the operation has no type"))?;
        let path_text =
            text("path").ok_or_else(|| invalid(&format!("{at}.path"), "the operation has no path"))?;
        let path = FhirPath::parse(&path_text).map_err(|e| invalid(&format!("{at}.path"), e))?;
        let values = || -> Result<Vec<Value>> {
            let part = find("value")
                .ok_or_else(|| invalid(&format!("{at}.value"), "the operation needs a value"))?;
            part_values(part, &format!("{at}.value"))
        };
        parsed.push(match kind.as_str() {
            "add" => FhirPathOperation::Add { path, name: text("name"), values: values()? },
            "insert" => FhirPathOperation::Insert { path, index: integer("index")?, values: values()? },
            "delete" => FhirPathOperation::Delete { path },
            "replace" => FhirPathOperation::Replace { path, values: values()? },
            "move" => FhirPathOperation::Move {
                path,
                source: integer("source")?,
                destination: integer("destination")?,
            },
            other => {
                return Err(invalid(
                    &format!("{at}.type"),
                    format!("unknown operation type {other:?} (add, insert, delete, replace, move)"),
                ))
            }
        });
    }
    Ok(Patch::FhirPath(parsed))
}

/// Parse an RFC 6902 JSON Patch document.
pub fn parse_json_patch(document: &Value) -> Result<Patch> {
    let operations = document
        .as_array()
        .ok_or_else(|| Error::body(None, "a JSON Patch body must be an array of operations"))?;
    for (index, operation) in operations.iter().enumerate() {
        let op = operation.get("op").and_then(Value::as_str).unwrap_or_default();
        if !matches!(op, "add" | "remove" | "replace" | "move" | "copy" | "test") {
            return Err(invalid(&format!("/{index}/op"), format!("unknown JSON Patch op {op:?}")));
        }
        if operation.get("path").and_then(Value::as_str).is_none() {
            return Err(invalid(&format!("/{index}/path"), "the operation has no path"));
        }
    }
    Ok(Patch::Json(operations.clone()))
}

/// When the last steps of a path select into a list (`….extension.where(url='x')`), the
/// element that owns the list and the list's name.
fn container_of(path: &FhirPath) -> Option<FhirPath> {
    let mut steps = path.steps.clone();
    while matches!(steps.last(), Some(Step::Where { .. }) | Some(Step::As(_)) | Some(Step::First)) {
        steps.pop();
    }
    match steps.last() {
        Some(Step::Member { index: None, .. }) => {
            Some(FhirPath { root_type: path.root_type.clone(), steps, source: path.source.clone() })
        }
        _ => None,
    }
}

fn split_last(location: &Location) -> Option<(Location, Segment)> {
    let mut parent = location.clone();
    let last = parent.pop()?;
    Some((parent, last))
}

fn member_name(path: &FhirPath) -> Option<String> {
    match path.steps.last() {
        Some(Step::Member { name, .. }) => Some(name.clone()),
        _ => None,
    }
}

fn current_type(resource: &Value) -> String {
    resource.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn apply_fhirpath(resource: &mut Value, operations: &[FhirPathOperation]) -> Result<()> {
    let resource_type = current_type(resource);
    for (index, operation) in operations.iter().enumerate() {
        let at = format!("Parameters.parameter[{index}]");
        let select = |path: &FhirPath, resource: &Value| {
            path.select(resource).map_err(|e| invalid(&format!("{at}.path"), e))
        };
        match operation {
            FhirPathOperation::Add { path, name: Some(name), values } => {
                let targets = select(path, resource)?;
                let [target] = targets.as_slice() else {
                    return Err(invalid(
                        &format!("{at}.path"),
                        format!(
                            "add: {:?} must select exactly one element, it selects {}",
                            path.source,
                            targets.len()
                        ),
                    ));
                };
                check_nesting(values, target.len() + 2, &at)?;
                let node = get_mut(resource, target).ok_or_else(|| invalid(&at, "add: target vanished"))?;
                let object = node
                    .as_object_mut()
                    .ok_or_else(|| invalid(&format!("{at}.path"), "add: the target is not an element"))?;
                match object.get_mut(name) {
                    Some(Value::Array(list)) => list.extend(values.iter().cloned()),
                    Some(_) => {
                        return Err(invalid(
                            &format!("{at}.name"),
                            format!("add: {name} already has a value (use replace)"),
                        ))
                    }
                    None => {
                        let value = if values.len() == 1
                            && !crate::ingest::validate::must_be_array(&resource_type, name)
                        {
                            values[0].clone()
                        } else {
                            Value::Array(values.clone())
                        };
                        object.insert(name.clone(), value);
                    }
                }
            }
            FhirPathOperation::Add { path, name: None, values } => {
                // ROR form: the path names the list itself (`Location.extension.where(url=…)`).
                let container = container_of(path).ok_or_else(|| {
                    invalid(&format!("{at}.name"), "add needs a name, or a path ending in a list")
                })?;
                let name = member_name(&container).unwrap_or_default();
                let mut parent_path = container.clone();
                parent_path.steps.pop();
                let parents = select(&parent_path, resource)?;
                let [parent] = parents.as_slice() else {
                    return Err(invalid(
                        &format!("{at}.path"),
                        format!("add: the owner of {:?} must be one element", path.source),
                    ));
                };
                check_nesting(values, parent.len() + 2, &at)?;
                let node = get_mut(resource, parent).ok_or_else(|| invalid(&at, "add: target vanished"))?;
                let object = node
                    .as_object_mut()
                    .ok_or_else(|| invalid(&format!("{at}.path"), "add: the target is not an element"))?;
                match object.entry(name.clone()).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(list) => list.extend(values.iter().cloned()),
                    _ => return Err(invalid(&format!("{at}.path"), format!("add: {name} is not a list"))),
                }
            }
            FhirPathOperation::Insert { path, index: position, values } => {
                let container = container_of(path).unwrap_or_else(|| path.clone());
                let lists = select(&container, resource)?;
                let list_location = list_location(&lists)
                    .ok_or_else(|| invalid(&format!("{at}.path"), "insert: the path must select a list"))?;
                check_nesting(values, list_location.len() + 1, &at)?;
                let list = get_mut(resource, &list_location)
                    .and_then(Value::as_array_mut)
                    .ok_or_else(|| invalid(&format!("{at}.path"), "insert: not a list"))?;
                if *position > list.len() {
                    return Err(invalid(
                        &format!("{at}.index"),
                        format!("insert: index {position} is past the end ({})", list.len()),
                    ));
                }
                for (offset, value) in values.iter().enumerate() {
                    list.insert(position + offset, value.clone());
                }
            }
            FhirPathOperation::Delete { path } => {
                let mut targets = select(path, resource)?;
                // Deleting nothing is not an error (FHIRPath Patch); delete from the end so that
                // earlier locations stay valid.
                targets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| compare_locations(b, a)));
                for target in targets {
                    remove_at(resource, &target);
                }
                prune_empty(resource);
            }
            FhirPathOperation::Replace { path, values } => {
                let targets = select(path, resource)?;
                if targets.is_empty() {
                    return Err(invalid(
                        &format!("{at}.path"),
                        format!("replace: {:?} selects nothing", path.source),
                    ));
                }
                let all_in_one_list = targets.iter().all(|t| matches!(t.last(), Some(Segment::Index(_))))
                    && targets
                        .iter()
                        .filter_map(split_last)
                        .map(|(p, _)| p)
                        .collect::<std::collections::HashSet<_>>()
                        .len()
                        == 1;
                if targets.len() == 1 && values.len() == 1 {
                    // One more level: an extension's value[x] may be what is replaced.
                    check_nesting(values, targets[0].len() + 1, &at)?;
                    let node = get_mut(resource, &targets[0])
                        .ok_or_else(|| invalid(&at, "replace: target vanished"))?;
                    set_or_replace(node, &values[0]);
                } else if all_in_one_list {
                    // Several list items replaced by a list (UC7 S9: all capacity records).
                    let Some((list_location, Segment::Index(first))) =
                        targets.iter().filter_map(split_last).min_by_key(|(_, s)| match s {
                            Segment::Index(i) => *i,
                            Segment::Key(_) => usize::MAX,
                        })
                    else {
                        return Err(invalid(&at, "replace: unexpected target"));
                    };
                    let mut indices: Vec<usize> = targets
                        .iter()
                        .filter_map(|t| match t.last() {
                            Some(Segment::Index(i)) => Some(*i),
                            _ => None,
                        })
                        .collect();
                    indices.sort_unstable_by(|a, b| b.cmp(a));
                    check_nesting(values, list_location.len() + 1, &at)?;
                    let list = get_mut(resource, &list_location)
                        .and_then(Value::as_array_mut)
                        .ok_or_else(|| invalid(&at, "replace: not a list"))?;
                    for i in indices {
                        if i < list.len() {
                            list.remove(i);
                        }
                    }
                    for (offset, value) in values.iter().enumerate() {
                        list.insert((first + offset).min(list.len()), value.clone());
                    }
                } else {
                    return Err(invalid(
                        &format!("{at}.path"),
                        format!(
                            "replace: {:?} selects {} elements for {} values",
                            path.source,
                            targets.len(),
                            values.len()
                        ),
                    ));
                }
            }
            FhirPathOperation::Move { path, source, destination } => {
                let container = container_of(path).unwrap_or_else(|| path.clone());
                let lists = select(&container, resource)?;
                let list_location = list_location(&lists)
                    .ok_or_else(|| invalid(&format!("{at}.path"), "move: the path must select a list"))?;
                let list = get_mut(resource, &list_location)
                    .and_then(Value::as_array_mut)
                    .ok_or_else(|| invalid(&at, "move: not a list"))?;
                if *source >= list.len() || *destination >= list.len() {
                    return Err(invalid(
                        &format!("{at}.source"),
                        format!("move: indexes must be below {}", list.len()),
                    ));
                }
                let item = list.remove(*source);
                list.insert(*destination, item);
            }
        }
    }
    Ok(())
}

/// Replace `node` by `value`; when `node` is an extension and `value` a primitive, the
/// extension's value[x] is replaced instead (SPEC UC7 S6/S7 select the `nbInService` extension
/// and give the new count as the value: documented tolerance).
fn set_or_replace(node: &mut Value, value: &Value) {
    if let (Some(extension), false) =
        (node.as_object_mut().filter(|o| o.contains_key("url")), value.is_object() || value.is_array())
    {
        let existing = extension
            .keys()
            .find(|k| {
                k.len() > 5 && k.starts_with("value") && k[5..].starts_with(|c: char| c.is_ascii_uppercase())
            })
            .cloned();
        let key = existing.unwrap_or_else(|| {
            match value {
                Value::Bool(_) => "valueBoolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "valueInteger",
                Value::Number(_) => "valueDecimal",
                _ => "valueString",
            }
            .to_owned()
        });
        extension.insert(key, value.clone());
        return;
    }
    *node = value.clone();
}

/// The list that the selected items belong to (all items of one list, or the list itself).
fn list_location(selected: &[Location]) -> Option<Location> {
    let first = selected.first()?;
    match first.last() {
        Some(Segment::Index(_)) => split_last(first).map(|(parent, _)| parent),
        _ => Some(first.clone()),
    }
}

fn compare_locations(a: &Location, b: &Location) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let ordering = match (x, y) {
            (Segment::Index(i), Segment::Index(j)) => i.cmp(j),
            (Segment::Key(i), Segment::Key(j)) => i.cmp(j),
            (Segment::Index(_), Segment::Key(_)) => std::cmp::Ordering::Less,
            (Segment::Key(_), Segment::Index(_)) => std::cmp::Ordering::Greater,
        };
        if ordering != std::cmp::Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

fn remove_at(resource: &mut Value, location: &Location) {
    let Some((parent, last)) = split_last(location) else { return };
    let Some(node) = get_mut(resource, &parent) else { return };
    match (node, last) {
        (Value::Array(list), Segment::Index(index)) if index < list.len() => {
            list.remove(index);
        }
        (Value::Object(object), Segment::Key(key)) => {
            object.remove(&key);
        }
        _ => {}
    }
}

/// FHIR forbids empty arrays and objects: remove those a delete left behind.
fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for child in object.values_mut() {
                prune_empty(child);
            }
            object.retain(|_, child| {
                !matches!(child, Value::Array(items) if items.is_empty())
                    && !matches!(child, Value::Object(o) if o.is_empty())
            });
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn pointer_tokens(pointer: &str, at: &str) -> Result<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| invalid(at, format!("JSON pointer {pointer:?} must start with /")))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn json_parent<'a>(document: &'a mut Value, tokens: &[String], at: &str) -> Result<(&'a mut Value, String)> {
    let (last, parents) =
        tokens.split_last().ok_or_else(|| invalid(at, "the document root cannot be patched"))?;
    let mut current = document;
    for token in parents {
        current = match current {
            Value::Object(object) => object.get_mut(token),
            Value::Array(list) => token.parse::<usize>().ok().and_then(|i| list.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| invalid(at, format!("JSON pointer: {token:?} does not exist")))?;
    }
    Ok((current, last.clone()))
}

fn json_get(document: &Value, tokens: &[String]) -> Option<Value> {
    json_pointer(document, tokens).cloned()
}

fn json_pointer<'a>(document: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    let mut current = document;
    for token in tokens {
        current = match current {
            Value::Object(object) => object.get(token)?,
            Value::Array(list) => list.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn json_remove(document: &mut Value, tokens: &[String], at: &str) -> Result<Value> {
    let (parent, last) = json_parent(document, tokens, at)?;
    match parent {
        Value::Object(object) => {
            object.remove(&last).ok_or_else(|| invalid(at, format!("{last:?} does not exist")))
        }
        Value::Array(list) => {
            let index = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < list.len())
                .ok_or_else(|| invalid(at, format!("index {last:?} is out of range")))?;
            Ok(list.remove(index))
        }
        _ => Err(invalid(at, "the parent is not a container")),
    }
}

fn json_add(document: &mut Value, tokens: &[String], value: Value, replace: bool, at: &str) -> Result<()> {
    check_nesting([&value], tokens.len(), at)?;
    let (parent, last) = json_parent(document, tokens, at)?;
    match parent {
        Value::Object(object) => {
            if replace && !object.contains_key(&last) {
                return Err(invalid(at, format!("replace: {last:?} does not exist")));
            }
            object.insert(last, value);
        }
        Value::Array(list) => {
            if last == "-" && !replace {
                list.push(value);
            } else {
                let index =
                    last.parse::<usize>().map_err(|_| invalid(at, format!("{last:?} is not an index")))?;
                if replace {
                    let slot = list
                        .get_mut(index)
                        .ok_or_else(|| invalid(at, format!("index {index} is out of range")))?;
                    *slot = value;
                } else if index <= list.len() {
                    list.insert(index, value);
                } else {
                    return Err(invalid(at, format!("index {index} is out of range")));
                }
            }
        }
        _ => return Err(invalid(at, "the parent is not a container")),
    }
    Ok(())
}

/// Most JSON nodes that `copy` operations may add to one resource. The other operations add at
/// most what the request body carries, but each copy of the document into itself doubles it:
/// a few dozen such operations would exhaust memory. A copied extension is tens of nodes.
const MAX_COPIED_NODES: usize = 100_000;

fn node_count(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Object(object) => 1 + object.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

fn apply_json(resource: &mut Value, operations: &[Value]) -> Result<()> {
    let mut copied_nodes = 0usize;
    for (index, operation) in operations.iter().enumerate() {
        let at = format!("/{index}");
        let op = operation.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = pointer_tokens(operation.get("path").and_then(Value::as_str).unwrap_or_default(), &at)?;
        let value =
            || operation.get("value").cloned().ok_or_else(|| invalid(&at, format!("{op} needs a value")));
        let from = || pointer_tokens(operation.get("from").and_then(Value::as_str).unwrap_or_default(), &at);
        match op {
            "add" => json_add(resource, &path, value()?, false, &at)?,
            "replace" => json_add(resource, &path, value()?, true, &at)?,
            "remove" => {
                json_remove(resource, &path, &at)?;
            }
            "move" => {
                let moved = json_remove(resource, &from()?, &at)?;
                json_add(resource, &path, moved, false, &at)?;
            }
            "copy" => {
                let from = from()?;
                let source =
                    json_pointer(resource, &from).ok_or_else(|| invalid(&at, "copy: from does not exist"))?;
                copied_nodes = copied_nodes.saturating_add(node_count(source));
                if copied_nodes > MAX_COPIED_NODES {
                    return Err(invalid(
                        &at,
                        format!("copy: the patch copies more than {MAX_COPIED_NODES} JSON nodes"),
                    ));
                }
                let copied = source.clone();
                json_add(resource, &path, copied, false, &at)?;
            }
            "test" => {
                if json_get(resource, &path) != Some(value()?) {
                    return Err(invalid(&at, "test failed"));
                }
            }
            other => return Err(invalid(&at, format!("unknown op {other:?}"))),
        }
    }
    Ok(())
}

impl Patch {
    /// Apply to a copy of `current`; the caller validates the result.
    pub fn apply(&self, current: &Value) -> Result<Value> {
        self.apply_owned(current.clone())
    }

    /// As [`apply`](Self::apply), on a resource the caller no longer needs (no copy of it).
    pub fn apply_owned(&self, mut resource: Value) -> Result<Value> {
        let identity = |r: &Value| (r.get("resourceType").cloned(), r.get("id").cloned());
        let before = identity(&resource);
        match self {
            Patch::FhirPath(operations) => apply_fhirpath(&mut resource, operations)?,
            Patch::Json(operations) => apply_json(&mut resource, operations)?,
        }
        let same_identity = identity(&resource) == before;
        if !same_identity {
            return Err(invalid("id", "a patch may not change resourceType or id"));
        }
        Ok(resource)
    }
}

/// A patcher that applies `patch` and checks the result like any other write.
pub fn patcher(registry: std::sync::Arc<crate::schema::Registry>, patch: Patch) -> crate::store::Patcher {
    crate::store::Patcher(std::sync::Arc::new(move |current: &Value| {
        patch_and_index(&registry, &patch, current.clone()).map(|(patched, _)| patched)
    }))
}

/// Apply `patch` to `current`, check the result like any other write and return it with its
/// index document (version 0: the store stamps the version), extracted once for both.
pub fn patch_and_index(
    registry: &crate::schema::Registry,
    patch: &Patch,
    current: Value,
) -> Result<(Value, crate::index::extract::IndexDoc)> {
    let resource_type = current.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned();
    let patched = patch.apply_owned(current)?;
    let (_, _, doc) = crate::ingest::validate::validate_and_index(registry, &patched, Some(&resource_type))
        .map_err(|error| match error {
        Error::InvalidBody { expression, message } | Error::Unprocessable { expression, message } => {
            Error::Unprocessable {
                expression,
                message: format!("the patched resource is invalid: {message}"),
            }
        }
        other => other,
    })?;
    Ok((patched, doc))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ror").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn test_ror_add_capacity_then_replace_and_delete() {
        let location = json!({"resourceType": "Location", "id": "l"});
        let patch =
            parse_fhirpath_patch(&fixture("Parameters-PATCH-Location-add-supported-capacity.json")).unwrap();
        let added = patch.apply(&location).unwrap();
        assert_eq!(added["extension"].as_array().unwrap().len(), 1);
        let added_twice = patch.apply(&added).unwrap();
        assert_eq!(added_twice["extension"].as_array().unwrap().len(), 2);

        let replace = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueString": "replace"},
            {"name": "path", "valueString": "Location.extension.where(url='https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity').where(extension.where(url = 'capacityStatus' and valueCodeableConcept.coding.code = '02'))[0].extension.where(url='nbCapacity').valueInteger"},
            {"name": "value", "valueInteger": 12}]}]});
        let replaced = parse_fhirpath_patch(&replace).unwrap().apply(&added_twice).unwrap();
        let counts: Vec<i64> = replaced["extension"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["extension"][0]["valueInteger"].as_i64().unwrap())
            .collect();
        assert_eq!(counts, vec![12, 25]);

        let delete = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueString": "delete"},
            {"name": "path", "valueString": "Location.extension.where(url='https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity')"}]}]});
        let deleted = parse_fhirpath_patch(&delete).unwrap().apply(&replaced).unwrap();
        assert!(deleted.get("extension").is_none(), "{deleted}");
    }

    #[test]
    fn test_add_reference_and_replace_nothing_fails() {
        let service = json!({"resourceType": "HealthcareService", "id": "h", "location": [{"reference": "Location/a"}]});
        let patch =
            parse_fhirpath_patch(&fixture("Parameters-PATCH-HealthcareService-add-location.json")).unwrap();
        let patched = patch.apply(&service).unwrap();
        assert_eq!(patched["location"].as_array().unwrap().len(), 2);
        let task = json!({"resourceType": "Task", "id": "t", "businessStatus": {"coding": [{"code": "02"}]}});
        let status = parse_fhirpath_patch(&fixture("Parameters-PATCH-Task-businessStatus.json")).unwrap();
        let updated = status.apply(&task).unwrap();
        assert_eq!(updated["businessStatus"]["coding"][0]["code"], "08");
        let missing = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueString": "replace"}, {"name": "path", "valueString": "Task.description"}, {"name": "value", "valueString": "x"}]}]});
        let error = parse_fhirpath_patch(&missing).unwrap().apply(&task).unwrap_err();
        assert_eq!(error.http_status(), 422);
    }

    #[test]
    fn test_json_patch() {
        let location = json!({"resourceType": "Location", "id": "l", "name": "A", "alias": ["x"]});
        let patch = parse_json_patch(&json!([
            {"op": "replace", "path": "/name", "value": "B"},
            {"op": "add", "path": "/alias/-", "value": "y"},
            {"op": "test", "path": "/alias/0", "value": "x"},
            {"op": "remove", "path": "/alias/0"}
        ]))
        .unwrap();
        let patched = patch.apply(&location).unwrap();
        assert_eq!(patched, json!({"resourceType": "Location", "id": "l", "name": "B", "alias": ["y"]}));
        let bad = parse_json_patch(&json!([{"op": "replace", "path": "/id", "value": "other"}])).unwrap();
        assert!(bad.apply(&location).is_err());
    }
}

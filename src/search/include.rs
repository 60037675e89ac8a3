//! `_include` / `_revinclude` for one resource: what a search page and a `$export` closure both
//! follow. References by identifier (`{type, identifier}`) resolve in both directions.

use crate::index::{DocKey, SearchState};
use crate::query::parse::Include;

/// Calls `visit(type, key)` for every live resource `include` brings from resource `key` of
/// `include.source_type`.
pub fn include_targets(
    state: &SearchState,
    include: &Include,
    key: DocKey,
    visit: &mut dyn FnMut(usize, DocKey),
) {
    let Some(source) = state.collection(include.source_type) else { return };
    for (target_type, target_key) in source.references_of(include.param, key) {
        let target_type = usize::from(*target_type);
        if include.target_type.is_some_and(|t| t != target_type) {
            continue;
        }
        let Some(target_collection) = state.collection(target_type) else { continue };
        let mut targets = target_collection.logical_targets(*target_key);
        if target_collection.live.contains(*target_key) {
            targets.insert(*target_key);
        }
        for target in targets {
            visit(target_type, target);
        }
    }
}

/// Calls `visit(type, key)` for every live resource that `include` (a `_revinclude`) brings for
/// resource `key` of `resource_type`: the resources referencing it through `include.param`.
pub fn revinclude_sources(
    state: &SearchState,
    include: &Include,
    resource_type: usize,
    key: DocKey,
    visit: &mut dyn FnMut(usize, DocKey),
) {
    let registry = &state.registry;
    let Some(param) = registry.resources.get(include.source_type).and_then(|s| s.params.get(include.param))
    else {
        return;
    };
    if !param.targets.iter().any(|t| t == registry.type_name(resource_type)) {
        return;
    }
    let (Some(source), Some(target_collection)) =
        (state.collection(include.source_type), state.collection(resource_type))
    else {
        return;
    };
    for target in std::iter::once(key).chain(target_collection.logical_aliases(key)) {
        if let Some(bitmap) = source.referencing(include.param, (resource_type as u16, target)) {
            for source_key in bitmap.iter().filter(|k| source.live.contains(*k)) {
                visit(include.source_type, source_key);
            }
        }
    }
}

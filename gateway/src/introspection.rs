//! Introspection documents run without the depth and complexity limits meant for the
//! client's own queries: GraphiQL's, Apollo's and codegen tools' introspection queries nest
//! `ofType` deeper than `gateway.max_depth`. What bounds them instead is what makes
//! introspection costly: list fields of the type system (`types`, `fields`, `args`, ...)
//! nested in one another, each multiplying the answer by the schema's size. The standard
//! queries nest at most two (`types { fields { args } }`); [`MAX_NESTED_LISTS`] allows one more.

use std::collections::HashMap;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet};

/// Type-system list fields allowed inside one another on any path.
pub const MAX_NESTED_LISTS: usize = 3;

/// Introspection fields that return lists of schema members.
const LISTS: &[&str] = &["types", "fields", "args", "inputFields", "interfaces", "possibleTypes", "enumValues", "directives"];

/// Whether `query` (with `operation`, when it names one) is an introspection document: its
/// operation selects only `__schema`, `__type` and `__typename` at the top, and nests type-
/// system lists at most [`MAX_NESTED_LISTS`] deep. Anything else (or anything that does not
/// parse) is an ordinary query, under the ordinary limits.
pub fn is_bounded_introspection(query: &str, operation: Option<&str>) -> bool {
    if !(query.contains("__schema") || query.contains("__type")) {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return false };
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.iter().find(|(n, _)| n.as_str() == name) {
            Some((_, op)) => op,
            None => return false,
        },
        // A named operation alone in its document is one of "several" to the parser.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => match ops.values().next() {
            Some(op) => op,
            None => return false,
        },
        (DocumentOperations::Multiple(_), None) => return false,
    };
    let top = &op.node.selection_set.node;
    let only_introspection = top.items.iter().all(|s| match &s.node {
        Selection::Field(f) => f.node.name.node.starts_with("__"),
        _ => false,
    });
    only_introspection && lists_within(&doc, top, 0, 0)
}

/// Whether every path below `set` nests at most [`MAX_NESTED_LISTS`] list fields, following
/// fragment spreads (`depth` stops fragment cycles, which validation would refuse anyway).
fn lists_within(doc: &ExecutableDocument, set: &SelectionSet, lists: usize, depth: usize) -> bool {
    let fragments: &HashMap<_, async_graphql::Positioned<FragmentDefinition>> = &doc.fragments;
    if depth > 64 {
        return false;
    }
    set.items.iter().all(|s| match &s.node {
        Selection::Field(f) => {
            let lists = lists + usize::from(LISTS.contains(&f.node.name.node.as_str()));
            lists <= MAX_NESTED_LISTS && lists_within(doc, &f.node.selection_set.node, lists, depth + 1)
        }
        Selection::InlineFragment(i) => lists_within(doc, &i.node.selection_set.node, lists, depth + 1),
        Selection::FragmentSpread(f) => {
            fragments.get(&f.node.fragment_name.node).is_some_and(|d| lists_within(doc, &d.node.selection_set.node, lists, depth + 1))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introspection_is_recognised_and_bounded() {
        assert!(is_bounded_introspection("{ __schema { types { name fields { name args { name } } } } }", None));
        assert!(is_bounded_introspection(
            "query I { __schema { ...S } } fragment S on __Schema { types { ...T } } fragment T on __Type { fields { type { ofType { ofType { ofType { name } } } } } }",
            Some("I")
        ));
        assert!(!is_bounded_introspection("{ __schema { queryType { name } } campaigns { totalCount } }", None), "mixed with data");
        assert!(
            !is_bounded_introspection("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }", None),
            "lists in lists in lists in lists"
        );
        assert!(!is_bounded_introspection("{ campaigns { totalCount } }", None));
        assert!(!is_bounded_introspection("query A { __typename } query B { __schema { types { name } } }", None), "no operation chosen");
        assert!(!is_bounded_introspection("{ __schema { ...F } } fragment F on __Schema { ...F }", None), "a fragment cycle");
    }
}

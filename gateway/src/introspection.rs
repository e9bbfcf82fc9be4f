//! Introspection documents run without the depth limit meant for the client's own queries:
//! GraphiQL's, Apollo's and codegen tools' introspection queries nest `ofType` deeper than
//! `gateway.max_depth`. The complexity limit still applies (it counts every field, aliases and
//! fragments expanded: GraphiQL's full query is about 170), and so does a bound on what makes
//! introspection costly: list fields of the type system (`types`, `fields`, `args`, ...) nested
//! in one another, each multiplying the answer by the schema's size. The standard queries nest
//! at most two (`types { fields { args } }`); [`MAX_NESTED_LISTS`] allows one more.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Type-system list fields allowed inside one another on any path.
pub const MAX_NESTED_LISTS: usize = 3;

/// Introspection fields that return lists of schema members.
const LISTS: &[&str] = &["types", "fields", "args", "inputFields", "interfaces", "possibleTypes", "enumValues", "directives"];

/// Whether the text may hold an introspection field (`__schema`, or `__type` but not the
/// `__typename` every Apollo query carries): only then is the document parsed here.
pub(crate) fn mentions_introspection(query: &str) -> bool {
    query.contains("__schema")
        || query.match_indices("__type").any(|(i, m)| !query[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// Whether `query` (with `operation`, when it names one) is an introspection document: its
/// operation selects only `__schema`, `__type` and `__typename` at the top, and nests type-
/// system lists at most [`MAX_NESTED_LISTS`] deep. Anything else (or anything that does not
/// parse) is an ordinary query, under the ordinary limits.
pub fn is_bounded_introspection(query: &str, operation: Option<&str>) -> bool {
    if !mentions_introspection(query) {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return false };
    let Some(op) = crate::schema::operation(&doc, operation) else { return false };
    let top = &op.node.selection_set.node;
    let only_introspection = top.items.iter().all(|s| match &s.node {
        Selection::Field(f) => f.node.name.node.starts_with("__"),
        _ => false,
    });
    let mut memo = HashMap::new();
    only_introspection && nested_lists(&doc, top, &mut memo).is_some_and(|n| n <= MAX_NESTED_LISTS)
}

/// The deepest nesting of list fields below `set`, following fragment spreads; each fragment
/// is measured once (`memo`), so the cost is linear in the document however often fragments
/// are spread. `None`: a fragment cycle or an unknown fragment (validation refuses both).
fn nested_lists<'a>(doc: &'a ExecutableDocument, set: &'a SelectionSet, memo: &mut HashMap<&'a str, Option<usize>>) -> Option<usize> {
    let mut deepest = 0;
    for s in &set.items {
        let n = match &s.node {
            Selection::Field(f) => {
                let own = usize::from(LISTS.contains(&f.node.name.node.as_str()));
                own + nested_lists(doc, &f.node.selection_set.node, memo)?
            }
            Selection::InlineFragment(i) => nested_lists(doc, &i.node.selection_set.node, memo)?,
            Selection::FragmentSpread(f) => {
                let name = f.node.fragment_name.node.as_str();
                match memo.get(name) {
                    Some(known) => (*known)?,
                    None => {
                        memo.insert(name, None); // in progress: a cycle reads None
                        let d = doc.fragments.get(name).and_then(|d| nested_lists(doc, &d.node.selection_set.node, memo));
                        memo.insert(name, d);
                        d?
                    }
                }
            }
        };
        deepest = deepest.max(n);
    }
    Some(deepest)
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
        assert!(is_bounded_introspection("query I { __type(name: \"Query\") { fields { name } } }", None), "a lone named operation");
        assert!(!is_bounded_introspection("{ __schema { queryType { name } } campaigns { totalCount } }", None), "mixed with data");
        assert!(
            !is_bounded_introspection("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }", None),
            "lists in lists in lists in lists"
        );
        assert!(!is_bounded_introspection("{ campaigns { totalCount } }", None));
        assert!(!is_bounded_introspection("query A { __typename } query B { __schema { types { name } } }", None), "no operation chosen");
        assert!(!is_bounded_introspection("{ __schema { ...F } } fragment F on __Schema { ...F }", None), "a fragment cycle");
    }

    #[test]
    fn apollo_queries_are_not_parsed_twice() {
        assert!(!mentions_introspection("{ campaigns { nodes { id __typename } } }"));
        assert!(mentions_introspection("{ __type(name: \"Campaign\") { name } }"));
        assert!(mentions_introspection("{ __schema { types { name } } }"));
    }

    /// Fragments spread three times in each of 30 levels: 3^30 paths, measured in linear time.
    #[test]
    fn fragment_spreads_are_measured_once_each() {
        let mut q = String::from("{ __schema { ...F1 } }");
        for i in 1..30 {
            q.push_str(&format!(" fragment F{i} on __Schema {{ ...F{n} ...F{n} ...F{n} }}", n = i + 1));
        }
        q.push_str(" fragment F30 on __Schema { types { name } }");
        let t = std::time::Instant::now();
        assert!(is_bounded_introspection(&q, None));
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "took {:?}", t.elapsed());
    }
}

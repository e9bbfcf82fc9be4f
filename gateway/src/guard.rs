//! The input guard: one place that refuses text no field may hold, before any resolver runs.
//!
//! | rule | limit |
//! |---|---|
//! | control characters (U+0000-U+001F except tab, line feed and carriage return; U+007F-U+009F) | refused |
//! | any text value | at most [`MAX_TEXT_CHARS`] characters |
//! | names (advertisers, publishers, tiers, integrations) | 1 to 200 characters (checked by each mutation) |
//! | request body | `gateway.max_body_bytes` (1 MiB by default) |
//!
//! Both the variables and the literals written into the document are checked, so a NUL byte
//! never reaches PostgreSQL (which refuses it in text) and a 1 MB "description" is refused with
//! a VALIDATION error naming the argument or variable, instead of being stored.

use async_graphql::{
    Name, Positioned, ServerError, Variables,
    parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet},
};

use crate::error;

/// The longest text any argument may carry (a campaign description fits many times over).
pub const MAX_TEXT_CHARS: usize = 65_536;

/// Why `s` may not be stored, if it may not.
pub fn text_problem(s: &str) -> Option<String> {
    if let Some(c) = s.chars().find(|c| is_forbidden(*c)) {
        return Some(format!("contains the control character U+{:04X}; remove it", c as u32));
    }
    let n = s.chars().count();
    (n > MAX_TEXT_CHARS).then(|| format!("is {n} characters long; the limit is {MAX_TEXT_CHARS}"))
}

fn is_forbidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FEFF}'
}

fn refused(field: &str, problem: &str) -> ServerError {
    let e: async_graphql::Error = error::field(field, format!("{field} {problem}"));
    e.into_server_error(async_graphql::Pos::default())
}

/// The first problem in a constant value (a variable), named by its path.
fn check_const(path: &str, v: &async_graphql::Value) -> Option<(String, String)> {
    use async_graphql::Value as V;
    match v {
        V::String(s) => text_problem(s).map(|p| (path.to_string(), p)),
        V::List(items) => items.iter().enumerate().find_map(|(i, v)| check_const(&format!("{path}[{i}]"), v)),
        V::Object(m) => m
            .iter()
            .find_map(|(k, v)| text_problem(k).map(|p| (format!("{path}.{k}"), p)).or_else(|| check_const(&format!("{path}.{k}"), v))),
        _ => None,
    }
}

fn check_selection(set: &SelectionSet) -> Option<(String, String)> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(f) => f
            .node
            .arguments
            .iter()
            .find_map(|(name, value)| {
                // Variables inside the literal are checked with the variables; here they are null.
                let literal = value.node.clone().into_const_with(|_| Ok::<_, std::convert::Infallible>(async_graphql::Value::Null));
                literal.ok().and_then(|v| check_const(name.node.as_str(), &v))
            })
            .or_else(|| check_selection(&f.node.selection_set.node)),
        Selection::InlineFragment(i) => check_selection(&i.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
    })
}

fn check_document(doc: &ExecutableDocument) -> Option<(String, String)> {
    let ops: Vec<&Positioned<async_graphql::parser::types::OperationDefinition>> = match &doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(map) => map.values().collect(),
    };
    ops.into_iter()
        .find_map(|op| {
            op.node
                .variable_definitions
                .iter()
                .find_map(|d| d.node.default_value.as_ref().and_then(|v| check_const(&format!("${}", d.node.name.node), &v.node)))
                .or_else(|| check_selection(&op.node.selection_set.node))
        })
        .or_else(|| doc.fragments.values().find_map(|f| check_selection(&f.node.selection_set.node)))
}

pub(crate) fn check_variables(vars: &Variables) -> Option<(String, String)> {
    let map: &std::collections::BTreeMap<Name, async_graphql::Value> = vars;
    map.iter().find_map(|(k, v)| check_const(&format!("${k}"), v))
}

/// The guard over one request: its variables, then the literals of its document (parsed
/// here once, and kept in the request for the schema). A document that does not parse is
/// refused as GRAPHQL_PARSE_FAILED.
pub fn check(request: &mut async_graphql::Request) -> Result<(), ServerError> {
    if let Some((field, problem)) = check_variables(&request.variables) {
        return Err(refused(&field, &problem));
    }
    let doc = request.parsed_query().map_err(error::parse_failed)?;
    match check_document(doc) {
        Some((field, problem)) => Err(refused(&field, &problem)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_huge_text_are_refused_line_breaks_kept() {
        assert_eq!(text_problem("Line one\nline two\ttabbed\r\n"), None);
        assert_eq!(text_problem("a\u{0}b").as_deref(), Some("contains the control character U+0000; remove it"));
        assert!(text_problem("\u{1b}[31mred").is_some());
        assert!(text_problem("\u{85}").is_some());
        assert!(text_problem(&"x".repeat(MAX_TEXT_CHARS)).is_none());
        assert!(text_problem(&"x".repeat(MAX_TEXT_CHARS + 1)).is_some());
        assert_eq!(text_problem("100% _sale_ ünïcødé ✓"), None);
    }
}

//! One table of stable error codes for every GraphQL error (`extensions.code`).
//!
//! | code | meaning |
//! |---|---|
//! | `VALIDATION` | input is invalid; `extensions.field` names the field, `extensions.fields` lists all |
//! | `NOT_FOUND` | the id does not exist |
//! | `CONFLICT` | `version` does not match (someone else saved first), or a unique name is taken |
//! | `UNAUTHENTICATED` | no token, or an unknown/revoked token |
//! | `FORBIDDEN` | the token's role may not do this |
//! | `RATE_LIMITED` | too many requests |
//! | `BAD_STATE` | the object is not in a state that allows this (e.g. finalising twice) |
//! | `INTERNAL` | a server fault; details are logged, never shown |
//! | `GRAPHQL_PARSE_FAILED` | the document is not GraphQL (syntax error, empty query, too deeply nested text) |
//! | `GRAPHQL_VALIDATION_FAILED` | the document does not fit the schema (unknown field or argument, wrong enum value, wrong variable type, depth or complexity limit) |
//! | `BAD_REQUEST` | the HTTP request is not a GraphQL request (not JSON, no `query`, a batch, an unknown `operationName`) |
//!
//! Server errors are logged once here with their chain; clients see "internal error" only.
//! [`classify_response`] (and [`parse_failed`] for documents that do not parse) give every
//! error async-graphql raises itself (parse, validation, argument coercion) its code, so no
//! error reaches a client without one.

use async_graphql::ErrorExtensions;
use domain::validate::FieldError;

pub const VALIDATION: &str = "VALIDATION";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const CONFLICT: &str = "CONFLICT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const BAD_STATE: &str = "BAD_STATE";
pub const INTERNAL: &str = "INTERNAL";
pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const BAD_REQUEST: &str = "BAD_REQUEST";

/// Every code, for the documentation table and tests.
pub const ALL_CODES: &[&str] = &[
    VALIDATION,
    NOT_FOUND,
    CONFLICT,
    UNAUTHENTICATED,
    FORBIDDEN,
    "RATE_LIMITED",
    BAD_STATE,
    INTERNAL,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    BAD_REQUEST,
];

/// Codes of errors raised before execution: the request never ran.
pub const BEFORE_EXECUTION: &[&str] = &[GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_REQUEST];

/// A client-visible error with a code.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

pub fn not_found(what: &str, id: impl std::fmt::Display) -> async_graphql::Error {
    coded(NOT_FOUND, format!("{what} {id} does not exist"))
}

/// A validation error naming the first field, listing all of them.
pub fn validation(errors: Vec<FieldError>) -> async_graphql::Error {
    let first = errors.first().cloned().unwrap_or_else(|| FieldError::new("input", "invalid"));
    let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    async_graphql::Error::new(message).extend_with(move |_, e| {
        e.set("code", VALIDATION);
        e.set("field", first.field.clone());
        let list: Vec<async_graphql::Value> = errors
            .iter()
            .map(|f| {
                let mut m = async_graphql::indexmap::IndexMap::new();
                m.insert(async_graphql::Name::new("field"), async_graphql::Value::from(f.field.clone()));
                m.insert(async_graphql::Name::new("message"), async_graphql::Value::from(f.message.clone()));
                async_graphql::Value::Object(m)
            })
            .collect();
        e.set("fields", async_graphql::Value::List(list));
    })
}

pub fn field(field: &str, message: impl Into<String>) -> async_graphql::Error {
    validation(vec![FieldError::new(field, message)])
}

/// Logs a server fault with its detail and returns the opaque client error.
pub fn internal(err: impl std::fmt::Display) -> async_graphql::Error {
    tracing::error!(error = %err, "internal error while serving a GraphQL request");
    coded(INTERNAL, "internal error")
}

/// `?` on database results inside resolvers.
pub trait OrInternal<T> {
    fn or_internal(self) -> async_graphql::Result<T>;
}

impl<T, E: std::fmt::Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> async_graphql::Result<T> {
        self.map_err(internal)
    }
}

/// Codes the errors async-graphql raises itself (see [`classify_response`]); errors our
/// resolvers raise already carry a code and are left alone.
fn with_code(mut e: async_graphql::ServerError, code: &'static str) -> async_graphql::ServerError {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    e
}

fn has_code(e: &async_graphql::ServerError) -> bool {
    e.extensions.as_ref().is_some_and(|x| x.get("code").is_some())
}

/// The code for an error that has none, from where it was raised.
fn classify(mut e: async_graphql::ServerError) -> async_graphql::ServerError {
    if has_code(&e) {
        return e;
    }
    if e.message.starts_with("Unknown operation named") || e.message.starts_with("Operation name required") {
        return with_code(e, BAD_REQUEST);
    }
    // async-graphql checks the nesting and the directives of a document while it parses it.
    if e.message.starts_with("The recursion depth of the query cannot be greater than")
        || e.message.starts_with("The number of directives on the field")
    {
        return with_code(e, GRAPHQL_PARSE_FAILED);
    }
    // Every other error without a path was raised before execution: validation.
    if e.path.is_empty() {
        return with_code(e, GRAPHQL_VALIDATION_FAILED);
    }
    // An argument value a scalar or input type refused while the field was being resolved.
    if let Some(rest) = e.message.strip_prefix("Invalid value for argument \"") {
        let arg = rest.split('"').next().unwrap_or_default().to_string();
        let ext = e.extensions.get_or_insert_with(Default::default);
        ext.set("field", arg);
        return with_code(e, VALIDATION);
    }
    if ["Failed to parse", "Invalid value", "Expected input type", "Oneof"].iter().any(|p| e.message.starts_with(p)) {
        return with_code(e, VALIDATION);
    }
    tracing::error!(message = %e.message, "a resolver error without a code");
    e.message = "internal error".into();
    with_code(e, INTERNAL)
}

/// A response's errors coded: a document that does not validate GRAPHQL_VALIDATION_FAILED,
/// an unknown or missing operation name BAD_REQUEST, an argument value a scalar refuses (a
/// Decimal out of range, an Int overflow, a bad DateTime) VALIDATION naming the argument, and
/// any other uncoded error INTERNAL (logged, its text withheld).
pub fn classify_response(mut r: async_graphql::Response) -> async_graphql::Response {
    r.errors = std::mem::take(&mut r.errors).into_iter().map(classify).collect();
    r
}

/// A document that does not parse: GRAPHQL_PARSE_FAILED.
pub fn parse_failed(e: async_graphql::ServerError) -> async_graphql::ServerError {
    with_code(e, GRAPHQL_PARSE_FAILED)
}

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
//!
//! Server errors are logged once here with their chain; clients see "internal error" only.

use async_graphql::ErrorExtensions;
use domain::validate::FieldError;

pub const VALIDATION: &str = "VALIDATION";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const CONFLICT: &str = "CONFLICT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const BAD_STATE: &str = "BAD_STATE";
pub const INTERNAL: &str = "INTERNAL";

/// Every code, for the documentation table and tests.
pub const ALL_CODES: &[&str] = &[VALIDATION, NOT_FOUND, CONFLICT, UNAUTHENTICATED, FORBIDDEN, "RATE_LIMITED", BAD_STATE, INTERNAL];

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

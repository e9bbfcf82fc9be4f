//! PLACEHOLDER: the shared HTTP scaffold.

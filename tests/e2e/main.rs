//! End-to-end tests: one binary, real processes, a real database per test (a temp SQLite
//! file, or a fresh PostgreSQL database when TEST_DATABASE_URL is set), real HTTP.

mod harness;
mod procs;

mod api;
mod clients;
mod demo;
mod faults;
mod fidelity;
mod foundation;
mod hostile;
mod operations;
mod resilience;
mod security;
mod sync;
mod writes;

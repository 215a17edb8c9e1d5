//! The integration suite: the real server on port 0, each test on its own database, every
//! case on SQLite and on PostgreSQL.

// The harness's helpers fail the test on any surprise, which is what unwrap and panic do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod auth;
mod books;
mod cli;
mod continuity;
mod contract;
mod cost_batches;
mod delivery_processes;
mod demo;
mod documents;
mod errors;
mod events;
mod exports;
mod faults;
mod idempotency;
mod imports;
mod keys;
mod money_in;
mod periods;
mod posts;
mod processes;
mod recorded;
mod registry;
mod reports;
mod response_contract;
mod stored_values;
mod webhooks;

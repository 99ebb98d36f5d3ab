//! The server's API tests: one binary, each test with its own server on port 0, its own data dir
//! and database, and a clock it moves by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code may stop at the first failure

mod atomicity;
mod cli;
mod crash;
mod dashboard;
mod encryption;
mod hardening;
mod helpers;
mod idempotency;
mod migration;
mod monitoring;
mod multi;
mod operations;
mod payments;
mod races;
mod restart;
mod security;
mod tenancy;
mod tokens;
mod webhooks;

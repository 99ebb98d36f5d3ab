//! The cardtoken payment server: the tokenization endpoint, the encrypted vault and API keys.
//! See `ARCHITECTURE.md` at the repository root.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod keys;
pub mod monitoring;
pub mod openapi;
pub mod payments;
pub mod ratelimit;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod vault;
pub mod webhooks;

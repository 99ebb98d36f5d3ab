//! The cardtoken payment server: accounts and keys, the tokenization endpoint, the encrypted vault,
//! payments and refunds, webhooks, monitoring. See `ARCHITECTURE.md` at the repository root.
//!
//! Dependencies point one way: `http` (axum) and `workers` call `domain`; `domain` calls `store`'s
//! traits; the backends under `store` are the only code that names a database library, and `startup`
//! the only code that picks one.

pub mod cli;
pub mod clock;
pub mod config;
pub mod cvcs;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ids;
pub mod jwe;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod vault;
pub mod workers;

//! The domain: what the API does, whoever asks (the HTTP handlers, the dashboard, the command line,
//! the workers). It knows neither the web framework nor the database library: it talks to storage
//! through `crate::store`'s traits, and answers with its own [`Error`].
//!
//! Each operation reads and prepares what it can outside a transaction (decrypting a card, asking the
//! processor), then hands one closure to `store::write` that reads again what may have changed, decides
//! (through the payment state machine where a payment changes), and writes the change, its events,
//! their deliveries, the jobs it schedules and the idempotent response, all in one transaction.

pub mod accounts;
pub mod cvcs;
pub mod dashboard;
pub mod disputes;
pub mod error;
pub mod events;
pub mod failpoints;
pub mod idempotency;
pub mod jobs;
pub mod maintenance;
pub mod monitoring;
pub mod payments;
pub mod ratelimit;
pub mod refunds;
pub mod tokens;
pub mod users;
pub mod webhook_endpoints;

use std::sync::Arc;

pub use error::Error;

use crate::clock::Clock;
use crate::config::Config;
pub use crate::store::Scope;
use crate::store::{KeyKind, Store};
use crate::vault::Vault;
use payments::processor::Processor;

/// Who is asking: the key, its kind, and the account and mode it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub kind: KeyKind,
    pub scope: Scope,
}

/// The processors that decide authorizations: test cards in test mode; live mode's, once configured.
#[derive(Clone)]
pub struct Processors {
    pub test: Arc<dyn Processor>,
    pub live: Option<Arc<dyn Processor>>,
}

/// Everything the domain works with.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub processors: Processors,
    pub monitor: Arc<monitoring::Monitor>,
    pub limits: ratelimit::Limits,
    /// Idempotency keys of requests running in this process.
    pub in_flight: idempotency::InFlight,
    /// API keys looked up recently.
    pub keys: accounts::KeyCache,
    /// The API's URL as browsers reach it (for 3-D Secure links).
    pub api_base: String,
    /// This process's name in leases and claims (`inst_…`).
    pub instance: String,
    /// The CVCs of the tokens this instance made (never stored), and how other instances ask for them.
    pub cvcs: Arc<crate::cvcs::CvcHolder>,
    pub exchange: Arc<cvcs::Exchange>,
    /// Where tests cut operations short.
    pub failpoints: Arc<failpoints::FailPoints>,
    /// How webhook hosts are resolved (the system's resolver; tests stand in another).
    pub resolver: Arc<dyn webhook_endpoints::HostResolver>,
}

impl Services {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

//! Storage: what the domain reads and writes, behind traits that name no database library.
//!
//! The domain runs every operation as one closure over a [`Tx`] (read, decide, write), handed to
//! [`write`]: the backend runs it inside one transaction and answers only once the commit is durable.
//! [`read`] runs a closure on a read snapshot. `Tx` is the sum of one repository trait per aggregate
//! (accounts and keys, tokens, payments, webhooks, jobs, idempotency records, monitoring, dashboard
//! users and sessions); each backend
//! (`sqlite`, `postgres`) implements them all, and nothing outside `store` names a backend's types
//! but `startup`, which picks one.
//!
//! Every object belongs to one account and one mode (a [`Scope`]); every method that reads objects on
//! a caller's behalf takes the scope and finds nothing outside it.

mod accounts;
mod idempotency;
mod jobs;
mod monitoring;
mod payments;
pub mod postgres;
mod ratelimit;
mod settings;
pub mod sqlite;
mod tokens;
mod users;
mod webhooks;

use std::sync::Arc;

pub use accounts::{AccountRecord, AccountRepo, ApiKeyRecord, KeyKind};
pub use idempotency::{IdempotencyRecord, IdempotencyRepo};
pub use jobs::{JobRecord, JobRepo, NewJob};
pub use monitoring::{MonitorRepo, StoredBucket, StoredWatch};
pub use payments::{DisputeRecord, PaymentFilter, PaymentRecord, PaymentRepo, RefundRecord};
pub use ratelimit::RateLimitRepo;
pub use settings::SettingsRepo;
pub use tokens::{TokenRecord, TokenRepo};
pub use users::{SessionRecord, UserRecord, UserRepo};
pub use webhooks::{
    AttemptRecord, DeliveryOutcome, DeliveryRecord, DueDelivery, EndpointRecord, EventRecord, NewEvent,
    WebhookRepo, TEST_EVENT,
};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Db(String),
    /// A write lost a race it should not have (a compare-and-set found another version).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The backend is shutting down or its writer is gone.
    #[error("the database is unavailable")]
    Unavailable,
    /// A stored value does not parse.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// An account and a mode: what a key sees, and what every object belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account: String,
    pub livemode: bool,
}

impl Scope {
    pub fn new(account: impl Into<String>, livemode: bool) -> Scope {
        Scope { account: account.into(), livemode }
    }

    pub fn mode(&self) -> &'static str {
        if self.livemode {
            "live"
        } else {
            "test"
        }
    }
}

/// One transaction's view of storage: every repository.
pub trait Tx:
    AccountRepo
    + TokenRepo
    + PaymentRepo
    + WebhookRepo
    + JobRepo
    + IdempotencyRepo
    + MonitorRepo
    + RateLimitRepo
    + SettingsRepo
    + UserRepo
{
}

impl<T> Tx for T where
    T: AccountRepo
        + TokenRepo
        + PaymentRepo
        + WebhookRepo
        + JobRepo
        + IdempotencyRepo
        + MonitorRepo
        + RateLimitRepo
        + SettingsRepo
        + UserRepo
{
}

/// A unit of work run inside a transaction.
pub type TxJob = Box<dyn FnOnce(&mut dyn Tx) -> Result<()> + Send>;
/// Told the job's outcome once its transaction has committed (or failed).
pub type Done = Box<dyn FnOnce(Result<()>) + Send>;
/// A unit of work run on a read snapshot.
pub type ReadJob<'a> = &'a mut dyn FnMut(&mut dyn Tx) -> Result<()>;

/// Messages between the instances of a deployment (PostgreSQL: `LISTEN`/`NOTIFY`), each addressed to
/// one instance by name. Delivery is at most once and only to an instance listening at the time: what
/// is sent over it must be safe to lose.
pub trait Bus: Send + Sync {
    /// Sends `message` (at most a few KB) to the instance listening as `to`; blocking.
    fn send(&self, to: &str, message: &str) -> Result<()>;
    /// Hands every message sent to `me` to `deliver`, on a thread of the bus's own, until the answer is
    /// dropped.
    fn listen(&self, me: &str, deliver: Box<dyn Fn(String) + Send + Sync>) -> Result<Listening>;
}

/// A bus listener: dropping it stops the listening.
pub struct Listening(pub Box<dyn Send + Sync>);

pub trait Store: Send + Sync + 'static {
    /// Runs `job` in one transaction, then calls `done` with its outcome, after the commit is durable.
    /// A job that fails leaves nothing behind. Jobs may be committed together with others (SQLite
    /// commits a batch at a time), but each is all or nothing. Never blocks.
    fn transact(&self, job: TxJob, done: Done);
    /// As `transact`, for state whose last moments may be lost in a crash (rate-limit buckets), and
    /// whose every statement is atomic on its own: it may run statement by statement, committing without
    /// waiting for the disk (PostgreSQL: connections with `synchronous_commit` off), so a busy row is
    /// locked for a statement. SQLite's single writer commits it like any other.
    fn transact_relaxed(&self, job: TxJob, done: Done) {
        self.transact(job, done)
    }
    /// Runs `job` on a consistent read snapshot; blocking.
    fn read(&self, job: ReadJob<'_>) -> Result<()>;
    /// Whether `read` is quick enough to call on an async worker (an embedded database), rather than
    /// on the blocking pool (a database across the network).
    fn inline_reads(&self) -> bool;
    /// Answers when the database is reachable and its migrations are done.
    fn ready(&self) -> Result<()>;
    /// Destroys what erased rows may have left behind (SQLite's write-ahead log); called after CVC keys
    /// are destroyed.
    fn compact(&self) -> Result<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The bus between instances, where several share this database (none for one instance).
    fn bus(&self) -> Option<Arc<dyn Bus>> {
        None
    }
}

/// Runs `f` in one transaction; resolves once it has committed.
pub async fn write<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
{
    write_with(store, false, f).await
}

/// Runs `f`, whose statements are each atomic, without waiting for the disk (`Store::transact_relaxed`).
pub async fn write_relaxed<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
{
    write_with(store, true, f).await
}

async fn write_with<T, F>(store: &Arc<dyn Store>, relaxed: bool, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
{
    let slot: Arc<std::sync::Mutex<Option<T>>> = Arc::new(std::sync::Mutex::new(None));
    let filled = slot.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<Result<()>>();
    let job: TxJob = Box::new(move |t: &mut dyn Tx| {
        let value = f(t)?;
        *filled.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
        Ok(())
    });
    let done: Done = Box::new(move |outcome| {
        let _ = tx.send(outcome);
    });
    if relaxed {
        store.transact_relaxed(job, done);
    } else {
        store.transact(job, done);
    }
    rx.await.map_err(|_| StoreError::Unavailable)??;
    let value = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    value.ok_or(StoreError::Unavailable)
}

/// Runs `f` on a read snapshot (on the blocking pool when the backend is across a network).
pub async fn read<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
{
    fn run<T>(store: &dyn Store, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        store.read(&mut |t| {
            if let Some(f) = f.take() {
                out = Some(f(t)?);
            }
            Ok(())
        })?;
        out.ok_or(StoreError::Unavailable)
    }
    if store.inline_reads() {
        return run(store.as_ref(), f);
    }
    let store = store.clone();
    tokio::task::spawn_blocking(move || run(store.as_ref(), f)).await.map_err(|_| StoreError::Unavailable)?
}

/// Reads on the calling thread (command-line tools).
pub fn read_blocking<T>(store: &dyn Store, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
    let mut f = Some(f);
    let mut out = None;
    store.read(&mut |t| {
        if let Some(f) = f.take() {
            out = Some(f(t)?);
        }
        Ok(())
    })?;
    out.ok_or(StoreError::Unavailable)
}

//! The PostgreSQL backend, for several server instances on one database. Commits are durable before
//! anyone is told (`synchronous_commit = on`, the server's default); concurrent requests commit on the
//! pool's connections side by side, and PostgreSQL groups their WAL flushes.
//!
//! What instances must share lives here, never in one process: payment changes lock their row
//! (`SELECT … FOR UPDATE`), idempotency keys in flight hold a transaction-scoped advisory lock (a second
//! instance answers 409), deliveries and jobs are claimed with `FOR UPDATE SKIP LOCKED` under leases,
//! rate-limit buckets are rows, monitoring buckets are each instance's rows. No CVC is ever written here
//! (the instance that made a token holds it in memory, `crate::cvcs`); instances ask each other for one
//! over `bus` (`LISTEN`/`NOTIFY`).
//!
//! Each pooled connection keeps its prepared statements, so a query is parsed once per connection.

mod accounts;
mod bus;
mod idempotency;
mod jobs;
mod monitoring;
mod payments;
mod ratelimit;
mod schema;
mod settings;
mod tokens;
mod users;
mod webhooks;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};

use super::{Done, ReadJob, Result, Store, StoreError, TxJob};

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        match e.code() {
            Some(c)
                if *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StoreError::Conflict(e.to_string())
            }
            // The message and code only: a DETAIL can quote the values of a row.
            _ => match e.as_db_error() {
                Some(db) => StoreError::Db(format!("{} ({})", db.message(), db.code().code())),
                None => StoreError::Db(e.to_string()),
            },
        }
    }
}

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

struct Pool {
    url: String,
    idle: Mutex<Vec<Conn>>,
    open: Mutex<usize>,
    available: Condvar,
    max: usize,
    /// Its connections' commits do not wait for the disk (`synchronous_commit = off`): for the relaxed
    /// writes only (rate-limit buckets), each statement on its own.
    relaxed: bool,
}

impl Pool {
    fn connect(url: &str, relaxed: bool) -> Result<Conn> {
        let mut client = Client::connect(url, NoTls).map_err(|e| StoreError::Open(e.to_string()))?;
        // The server's notices ("relation … already exists, skipping" from every `IF NOT EXISTS`) are
        // expected, and the driver would log each one: only warnings and errors are sent.
        let setup = if relaxed {
            "SET client_min_messages = warning; SET synchronous_commit = off"
        } else {
            "SET client_min_messages = warning"
        };
        client.batch_execute(setup).map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Conn { client, statements: HashMap::new() })
    }

    /// A connection: an idle one, a new one while under `max`, or the next one given back.
    fn get(&self) -> Result<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = idle.pop() {
                return Ok(conn);
            }
            {
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                if *open < self.max {
                    *open += 1;
                    drop(open);
                    drop(idle);
                    return Pool::connect(&self.url, self.relaxed).inspect_err(|_| {
                        *self.open.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                    });
                }
            }
            let (guard, timeout) =
                self.available.wait_timeout(idle, Duration::from_secs(30)).unwrap_or_else(|p| p.into_inner());
            idle = guard;
            if timeout.timed_out() && idle.is_empty() {
                return Err(StoreError::Unavailable);
            }
        }
    }

    fn put(&self, conn: Conn) {
        if conn.client.is_closed() {
            *self.open.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        } else {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
        self.available.notify_one();
    }
}

impl Drop for Pool {
    /// A client closes its connection by blocking on its own runtime, which a thread that drives async
    /// tasks must not do: the last pool may be dropped on one, so the closing happens on a thread of its own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(idle));
        }
    }
}

/// Where a `PgTx`'s statements go: a transaction (writes), or the connection itself, each statement on
/// its own (reads: one round trip each, no `BEGIN`/`COMMIT`).
enum Target<'a> {
    Tx(Transaction<'a>),
    Auto(&'a mut Client),
}

/// A transaction (or a run of reads), with its connection's statement cache: every repository is
/// implemented for it.
pub struct PgTx<'a> {
    target: Target<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

macro_rules! on_target {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match &mut $self.target {
            Target::Tx(t) => t.$method($($arg),*),
            Target::Auto(c) => c.$method($($arg),*),
        }
    };
}

impl PgTx<'_> {
    fn stmt(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = on_target!(self, prepare(sql))?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &'static str, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let s = self.stmt(sql)?;
        Ok(on_target!(self, query(&s, args))?)
    }

    fn query_opt(&mut self, sql: &'static str, args: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let s = self.stmt(sql)?;
        Ok(on_target!(self, query_opt(&s, args))?)
    }

    fn query_one(&mut self, sql: &'static str, args: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let s = self.stmt(sql)?;
        Ok(on_target!(self, query_one(&s, args))?)
    }

    fn execute(&mut self, sql: &'static str, args: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.stmt(sql)?;
        Ok(on_target!(self, execute(&s, args))?)
    }
}

/// Amounts and counts are `u64` in the domain and `BIGINT` here.
fn big(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Db("a value beyond BIGINT".into()))
}

fn unsigned(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("a negative amount".into()))
}

pub struct PgStore {
    pool: Arc<Pool>,
    /// Connections for relaxed writes (see `Pool::relaxed`).
    relaxed: Arc<Pool>,
}

impl PgStore {
    /// Connects (at most `pool_size` connections) and runs the migrations (one instance at a time).
    pub fn open(url: &str, pool_size: usize) -> Result<PgStore> {
        let pool_of = |max: usize, relaxed: bool| {
            Arc::new(Pool {
                url: url.to_string(),
                idle: Mutex::new(Vec::new()),
                open: Mutex::new(0),
                available: Condvar::new(),
                max,
                relaxed,
            })
        };
        let pool = pool_of(pool_size.max(2), false);
        let mut conn = pool.get()?;
        schema::migrate(&mut conn.client)?;
        pool.put(conn);
        Ok(PgStore { pool, relaxed: pool_of((pool_size / 4).max(2), true) })
    }

    fn run(pool: &Pool, read_only: bool, job: &mut dyn FnMut(&mut PgTx<'_>) -> Result<()>) -> Result<()> {
        PgStore::run_with(pool, read_only, job)
    }

    /// `statement_by_statement`: no transaction, each statement committed on its own (reads; and the
    /// relaxed writes, whose statements are each atomic).
    fn run_with(
        pool: &Pool,
        statement_by_statement: bool,
        job: &mut dyn FnMut(&mut PgTx<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut conn = pool.get()?;
        let outcome = (|| {
            let Conn { client, statements } = &mut conn;
            let target =
                if statement_by_statement { Target::Auto(client) } else { Target::Tx(client.transaction()?) };
            let mut pg = PgTx { target, statements };
            catch_unwind(AssertUnwindSafe(|| job(&mut pg)))
                .unwrap_or_else(|_| Err(StoreError::Db("a storage job panicked".into())))?;
            if let Target::Tx(tx) = pg.target {
                tx.commit()?;
            }
            Ok(())
        })();
        pool.put(conn);
        outcome
    }
}

impl PgStore {
    fn transact_with(&self, relaxed: bool, job: TxJob, done: Done) {
        let pool = if relaxed { self.relaxed.clone() } else { self.pool.clone() };
        let work = move || {
            let mut job = Some(job);
            let outcome = PgStore::run_with(&pool, relaxed, &mut |tx| match job.take() {
                Some(j) => j(tx),
                None => Ok(()),
            });
            done(outcome);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(work);
            }
            Err(_) => work(),
        }
    }
}

impl Store for PgStore {
    fn transact(&self, job: TxJob, done: Done) {
        self.transact_with(false, job, done);
    }

    fn transact_relaxed(&self, job: TxJob, done: Done) {
        self.transact_with(true, job, done);
    }

    /// Reads run statement by statement (each sees what was committed when it ran): the domain reads
    /// what it then checks again inside its write transaction.
    fn read(&self, job: ReadJob<'_>) -> Result<()> {
        PgStore::run(&self.pool, true, &mut |tx| job(tx))
    }

    fn inline_reads(&self) -> bool {
        false
    }

    fn ready(&self) -> Result<()> {
        let mut conn = self.pool.get()?;
        let outcome = schema::check(&mut conn.client);
        self.pool.put(conn);
        outcome
    }

    fn compact(&self) -> Result<()> {
        // Nothing to do: no CVC is ever written here.
        Ok(())
    }

    fn bus(&self) -> Option<Arc<dyn super::Bus>> {
        Some(Arc::new(bus::PgBus { pool: self.pool.clone() }))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

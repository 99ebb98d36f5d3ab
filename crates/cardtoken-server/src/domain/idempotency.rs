//! Idempotency keys, with Stripe's semantics (`shared/contract.md` §2), in the operation's own
//! transaction: the record is checked, the change made and the response stored together, so a request
//! killed at any point left either nothing (a retry runs it) or everything with its response (a retry
//! replays it). Records belong to an account and mode (a rolled key keeps its predecessor's), hold a
//! keyed fingerprint of the request (never an unkeyed digest of a body that may carry card data), and
//! are purged after 24 hours.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::store::{self, IdempotencyRecord, Scope, StoreError, Tx};

use super::{Error, Services};

/// How long a stored response is replayed.
pub const RETENTION_SECS: i64 = 24 * 60 * 60;
pub const MAX_KEY_LEN: usize = 255;

/// An `Idempotency-Key` and the request's fingerprint (HMAC under a server key of its method, path and
/// body: see `Vault::idempotency_fingerprint`).
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: [u8; 32],
}

/// A response as stored, replayed byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub body: Vec<u8>,
}

/// An operation's answer: run now, or replayed from its record.
#[derive(Debug)]
pub enum Reply<T> {
    Fresh(Result<T, Error>),
    Replayed(Stored),
}

/// How the HTTP layer writes an outcome (the stored response must be the one sent).
pub type Render<T> = fn(&Result<T, Error>) -> Stored;

/// Who owns a key: the account and mode.
pub fn owner(scope: &Scope) -> String {
    format!("{}:{}", scope.account, scope.mode())
}

/// The keys of requests running in this process: a second request with a running key answers 409 at
/// once. Across instances, the transaction's lock on the key (PostgreSQL) does the same.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String)>>);

pub struct InFlightGuard<'a> {
    set: &'a InFlight,
    entry: (String, String),
}

impl InFlight {
    fn enter(&self, owner: &str, key: &str) -> Option<InFlightGuard<'_>> {
        let entry = (owner.to_string(), key.to_string());
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(entry.clone()).then(|| InFlightGuard { set: self, entry })
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.set.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.entry);
    }
}

pub fn in_use() -> Error {
    Error::Idempotency {
        in_use: true,
        code: "idempotency_key_in_use",
        message: "A request with this Idempotency-Key is still running. Retry once it has finished.",
    }
}

pub fn reused() -> Error {
    Error::Idempotency {
        in_use: false,
        code: "idempotency_key_reused",
        message:
            "This Idempotency-Key was already used with another endpoint or body. Use a new key for a new request.",
    }
}

enum Outcome<T> {
    Done(Result<T, Error>),
    Replay(Stored),
    Mismatch,
    InUse,
}

/// What an operation's closure answers: the domain outcome, or a storage failure (which rolls back).
pub type OpResult<T> = Result<Result<T, Error>, StoreError>;

/// Runs `op` in one transaction with the key's record: a stored response is replayed; otherwise `op`
/// runs and its response (unless the request never started) is stored with its change. `op` must decide
/// before it writes: a domain error it answers keeps nothing of what it did.
pub async fn run<T, F>(
    svc: &Services,
    scope: &Scope,
    idem: Option<Idempotency>,
    render: Render<T>,
    op: F,
) -> Reply<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> OpResult<T> + Send + 'static,
{
    run_prepared(svc, scope, idem, render, || async {}, move |(), tx| op(tx)).await
}

/// [`run`] for an operation that first asks someone outside the database (the processor): `prepare`
/// runs only once the key is held in this process and no committed record answers it, so a retry of a
/// request that finished is replayed without asking the processor again, and a duplicate sent while
/// the first still runs gets 409 before it asks. (Across instances, a duplicate that slips between the
/// check and the transaction is still settled by the transaction: one change, one stored response.)
pub async fn run_prepared<T, P, Prep, Fut, F>(
    svc: &Services,
    scope: &Scope,
    idem: Option<Idempotency>,
    render: Render<T>,
    prepare: Prep,
    op: F,
) -> Reply<T>
where
    T: Send + 'static,
    P: Send + 'static,
    Prep: FnOnce() -> Fut,
    Fut: std::future::Future<Output = P>,
    F: FnOnce(P, &mut dyn Tx) -> OpResult<T> + Send + 'static,
{
    let owner = owner(scope);
    let _guard = match &idem {
        Some(i) => match svc.in_flight.enter(&owner, &i.key) {
            Some(g) => Some(g),
            None => return Reply::Fresh(Err(in_use())),
        },
        None => None,
    };
    let now = svc.now();
    if let Some(i) = &idem {
        let (o, k) = (owner.clone(), i.key.clone());
        match store::read(&svc.store, move |tx| tx.get_idempotency(&o, &k)).await {
            Ok(Some(rec)) if rec.created + RETENTION_SECS > now => {
                return if rec.fingerprint == i.fingerprint {
                    Reply::Replayed(Stored { status: rec.status, body: rec.body })
                } else {
                    Reply::Fresh(Err(reused()))
                };
            }
            Ok(_) => {}
            Err(e) => return Reply::Fresh(Err(e.into())),
        }
    }
    let prepared = prepare().await;
    let failpoints = svc.failpoints.clone();
    let outcome = store::write(&svc.store, move |tx| {
        if let Some(i) = &idem {
            if !tx.lock_idempotency_key(&owner, &i.key)? {
                return Ok(Outcome::InUse);
            }
            if let Some(rec) = tx.get_idempotency(&owner, &i.key)? {
                if rec.created + RETENTION_SECS > now {
                    return Ok(if rec.fingerprint == i.fingerprint {
                        Outcome::Replay(Stored { status: rec.status, body: rec.body })
                    } else {
                        Outcome::Mismatch
                    });
                }
            }
        }
        let result = op(prepared, tx)?;
        failpoints.check("before_response_stored")?;
        if let Some(i) = &idem {
            if !matches!(&result, Err(e) if e.never_started()) {
                let stored = render(&result);
                let record = IdempotencyRecord {
                    fingerprint: i.fingerprint.to_vec(),
                    status: stored.status,
                    body: stored.body,
                    created: now,
                };
                tx.put_idempotency(&owner, &i.key, &record)?;
            }
        }
        failpoints.check("before_commit")?;
        Ok(Outcome::Done(result))
    })
    .await;
    // The commit is durable: a crash now loses only the answer, and a retry replays it.
    if outcome.is_ok() {
        if let Err(e) = svc.failpoints.check("after_commit") {
            return Reply::Fresh(Err(e.into()));
        }
    }
    match outcome {
        Err(e) => Reply::Fresh(Err(e.into())),
        Ok(Outcome::Done(result)) => Reply::Fresh(result),
        Ok(Outcome::Replay(stored)) => Reply::Replayed(stored),
        Ok(Outcome::Mismatch) => Reply::Fresh(Err(reused())),
        Ok(Outcome::InUse) => Reply::Fresh(Err(in_use())),
    }
}

/// Records kept from before fingerprints were keyed hold SHA-256 of the request: replaces each by the
/// keyed fingerprint of that digest (what `Vault::idempotency_fingerprint` computes too), so no unkeyed
/// digest stays in storage and the records still replay. Answers how many.
pub async fn rekey_legacy(svc: &Services) -> Result<usize, Error> {
    let vault = svc.vault.clone();
    let n = store::write(&svc.store, move |tx| {
        let legacy = tx.legacy_idempotency()?;
        for (owner, key, digest) in &legacy {
            tx.rekey_idempotency(owner, key, &vault.idempotency_mac(digest))?;
        }
        Ok(legacy.len())
    })
    .await?;
    if n > 0 {
        // No copy of the old digests may stay in a log.
        let store = svc.store.clone();
        tokio::task::spawn_blocking(move || store.compact()).await.map_err(Error::internal)??;
    }
    Ok(n)
}

impl<T> Reply<T> {
    /// The fresh outcome, if this was not a replay.
    pub fn fresh(&self) -> Option<&Result<T, Error>> {
        match self {
            Reply::Fresh(r) => Some(r),
            Reply::Replayed(_) => None,
        }
    }
}

/// Shared by everything that hands out `Arc<InFlight>`.
pub type SharedInFlight = Arc<InFlight>;

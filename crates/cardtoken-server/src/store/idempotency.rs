//! Idempotency records: a request's keyed fingerprint and the response it got, per (owner, key).

use super::Result;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// HMAC-SHA256, under a server key, of the request's method, path and body.
    pub fingerprint: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
    pub created: i64,
}

pub trait IdempotencyRepo {
    /// Takes the key for this transaction, or answers false if another transaction holds it now (a
    /// request with the same key running on another instance). SQLite's single writer needs no lock.
    fn lock_idempotency_key(&mut self, owner: &str, key: &str) -> Result<bool>;
    fn get_idempotency(&mut self, owner: &str, key: &str) -> Result<Option<IdempotencyRecord>>;
    /// Stores (or replaces) the record of a key.
    fn put_idempotency(&mut self, owner: &str, key: &str, record: &IdempotencyRecord) -> Result<()>;
    /// Deletes records made before `before`; answers how many.
    fn purge_idempotency(&mut self, before: i64) -> Result<usize>;
    /// Records migrated from before keyed fingerprints: (owner, key, unkeyed SHA-256).
    fn legacy_idempotency(&mut self) -> Result<Vec<(String, String, Vec<u8>)>>;
    /// Replaces a legacy record's unkeyed digest by its keyed fingerprint.
    fn rekey_idempotency(&mut self, owner: &str, key: &str, fingerprint: &[u8]) -> Result<()>;
}

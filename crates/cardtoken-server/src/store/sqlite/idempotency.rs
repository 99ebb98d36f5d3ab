use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::store::{IdempotencyRecord, IdempotencyRepo, Result};

impl IdempotencyRepo for SqliteTx<'_> {
    fn lock_idempotency_key(&mut self, _owner: &str, _key: &str) -> Result<bool> {
        // One writer, one transaction at a time: nothing else can hold the key.
        Ok(true)
    }

    fn get_idempotency(&mut self, owner: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, response, created FROM idempotency_keys WHERE owner = ?1 AND key = ?2",
            )?
            .query_row(params![owner, key], |r| {
                Ok(IdempotencyRecord { fingerprint: r.get(0)?, status: r.get(1)?, body: r.get(2)?, created: r.get(3)? })
            })
            .optional()?)
    }

    fn put_idempotency(&mut self, owner: &str, key: &str, rec: &IdempotencyRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (owner, key, fingerprint, legacy, status, response, created) \
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6) ON CONFLICT (owner, key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, legacy = 0, status = excluded.status, \
                 response = excluded.response, created = excluded.created",
            )?
            .execute(params![owner, key, rec.fingerprint, rec.status, rec.body, rec.created])?;
        Ok(())
    }

    fn purge_idempotency(&mut self, before: i64) -> Result<usize> {
        Ok(self.conn.prepare_cached("DELETE FROM idempotency_keys WHERE created < ?1")?.execute([before])?)
    }

    fn legacy_idempotency(&mut self) -> Result<Vec<(String, String, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT owner, key, fingerprint FROM idempotency_keys WHERE legacy = 1")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn rekey_idempotency(&mut self, owner: &str, key: &str, fingerprint: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE idempotency_keys SET fingerprint = ?3, legacy = 0 WHERE owner = ?1 AND key = ?2",
            )?
            .execute(params![owner, key, fingerprint])?;
        Ok(())
    }
}

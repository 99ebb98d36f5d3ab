use super::PgTx;
use crate::store::{IdempotencyRecord, IdempotencyRepo, Result};

impl IdempotencyRepo for PgTx<'_> {
    fn lock_idempotency_key(&mut self, owner: &str, key: &str) -> Result<bool> {
        // Held until this transaction ends: a request with the same key on another instance meanwhile
        // finds it taken (409) instead of waiting.
        let row = self.query_one(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || '|' || $2, 0))",
            &[&owner, &key],
        )?;
        Ok(row.get(0))
    }

    fn get_idempotency(&mut self, owner: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
        Ok(self
            .query_opt(
                "SELECT fingerprint, status, response, created FROM idempotency_keys WHERE owner = $1 AND key = $2",
                &[&owner, &key],
            )?
            .map(|r| {
                let status: i32 = r.get(1);
                IdempotencyRecord {
                    fingerprint: r.get(0),
                    status: u16::try_from(status).unwrap_or(500),
                    body: r.get(2),
                    created: r.get(3),
                }
            }))
    }

    fn put_idempotency(&mut self, owner: &str, key: &str, rec: &IdempotencyRecord) -> Result<()> {
        self.execute(
            "INSERT INTO idempotency_keys (owner, key, fingerprint, legacy, status, response, created) \
             VALUES ($1, $2, $3, false, $4, $5, $6) ON CONFLICT (owner, key) DO UPDATE SET \
             fingerprint = excluded.fingerprint, legacy = false, status = excluded.status, \
             response = excluded.response, created = excluded.created",
            &[&owner, &key, &rec.fingerprint, &i32::from(rec.status), &rec.body, &rec.created],
        )?;
        Ok(())
    }

    fn purge_idempotency(&mut self, before: i64) -> Result<usize> {
        Ok(self.execute("DELETE FROM idempotency_keys WHERE created < $1", &[&before])? as usize)
    }

    fn legacy_idempotency(&mut self) -> Result<Vec<(String, String, Vec<u8>)>> {
        Ok(self
            .query("SELECT owner, key, fingerprint FROM idempotency_keys WHERE legacy", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn rekey_idempotency(&mut self, owner: &str, key: &str, fingerprint: &[u8]) -> Result<()> {
        self.execute(
            "UPDATE idempotency_keys SET fingerprint = $3, legacy = false WHERE owner = $1 AND key = $2",
            &[&owner, &key, &fingerprint],
        )?;
        Ok(())
    }
}

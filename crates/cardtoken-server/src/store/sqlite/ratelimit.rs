use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::store::ratelimit::{after_taking, refilled};
use crate::store::{RateLimitRepo, Result};

impl SqliteTx<'_> {
    fn bucket(&mut self, key: &str, capacity: f64, per_sec: f64, now: f64) -> Result<f64> {
        let found: Option<(f64, f64)> = self
            .conn
            .prepare_cached("SELECT tokens, updated FROM rate_buckets WHERE key = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (tokens, updated) = found.unwrap_or((capacity, now));
        Ok(refilled(tokens, updated, capacity, per_sec, now))
    }

    fn take(
        &mut self,
        key: &str,
        capacity: f64,
        per_sec: f64,
        cost: f64,
        now: f64,
        force: bool,
    ) -> Result<f64> {
        let available = self.bucket(key, capacity, per_sec, now)?;
        let (left, wait) = after_taking(available, cost, per_sec, force);
        self.conn
            .prepare_cached(
                "INSERT INTO rate_buckets (key, tokens, updated) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
            )?
            .execute(params![key, left, now])?;
        Ok(wait)
    }
}

impl RateLimitRepo for SqliteTx<'_> {
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64> {
        self.take(key, capacity, per_sec, cost, now, false)
    }

    fn charge_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<()> {
        self.take(key, capacity, per_sec, cost, now, true).map(|_| ())
    }
}

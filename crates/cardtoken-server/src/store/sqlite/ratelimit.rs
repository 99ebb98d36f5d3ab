use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::store::{RateLimitRepo, Result};

impl RateLimitRepo for SqliteTx<'_> {
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64> {
        let found: Option<(f64, f64)> = self
            .conn
            .prepare_cached("SELECT tokens, updated FROM rate_buckets WHERE key = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (tokens, updated) = found.unwrap_or((capacity, now));
        let available = (tokens + (now - updated).max(0.0) * per_sec).min(capacity);
        let (left, wait) = if available >= cost {
            (available - cost, 0.0)
        } else {
            (available, if per_sec > 0.0 { (cost - available) / per_sec } else { f64::INFINITY })
        };
        self.conn
            .prepare_cached(
                "INSERT INTO rate_buckets (key, tokens, updated) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
            )?
            .execute(params![key, left, now])?;
        Ok(wait)
    }
}

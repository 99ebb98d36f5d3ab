use super::PgTx;
use crate::store::{RateLimitRepo, Result};

impl RateLimitRepo for PgTx<'_> {
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64> {
        // The row is locked until the transaction ends: instances take from one bucket in turn.
        self.execute(
            "INSERT INTO rate_buckets (key, tokens, updated) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            &[&key, &capacity, &now],
        )?;
        let row =
            self.query_one("SELECT tokens, updated FROM rate_buckets WHERE key = $1 FOR UPDATE", &[&key])?;
        let (tokens, updated): (f64, f64) = (row.get(0), row.get(1));
        let available = (tokens + (now - updated).max(0.0) * per_sec).min(capacity);
        let (left, wait) = if available >= cost {
            (available - cost, 0.0)
        } else {
            (available, if per_sec > 0.0 { (cost - available) / per_sec } else { f64::INFINITY })
        };
        self.execute(
            "UPDATE rate_buckets SET tokens = $2, updated = $3 WHERE key = $1",
            &[&key, &left, &now],
        )?;
        Ok(wait)
    }
}

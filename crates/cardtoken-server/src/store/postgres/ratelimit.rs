use super::PgTx;
use crate::store::ratelimit::{after_taking, refilled};
use crate::store::{RateLimitRepo, Result};

impl PgTx<'_> {
    fn take(
        &mut self,
        key: &str,
        capacity: f64,
        per_sec: f64,
        cost: f64,
        now: f64,
        force: bool,
    ) -> Result<f64> {
        // The row is locked until the transaction ends: instances take from one bucket in turn.
        self.execute(
            "INSERT INTO rate_buckets (key, tokens, updated) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            &[&key, &capacity, &now],
        )?;
        let row =
            self.query_one("SELECT tokens, updated FROM rate_buckets WHERE key = $1 FOR UPDATE", &[&key])?;
        let available = refilled(row.get(0), row.get(1), capacity, per_sec, now);
        let (left, wait) = after_taking(available, cost, per_sec, force);
        self.execute(
            "UPDATE rate_buckets SET tokens = $2, updated = $3 WHERE key = $1",
            &[&key, &left, &now],
        )?;
        Ok(wait)
    }
}

impl RateLimitRepo for PgTx<'_> {
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64> {
        self.take(key, capacity, per_sec, cost, now, false)
    }

    fn charge_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<()> {
        self.take(key, capacity, per_sec, cost, now, true).map(|_| ())
    }

    fn peek_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, now: f64) -> Result<f64> {
        let found = self.query("SELECT tokens, updated FROM rate_buckets WHERE key = $1", &[&key])?;
        Ok(found.first().map_or(capacity, |row| refilled(row.get(0), row.get(1), capacity, per_sec, now)))
    }
}

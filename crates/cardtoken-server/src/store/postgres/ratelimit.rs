use super::PgTx;
use crate::store::{RateLimitRepo, Result};

impl PgTx<'_> {
    /// One statement, atomic on its own (so it may run outside a transaction, on the relaxed
    /// connections): the bucket refilled to `now`, `cost` taken if it fits or `force`d, and whether it was.
    fn take(
        &mut self,
        key: &str,
        capacity: f64,
        per_sec: f64,
        cost: f64,
        now: f64,
        force: bool,
    ) -> Result<f64> {
        let row = self.query_one(
            "WITH p AS (SELECT $1::text AS key, $2::float8 AS cap, $3::float8 AS now, $4::float8 AS cost, \
                    $5::float8 AS rate, $6::bool AS force) \
             INSERT INTO rate_buckets AS b (key, tokens, updated, taken) \
             SELECT key, CASE WHEN cap >= cost OR force THEN cap - cost ELSE cap END, now, cap >= cost OR force \
             FROM p \
             ON CONFLICT (key) DO UPDATE SET \
               tokens = (SELECT CASE WHEN a >= p.cost OR p.force THEN a - p.cost ELSE a END \
                         FROM p, LATERAL (SELECT LEAST(p.cap, b.tokens + GREATEST(p.now - b.updated, 0) * p.rate) AS a) r), \
               updated = EXCLUDED.updated, \
               taken = (SELECT LEAST(p.cap, b.tokens + GREATEST(p.now - b.updated, 0) * p.rate) >= p.cost OR p.force \
                        FROM p) \
             RETURNING tokens, taken",
            &[&key, &capacity, &now, &cost, &per_sec, &force],
        )?;
        let (left, taken): (f64, bool) = (row.get(0), row.get(1));
        Ok(if taken {
            0.0
        } else if per_sec > 0.0 {
            (cost - left) / per_sec
        } else {
            f64::INFINITY
        })
    }
}

impl RateLimitRepo for PgTx<'_> {
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64> {
        self.take(key, capacity, per_sec, cost, now, false)
    }

    fn charge_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<()> {
        self.take(key, capacity, per_sec, cost, now, true).map(|_| ())
    }
}

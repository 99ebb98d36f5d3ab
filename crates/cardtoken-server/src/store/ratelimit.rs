//! Token buckets shared by every instance (the rate limits, when several instances run).

use super::Result;

pub trait RateLimitRepo {
    /// Takes `cost` from the bucket `key` (capacity `capacity`, refilled at `per_sec`) at `now` (seconds,
    /// fractional); answers the seconds to wait before `cost` would fit, 0 when it was taken. A negative
    /// cost gives tokens back (never beyond the capacity).
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64>;
    /// Takes `cost` even when the bucket holds less, into debt (a refused card's price).
    fn charge_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<()>;
}

/// A bucket's tokens at `now`, from what was stored at `updated`.
pub fn refilled(tokens: f64, updated: f64, capacity: f64, per_sec: f64, now: f64) -> f64 {
    (tokens + (now - updated).max(0.0) * per_sec).min(capacity)
}

/// What is left after asking `cost` of `available` (all of it when `force`), and the wait (0 if taken).
pub fn after_taking(available: f64, cost: f64, per_sec: f64, force: bool) -> (f64, f64) {
    if available >= cost || force {
        (available - cost, 0.0)
    } else {
        (available, if per_sec > 0.0 { (cost - available) / per_sec } else { f64::INFINITY })
    }
}

//! Token buckets shared by every instance (the rate limits' ceilings).

use super::Result;

pub trait RateLimitRepo {
    /// Takes `cost` from the bucket `key` (capacity `capacity`, refilled at `per_sec`) at `now` (seconds,
    /// fractional); answers the seconds to wait before `cost` would fit, 0 when it was taken.
    fn take_tokens(&mut self, key: &str, capacity: f64, per_sec: f64, cost: f64, now: f64) -> Result<f64>;
}

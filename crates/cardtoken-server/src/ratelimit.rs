//! The card-testing defence: at most `limit` tokenizations per publishable key per minute (a fixed
//! window on the injected clock). Over it, 429 `rate_limit_error`; the request is not stored.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(limit_per_minute: u32) -> RateLimiter {
        RateLimiter { limit: limit_per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a request by `key` at `now`; false when it is over the limit.
    pub fn allow(&self, key: &str, now: i64) -> bool {
        let window = now.div_euclid(60);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(key.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1 <= self.limit
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_holds_per_key_and_resets_each_minute() {
        let l = super::RateLimiter::new(2);
        assert!(l.allow("a", 60) && l.allow("a", 61) && !l.allow("a", 62));
        assert!(l.allow("b", 62), "another key has its own budget");
        assert!(l.allow("a", 120), "a new minute, a new budget");
    }
}

//! Time, injected: the server asks a `Clock`, so tests can move it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cardtoken_types::YearMonth;

pub trait Clock: Send + Sync + 'static {
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }
}

/// A clock that tests set and advance.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The UTC calendar month of a Unix time (Howard Hinnant's days-to-civil).
pub fn year_month(unix: i64) -> YearMonth {
    let days = unix.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    YearMonth::new(year.clamp(0, 9999) as u16, month as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_map_to_utc_months() {
        assert_eq!(year_month(0), YearMonth::new(1970, 1));
        assert_eq!(year_month(1_796_083_199), YearMonth::new(2026, 11)); // 2026-11-30T23:59:59Z
        assert_eq!(year_month(1_796_083_200), YearMonth::new(2026, 12));
        assert_eq!(year_month(951_782_400), YearMonth::new(2000, 2)); // 2000-02-29
    }
}

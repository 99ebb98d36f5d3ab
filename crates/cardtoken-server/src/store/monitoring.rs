//! Monitoring's shared state: each instance's buckets of counts, the alert watches, the alerts.

use super::{Result, Scope};

/// One instance's counts for one account and mode over one bucket of time (`data`: JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBucket {
    pub instance: String,
    pub account_id: String,
    pub livemode: bool,
    /// Seconds the bucket spans.
    pub width: i64,
    pub start: i64,
    pub data: String,
}

/// The state of one alert watch (baseline, streaks, the open alert), as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredWatch {
    pub account_id: String,
    pub livemode: bool,
    pub metric: String,
    pub state: String,
}

pub trait MonitorRepo {
    /// Writes (or replaces) buckets, each keyed by (instance, account, mode, width, start).
    fn put_buckets(&mut self, buckets: &[StoredBucket]) -> Result<()>;
    /// Every instance's buckets of `width` from `from` on, for one scope or all.
    fn buckets(&mut self, scope: Option<&Scope>, width: i64, from: i64) -> Result<Vec<StoredBucket>>;
    /// Deletes buckets of `width` older than `before`.
    fn prune_buckets(&mut self, width: i64, before: i64) -> Result<usize>;
    /// Takes the evaluation of time slot `slot` for this instance; false if another instance has.
    fn claim_evaluation(&mut self, slot: i64) -> Result<bool>;
    fn watches(&mut self) -> Result<Vec<StoredWatch>>;
    fn put_watch(&mut self, watch: &StoredWatch) -> Result<()>;
    /// Alerts (JSON), newest first, of one scope.
    fn alerts(&mut self, scope: &Scope, limit: usize) -> Result<Vec<String>>;
    /// Writes (or replaces) an alert by id.
    fn put_alert(&mut self, scope: &Scope, id: &str, raised_at: i64, body: &str) -> Result<()>;
}

//! Monitoring: Prometheus metrics (`/metrics`, each instance its own), rolling windows per account and
//! mode (the last hour at 10 s resolution, the last day at 5 min) so the dashboard works with no
//! Prometheus, and anomaly alerts on the authorization success rate, p95 latency and 5xx rate.
//!
//! Every instance counts into its own buckets and writes them to storage each bucket (and before it is
//! read); the dashboard and the alerts read the sum over instances, so they see the whole service. One
//! instance evaluates the alerts of each time slot (whoever claims it first), from the watches' state
//! kept in storage.
//!
//! Each alert compares the last minute against its own baseline, an exponentially weighted mean and
//! variance (EWMA) of earlier minutes: it is raised when the z-score passes 3 *and* an absolute floor is
//! crossed (so a quiet, stable service is not paged for noise) on two evaluations in a row, and cleared
//! after three evaluations back inside (hysteresis). The baseline only learns from normal evaluations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::{self, Scope, StoredBucket, StoredWatch};

use super::events::new_event;
use super::{Error, Services};

/// Latency histogram bounds, in milliseconds (the last bucket is everything above).
const LATENCY_BOUNDS_MS: [f64; 12] =
    [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, f64::MAX];
/// How many fine buckets make up "the last minute" when the resolution is 10 s.
const EVALUATION_SPAN_SECS: i64 = 60;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Bucket {
    pub start: i64,
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    latency: [u64; 12],
    pub authorizations: u64,
    pub authorizations_succeeded: u64,
    pub declines: BTreeMap<String, u64>,
    pub webhooks_delivered: u64,
    pub webhooks_failed: u64,
    pub tokens: u64,
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        for (a, b) in self.latency.iter_mut().zip(other.latency) {
            *a += b;
        }
        self.authorizations += other.authorizations;
        self.authorizations_succeeded += other.authorizations_succeeded;
        for (k, v) in &other.declines {
            *self.declines.entry(k.clone()).or_default() += v;
        }
        self.webhooks_delivered += other.webhooks_delivered;
        self.webhooks_failed += other.webhooks_failed;
        self.tokens += other.tokens;
    }

    /// The latency percentile `q` (0–1), as the upper bound of its histogram bucket, in ms.
    pub fn latency_percentile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(LATENCY_BOUNDS_MS[i].min(20_000.0));
            }
        }
        None
    }
}

/// What an alert watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    AuthorizationSuccessRate,
    P95LatencyMs,
    ServerErrorRate,
}

impl Metric {
    const ALL: [Metric; 3] =
        [Metric::AuthorizationSuccessRate, Metric::P95LatencyMs, Metric::ServerErrorRate];

    /// The value over the span and how many observations it rests on, if there was enough traffic.
    fn measure(self, span: &Bucket) -> Option<(f64, u64)> {
        match self {
            Metric::AuthorizationSuccessRate => (span.authorizations >= 10).then(|| {
                (span.authorizations_succeeded as f64 / span.authorizations as f64, span.authorizations)
            }),
            Metric::P95LatencyMs => (span.requests >= 20)
                .then(|| span.latency_percentile(0.95).map(|v| (v, span.requests)))
                .flatten(),
            Metric::ServerErrorRate => (span.requests >= 20)
                .then(|| (span.server_errors as f64 / span.requests as f64, span.requests)),
        }
    }

    /// How far `value` is from the baseline, in standard deviations. For rates the deviation includes the
    /// sampling error of `n` observations (a binomial's √(p(1−p)/n)): one error among 48 requests is noise.
    fn z(self, value: f64, n: u64, b: &Baseline) -> f64 {
        // The rate whose sampling error counts: never below 1% (errors) / 5% (declines), so that a baseline
        // of almost no errors does not make one stray error look like an outage.
        let rate = |floor: f64| {
            let p = b.mean.clamp(floor, 1.0 - floor);
            p * (1.0 - p) / n.max(1) as f64
        };
        let sampling = match self {
            Metric::P95LatencyMs => 0.0,
            Metric::ServerErrorRate => rate(0.01),
            Metric::AuthorizationSuccessRate => rate(0.05),
        };
        let min = self.min_std();
        (value - b.mean) / (b.variance + sampling + min * min).sqrt()
    }

    /// Whether `value` is bad: beyond 3 standard deviations in the bad direction, past the floor, and
    /// (for rates) resting on at least five bad events, so that a chance cluster of two or three in a
    /// quiet minute is not an incident.
    fn anomalous(self, value: f64, n: u64, b: &Baseline) -> bool {
        let z = self.z(value, n, b);
        let bad_events = |rate: f64| rate * n as f64 >= 4.5;
        match self {
            Metric::AuthorizationSuccessRate => z < -3.0 && value < 0.9 && bad_events(1.0 - value),
            Metric::P95LatencyMs => z > 3.0 && value > 300.0,
            Metric::ServerErrorRate => z > 3.0 && value > 0.02 && bad_events(value),
        }
    }

    /// Whether `value` is back to normal (tighter than `anomalous`, so alerts do not flap).
    fn normal(self, value: f64, n: u64, b: &Baseline) -> bool {
        let z = self.z(value, n, b);
        match self {
            Metric::AuthorizationSuccessRate => z > -1.5 || value >= 0.95,
            Metric::P95LatencyMs => z < 1.5 || value <= 200.0,
            Metric::ServerErrorRate => z < 1.5 || value <= 0.01,
        }
    }

    /// Noise below which a change does not count (a perfectly steady baseline has no variance).
    fn min_std(self) -> f64 {
        match self {
            Metric::AuthorizationSuccessRate => 0.02,
            Metric::P95LatencyMs => 25.0,
            Metric::ServerErrorRate => 0.005,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::AuthorizationSuccessRate => "authorization success rate",
            Metric::P95LatencyMs => "p95 latency",
            Metric::ServerErrorRate => "5xx rate",
        }
    }
}

/// EWMA mean and variance.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub mean: f64,
    pub variance: f64,
    pub samples: u32,
}

impl Baseline {
    const ALPHA: f64 = 0.1;
    /// Evaluations to learn from before judging.
    const WARM_UP: u32 = 6;

    /// Learns `x` with a weight (1 for a normal observation, less for a suspicious one).
    fn learn(&mut self, x: f64, weight: f64) {
        if self.samples == 0 {
            self.mean = x;
            self.variance = 0.0;
        } else {
            let alpha = Self::ALPHA * weight;
            let delta = x - self.mean;
            self.mean += alpha * delta;
            self.variance = (1.0 - alpha) * (self.variance + alpha * delta * delta);
        }
        self.samples += 1;
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alert {
    /// `alr_…`
    pub id: String,
    pub object: String,
    pub metric: Metric,
    /// `open` or `cleared`
    pub status: String,
    #[serde(default)]
    pub livemode: bool,
    pub message: String,
    /// The value that raised it, and the baseline then.
    pub value: f64,
    pub baseline: f64,
    pub raised_at: i64,
    pub cleared_at: Option<i64>,
}

/// One metric's alerting state for one account and mode.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Watch {
    baseline: Baseline,
    bad_streak: u32,
    good_streak: u32,
    open: Option<Alert>,
}

impl Watch {
    /// Judges one evaluation's value: raises after two anomalous evaluations in a row, clears after
    /// three normal ones; the baseline learns only from normal evaluations.
    fn judge(&mut self, metric: Metric, value: f64, n: u64, livemode: bool, now: i64) -> Option<AlertChange> {
        let warm = self.baseline.samples >= Baseline::WARM_UP;
        if self.open.is_none() {
            if warm && metric.anomalous(value, n, &self.baseline) {
                self.bad_streak += 1;
                if self.bad_streak >= 2 {
                    let alert = Alert {
                        id: crate::ids::new_id("alr").unwrap_or_else(|_| format!("alr_{now}")),
                        object: "alert".to_string(),
                        metric,
                        status: "open".to_string(),
                        livemode,
                        message: format!(
                            "The {} is {} against a baseline of {}.",
                            metric.name(),
                            show(metric, value),
                            show(metric, self.baseline.mean)
                        ),
                        value,
                        baseline: self.baseline.mean,
                        raised_at: now,
                        cleared_at: None,
                    };
                    self.open = Some(alert.clone());
                    self.good_streak = 0;
                    return Some(AlertChange::Raised(alert));
                }
            } else {
                self.bad_streak = 0;
                // A suspicious value (2–3 standard deviations out) teaches the baseline slowly, so the
                // start of an incident does not widen the baseline enough to hide the incident itself;
                // a lasting, gentle drift is still learnt.
                let weight = if !warm || metric.z(value, n, &self.baseline).abs() < 2.0 { 1.0 } else { 0.25 };
                self.baseline.learn(value, weight);
            }
        } else if metric.normal(value, n, &self.baseline) {
            self.good_streak += 1;
            if self.good_streak >= 3 {
                self.bad_streak = 0;
                self.baseline.learn(value, 1.0);
                if let Some(mut alert) = self.open.take() {
                    alert.status = "cleared".to_string();
                    alert.cleared_at = Some(now);
                    return Some(AlertChange::Cleared(alert));
                }
            }
        } else {
            self.good_streak = 0;
        }
        None
    }
}

/// An alert raised or cleared by an evaluation.
#[derive(Clone, Debug)]
pub enum AlertChange {
    Raised(Alert),
    Cleared(Alert),
}

fn show(metric: Metric, v: f64) -> String {
    match metric {
        Metric::P95LatencyMs => format!("{v:.0} ms"),
        _ => format!("{:.1}%", v * 100.0),
    }
}

/// The last complete evaluation span before `now` (the current bucket is still filling): from, until.
fn evaluation_span(now: i64, resolution: i64) -> (i64, i64) {
    let span_secs = (EVALUATION_SPAN_SECS / 10 * resolution).max(resolution * 6);
    let end = now.div_euclid(resolution) * resolution;
    (end - span_secs, end)
}

/// Evaluates every metric of one scope over `span`; answers what was raised or cleared.
fn evaluate_scope(
    watches: &mut BTreeMap<Metric, Watch>,
    span: &Bucket,
    livemode: bool,
    now: i64,
) -> Vec<AlertChange> {
    let mut changes = Vec::new();
    for metric in Metric::ALL {
        let Some((value, n)) = metric.measure(span) else { continue };
        if let Some(c) = watches.entry(metric).or_default().judge(metric, value, n, livemode, now) {
            changes.push(c);
        }
    }
    changes
}

/// How a payment attempt went, for the success rate and the decline counts.
pub enum Outcome<'a> {
    Succeeded,
    Declined(&'a str),
}

type BucketKey = (Scope, i64, i64);

/// This instance's counters: Prometheus (its `/metrics`), and its share of the windows, written to storage.
pub struct Monitor {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    resolution: i64,
    instance: String,
    /// (scope, width, start) → this instance's counts; `true` while not yet written.
    local: Mutex<HashMap<BucketKey, (Bucket, bool)>>,
}

/// The two windows: (bucket width, how many buckets are kept).
fn windows(resolution: i64) -> [(i64, usize); 2] {
    [(resolution, 360), (resolution * 30, 288)]
}

impl Monitor {
    /// `resolution`: seconds per fine bucket (10 in production; tests shorten it).
    pub fn new(resolution: i64, instance: &str) -> Monitor {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BOUNDS_MS[..11].iter().map(|ms| ms / 1000.0).collect::<Vec<_>>())
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        Monitor {
            recorder,
            handle,
            resolution: resolution.max(1),
            instance: instance.to_string(),
            local: Mutex::new(HashMap::new()),
        }
    }

    pub fn resolution(&self) -> i64 {
        self.resolution
    }

    fn count(&self, scope: &Scope, now: i64, f: impl Fn(&mut Bucket)) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        for (width, _) in windows(self.resolution) {
            let start = now.div_euclid(width) * width;
            let entry = local
                .entry((scope.clone(), width, start))
                .or_insert_with(|| (Bucket { start, ..Bucket::default() }, true));
            f(&mut entry.0);
            entry.1 = true;
        }
    }

    /// Counts an API request. `method` and `route` must come from a bounded set (the router's templates,
    /// known methods): they are label values.
    pub fn record_request(
        &self,
        scope: Option<&Scope>,
        now: i64,
        method: &str,
        route: &str,
        status: u16,
        latency_ms: f64,
    ) {
        metrics::with_local_recorder(&self.recorder, || {
            let labels = [
                ("method", method.to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ];
            metrics::counter!("cardtoken_http_requests_total", &labels).increment(1);
            metrics::histogram!("cardtoken_http_request_duration_seconds", "route" => route.to_string())
                .record(latency_ms / 1000.0);
        });
        let Some(scope) = scope else { return };
        let slot = LATENCY_BOUNDS_MS.iter().position(|b| latency_ms <= *b).unwrap_or(11);
        self.count(scope, now, |b| {
            b.requests += 1;
            b.client_errors += u64::from((400..500).contains(&status));
            b.server_errors += u64::from(status >= 500);
            b.latency[slot] += 1;
        });
    }

    pub fn record_payment(&self, scope: &Scope, now: i64, outcome: Outcome<'_>) {
        let (label, decline) = match outcome {
            Outcome::Succeeded => ("succeeded", None),
            Outcome::Declined(code) => ("declined", Some(code)),
        };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_payment_authorizations_total", "outcome" => label,
                "decline_code" => decline.unwrap_or("").to_string())
            .increment(1);
        });
        self.count(scope, now, |b| {
            b.authorizations += 1;
            match decline {
                None => b.authorizations_succeeded += 1,
                Some(code) => *b.declines.entry(code.to_string()).or_default() += 1,
            }
        });
    }

    pub fn record_webhook(&self, scope: &Scope, now: i64, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_webhook_deliveries_total", "result" => result).increment(1);
        });
        self.count(scope, now, |b| {
            if delivered {
                b.webhooks_delivered += 1;
            } else {
                b.webhooks_failed += 1;
            }
        });
    }

    /// A token made; `encrypted`: its card came as a `card_jwe` (the `sent` label, so operators see how
    /// many cards still arrive in clear).
    pub fn record_token(&self, scope: &Scope, now: i64, encrypted: bool) {
        let sent = if encrypted { "encrypted" } else { "clear" };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_tokens_created_total", "mode" => scope.mode(), "sent" => sent)
                .increment(1);
        });
        self.count(scope, now, |b| b.tokens += 1);
    }

    /// An authorization asked of the processor, with the token's CVC (from this instance or the one
    /// holding it) or without (expired, or its holder gone).
    pub fn record_cvc(&self, sent: bool) {
        let cvc = if sent { "sent" } else { "missing" };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_authorizations_cvc_total", "cvc" => cvc).increment(1);
        });
    }

    /// The Prometheus text format (this instance's counters); `held_cvcs`: how many CVCs it holds.
    pub fn render(&self, open_alerts: usize, held_cvcs: usize) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::gauge!("cardtoken_alerts_open").set(open_alerts as f64);
            metrics::gauge!("cardtoken_cvcs_held").set(held_cvcs as f64);
        });
        self.handle.render()
    }

    /// The buckets not yet written; buckets past their window's current one are forgotten once written.
    fn take_dirty(&self, now: i64) -> Vec<StoredBucket> {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for ((scope, width, start), (bucket, dirty)) in local.iter_mut() {
            if *dirty {
                out.push(StoredBucket {
                    instance: self.instance.clone(),
                    account_id: scope.account.clone(),
                    livemode: scope.livemode,
                    width: *width,
                    start: *start,
                    data: serde_json::to_string(bucket).unwrap_or_default(),
                });
                *dirty = false;
            }
        }
        local.retain(|(_, width, start), (_, dirty)| *dirty || *start + *width > now - *width);
        out
    }
}

/// Writes this instance's new counts to storage.
pub async fn flush(svc: &Services) -> Result<(), Error> {
    let dirty = svc.monitor.take_dirty(svc.now());
    if !dirty.is_empty() {
        store::write(&svc.store, move |tx| tx.put_buckets(&dirty)).await?;
    }
    Ok(())
}

/// Every instance's buckets of `width` from `from` on, summed per (scope, start).
async fn merged(
    svc: &Services,
    scope: Option<Scope>,
    width: i64,
    from: i64,
) -> Result<BTreeMap<(Scope, i64), Bucket>, Error> {
    let rows = store::read(&svc.store, move |tx| tx.buckets(scope.as_ref(), width, from)).await?;
    let mut out: BTreeMap<(Scope, i64), Bucket> = BTreeMap::new();
    for row in rows {
        let Ok(b) = serde_json::from_str::<Bucket>(&row.data) else { continue };
        let entry = out
            .entry((Scope::new(row.account_id, row.livemode), row.start))
            .or_insert_with(|| Bucket { start: row.start, ..Bucket::default() });
        entry.add(&b);
    }
    Ok(out)
}

/// The dashboard's series for one account and mode: `hour` (fine buckets) or `day` (coarse), summed over
/// every instance.
pub async fn series(svc: &Services, scope: &Scope, day: bool) -> Result<Value, Error> {
    flush(svc).await?;
    let now = svc.now();
    let (width, keep) = windows(svc.monitor.resolution)[usize::from(day)];
    let from = now.div_euclid(width) * width - width * (keep as i64 - 1);
    let buckets = merged(svc, Some(scope.clone()), width, from).await?;
    let mut total = Bucket::default();
    let points: Vec<Value> = buckets
        .values()
        .map(|b| {
            total.add(b);
            json!({
                "t": b.start,
                "requests": b.requests,
                "success_rate": (b.authorizations > 0).then(|| b.authorizations_succeeded as f64 / b.authorizations as f64),
                "p50": b.latency_percentile(0.5), "p95": b.latency_percentile(0.95), "p99": b.latency_percentile(0.99),
                "client_errors": b.client_errors, "server_errors": b.server_errors,
                "declines": b.declines, "webhooks_delivered": b.webhooks_delivered,
                "webhooks_failed": b.webhooks_failed, "tokens": b.tokens,
            })
        })
        .collect();
    Ok(json!({
        "resolution": width,
        "points": points,
        "totals": {
            "requests": total.requests, "authorizations": total.authorizations,
            "authorizations_succeeded": total.authorizations_succeeded, "declines": total.declines,
            "server_errors": total.server_errors, "client_errors": total.client_errors,
            "webhooks_delivered": total.webhooks_delivered, "webhooks_failed": total.webhooks_failed,
            "tokens": total.tokens,
        },
    }))
}

/// How many alerts are open now, over every account.
pub async fn open_alerts(svc: &Services) -> Result<usize, Error> {
    let watches = store::read(&svc.store, |tx| tx.watches()).await?;
    Ok(watches
        .iter()
        .filter_map(|w| serde_json::from_str::<Watch>(&w.state).ok())
        .filter(|w| w.open.is_some())
        .count())
}

/// An account's alerts: open ones first, then recently cleared ones.
pub async fn alerts(svc: &Services, scope: &Scope) -> Result<Vec<Alert>, Error> {
    let scope = scope.clone();
    let bodies = store::read(&svc.store, move |tx| tx.alerts(&scope, 50)).await?;
    let mut all: Vec<Alert> = bodies.iter().filter_map(|b| serde_json::from_str(b).ok()).collect();
    all.sort_by_key(|a| (a.status != "open", -a.raised_at));
    Ok(all)
}

/// Judges the last minute of every account and mode against its baselines, once per time slot across
/// every instance (the first to claim the slot does it), and writes each raised or cleared alert with its
/// event. Answers how many alerts changed.
pub async fn evaluate_and_emit(svc: &Services) -> Result<usize, Error> {
    flush(svc).await?;
    let now = svc.now();
    let resolution = svc.monitor.resolution;
    let slot = now.div_euclid(resolution);
    if !store::write(&svc.store, move |tx| tx.claim_evaluation(slot)).await? {
        return Ok(0);
    }
    let (from, until) = evaluation_span(now, resolution);
    let mut spans: BTreeMap<Scope, Bucket> = BTreeMap::new();
    for ((scope, start), b) in merged(svc, None, resolution, from).await? {
        if start < until {
            spans.entry(scope).or_default().add(&b);
        }
    }
    if spans.is_empty() {
        return Ok(0);
    }
    let stored = store::read(&svc.store, |tx| tx.watches()).await?;
    let mut watches: BTreeMap<Scope, BTreeMap<Metric, Watch>> = BTreeMap::new();
    for w in stored {
        let (Ok(metric), Ok(watch)) = (
            serde_json::from_value::<Metric>(Value::String(w.metric.clone())),
            serde_json::from_str::<Watch>(&w.state),
        ) else {
            continue;
        };
        watches.entry(Scope::new(w.account_id, w.livemode)).or_default().insert(metric, watch);
    }
    let mut rows = Vec::new();
    let mut alerts = Vec::new();
    let mut events = Vec::new();
    for (scope, span) in &spans {
        let scope_watches = watches.entry(scope.clone()).or_default();
        for change in evaluate_scope(scope_watches, span, scope.livemode, now) {
            let (kind, alert) = match &change {
                AlertChange::Raised(a) => {
                    tracing::warn!(alert = %a.id, account = %scope.account, metric = ?a.metric, value = a.value,
                        baseline = a.baseline, "alert raised");
                    ("alert.raised", a)
                }
                AlertChange::Cleared(a) => {
                    tracing::info!(alert = %a.id, account = %scope.account, metric = ?a.metric, "alert cleared");
                    ("alert.cleared", a)
                }
            };
            events.push(new_event(scope, kind, &alert.id, alert, now)?);
            alerts.push((scope.clone(), alert.clone()));
        }
        for (metric, watch) in scope_watches.iter() {
            rows.push(StoredWatch {
                account_id: scope.account.clone(),
                livemode: scope.livemode,
                metric: serde_json::to_value(metric)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                state: serde_json::to_string(watch).map_err(Error::internal)?,
            });
        }
    }
    let n = alerts.len();
    store::write(&svc.store, move |tx| {
        for w in &rows {
            tx.put_watch(w)?;
        }
        for (scope, alert) in &alerts {
            let body = serde_json::to_string(alert).map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
            tx.put_alert(scope, &alert.id, alert.raised_at, &body)?;
        }
        tx.insert_events(&events)?;
        // Old buckets go: the fine window keeps an hour, the coarse a day.
        for (width, keep) in windows(resolution) {
            tx.prune_buckets(width, now - width * (keep as i64 + 1))?;
        }
        Ok(())
    })
    .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test traffic.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// One account's windows and watches, in memory: the evaluation the server runs, without storage.
    #[derive(Default)]
    struct Local {
        buckets: BTreeMap<i64, Bucket>,
        watches: BTreeMap<Metric, Watch>,
        history: Vec<Alert>,
    }

    impl Local {
        fn bucket(&mut self, at: i64) -> &mut Bucket {
            let start = at.div_euclid(10) * 10;
            self.buckets.entry(start).or_insert_with(|| Bucket { start, ..Bucket::default() })
        }

        fn evaluate(&mut self, now: i64) -> Vec<AlertChange> {
            let (from, until) = evaluation_span(now, 10);
            let mut span = Bucket::default();
            for b in self.buckets.range(from..until).map(|(_, b)| b) {
                span.add(b);
            }
            let changes = evaluate_scope(&mut self.watches, &span, false, now);
            for c in &changes {
                let (AlertChange::Raised(a) | AlertChange::Cleared(a)) = c;
                self.history.retain(|h| h.id != a.id);
                self.history.insert(0, a.clone());
            }
            changes
        }
    }

    /// Ten seconds of traffic: `n` payments succeeding with probability `success`, `n` requests of
    /// `latency` ms (±30%), a share `errors` of them 5xx.
    fn traffic(m: &mut Local, t: i64, rng: &mut Lcg, n: usize, success: f64, latency: f64, errors: f64) {
        for i in 0..n {
            let at = t + (i as i64 % 10);
            let succeeded = rng.next() < success;
            let status = if rng.next() < errors { 500 } else { 200 };
            let ms = latency * (0.7 + 0.6 * rng.next());
            let slot = LATENCY_BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(11);
            let b = m.bucket(at);
            b.authorizations += 1;
            if succeeded {
                b.authorizations_succeeded += 1;
            } else {
                *b.declines.entry("insufficient_funds".into()).or_default() += 1;
            }
            b.requests += 1;
            b.server_errors += u64::from(status >= 500);
            b.latency[slot] += 1;
        }
    }

    fn run(
        m: &mut Local,
        rng: &mut Lcg,
        from: i64,
        minutes: i64,
        success: f64,
        latency: f64,
        errors: f64,
    ) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        for step in 0..minutes * 6 {
            let t = from + step * 10;
            traffic(m, t, rng, 8, success, latency, errors);
            changes.extend(m.evaluate(t + 10));
        }
        changes
    }

    #[test]
    fn steady_mixed_traffic_raises_nothing() {
        for seed in 1..=20 {
            let mut m = Local::default();
            let mut rng = Lcg(seed);
            // 85% success with noise, 40 ms latency (±30%), 0.5% server errors, for three hours
            let changes = run(&mut m, &mut rng, 1_000_000, 180, 0.85, 40.0, 0.005);
            assert!(changes.is_empty(), "seed {seed}: {changes:?}");
            assert!(m.history.is_empty());
        }
    }

    #[test]
    fn a_burst_of_declines_is_raised_then_cleared() {
        let mut m = Local::default();
        let mut rng = Lcg(11);
        assert!(run(&mut m, &mut rng, 1_000_000, 20, 0.9, 40.0, 0.0).is_empty());
        let raised = run(&mut m, &mut rng, 1_000_000 + 1200, 3, 0.3, 40.0, 0.0);
        assert!(
            matches!(raised.as_slice(), [AlertChange::Raised(a)] if a.metric == Metric::AuthorizationSuccessRate),
            "{raised:?}"
        );
        assert_eq!(m.history[0].status, "open");
        let cleared = run(&mut m, &mut rng, 1_000_000 + 1380, 5, 0.9, 40.0, 0.0);
        assert!(
            matches!(cleared.as_slice(), [AlertChange::Cleared(a)] if a.metric == Metric::AuthorizationSuccessRate),
            "{cleared:?}"
        );
        assert_eq!(m.history[0].status, "cleared");
    }

    #[test]
    fn slow_responses_and_server_errors_are_raised() {
        let mut m = Local::default();
        let mut rng = Lcg(3);
        run(&mut m, &mut rng, 1_000_000, 20, 0.9, 40.0, 0.0);
        let slow = run(&mut m, &mut rng, 1_000_000 + 1200, 3, 0.9, 900.0, 0.0);
        assert!(
            slow.iter().any(|c| matches!(c, AlertChange::Raised(a) if a.metric == Metric::P95LatencyMs)),
            "{slow:?}"
        );
        let errors = run(&mut m, &mut rng, 1_000_000 + 1380, 3, 0.9, 900.0, 0.3);
        assert!(
            errors.iter().any(|c| matches!(c, AlertChange::Raised(a) if a.metric == Metric::ServerErrorRate)),
            "{errors:?}"
        );
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let m = Monitor::new(10, "inst_test");
        let scope = Scope::new("acct_a", false);
        for i in 0..100 {
            m.record_request(Some(&scope), 100, "GET", "/x", 200, if i < 90 { 20.0 } else { 700.0 });
        }
        let written = m.take_dirty(100);
        assert_eq!(written.len(), 2, "a fine and a coarse bucket");
        let b: Bucket = serde_json::from_str(&written[0].data).unwrap();
        assert_eq!((b.latency_percentile(0.5), b.latency_percentile(0.95)), (Some(25.0), Some(1000.0)));
        assert!(m.take_dirty(100).is_empty(), "written once");
        assert!(m.render(0, 0).contains("cardtoken_http_requests_total"));
    }
}

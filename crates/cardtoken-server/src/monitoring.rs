//! Monitoring: Prometheus metrics (`/metrics`), rolling windows in the server (the last hour at 10 s
//! resolution, the last day at 5 min) so the dashboard works with no Prometheus, and anomaly alerts on
//! the authorization success rate, p95 latency and 5xx rate.
//!
//! Each alert compares the last minute against its own baseline, an exponentially weighted mean and
//! variance (EWMA) of earlier minutes: it is raised when the z-score passes 3 *and* an absolute floor is
//! crossed (so a quiet, stable service is not paged for noise) on two evaluations in a row, and cleared
//! after three evaluations back inside (hysteresis). The baseline only learns from normal evaluations.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use serde::Serialize;

/// Latency histogram bounds, in milliseconds (the last bucket is everything above).
const LATENCY_BOUNDS_MS: [f64; 12] =
    [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, f64::MAX];
/// How many fine buckets make up "the last minute" when the resolution is 10 s.
const EVALUATION_SPAN_SECS: i64 = 60;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Bucket {
    pub start: i64,
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    #[serde(skip)]
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

/// A window of buckets of `width` seconds, at most `keep` of them.
struct Window {
    width: i64,
    keep: usize,
    buckets: VecDeque<Bucket>,
}

impl Window {
    fn bucket(&mut self, now: i64) -> &mut Bucket {
        let start = now.div_euclid(self.width) * self.width;
        if self.buckets.back().is_none_or(|b| b.start != start) {
            self.buckets.push_back(Bucket { start, ..Bucket::default() });
            while self.buckets.len() > self.keep {
                self.buckets.pop_front();
            }
        }
        // just pushed or already there
        let last = self.buckets.len() - 1;
        &mut self.buckets[last]
    }

    fn since(&self, from: i64) -> Bucket {
        let mut total = Bucket::default();
        for b in self.buckets.iter().filter(|b| b.start >= from) {
            total.add(b);
        }
        total
    }
}

/// What an alert watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Clone, Copy, Debug, Default, Serialize)]
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

#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// `alr_…`
    pub id: String,
    pub object: &'static str,
    pub metric: Metric,
    /// `open` or `cleared`
    pub status: &'static str,
    pub message: String,
    /// The value that raised it, and the baseline then.
    pub value: f64,
    pub baseline: f64,
    pub raised_at: i64,
    pub cleared_at: Option<i64>,
}

#[derive(Default)]
struct Watch {
    baseline: Baseline,
    bad_streak: u32,
    good_streak: u32,
    open: Option<Alert>,
}

/// An alert raised or cleared by an evaluation.
#[derive(Clone, Debug)]
pub enum AlertChange {
    Raised(Alert),
    Cleared(Alert),
}

struct Inner {
    fine: Window,
    coarse: Window,
    watches: BTreeMap<Metric, Watch>,
    history: VecDeque<Alert>,
    last_evaluated: i64,
}

pub struct Monitor {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    resolution: i64,
    inner: Mutex<Inner>,
}

/// How a payment attempt went, for the success rate and the decline counts.
pub enum Outcome<'a> {
    Succeeded,
    Declined(&'a str),
    /// Sent to 3-D Secure: counted when it finishes.
    Pending,
}

impl Monitor {
    /// `resolution`: seconds per fine bucket (10 in production; tests shorten it).
    pub fn new(resolution: i64) -> Monitor {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BOUNDS_MS[..11].iter().map(|ms| ms / 1000.0).collect::<Vec<_>>())
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let resolution = resolution.max(1);
        Monitor {
            recorder,
            handle,
            resolution,
            inner: Mutex::new(Inner {
                fine: Window { width: resolution, keep: 360, buckets: VecDeque::new() },
                coarse: Window { width: resolution * 30, keep: 288, buckets: VecDeque::new() },
                watches: Metric::ALL.into_iter().map(|m| (m, Watch::default())).collect(),
                history: VecDeque::new(),
                last_evaluated: 0,
            }),
        }
    }

    pub fn resolution(&self) -> i64 {
        self.resolution
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn both(&self, now: i64, f: impl Fn(&mut Bucket)) {
        let mut inner = self.inner();
        f(inner.fine.bucket(now));
        f(inner.coarse.bucket(now));
    }

    pub fn record_request(&self, now: i64, method: &str, route: &str, status: u16, latency_ms: f64) {
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
        let slot = LATENCY_BOUNDS_MS.iter().position(|b| latency_ms <= *b).unwrap_or(11);
        self.both(now, |b| {
            b.requests += 1;
            b.client_errors += u64::from((400..500).contains(&status));
            b.server_errors += u64::from(status >= 500);
            b.latency[slot] += 1;
        });
    }

    pub fn record_payment(&self, now: i64, outcome: Outcome<'_>) {
        let (label, decline) = match outcome {
            Outcome::Succeeded => ("succeeded", None),
            Outcome::Declined(code) => ("declined", Some(code)),
            Outcome::Pending => return,
        };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_payment_authorizations_total", "outcome" => label,
                "decline_code" => decline.unwrap_or("").to_string())
            .increment(1);
        });
        self.both(now, |b| {
            b.authorizations += 1;
            match decline {
                None => b.authorizations_succeeded += 1,
                Some(code) => *b.declines.entry(code.to_string()).or_default() += 1,
            }
        });
    }

    pub fn record_webhook(&self, now: i64, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_webhook_deliveries_total", "result" => result).increment(1);
        });
        self.both(now, |b| {
            if delivered {
                b.webhooks_delivered += 1;
            } else {
                b.webhooks_failed += 1;
            }
        });
    }

    pub fn record_token(&self, now: i64, key_id: &str) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("cardtoken_tokens_created_total", "key" => key_id.to_string()).increment(1);
        });
        self.both(now, |b| b.tokens += 1);
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let open = self.inner().watches.values().filter(|w| w.open.is_some()).count();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::gauge!("cardtoken_alerts_open").set(open as f64);
        });
        self.handle.render()
    }

    /// Judges the last minute against the baselines; answers what was raised or cleared. Runs once per
    /// fine bucket (more frequent calls do nothing).
    pub fn evaluate(&self, now: i64) -> Vec<AlertChange> {
        let mut inner = self.inner();
        let slot = now.div_euclid(self.resolution);
        if slot <= inner.last_evaluated {
            return Vec::new();
        }
        inner.last_evaluated = slot;
        let span_secs = (EVALUATION_SPAN_SECS / 10 * self.resolution).max(self.resolution * 6);
        // The last complete span: the current bucket is still filling.
        let end = slot * self.resolution;
        let span = {
            let mut total = Bucket::default();
            for b in inner.fine.buckets.iter().filter(|b| b.start >= end - span_secs && b.start < end) {
                total.add(b);
            }
            total
        };
        let mut changes = Vec::new();
        for metric in Metric::ALL {
            let Some((value, n)) = metric.measure(&span) else { continue };
            let watch = inner.watches.entry(metric).or_default();
            let warm = watch.baseline.samples >= Baseline::WARM_UP;
            if watch.open.is_none() {
                if warm && metric.anomalous(value, n, &watch.baseline) {
                    watch.bad_streak += 1;
                    if watch.bad_streak >= 2 {
                        let alert = Alert {
                            id: crate::ids::new_id("alr").unwrap_or_else(|_| format!("alr_{now}")),
                            object: "alert",
                            metric,
                            status: "open",
                            message: format!(
                                "The {} is {} against a baseline of {}.",
                                metric.name(),
                                show(metric, value),
                                show(metric, watch.baseline.mean)
                            ),
                            value,
                            baseline: watch.baseline.mean,
                            raised_at: now,
                            cleared_at: None,
                        };
                        watch.open = Some(alert.clone());
                        watch.good_streak = 0;
                        changes.push(AlertChange::Raised(alert));
                    }
                } else {
                    watch.bad_streak = 0;
                    // A suspicious value (2–3 standard deviations out) teaches the baseline slowly, so the
                    // start of an incident does not widen the baseline enough to hide the incident itself;
                    // a lasting, gentle drift is still learnt.
                    let weight =
                        if !warm || metric.z(value, n, &watch.baseline).abs() < 2.0 { 1.0 } else { 0.25 };
                    watch.baseline.learn(value, weight);
                }
            } else if metric.normal(value, n, &watch.baseline) {
                watch.good_streak += 1;
                if watch.good_streak >= 3 {
                    if let Some(mut alert) = watch.open.take() {
                        alert.status = "cleared";
                        alert.cleared_at = Some(now);
                        changes.push(AlertChange::Cleared(alert));
                    }
                    watch.bad_streak = 0;
                    watch.baseline.learn(value, 1.0);
                }
            } else {
                watch.good_streak = 0;
            }
        }
        for change in &changes {
            let alert = match change {
                AlertChange::Raised(a) | AlertChange::Cleared(a) => a.clone(),
            };
            inner.history.retain(|a| a.id != alert.id);
            inner.history.push_front(alert);
            inner.history.truncate(50);
        }
        changes
    }

    /// Open alerts first, then recently cleared ones.
    pub fn alerts(&self) -> Vec<Alert> {
        let inner = self.inner();
        let mut all: Vec<Alert> = inner.history.iter().cloned().collect();
        all.sort_by_key(|a| (a.status != "open", -a.raised_at));
        all
    }

    /// The dashboard's series: `hour` (fine buckets) or `day` (coarse).
    pub fn series(&self, day: bool) -> serde_json::Value {
        let inner = self.inner();
        let window = if day { &inner.coarse } else { &inner.fine };
        let points: Vec<serde_json::Value> = window
            .buckets
            .iter()
            .map(|b| {
                serde_json::json!({
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
        let total = window.since(i64::MIN);
        serde_json::json!({
            "resolution": window.width,
            "points": points,
            "totals": {
                "requests": total.requests, "authorizations": total.authorizations,
                "authorizations_succeeded": total.authorizations_succeeded, "declines": total.declines,
                "server_errors": total.server_errors, "client_errors": total.client_errors,
                "webhooks_delivered": total.webhooks_delivered, "webhooks_failed": total.webhooks_failed,
            },
        })
    }
}

fn show(metric: Metric, v: f64) -> String {
    match metric {
        Metric::P95LatencyMs => format!("{v:.0} ms"),
        _ => format!("{:.1}%", v * 100.0),
    }
}

/// Evaluates the monitor now and writes each raised or cleared alert as an event (and a log line).
pub async fn evaluate_and_emit(state: &crate::state::AppState) -> Result<usize, crate::error::ApiError> {
    let now = state.clock.now();
    let changes = state.monitor.evaluate(now);
    let mut events = Vec::new();
    for change in &changes {
        let (kind, alert) = match change {
            AlertChange::Raised(a) => {
                tracing::warn!(alert = %a.id, metric = ?a.metric, value = a.value, baseline = a.baseline, "alert raised");
                ("alert.raised", a)
            }
            AlertChange::Cleared(a) => {
                tracing::info!(alert = %a.id, metric = ?a.metric, "alert cleared");
                ("alert.cleared", a)
            }
        };
        events.push(crate::events::new_event(kind, alert, now)?);
    }
    let n = events.len();
    if n > 0 {
        state.db(move |s| s.insert_events(&events)).await?;
    }
    Ok(n)
}

/// Records every API request: method, route template (never the path, which may hold ids; written
/// `/v1/payments/:id`, braces being awkward in label values), status, latency.
pub async fn track(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().replace('{', ":").replace('}', ""));
    let response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    state.monitor.record_request(state.clock.now(), &method, &route, response.status().as_u16(), ms);
    response
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

    /// Ten seconds of traffic: `n` payments succeeding with probability `success`, `n` requests of
    /// `latency` ms (±30%), a share `errors` of them 5xx.
    fn traffic(m: &Monitor, t: i64, rng: &mut Lcg, n: usize, success: f64, latency: f64, errors: f64) {
        for i in 0..n {
            let at = t + (i as i64 % 10);
            let outcome = if rng.next() < success {
                Outcome::Succeeded
            } else {
                Outcome::Declined("insufficient_funds")
            };
            m.record_payment(at, outcome);
            let status = if rng.next() < errors { 500 } else { 200 };
            m.record_request(at, "POST", "/v1/payments", status, latency * (0.7 + 0.6 * rng.next()));
        }
    }

    fn run(
        m: &Monitor,
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
            let m = Monitor::new(10);
            let mut rng = Lcg(seed);
            // 85% success with noise, 40 ms latency (±30%), 0.5% server errors, for three hours
            let changes = run(&m, &mut rng, 1_000_000, 180, 0.85, 40.0, 0.005);
            assert!(changes.is_empty(), "seed {seed}: {changes:?}");
            assert!(m.alerts().is_empty());
        }
    }

    #[test]
    fn a_burst_of_declines_is_raised_then_cleared() {
        let m = Monitor::new(10);
        let mut rng = Lcg(11);
        assert!(run(&m, &mut rng, 1_000_000, 20, 0.9, 40.0, 0.0).is_empty());
        let raised = run(&m, &mut rng, 1_000_000 + 1200, 3, 0.3, 40.0, 0.0);
        assert!(
            matches!(raised.as_slice(), [AlertChange::Raised(a)] if a.metric == Metric::AuthorizationSuccessRate),
            "{raised:?}"
        );
        assert_eq!(m.alerts()[0].status, "open");
        let cleared = run(&m, &mut rng, 1_000_000 + 1380, 5, 0.9, 40.0, 0.0);
        assert!(
            matches!(cleared.as_slice(), [AlertChange::Cleared(a)] if a.metric == Metric::AuthorizationSuccessRate),
            "{cleared:?}"
        );
        assert_eq!(m.alerts()[0].status, "cleared");
    }

    #[test]
    fn slow_responses_and_server_errors_are_raised() {
        let m = Monitor::new(10);
        let mut rng = Lcg(3);
        run(&m, &mut rng, 1_000_000, 20, 0.9, 40.0, 0.0);
        let slow = run(&m, &mut rng, 1_000_000 + 1200, 3, 0.9, 900.0, 0.0);
        assert!(
            slow.iter().any(|c| matches!(c, AlertChange::Raised(a) if a.metric == Metric::P95LatencyMs)),
            "{slow:?}"
        );
        let errors = run(&m, &mut rng, 1_000_000 + 1380, 3, 0.9, 900.0, 0.3);
        assert!(
            errors.iter().any(|c| matches!(c, AlertChange::Raised(a) if a.metric == Metric::ServerErrorRate)),
            "{errors:?}"
        );
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let m = Monitor::new(10);
        for i in 0..100 {
            m.record_request(100, "GET", "/x", 200, if i < 90 { 20.0 } else { 700.0 });
        }
        let b = m.inner().fine.since(0);
        assert_eq!((b.latency_percentile(0.5), b.latency_percentile(0.95)), (Some(25.0), Some(1000.0)));
        assert!(m.render().contains("cardtoken_http_requests_total"));
    }
}

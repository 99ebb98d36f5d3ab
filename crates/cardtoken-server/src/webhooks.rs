//! Webhook delivery: a worker that sends the outbox's events to endpoints with Standard Webhooks
//! headers, a 15 s timeout and the retry schedule (with jitter), records each attempt, disables an
//! endpoint that answers 410, and runs the jobs that make disputes and failing refunds happen later.
//! Deliveries are rows: those pending when the server stops are sent after it starts again.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cardtoken_types::webhook::{sign, Secret};
use serde_json::json;

use crate::error::ApiError;
use crate::events::new_event;
use crate::ids::{new_id, random_bytes};
use crate::payments::refund_json;
use crate::state::AppState;
use crate::store::{AttemptRecord, DeliveryOutcome, DisputeRecord, DueDelivery, JobEffects, JobRecord};

/// How long a claimed delivery is reserved for the worker sending it (more than the 15 s timeout).
const LEASE_SECS: i64 = 30;
const TIMEOUT: Duration = Duration::from_secs(15);
const EXCERPT_CHARS: usize = 500;

/// Whether an address is on the public internet (not loopback, private, link-local, CGNAT, …).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// Checks an endpoint URL: http(s), no credentials, and (outside test mode) only public addresses.
pub async fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "`url` is not a valid URL.".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("`url` must be http or https.".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("`url` must not hold credentials.".into());
    }
    let host = parsed.host_str().ok_or("`url` needs a host.")?.trim_matches(['[', ']']).to_string();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| "`url`'s host does not resolve.".to_string())?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() || !addrs.iter().copied().all(is_public) {
        return Err(
            "`url` must be on the public internet: private and loopback addresses are refused.".into()
        );
    }
    Ok(parsed)
}

/// The delay before retry `n` (1-based), with ±10% jitter; `None` when the schedule has run out.
fn retry_delay(schedule: &[i64], attempts_done: u32) -> Option<i64> {
    let base = *schedule.get(usize::try_from(attempts_done).ok()?.checked_sub(1)?)?;
    let spread = base / 10;
    if spread == 0 {
        return Some(base);
    }
    let r = random_bytes::<8>().map(u64::from_le_bytes).unwrap_or(0);
    Some(base - spread + (r % (2 * spread as u64 + 1)) as i64)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("cardtoken-webhooks/0.1")
        .build()
        .unwrap_or_default()
}

/// Sends one delivery and records the attempt.
async fn deliver(state: &AppState, http: &reqwest::Client, d: DueDelivery) {
    let now = state.clock.now();
    let started = Instant::now();
    let mut signatures = Vec::new();
    for secret in std::iter::once(&d.secret).chain(d.previous_secret.as_ref()) {
        if let Ok(s) = Secret::parse(secret) {
            signatures.push(sign(&s, &d.event_id, now, d.body.as_bytes()));
        }
    }
    let result = match check_url(&d.url, state.config.allow_private_webhooks).await {
        Err(e) => Err(e),
        Ok(url) => http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out after 15 s".to_string()
                } else {
                    "connection failed".to_string()
                }
            }),
    };
    let (status, excerpt, error) = match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (Some(status), Some(text.chars().take(EXCERPT_CHARS).collect::<String>()), None)
        }
        Err(e) => (None, None, Some(e)),
    };
    let attempts_done = d.attempts + 1;
    let outcome = match status {
        Some(s) if (200..300).contains(&s) => DeliveryOutcome::Delivered,
        Some(410) => DeliveryOutcome::Gone,
        _ => match retry_delay(&state.config.webhook_retry_secs, attempts_done) {
            Some(delay) => DeliveryOutcome::RetryAt(now + delay),
            None => DeliveryOutcome::Failed,
        },
    };
    let attempt = AttemptRecord {
        attempted: now,
        status_code: status,
        duration_ms: started.elapsed().as_millis() as u64,
        response_excerpt: excerpt,
        error,
    };
    state.monitor.record_webhook(now, outcome == DeliveryOutcome::Delivered);
    tracing::info!(event = %d.event_id, endpoint = %d.endpoint_id, status = ?attempt.status_code,
        attempt = attempts_done, outcome = ?outcome, "webhook delivery");
    if let Err(e) = state.db(move |s| s.record_attempt(&d, &attempt, outcome)).await {
        tracing::error!(error = %e, "recording a webhook attempt failed");
    }
}

/// What a due job changes.
async fn job_effects(state: &AppState, job: &JobRecord) -> Result<JobEffects, ApiError> {
    let now = state.clock.now();
    let subject = job.subject.clone();
    match job.kind.as_str() {
        "dispute" => {
            let Some(p) = state.db(move |s| s.get_payment(&subject)).await? else {
                return Ok(JobEffects::default());
            };
            let dispute = DisputeRecord {
                id: new_id("dp").map_err(ApiError::internal)?,
                payment_id: p.id.clone(),
                amount: p.amount_captured,
                currency: p.currency.clone(),
                reason: "fraudulent".to_string(),
                status: "needs_response".to_string(),
                created: now,
            };
            let object = json!({
                "id": dispute.id, "object": "dispute", "payment": dispute.payment_id, "amount": dispute.amount,
                "currency": dispute.currency, "reason": dispute.reason, "status": dispute.status, "created": now,
            });
            let events = vec![new_event("dispute.created", &object, now)?];
            Ok(JobEffects { dispute: Some(dispute), refund_failure: None, events })
        }
        "refund_failure" => {
            let Some(mut refund) = state.db(move |s| s.get_refund(&subject)).await? else {
                return Ok(JobEffects::default());
            };
            refund.status = "failed".to_string();
            let events = vec![new_event("refund.failed", &refund_json(&refund), now)?];
            Ok(JobEffects {
                dispute: None,
                refund_failure: Some((refund.id.clone(), refund.payment_id.clone(), refund.amount)),
                events,
            })
        }
        other => {
            tracing::error!(kind = other, "unknown job dropped");
            Ok(JobEffects::default())
        }
    }
}

/// One pass: due jobs, then due deliveries (sent concurrently).
pub async fn work_once(state: &AppState, http: &reqwest::Client) -> Result<usize, ApiError> {
    let now = state.clock.now();
    for job in state.db(move |s| s.due_jobs(now, 50)).await? {
        let effects = job_effects(state, &job).await?;
        state.db(move |s| s.complete_job(&job, &effects)).await?;
    }
    let due = state.db(move |s| s.claim_due_deliveries(now, LEASE_SECS, 32)).await?;
    let n = due.len();
    let mut sends = tokio::task::JoinSet::new();
    for d in due {
        let (state, http) = (state.clone(), http.clone());
        sends.spawn(async move { deliver(&state, &http, d).await });
    }
    while sends.join_next().await.is_some() {}
    Ok(n)
}

/// Runs until the task is aborted, waking every 200 ms.
pub async fn run(state: AppState) {
    let http = client();
    loop {
        if let Err(e) = work_once(&state, &http).await {
            tracing::error!(error = %e, "the webhook worker failed a pass");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, ApiError> {
    let bytes = random_bytes::<32>().map_err(ApiError::internal)?;
    Ok(Secret::from_bytes(&bytes).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_retry_schedule_runs_out_and_jitters_within_ten_percent() {
        let schedule = [5, 300, 1800];
        assert_eq!(retry_delay(&schedule, 1), Some(5));
        for _ in 0..100 {
            let d = retry_delay(&schedule, 2).unwrap();
            assert!((270..=330).contains(&d), "{d}");
        }
        assert_eq!(retry_delay(&schedule, 4), None);
        assert_eq!(retry_delay(&schedule, 0), None);
    }

    #[tokio::test]
    async fn endpoint_urls_are_checked() {
        assert!(check_url("ftp://example.com/x", true).await.is_err());
        assert!(check_url("https://user:pw@example.com/x", true).await.is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).await.is_ok(), "test mode allows loopback");
        assert!(check_url("http://127.0.0.1:9/x", false).await.is_err());
        assert!(check_url("http://[::1]/x", false).await.is_err());
        assert!(check_url("http://169.254.169.254/latest", false).await.is_err());
        assert!(check_url("http://93.184.216.34/hook", false).await.is_ok());
    }
}

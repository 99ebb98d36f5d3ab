//! Webhook delivery: sends a claimed delivery with Standard Webhooks headers and records the attempt.
//!
//! The HTTP client connects only to addresses this module resolved and checked (its own resolver:
//! nothing is resolved twice, so DNS rebinding cannot swap in a private address), uses no proxy from
//! the environment, and bounds everything: DNS and connecting within the 15 s timeout, at most
//! `EXCERPT_BYTES` of the response read (a receiver cannot make the server buffer a huge body).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardtoken_types::webhook::{sign, Secret};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook_endpoints::{is_public, parse_url, resolve_host, HostResolver};
use crate::domain::Services;
use crate::store::{self, AttemptRecord, DeliveryOutcome, DueDelivery, Scope};

/// A delivery's whole budget: resolving, connecting, sending, reading the answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a receiver's answer is read and kept.
pub const EXCERPT_BYTES: usize = 2048;

/// Resolves hosts for the webhook client, once per connection, to addresses it has checked: the client
/// connects to exactly what was checked (no second resolution a rebinding DNS server could answer
/// differently).
#[derive(Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
    pub resolver: Arc<dyn HostResolver>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (allow_private, resolver) = (self.allow_private, self.resolver.clone());
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                resolve_host(resolver.as_ref(), name.as_str(), 0, allow_private).await.map_err(|m| {
                    Box::new(std::io::Error::other(m)) as Box<dyn std::error::Error + Send + Sync>
                })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The webhook client: our resolver, no proxies, no redirects, bounded times.
pub fn client(allow_private: bool, resolver: Arc<dyn HostResolver>) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_private, resolver }))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("cardtoken-webhooks/0.1")
        .build()
        .unwrap_or_default()
}

/// The delay before retry `n` (1-based), with ±10% jitter; `None` when the schedule has run out.
pub fn retry_delay(schedule: &[i64], attempts_done: u32) -> Option<i64> {
    let base = *schedule.get(usize::try_from(attempts_done).ok()?.checked_sub(1)?)?;
    let spread = base / 10;
    if spread == 0 {
        return Some(base);
    }
    let r = crate::ids::random_bytes::<8>().map(u64::from_le_bytes).unwrap_or(0);
    Some(base - spread + (r % (2 * spread as u64 + 1)) as i64)
}

/// Reads at most `limit` bytes of a response, then lets the rest go unread.
async fn excerpt(mut resp: reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk[..chunk.len().min(limit - bytes.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).chars().take(500).collect()
}

/// Sends the delivery (within `TIMEOUT`, whatever the receiver does): status, response excerpt, or why not.
async fn send(
    svc: &Services,
    http: &reqwest::Client,
    d: &DueDelivery,
    now: i64,
) -> (Option<u16>, Option<String>, Option<String>) {
    let url = match parse_url(&d.url) {
        Ok(u) => u,
        Err(_) => return (None, None, Some("the endpoint URL is not valid".into())),
    };
    // An address written in the URL is never resolved: check it here.
    if let Some(ip) = url.host_str().and_then(|h| h.trim_matches(['[', ']']).parse().ok()) {
        if !svc.config.allow_private_webhooks && !is_public(ip) {
            return (None, None, Some("the endpoint is not on the public internet".into()));
        }
    }
    let mut signatures = Vec::new();
    for secret in std::iter::once(&d.secret).chain(d.previous_secret.as_ref()) {
        if let Ok(s) = Secret::parse(secret) {
            signatures.push(sign(&s, &d.event_id, now, d.body.as_bytes()));
        }
    }
    let request = http
        .post(url.as_str())
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(d.body.clone());
    let attempt = async {
        match request.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (Some(status), Some(excerpt(resp, EXCERPT_BYTES).await), None)
            }
            Err(e) if e.is_timeout() => (None, None, Some("timed out after 15 s".to_string())),
            Err(e) if e.is_connect() => (None, None, Some("connection failed".to_string())),
            Err(_) => (None, None, Some("the request failed".to_string())),
        }
    };
    tokio::time::timeout(TIMEOUT, attempt).await.unwrap_or((
        None,
        None,
        Some("timed out after 15 s".to_string()),
    ))
}

/// Sends one delivery and records the attempt.
pub async fn deliver(svc: &Services, http: &reqwest::Client, d: DueDelivery) {
    let scope = Scope::new(d.account_id.clone(), d.livemode);
    let now = svc.now();
    let started = Instant::now();
    let (status, excerpt, error) = send(svc, http, &d, now).await;
    let attempts_done = d.attempts + 1;
    let outcome = match status {
        Some(s) if (200..300).contains(&s) => DeliveryOutcome::Delivered,
        Some(410) => DeliveryOutcome::Gone,
        _ => match retry_delay(&svc.config.webhook_retry_secs, attempts_done) {
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
    svc.monitor.record_webhook(&scope, now, outcome == DeliveryOutcome::Delivered);
    tracing::info!(event = %d.event_id, endpoint = %d.endpoint_id, status = ?attempt.status_code,
        attempt = attempts_done, outcome = ?outcome, "webhook delivery");
    if let Err(e) = store::write(&svc.store, move |tx| tx.record_attempt(&d, &attempt, outcome)).await {
        tracing::error!(error = %e, "recording a webhook attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

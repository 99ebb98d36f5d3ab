//! The card-testing defence on tokenization: token buckets (not fixed windows, which let twice the
//! limit through across a boundary) per client address (an IPv6 client by its /64, which one host
//! gets whole), per card (fingerprint) and per publishable key. A refused card costs more than an
//! accepted one, so a script trying numbers (or one number's expiry and CVC) runs dry quickly while a
//! shopper retyping a card does not.
//!
//! One instance (SQLite) keeps the buckets in memory. Several instances (PostgreSQL) share them all in
//! storage, so N instances do not give a client N budgets: each take is one statement on a connection
//! whose commits do not wait for the disk (a crash may forget a few seconds of spending), so a busy
//! address's row is locked for a statement, not for a flush. The per-key bucket is a high ceiling,
//! taken in small leases (a twentieth of the bucket, at most 100) that each instance spends locally, so
//! instances do not queue on one row for every request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::Config;
use crate::store::{self, Scope};

use super::{Error, Services};

/// A bucket's shape: how many at once, and how fast it refills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub capacity: f64,
    pub per_sec: f64,
}

impl Rule {
    pub fn per_minute(n: u32) -> Rule {
        Rule { capacity: f64::from(n), per_sec: f64::from(n) / 60.0 }
    }

    pub fn per_hour(n: u32) -> Rule {
        Rule { capacity: f64::from(n), per_sec: f64::from(n) / 3600.0 }
    }

    /// Seconds until `cost` fits in a bucket holding `available`.
    fn wait(self, available: f64, cost: f64) -> f64 {
        if available >= cost {
            0.0
        } else if self.per_sec > 0.0 {
            (cost - available) / self.per_sec
        } else {
            f64::INFINITY
        }
    }
}

/// Buckets in this process's memory.
#[derive(Default)]
struct Local(Mutex<HashMap<String, (f64, f64)>>);

impl Local {
    /// Takes `cost` (or, with `force`, takes it even into debt); answers the seconds to wait, 0 if taken.
    fn take(&self, key: &str, rule: Rule, cost: f64, now: f64, force: bool) -> f64 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Full buckets carry no information: forget them.
            map.retain(|_, (tokens, updated)| *tokens + (now - *updated) * rule.per_sec < rule.capacity);
        }
        let (tokens, updated) = map.get(key).copied().unwrap_or((rule.capacity, now));
        let available = (tokens + (now - updated).max(0.0) * rule.per_sec).min(rule.capacity);
        if available >= cost || force {
            map.insert(key.to_string(), (available - cost, now));
            0.0
        } else {
            map.insert(key.to_string(), (available, now));
            rule.wait(available, cost)
        }
    }
}

pub struct Limits {
    /// Budget of the shared per-key bucket already taken from storage, spent here.
    leased: Mutex<HashMap<String, f64>>,
    pub per_key: Rule,
    pub per_client: Rule,
    pub per_card: Rule,
    /// What a refused card costs, against 1 for an accepted one.
    pub failure_cost: f64,
    /// Whether the buckets live in storage (several instances) or here (one).
    pub shared: bool,
    keys: Local,
    clients: Local,
    cards: Local,
}

impl Limits {
    pub fn new(config: &Config, shared: bool) -> Limits {
        Limits {
            leased: Mutex::new(HashMap::new()),
            per_key: Rule::per_minute(config.rate_key_per_minute),
            per_client: Rule::per_minute(config.rate_client_per_minute),
            per_card: Rule::per_hour(config.rate_card_per_hour),
            failure_cost: config.rate_failure_cost.max(1.0),
            shared,
            keys: Local::default(),
            clients: Local::default(),
            cards: Local::default(),
        }
    }
}

fn limited(wait: f64, message: &'static str) -> Error {
    Error::RateLimited { retry_after: wait.ceil().clamp(1.0, 86_400.0) as u64, message }
}

const CLIENT: &str = "Too many cards were tried from your address. Wait a little and try again.";
const CARD: &str = "This card was tried too many times. Wait a little and try again.";
const KEY: &str = "Too many cards were tokenized with this key. Wait a little and try again.";

/// The bucket of a client address: an IPv4 address (or one mapped into IPv6) alone; an IPv6 address by
/// its /64, since one host is given a whole /64 and can pick any address in it.
pub fn client_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("client:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("client:{v4}"),
            None => {
                let s = v6.segments();
                format!("client:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn card_bucket(fingerprint: &str) -> String {
    format!("card:{fingerprint}")
}

/// Takes `cost` from a bucket (with `force`, even into debt): in this process's memory, or in storage
/// where instances share the buckets (one relaxed statement). Answers the seconds to wait, 0 if taken.
async fn take(
    svc: &Services,
    local: &Local,
    key: String,
    rule: Rule,
    cost: f64,
    force: bool,
) -> Result<f64, Error> {
    let now = svc.now() as f64;
    if !svc.limits.shared {
        return Ok(local.take(&key, rule, cost, now, force));
    }
    Ok(store::write_relaxed(&svc.store, move |tx| {
        if force {
            tx.charge_tokens(&key, rule.capacity, rule.per_sec, cost, now).map(|()| 0.0)
        } else {
            tx.take_tokens(&key, rule.capacity, rule.per_sec, cost, now)
        }
    })
    .await?)
}

/// Before a tokenization: a unit of the client's bucket.
pub async fn admit_client(svc: &Services, client: Option<IpAddr>) -> Result<(), Error> {
    let Some(ip) = client else { return Ok(()) };
    let l = &svc.limits;
    let wait = take(svc, &l.clients, client_bucket(ip), l.per_client, 1.0, false).await?;
    if wait > 0.0 {
        tracing::warn!("tokenization refused: client address over its limit");
        return Err(limited(wait, CLIENT));
    }
    Ok(())
}

/// A refused card: the client pays the rest of a failure's cost (one unit was taken on admission), and
/// the card a failure's cost when its number was good (its expiry or CVC was not: someone may be
/// guessing them), even into debt.
pub async fn charge_failure(svc: &Services, client: Option<IpAddr>, fingerprint: Option<&str>) {
    let l = &svc.limits;
    let cost = l.failure_cost;
    let mut charged = Ok(0.0);
    if let Some(ip) = client {
        charged = take(svc, &l.clients, client_bucket(ip), l.per_client, cost - 1.0, true).await;
    }
    if let (Ok(_), Some(f)) = (&charged, fingerprint) {
        charged = take(svc, &l.cards, card_bucket(f), l.per_card, cost, true).await;
    }
    if let Err(e) = charged {
        tracing::warn!(error = %e, "a refused card's cost could not be charged");
    }
}

/// Once the card parses: a unit of its own bucket (by fingerprint, never by number; `None` for a card
/// exempt from it).
pub async fn admit_card(svc: &Services, fingerprint: Option<&str>) -> Result<(), Error> {
    let Some(f) = fingerprint else { return Ok(()) };
    let l = &svc.limits;
    let wait = take(svc, &l.cards, card_bucket(f), l.per_card, 1.0, false).await?;
    if wait > 0.0 {
        tracing::warn!("tokenization refused: card over its limit");
        return Err(limited(wait, CARD));
    }
    Ok(())
}

/// The key's ceiling: in storage when instances share it.
pub async fn admit_key(svc: &Services, scope: &Scope, key_id: &str) -> Result<(), Error> {
    let l = &svc.limits;
    let now = svc.now() as f64;
    let bucket = format!("tokens:{}:{}:{key_id}", scope.account, scope.mode());
    let wait = if l.shared {
        take_leased(svc, &bucket, now).await?
    } else {
        l.keys.take(&bucket, l.per_key, 1.0, now, false)
    };
    if wait > 0.0 {
        tracing::warn!("tokenization refused: key over its ceiling");
        return Err(limited(wait, KEY));
    }
    Ok(())
}

/// One unit of the shared bucket: from this instance's lease, or by taking a new lease from storage (a
/// whole one if it fits, else the single unit). Answers the wait, 0 when taken.
async fn take_leased(svc: &Services, bucket: &str, now: f64) -> Result<f64, Error> {
    let l = &svc.limits;
    {
        let mut leased = l.leased.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(left) = leased.get_mut(bucket).filter(|left| **left >= 1.0) {
            *left -= 1.0;
            return Ok(0.0);
        }
    }
    let rule = l.per_key;
    let lease = (rule.capacity / 20.0).floor().clamp(1.0, 100.0);
    let key = bucket.to_string();
    let (wait, got) = store::write(&svc.store, move |tx| {
        let wait = tx.take_tokens(&key, rule.capacity, rule.per_sec, lease, now)?;
        if wait == 0.0 || lease <= 1.0 {
            return Ok((wait, lease));
        }
        Ok((tx.take_tokens(&key, rule.capacity, rule.per_sec, 1.0, now)?, 1.0))
    })
    .await?;
    if wait == 0.0 && got > 1.0 {
        let mut leased = l.leased.lock().unwrap_or_else(|p| p.into_inner());
        *leased.entry(bucket.to_string()).or_default() += got - 1.0;
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_itself() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_bucket(ip("2001:db8:1:2::1")), client_bucket(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(client_bucket(ip("2001:db8:1:2::1")), client_bucket(ip("2001:db8:1:3::1")));
        assert_eq!(client_bucket(ip("::ffff:192.0.2.7")), client_bucket(ip("192.0.2.7")));
        assert_ne!(client_bucket(ip("192.0.2.7")), client_bucket(ip("192.0.2.8")));
    }

    #[test]
    fn buckets_refill_over_time_and_debts_take_longer_to_repay() {
        let b = Local::default();
        let rule = Rule::per_minute(3);
        for _ in 0..3 {
            assert_eq!(b.take("a", rule, 1.0, 0.0, false), 0.0);
        }
        let wait = b.take("a", rule, 1.0, 0.0, false);
        assert!((wait - 20.0).abs() < 1e-9, "one unit refills in 20 s: {wait}");
        assert_eq!(b.take("b", rule, 1.0, 0.0, false), 0.0, "another key has its own bucket");
        assert_eq!(b.take("a", rule, 1.0, 20.0, false), 0.0, "refilled");
        // No window boundary to exploit: 60 s later there are 3 again, never 6.
        for _ in 0..3 {
            assert_eq!(b.take("c", rule, 1.0, 100.0, false), 0.0);
        }
        assert!(b.take("c", rule, 1.0, 100.5, false) > 0.0);
        // A failure forced into debt: −3 after the bucket is spent, so 4 units (80 s) before the next one.
        b.take("d", rule, 3.0, 0.0, false);
        b.take("d", rule, 3.0, 0.0, true);
        assert!((b.take("d", rule, 1.0, 0.0, false) - 80.0).abs() < 1e-9);
    }
}

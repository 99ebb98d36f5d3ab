//! Webhook signatures (Standard Webhooks 1.0) for senders and receivers, and a de-duplication helper.
//!
//! A delivery carries `webhook-id` (the event id, the same on every retry), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
//! keyed with the base64-decoded part of the endpoint's `whsec_…` secret. Several signatures appear
//! while a secret is being rotated; any one matching is enough.
//!
//! ```
//! use cardtoken_types::webhook::{sign, verify, Secret};
//! let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let body = br#"{"id":"evt_1","type":"payment.succeeded"}"#;
//! let signature = sign(&secret, "evt_1", 1_700_000_000, body);
//! let headers = [("webhook-id", "evt_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", signature.as_str())];
//! let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
//! assert!(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", get, body, 1_700_000_100).is_ok());
//! assert!(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", get, b"tampered", 1_700_000_100).is_err());
//! ```

use std::collections::{HashSet, VecDeque};
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Five minutes, both ways.
pub const TOLERANCE_SECS: i64 = 5 * 60;
const PREFIX: &str = "whsec_";

/// An endpoint's signing key: the bytes behind `whsec_…`.
pub struct Secret(Zeroizing<Vec<u8>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// Reads `whsec_<base64>` (the prefix may be left off, as the official libraries allow).
    pub fn parse(text: &str) -> Result<Secret, VerifyError> {
        let b64 = text.strip_prefix(PREFIX).unwrap_or(text);
        let bytes = STANDARD.decode(b64).map_err(|_| VerifyError::InvalidSecret)?;
        if bytes.is_empty() {
            return Err(VerifyError::InvalidSecret);
        }
        Ok(Secret(Zeroizing::new(bytes)))
    }

    /// `whsec_<base64>` of these bytes.
    pub fn from_bytes(bytes: &[u8]) -> (Secret, String) {
        (Secret(Zeroizing::new(bytes.to_vec())), format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }
}

/// Why a delivery did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    MissingHeader(&'static str),
    InvalidSecret,
    InvalidTimestamp,
    /// Older than the tolerance (a replay, or a clock far behind).
    TimestampTooOld,
    /// Newer than the tolerance (a clock far ahead).
    TimestampTooNew,
    /// No `v1` signature matched.
    NoMatchingSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(h) => write!(f, "missing header {h}"),
            VerifyError::InvalidSecret => f.write_str("the secret is not whsec_<base64>"),
            VerifyError::InvalidTimestamp => f.write_str("webhook-timestamp is not a Unix time"),
            VerifyError::TimestampTooOld => f.write_str("the message is too old"),
            VerifyError::TimestampTooNew => f.write_str("the message is from the future"),
            VerifyError::NoMatchingSignature => f.write_str("no signature matches"),
        }
    }
}

impl std::error::Error for VerifyError {}

fn mac(secret: &Secret, id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0) else {
        return Vec::new(); // HMAC takes keys of any length
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The `v1,<base64>` signature of a message.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(secret, id, &timestamp.to_string(), body)))
}

/// Verifies a delivery: `header(name)` answers a header's value (names in lowercase), `now` is the
/// receiver's Unix time. Constant-time comparison; any of several signatures may match.
pub fn verify<'h>(
    secret: &str,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let secret = Secret::parse(secret)?;
    let id = header("webhook-id").ok_or(VerifyError::MissingHeader("webhook-id"))?;
    let ts_text = header("webhook-timestamp").ok_or(VerifyError::MissingHeader("webhook-timestamp"))?;
    let signatures = header("webhook-signature").ok_or(VerifyError::MissingHeader("webhook-signature"))?;
    let ts: i64 = ts_text.trim().parse().map_err(|_| VerifyError::InvalidTimestamp)?;
    // Saturating: a clock within five minutes of i64's ends must not overflow (found by fuzz/webhook).
    if ts < now.saturating_sub(TOLERANCE_SECS) {
        return Err(VerifyError::TimestampTooOld);
    }
    if ts > now.saturating_add(TOLERANCE_SECS) {
        return Err(VerifyError::TimestampTooNew);
    }
    let expected = mac(&secret, id, ts_text.trim(), body);
    let matched = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .fold(false, |any, given| any | bool::from(given.ct_eq(&expected)));
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// Remembers the last `capacity` event ids, so a receiver handles each event once although senders
/// deliver at least once (a retry after a lost 2xx, a redelivery).
pub struct Deduplicator {
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Deduplicator {
    pub fn new(capacity: usize) -> Deduplicator {
        Deduplicator { capacity: capacity.max(1), seen: HashSet::new(), order: VecDeque::new() }
    }

    /// True the first time `webhook_id` is seen (within the last `capacity` ids).
    pub fn first_time(&mut self, webhook_id: &str) -> bool {
        if self.seen.contains(webhook_id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(webhook_id.to_string());
        self.order.push_back(webhook_id.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn check(signature: &str, ts: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let headers = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", ts),
            ("webhook-signature", signature),
        ];
        verify(SECRET, |n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v), body, now)
    }

    #[test]
    fn the_standard_webhooks_test_vector_verifies() {
        // From the Standard Webhooks specification's reference libraries.
        let body = br#"{"test": 2432232314}"#;
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(check(sig, "1614265330", body, 1_614_265_330), Ok(()));
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body), sig);
    }

    #[test]
    fn tampering_a_wrong_secret_and_stale_or_future_timestamps_fail() {
        let body = br#"{"test": 2432232314}"#;
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            check(sig, "1614265330", b"{\"test\": 2432232315}", 1_614_265_330),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(check(sig, "1614265331", body, 1_614_265_330), Err(VerifyError::NoMatchingSignature));
        assert_eq!(check(sig, "1614265330", body, 1_614_265_330 + 301), Err(VerifyError::TimestampTooOld));
        assert_eq!(check(sig, "1614265330", body, 1_614_265_330 - 301), Err(VerifyError::TimestampTooNew));
        assert_eq!(check(sig, "1614265330", body, 1_614_265_330 + 300), Ok(()), "five minutes is still fine");
        assert_eq!(check("v2,abc", "1614265330", body, 1_614_265_330), Err(VerifyError::NoMatchingSignature));
        let other = verify(
            "whsec_AAAAAAAAAAAAAAAAAAAAAA==",
            |n| match n {
                "webhook-id" => Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                "webhook-timestamp" => Some("1614265330"),
                _ => Some(sig),
            },
            body,
            1_614_265_330,
        );
        assert_eq!(other, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let body = br#"{"test": 2432232314}"#;
        let two = "v1,bm90IHRoZSBzaWduYXR1cmU= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(check(two, "1614265330", body, 1_614_265_330), Ok(()));
    }

    #[test]
    fn a_clock_at_either_end_of_i64_neither_overflows_nor_widens_the_tolerance() {
        let secret = Secret::parse(SECRET).unwrap();
        let at = |ts: i64, now: i64| {
            let sig = sign(&secret, "evt_1", ts, b"{}");
            let ts = ts.to_string();
            let headers =
                [("webhook-id", "evt_1"), ("webhook-timestamp", ts.as_str()), ("webhook-signature", &sig)];
            verify(SECRET, |n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v), b"{}", now)
        };
        assert_eq!(at(i64::MIN, i64::MIN), Ok(()));
        assert_eq!(at(i64::MIN + 300, i64::MIN), Ok(()));
        assert_eq!(at(i64::MIN + 301, i64::MIN), Err(VerifyError::TimestampTooNew));
        assert_eq!(at(i64::MAX, i64::MAX), Ok(()));
        assert_eq!(at(i64::MAX - 301, i64::MAX), Err(VerifyError::TimestampTooOld));
        assert_eq!(at(0, i64::MIN), Err(VerifyError::TimestampTooNew));
        assert_eq!(at(0, i64::MAX), Err(VerifyError::TimestampTooOld));
    }

    #[test]
    fn duplicates_are_seen_once_within_the_window() {
        let mut d = Deduplicator::new(2);
        assert!(d.first_time("evt_1") && !d.first_time("evt_1"));
        assert!(d.first_time("evt_2") && d.first_time("evt_3"));
        assert!(d.first_time("evt_1"), "evt_1 fell out of a window of two");
    }
}

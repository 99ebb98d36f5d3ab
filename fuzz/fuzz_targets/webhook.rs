//! Webhook signatures: `webhook::verify`, `Secret::parse`, `sign` on any secret, headers and body.
//!
//! Input, as lines: the secret (`whsec_…`), `webhook-id`, `webhook-timestamp`, `webhook-signature`,
//! the receiver's clock (Unix seconds), then the body (the rest, whole). A missing line is a missing
//! header; invalid UTF-8 is replaced.
//!
//! 1. `verify` as a receiver runs it on what arrived: it never panics, and it accepts exactly when the
//!    headers are there, the timestamp is within five minutes of the clock and one `v1,` signature is
//!    the HMAC of `id.timestamp.body` under the secret.
//! 2. The same id, timestamp and body signed with `sign`: verified anywhere within five minutes, refused
//!    outside them, and refused after any single-byte change of the body, the id or the timestamp, or
//!    with another secret.
#![no_main]

use std::borrow::Cow;

use cardtoken_fuzz::lines;
use cardtoken_types::webhook::{sign, verify, Secret, VerifyError, TOLERANCE_SECS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (fields, body) = lines(data, 5);
    let text = |i: usize| fields[i].map(String::from_utf8_lossy);
    let secret_text = text(0).unwrap_or_default();
    let (id, timestamp, signature) = (text(1), text(2), text(3));
    let now_text = text(4);
    let now = now_text.as_deref().and_then(|t| t.trim().parse::<i64>().ok()).unwrap_or(0);

    as_received(&secret_text, id.as_deref(), timestamp.as_deref(), signature.as_deref(), body, now);

    // 2. Signed here: the secret as given if it parses, else one made of its bytes.
    let secret_bytes = fields[0].filter(|b| !b.is_empty()).unwrap_or(b"k");
    let (made, made_text) = Secret::from_bytes(secret_bytes);
    let Ok(read) = Secret::parse(&made_text) else { panic!("a secret from_bytes wrote does not parse") };
    assert!(sign(&read, "id", 0, b"") == sign(&made, "id", 0, b""), "from_bytes' text is another key");
    let secret_text = if Secret::parse(&secret_text).is_ok() { secret_text } else { Cow::Owned(made_text) };
    let Ok(secret) = Secret::parse(&secret_text) else { panic!("a secret that parsed does not parse") };
    // The whsec_ prefix is optional.
    let bare = secret_text.strip_prefix("whsec_").unwrap_or(&secret_text);
    let Ok(bare) = Secret::parse(bare) else { panic!("a secret without its whsec_ prefix does not parse") };
    assert!(sign(&bare, "id", 0, b"") == sign(&secret, "id", 0, b""), "the prefix changes the key");
    let id = id.unwrap_or_default();
    let ts = timestamp.as_deref().and_then(|t| t.trim().parse::<i64>().ok()).unwrap_or(1_700_000_000);
    signed_here(&secret, &secret_text, &id, ts, body, now);
});

/// Part 1: the delivery as it arrived.
fn as_received(
    secret_text: &str,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) {
    let headers = [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)];
    let header = |name: &str| headers.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v);
    let result = verify(secret_text, header, body, now);

    // The oracle: only for a canonical timestamp (what `sign` writes), which the MAC covers as is.
    let (Ok(secret), Some(id), Some(ts_text), Some(signature)) =
        (Secret::parse(secret_text), id, timestamp, signature)
    else {
        assert!(result.is_err(), "verified without a secret or a header");
        return;
    };
    let Ok(ts) = ts_text.trim().parse::<i64>() else {
        assert_eq!(result, Err(VerifyError::InvalidTimestamp), "a timestamp that is not a number");
        return;
    };
    let within = (i128::from(ts) - i128::from(now)).abs() <= i128::from(TOLERANCE_SECS);
    if ts_text.trim() != ts.to_string() {
        assert!(result.is_err() || within, "verified outside the tolerance");
        return;
    }
    let expected = sign(&secret, id, ts, body);
    let listed = signature.split(' ').any(|s| s == expected);
    match result {
        Ok(()) => assert!(within && listed, "verified, but within {within}, signature listed {listed}"),
        Err(e) => assert!(!(within && listed), "refused a listed signature within the tolerance: {e:?}"),
    }
}

/// Part 2: signed with `sign`, then verified, and refused after tampering.
fn signed_here(secret: &Secret, secret_text: &str, id: &str, ts: i64, body: &[u8], clock: i64) {
    let signature = sign(secret, id, ts, body);
    let ts_text = ts.to_string();
    let check = |id: &str, ts_text: &str, body: &[u8], signature: &str, now: i64| {
        let headers = [("webhook-id", id), ("webhook-timestamp", ts_text), ("webhook-signature", signature)];
        verify(secret_text, |n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v), body, now)
    };
    // Anywhere within five minutes: the clock line picks where.
    let offset = clock.rem_euclid(2 * TOLERANCE_SECS + 1) - TOLERANCE_SECS;
    let Some(now) = ts.checked_add(offset) else { return };
    assert_eq!(check(id, &ts_text, body, &signature, now), Ok(()), "a signed message does not verify");
    if let Some(late) = ts.checked_add(TOLERANCE_SECS + 1) {
        assert_eq!(check(id, &ts_text, body, &signature, late), Err(VerifyError::TimestampTooOld), "too old");
    }
    if let Some(early) = ts.checked_sub(TOLERANCE_SECS + 1) {
        assert_eq!(
            check(id, &ts_text, body, &signature, early),
            Err(VerifyError::TimestampTooNew),
            "too new"
        );
    }
    // Beside other signatures (a rotated secret): still verified.
    let two = format!("v1,AAAA {signature} v2,x");
    assert_eq!(check(id, &ts_text, body, &two, now), Ok(()), "one of several signatures");

    // Any single-byte change fails: of the body (at most 32 positions spread over it), of the id, of
    // the timestamp. The flip varies with the position.
    let flip = |i: usize| 1u8 << (i % 8);
    let mut tampered = body.to_vec();
    for i in positions(body.len(), 32) {
        tampered[i] ^= flip(i);
        assert_eq!(
            check(id, &ts_text, &tampered, &signature, now),
            Err(VerifyError::NoMatchingSignature),
            "a body changed at byte {i} of {} verifies",
            body.len()
        );
        tampered[i] ^= flip(i);
    }
    let mut id_bytes = id.as_bytes().to_vec();
    for i in positions(id_bytes.len(), 64) {
        id_bytes[i] ^= flip(i);
        if let Ok(changed) = std::str::from_utf8(&id_bytes) {
            assert_eq!(
                check(changed, &ts_text, body, &signature, now),
                Err(VerifyError::NoMatchingSignature),
                "an id changed at byte {i} verifies"
            );
        }
        id_bytes[i] ^= flip(i);
    }
    let mut ts_bytes = ts_text.clone().into_bytes();
    for i in 0..ts_bytes.len() {
        for x in [1u8, 0x10, 0x40] {
            ts_bytes[i] ^= x;
            if let Ok(changed) = std::str::from_utf8(&ts_bytes) {
                assert!(
                    check(id, changed, body, &signature, now).is_err(),
                    "a timestamp changed at {i} verifies"
                );
            }
            ts_bytes[i] ^= x;
        }
    }

    // Another secret (its first byte changed) does not verify it.
    let other_bytes: Vec<u8> = secret_text
        .strip_prefix("whsec_")
        .unwrap_or(secret_text)
        .bytes()
        .enumerate()
        .map(|(i, b)| if i == 0 { b'A' + (b == b'A') as u8 } else { b })
        .collect();
    let other = String::from_utf8_lossy(&other_bytes);
    if let Ok(other_secret) = Secret::parse(&other) {
        if sign(&other_secret, id, ts, body) != signature {
            let headers = [
                ("webhook-id", id),
                ("webhook-timestamp", ts_text.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            let result =
                verify(&other, |n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v), body, now);
            assert_eq!(result, Err(VerifyError::NoMatchingSignature), "another secret verifies");
        }
    }
}

/// Up to `max` positions in `0..len`: all of them, or spread evenly with the first and the last.
fn positions(len: usize, max: usize) -> Vec<usize> {
    if len <= max {
        return (0..len).collect();
    }
    (0..max).map(|k| k * (len - 1) / (max - 1)).collect()
}

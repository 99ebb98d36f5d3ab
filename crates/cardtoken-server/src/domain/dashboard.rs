//! What the dashboard does beyond the API's own operations, for a signed-in person acting as a caller
//! of their account in the mode the switch selects (`users::caller`): the account's API keys (create a
//! pair, roll, revoke, scoped to the caller), a test event for one webhook endpoint, deleting an endpoint
//! idempotently, a payment's timeline, and redacting what a page must never show.
//!
//! Every change runs through `idempotency::run` (the dashboard sends a key per click, so a double click
//! does nothing twice). What those records keep is the answer's `Serialize` form, which never holds a
//! secret: a new secret key is in the answer only for the page that shows it once.

use cardtoken_types::wire::Payment;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use crate::store::{self, ApiKeyRecord, DeliveryRecord, EventRecord, KeyKind, RefundRecord, TEST_EVENT};

use super::accounts::{self, NewKey};
use super::events::{self, new_event, Redelivered};
use super::idempotency::{self, Idempotency, Render, Reply};
use super::webhook_endpoints::endpoint_json;
use super::{disputes, payments, Caller, Error, Services};

/// A key just made, as the dashboard answers it. Serialized (for the idempotency record), it holds the
/// publishable key or the secret key's hint, never the secret key.
#[derive(Debug, Serialize)]
pub struct MadeKey {
    pub id: String,
    pub kind: &'static str,
    pub livemode: bool,
    /// The publishable key in full, or the secret key's hint (`sk_test_…wxyz`).
    pub shown: String,
    /// The secret key itself, for the one page that shows it.
    #[serde(skip)]
    pub secret: Option<SecretString>,
}

impl MadeKey {
    fn of(k: NewKey) -> MadeKey {
        let key = accounts::reveal(&k).to_string();
        let (shown, secret) = match k.kind {
            KeyKind::Publishable => (key, None),
            KeyKind::Secret => (hint(&key), Some(SecretString::from(key))),
        };
        MadeKey { id: k.id, kind: k.kind.as_str(), livemode: k.livemode, shown, secret }
    }

    /// The secret key, for the page that shows it once.
    pub fn reveal(&self) -> Option<&str> {
        self.secret.as_ref().map(|s| s.expose_secret())
    }
}

/// A secret key as listings show it: `sk_test_…wxyz`.
fn hint(key: &str) -> String {
    let (Some(head), Some(tail)) = (key.get(..8), key.get(key.len().saturating_sub(4)..)) else {
        return "…".to_string();
    };
    format!("{head}…{tail}")
}

/// A new key pair.
#[derive(Debug, Serialize)]
pub struct MadeKeys {
    pub publishable: MadeKey,
    pub secret: MadeKey,
}

/// A roll: the new key, and when the old one stops working.
#[derive(Debug, Serialize)]
pub struct Rolled {
    pub old: String,
    pub old_expires: i64,
    pub new: MadeKey,
}

/// A key revoked, or an endpoint deleted.
#[derive(Debug, Serialize)]
pub struct Done {
    pub id: String,
}

/// The caller's account's keys of the caller's mode, oldest first.
pub async fn keys(svc: &Services, caller: &Caller) -> Result<Vec<ApiKeyRecord>, Error> {
    let scope = caller.scope.clone();
    let all = store::read(&svc.store, move |tx| tx.list_keys(Some(&scope.account))).await?;
    Ok(all.into_iter().filter(|k| k.livemode == caller.scope.livemode).collect())
}

/// A key of the caller's account and mode that still works, if `id` names one.
fn own_active_key(
    tx: &mut dyn store::Tx,
    caller: &Caller,
    id: &str,
    now: i64,
) -> store::Result<Option<ApiKeyRecord>> {
    Ok(tx.get_key(id)?.filter(|k| {
        k.account_id == caller.scope.account && k.livemode == caller.scope.livemode && k.active(now)
    }))
}

/// Makes a new publishable and secret key pair in the caller's account and mode.
pub async fn create_keys(
    svc: &Services,
    caller: &Caller,
    idem: Option<Idempotency>,
    render: Render<MadeKeys>,
) -> Reply<MadeKeys> {
    let now = svc.now();
    let scope = caller.scope.clone();
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        let publishable = accounts::make_key(tx, &scope.account, scope.livemode, KeyKind::Publishable, now)?;
        let secret = accounts::make_key(tx, &scope.account, scope.livemode, KeyKind::Secret, now)?;
        Ok(Ok(MadeKeys { publishable: MadeKey::of(publishable), secret: MadeKey::of(secret) }))
    })
    .await;
    if let Some(Ok(made)) = reply.fresh() {
        tracing::info!(publishable = %made.publishable.id, secret = %made.secret.id, "key pair created (dashboard)");
    }
    reply
}

/// Rolls a key of the caller's account and mode (`accounts::roll_in`); the old one works for `grace`
/// seconds more. This instance's key cache is cleared, so the change holds here at once.
pub async fn roll_key(
    svc: &Services,
    caller: &Caller,
    id: &str,
    grace: i64,
    idem: Option<Idempotency>,
    render: Render<Rolled>,
) -> Reply<Rolled> {
    if let Err(e) = accounts::check_grace(grace) {
        return Reply::Fresh(Err(e));
    }
    let now = svc.now();
    let (caller_, id) = (caller.clone(), id.to_string());
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        let Some(old) = own_active_key(tx, &caller_, &id, now)? else {
            return Ok(Err(Error::not_found("API key")));
        };
        let new = accounts::roll_in(tx, &old, grace, now)?;
        Ok(Ok(Rolled { old: old.id, old_expires: now + grace, new: MadeKey::of(new) }))
    })
    .await;
    svc.keys.clear();
    if let Some(Ok(r)) = reply.fresh() {
        tracing::info!(old = %r.old, new = %r.new.id, grace, "key rolled (dashboard)");
    }
    reply
}

/// Revokes a key of the caller's account and mode: it stops working at once (here; elsewhere within
/// `accounts::KEY_CACHE`).
pub async fn revoke_key(
    svc: &Services,
    caller: &Caller,
    id: &str,
    idem: Option<Idempotency>,
    render: Render<Done>,
) -> Reply<Done> {
    let now = svc.now();
    let (caller_, id) = (caller.clone(), id.to_string());
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        let Some(key) = own_active_key(tx, &caller_, &id, now)? else {
            return Ok(Err(Error::not_found("API key")));
        };
        tx.revoke_key(&key.id, now)?;
        Ok(Ok(Done { id: key.id }))
    })
    .await;
    svc.keys.clear();
    if let Some(Ok(d)) = reply.fresh() {
        tracing::info!(key = %d.id, "key revoked (dashboard)");
    }
    reply
}

/// Sends a test event (`webhook_endpoint.test`, about the endpoint) to one endpoint: written to the
/// outbox like any event, with a delivery to that endpoint only (endpoints taking every type do not
/// take test events).
pub async fn send_test_event(
    svc: &Services,
    caller: &Caller,
    endpoint: &str,
    idem: Option<Idempotency>,
    render: Render<Redelivered>,
) -> Reply<Redelivered> {
    let now = svc.now();
    let (scope, id) = (caller.scope.clone(), endpoint.to_string());
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        let Some(e) = tx.get_endpoint(&scope, &id)? else {
            return Ok(Err(Error::not_found("webhook endpoint")));
        };
        let event = match new_event(&scope, TEST_EVENT, &e.id, &endpoint_json(&e, false), now) {
            Ok(ev) => ev,
            Err(err) => return Ok(Err(err)),
        };
        tx.insert_events(std::slice::from_ref(&event))?;
        let n = tx.redeliver_event(&scope, &event.id, Some(&e.id), now)?.unwrap_or(0);
        Ok(Ok(Redelivered { event: event.id, deliveries_queued: n }))
    })
    .await;
    if let Some(Ok(r)) = reply.fresh() {
        tracing::info!(event = %r.event, "test event sent (dashboard)");
    }
    reply
}

/// Deletes an endpoint of the caller's (its pending deliveries fail); a repeated click replays.
pub async fn delete_endpoint(
    svc: &Services,
    caller: &Caller,
    id: &str,
    idem: Option<Idempotency>,
    render: Render<Done>,
) -> Reply<Done> {
    let now = svc.now();
    let (scope, id) = (caller.scope.clone(), id.to_string());
    idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        if tx.delete_endpoint(&scope, &id, now)? {
            Ok(Ok(Done { id }))
        } else {
            Ok(Err(Error::not_found("webhook endpoint")))
        }
    })
    .await
}

/// One event of a timeline, with its deliveries.
#[derive(Debug)]
pub struct TimelineEvent {
    pub event: EventRecord,
    pub deliveries: Vec<DeliveryRecord>,
}

/// A payment as its page shows it: the payment, its refunds and disputes, and every event about any of
/// them, oldest first, each with its deliveries.
#[derive(Debug)]
pub struct PaymentPage {
    pub payment: Payment,
    pub refunds: Vec<RefundRecord>,
    pub disputes: Vec<Value>,
    pub timeline: Vec<TimelineEvent>,
}

/// A payment of the caller's account and mode, with its timeline; 404 for any other.
pub async fn payment_page(svc: &Services, caller: &Caller, id: &str) -> Result<PaymentPage, Error> {
    let payment = payments::get(svc, caller, id, None).await?;
    let pid = payment.id.clone();
    let refunds = store::read(&svc.store, move |tx| tx.refunds_of(&pid)).await?;
    let disputes = disputes::of_payment(svc, caller, &payment.id).await?;
    let mut objects = vec![payment.id.clone()];
    objects.extend(refunds.iter().map(|r| r.id.clone()));
    objects.extend(disputes.iter().filter_map(|d| d["id"].as_str().map(str::to_string)));
    let mut found = Vec::new();
    for object in objects {
        let (rows, _) = events::list(svc, caller, 100, None, None, Some(object)).await?;
        found.extend(rows);
    }
    // Ids begin with their creation time: sorting by id is the order they happened in.
    found.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    let mut timeline = Vec::with_capacity(found.len());
    for event in found {
        let deliveries = events::deliveries(svc, caller, &event.id).await?;
        timeline.push(TimelineEvent { event, deliveries });
    }
    Ok(PaymentPage { payment, refunds, disputes, timeline })
}

/// Whether a word (a run of letters, digits and `_`) is a secret a page must not show: a secret key, a
/// webhook signing secret, or a payment's client secret.
fn is_secret_word(w: &str) -> bool {
    w.starts_with("sk_test_")
        || w.starts_with("sk_live_")
        || w.starts_with("whsec_")
        || w.contains("_secret_")
}

/// `text` with every secret word replaced by `[redacted]` (event bodies and receivers' answers hold
/// payments' client secrets, and a receiver may echo anything).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if is_secret_word(word) {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        // A signing secret is base64: its `+`, `/` and `=` belong to it.
        let base64 = word.starts_with("whsec_") && matches!(c, '+' | '/' | '=');
        if c.is_ascii_alphanumeric() || c == '_' || base64 {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// An event's body as a page shows it: pretty JSON, secrets redacted.
pub fn event_for_display(e: &EventRecord) -> String {
    let value = events::event_value(e);
    redact(&serde_json::to_string_pretty(&value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_nothing_else() {
        let text = r#"{"client_secret":"pay_0abc_secret_XyZ","url":"http://x/3ds/pay_0abc?client_secret=pay_0abc_secret_XyZ","key":"sk_test_abc","w":"whsec_AbC+/=","id":"pay_0abc"}"#;
        let out = redact(text);
        for gone in ["pay_0abc_secret_XyZ", "sk_test_abc", "whsec_AbC"] {
            assert!(!out.contains(gone), "{out}");
        }
        assert!(
            out.contains(r#""client_secret":"[redacted]""#) && out.contains(r#""id":"pay_0abc""#),
            "{out}"
        );
        assert!(out.contains(r#""w":"[redacted]""#), "{out}");
        assert_eq!(hint("sk_test_abcdefghwxyz"), "sk_test_…wxyz");
        assert_eq!(redact("héllo sk_live_x, ok"), "héllo [redacted], ok");
    }
}

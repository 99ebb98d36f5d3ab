//! Payments: authorize (and capture), capture, cancel (void), and the 3-D Secure challenge's outcome.
//! Every change to a payment goes through `state::next` (the one state machine) inside one transaction
//! that reads the payment for update, decides and writes the change with its events and jobs, so
//! concurrent captures, cancels, refunds and challenge results of one payment are serialized and tell
//! one story.

pub mod processor;
pub mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cardtoken_types::wire::{CaptureMethod, LastError, NextAction, Payment, PaymentCard, PaymentStatus};
use cardtoken_types::{Brand, Currency};
use subtle::ConstantTimeEq;

use crate::ids::{new_id, random_alnum};
use crate::store::{
    self, DisputeRecord, NewEvent, NewJob, PaymentFilter, PaymentRecord, RefundRecord, Scope, StoreError,
    TokenRecord, Tx,
};
use crate::vault::OpenedCard;
use processor::{AuthRequest, Decision, Decline, Processor, LIVE_MODE_TEST_CARD};
use state::{next, Event};

use super::events::{new_event, payment_event_type};
use super::idempotency::{self, Idempotency, OpResult, Render, Reply};
use super::monitoring::Outcome;
use super::{cvcs, tokens, Caller, Error, Services};

pub fn payment_json(p: &PaymentRecord) -> Payment {
    Payment {
        id: p.id.clone(),
        object: "payment".to_string(),
        amount: p.amount,
        currency: p.currency.clone(),
        status: p.status,
        amount_capturable: p.amount_capturable,
        amount_captured: p.amount_captured,
        amount_refunded: p.amount_refunded,
        capture_method: if p.capture { CaptureMethod::Automatic } else { CaptureMethod::Manual },
        client_secret: p.client_secret.clone(),
        card: PaymentCard {
            brand: Brand::from_name(&p.brand).unwrap_or(Brand::Visa),
            last4: p.last4.clone(),
            exp_month: p.exp_month,
            exp_year: p.exp_year,
        },
        next_action: p
            .next_action_url
            .as_ref()
            .map(|url| NextAction { kind: "three_d_secure".to_string(), url: url.clone() }),
        last_error: p.last_error_code.as_ref().map(|code| LastError {
            code: code.clone(),
            decline_code: p.last_error_decline_code.clone(),
            message: p.last_error_message.clone().unwrap_or_default(),
        }),
        description: p.description.clone(),
        created: p.created,
        livemode: p.livemode,
        metadata: serde_json::from_str(&p.metadata).unwrap_or_default(),
    }
}

pub fn no_such_payment() -> Error {
    Error::not_found("payment")
}

/// An illegal transition: 400 naming the current status, with the payment.
pub fn unexpected_state(p: &PaymentRecord, action: &str) -> Error {
    let allowed = match p.status {
        PaymentStatus::RequiresAction => "it waits for 3-D Secure: complete or cancel it",
        PaymentStatus::RequiresCapture => "it can be captured or canceled",
        PaymentStatus::Succeeded => "it can be refunded",
        PaymentStatus::Failed | PaymentStatus::Canceled => "it is final",
    };
    Error::invalid(
        "payment_unexpected_state",
        format!("This payment's status is `{}`, so it cannot be {action}; {allowed}.", p.status.as_str()),
        None,
    )
    .with_payment(payment_json(p))
}

pub fn amount_error(code: &'static str, message: String) -> Error {
    Error::invalid(code, message, Some("amount"))
}

/// Validated parameters of a new payment.
pub struct NewPayment {
    pub amount: u64,
    pub currency: Currency,
    pub token: String,
    pub capture: bool,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

fn record_decline(p: &mut PaymentRecord, d: &Decline) {
    p.last_error_code = Some(d.code.to_string());
    p.last_error_decline_code = d.decline_code.map(str::to_string);
    p.last_error_message = Some(d.message.to_string());
}

fn decline_error(d: &Decline, p: &PaymentRecord) -> Error {
    Error::Card { code: d.code, message: d.message, param: None, decline_code: d.decline_code }
        .with_payment(payment_json(p))
}

/// Applies the issuer's decision to a payment (new, or waiting for 3-D Secure), through the state machine.
fn decide(p: &mut PaymentRecord, decision: Decision, from: Option<PaymentStatus>) -> Result<(), Error> {
    let event = match decision {
        Decision::Approve => Event::Authorized { capture: p.capture },
        Decision::Challenge => Event::ChallengeRequired,
        Decision::Decline(_) => Event::Declined,
    };
    p.status = next(from, event).ok_or_else(|| unexpected_state(p, "authorized"))?;
    if let Decision::Decline(d) = &decision {
        record_decline(p, d);
    }
    p.amount_capturable = if p.status == PaymentStatus::RequiresCapture { p.amount } else { 0 };
    p.amount_captured = if p.status == PaymentStatus::Succeeded { p.amount } else { 0 };
    if p.status != PaymentStatus::RequiresAction {
        p.next_action_url = None;
    }
    Ok(())
}

/// A change to a payment, written by [`apply`] in the operation's transaction.
pub struct Change {
    /// The payment after the change, with the version that was read.
    pub payment: PaymentRecord,
    pub refund: Option<RefundRecord>,
    /// A refund that failed at the bank (its id).
    pub refund_failed: Option<String>,
    pub dispute: Option<DisputeRecord>,
    pub events: Vec<NewEvent>,
    pub jobs: Vec<NewJob>,
}

impl Change {
    /// A change to the payment, with its status event.
    pub fn of(payment: PaymentRecord, now: i64) -> Result<Change, Error> {
        let event = new_event(
            &payment.scope(),
            payment_event_type(payment.status),
            &payment.id,
            &payment_json(&payment),
            now,
        )?;
        Ok(Change {
            payment,
            refund: None,
            refund_failed: None,
            dispute: None,
            events: vec![event],
            jobs: Vec::new(),
        })
    }
}

/// Writes a change: the payment over the version read (compare-and-set), and what comes with it.
pub fn apply(tx: &mut dyn Tx, c: &Change) -> Result<(), StoreError> {
    if !tx.update_payment(&c.payment)? {
        return Err(StoreError::Conflict("the payment changed inside its own transaction".into()));
    }
    if let Some(r) = &c.refund {
        tx.insert_refund(r)?;
    }
    if let Some(id) = &c.refund_failed {
        tx.set_refund_status(id, "failed")?;
    }
    if let Some(d) = &c.dispute {
        tx.insert_dispute(d)?;
    }
    tx.insert_events(&c.events)?;
    tx.insert_jobs(&c.jobs)?;
    Ok(())
}

/// Reads a payment for update and lets `decide` change it, in the caller's transaction. Answers the
/// payment after the change, and the change.
pub fn change_in<F>(tx: &mut dyn Tx, scope: &Scope, id: &str, decide: F) -> OpResult<(PaymentRecord, Change)>
where
    F: FnOnce(&PaymentRecord) -> Result<Change, Error>,
{
    let Some(current) = tx.lock_payment(scope, id)? else { return Ok(Err(no_such_payment())) };
    let mut change = match decide(&current) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    change.payment.version = current.version;
    apply(tx, &change)?;
    let mut after = change.payment.clone();
    after.version += 1;
    Ok(Ok((after, change)))
}

/// The processor of a mode: test cards in test mode, the live one if configured.
pub fn processor_for(svc: &Services, livemode: bool) -> Option<&dyn Processor> {
    if livemode {
        svc.processors.live.as_deref()
    } else {
        Some(svc.processors.test.as_ref())
    }
}

fn live_unavailable() -> Error {
    Error::invalid(
        "live_mode_unavailable",
        "Live payments need a live processor, and none is configured on this server yet. Tokens can be \
         made in live mode; use test mode (sk_test_…) for payments until a live processor is set up.",
        None,
    )
}

/// The card a payment was made with, out of the vault (its CVC long erased).
pub async fn card_of(svc: &Services, p: &PaymentRecord) -> Result<OpenedCard, Error> {
    let (scope, tid) = (p.scope(), p.token_id.clone());
    let token = store::read(&svc.store, move |tx| tx.get_token(&scope, &tid))
        .await?
        .ok_or_else(|| Error::internal("a payment's token is missing"))?;
    tokens::open(svc, &token, false).await
}

/// Whether the payment's card opens a dispute once captured (the processor says).
async fn disputes_once_captured(svc: &Services, p: &PaymentRecord) -> Result<bool, Error> {
    let Some(processor) = processor_for(svc, p.livemode) else { return Ok(false) };
    let card = card_of(svc, p).await?;
    Ok(processor.disputes_after_capture(&card.number))
}

/// The dispute a disputing card opens once the payment is captured, at `due`.
fn dispute_job(p: &PaymentRecord, disputes: bool, due: i64) -> Vec<NewJob> {
    if disputes && p.status == PaymentStatus::Succeeded {
        vec![NewJob { kind: "dispute".to_string(), subject: p.id.clone(), due }]
    } else {
        Vec::new()
    }
}

/// Counts an authorization's outcome for the success rate and the declines by code.
fn record_outcome(svc: &Services, scope: &Scope, result: &Result<Payment, Error>, now: i64) {
    let outcome = match result {
        Ok(p) if p.status == PaymentStatus::RequiresAction => return,
        Ok(_) => Outcome::Succeeded,
        Err(e) => match e.inner() {
            Error::Card { code, decline_code, .. } => Outcome::Declined(decline_code.unwrap_or(code)),
            _ => return,
        },
    };
    svc.monitor.record_payment(scope, now, outcome);
}

enum Plan {
    /// Refused before anything is written (the refusal is still kept for idempotent replay).
    Refuse(Error),
    Charge(Box<Charge>),
}

struct Charge {
    /// The token it uses.
    token: TokenRecord,
    payment: PaymentRecord,
    events: Vec<NewEvent>,
    jobs: Vec<NewJob>,
    result: Result<Payment, Error>,
}

/// Everything before the transaction: the token's card, the processor's decision, the new payment.
async fn plan(svc: &Services, caller: &Caller, new: NewPayment, now: i64) -> Result<Plan, Error> {
    let scope = caller.scope.clone();
    let (s, tid) = (scope.clone(), new.token.clone());
    let token = match store::read(&svc.store, move |tx| tx.get_token(&s, &tid)).await? {
        Some(t) if !t.used && t.expires > now => t,
        other => return Ok(Plan::Refuse(tokens::unusable(other.as_ref(), now))),
    };
    let card = tokens::open(svc, &token, true).await?;
    svc.monitor.record_cvc(card.cvc.is_some());
    let (decision, disputes) = if scope.livemode && processor::is_test_card(&card.number) {
        (Decision::Decline(LIVE_MODE_TEST_CARD), false)
    } else {
        let Some(processor) = processor_for(svc, scope.livemode) else {
            return Ok(Plan::Refuse(live_unavailable()));
        };
        let decision = processor.authorize(&AuthRequest {
            number: &card.number,
            cvc: card.cvc.as_ref(),
            amount: new.amount,
            currency: new.currency,
        });
        (decision, processor.disputes_after_capture(&card.number))
    };
    drop(card);

    let id = new_id("pay").map_err(Error::internal)?;
    let client_secret = format!("{id}_secret_{}", random_alnum(24).map_err(Error::internal)?);
    let mut p = PaymentRecord {
        next_action_url: Some(format!("{}/3ds/{id}?client_secret={client_secret}", svc.api_base)),
        id,
        account_id: scope.account.clone(),
        livemode: scope.livemode,
        key_id: caller.key_id.clone(),
        token_id: new.token,
        amount: new.amount,
        currency: new.currency.code().to_string(),
        status: PaymentStatus::RequiresAction,
        amount_capturable: 0,
        amount_captured: 0,
        amount_refunded: 0,
        capture: new.capture,
        client_secret,
        brand: token.brand.clone(),
        last4: token.last4.clone(),
        exp_month: token.exp_month,
        exp_year: token.exp_year,
        last_error_code: None,
        last_error_decline_code: None,
        last_error_message: None,
        description: new.description,
        metadata: serde_json::to_string(&new.metadata).map_err(Error::internal)?,
        created: now,
        version: 0,
    };
    decide(&mut p, decision, None)?;
    let events = vec![new_event(&scope, payment_event_type(p.status), &p.id, &payment_json(&p), now)?];
    let jobs = dispute_job(&p, disputes, now + svc.config.async_delay_secs);
    let result = match decision {
        Decision::Decline(d) => Err(decline_error(&d, &p)),
        _ => Ok(payment_json(&p)),
    };
    Ok(Plan::Charge(Box::new(Charge { token, payment: p, events, jobs, result })))
}

/// Authorizes (and captures, unless `capture` is false) with a token, which this uses up: the token's
/// use, the payment, its event and deliveries, its jobs and the idempotent response commit together.
pub async fn create(
    svc: &Services,
    caller: &Caller,
    new: NewPayment,
    idem: Option<Idempotency>,
    render: Render<Payment>,
) -> Reply<Payment> {
    let now = svc.now();
    let token_id = new.token.clone();
    let scope = caller.scope.clone();
    let fp = svc.failpoints.clone();
    // The token, once this operation used it (its CVC is then let go).
    let used: Arc<Mutex<Option<TokenRecord>>> = Arc::default();
    let used_in = used.clone();
    // The processor is asked only once the key is held and no finished request answers it.
    let prepare = || async move { plan(svc, caller, new, now).await.unwrap_or_else(Plan::Refuse) };
    let reply =
        idempotency::run_prepared(svc, &caller.scope, idem, render, prepare, move |plan, tx| match plan {
            Plan::Refuse(e) => Ok(Err(e)),
            Plan::Charge(c) => {
                if !tx.use_token(&scope, &token_id, now)? {
                    let found = tx.get_token(&scope, &token_id)?;
                    return Ok(Err(tokens::unusable(found.as_ref(), now)));
                }
                *used_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.token.clone());
                fp.check("payment_after_token_used")?;
                tx.insert_payment(&c.payment)?;
                fp.check("payment_after_payment_written")?;
                tx.insert_events(&c.events)?;
                fp.check("payment_after_events_written")?;
                tx.insert_jobs(&c.jobs)?;
                Ok(c.result)
            }
        })
        .await;
    // Committed (a failed transaction answers an internal error, and its retry needs the CVC again):
    // the used token's CVC is dropped, wherever it is held.
    let used = used.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(token) =
        used.filter(|_| !matches!(reply.fresh(), Some(Err(e)) if matches!(e.inner(), Error::Internal(_))))
    {
        cvcs::let_go(svc, &token).await;
    }
    if let Some(result) = reply.fresh() {
        record_outcome(svc, &caller.scope, result, now);
        match result {
            Ok(p) => tracing::info!(payment = %p.id, status = p.status.as_str(), amount = p.amount,
                currency = %p.currency, "payment created"),
            Err(e) => tracing::info!(code = %e.to_wire().code, "payment refused"),
        }
    }
    reply
}

/// With a secret key, any payment of its account and mode; with a publishable key, only with the
/// payment's client secret.
pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: &str,
    client_secret: Option<&str>,
) -> Result<Payment, Error> {
    check_id(id)?;
    let (scope, pid) = (caller.scope.clone(), id.to_string());
    let p =
        store::read(&svc.store, move |tx| tx.get_payment(&scope, &pid)).await?.ok_or_else(no_such_payment)?;
    if caller.kind == crate::store::KeyKind::Publishable {
        let Some(secret) = client_secret else {
            return Err(Error::Permission {
                code: "client_secret_required",
                message: "With a publishable key, send the payment's `client_secret` to read it.",
            });
        };
        if !client_secret_matches(&p, secret) {
            return Err(no_such_payment());
        }
    }
    Ok(payment_json(&p))
}

pub fn check_id(id: &str) -> Result<(), Error> {
    if id.starts_with("pay_") && id.len() <= 64 {
        Ok(())
    } else {
        Err(no_such_payment())
    }
}

/// Payments of the caller's account and mode, newest first.
pub async fn list(
    svc: &Services,
    caller: &Caller,
    filter: PaymentFilter,
    limit: usize,
    starting_after: Option<String>,
) -> Result<(Vec<Payment>, bool), Error> {
    let scope = caller.scope.clone();
    let (rows, more) = store::read(&svc.store, move |tx| {
        tx.list_payments(&scope, &filter, limit, starting_after.as_deref())
    })
    .await?;
    Ok((rows.iter().map(payment_json).collect(), more))
}

/// Captures all or part of an authorization; the rest is released.
pub async fn capture(
    svc: &Services,
    caller: &Caller,
    id: &str,
    amount: Option<u64>,
    idem: Option<Idempotency>,
    render: Render<Payment>,
) -> Reply<Payment> {
    let now = svc.now();
    let disputes = match load(svc, &caller.scope, id).await {
        Ok(Some(p)) => match disputes_once_captured(svc, &p).await {
            Ok(d) => d,
            Err(e) => return Reply::Fresh(Err(e)),
        },
        Ok(None) => false,
        Err(e) => return Reply::Fresh(Err(e)),
    };
    let due = now + svc.config.async_delay_secs;
    let (scope, id) = (caller.scope.clone(), id.to_string());
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        let changed = change_in(tx, &scope, &id, |p| {
            let status =
                next(Some(p.status), Event::Capture).ok_or_else(|| unexpected_state(p, "captured"))?;
            let amount = amount.unwrap_or(p.amount_capturable);
            if amount == 0 {
                return Err(amount_error(
                    "amount_too_small",
                    "The amount to capture must be at least 1.".into(),
                ));
            }
            if amount > p.amount_capturable {
                return Err(amount_error(
                    "amount_too_large",
                    format!(
                        "The amount to capture can be at most the {} {} authorized.",
                        p.amount_capturable, p.currency
                    ),
                ));
            }
            // A partial capture releases the rest of the authorization.
            let mut c = Change::of(
                PaymentRecord { status, amount_captured: amount, amount_capturable: 0, ..p.clone() },
                now,
            )?;
            c.jobs = dispute_job(&c.payment, disputes, due);
            Ok(c)
        })?;
        Ok(changed.map(|(p, _)| payment_json(&p)))
    })
    .await;
    if let Some(Ok(p)) = reply.fresh() {
        tracing::info!(payment = %p.id, captured = p.amount_captured, "payment captured");
    }
    reply
}

/// Voids an authorization, or a payment waiting for 3-D Secure.
pub async fn cancel(
    svc: &Services,
    caller: &Caller,
    id: &str,
    idem: Option<Idempotency>,
    render: Render<Payment>,
) -> Reply<Payment> {
    let now = svc.now();
    let (scope, id) = (caller.scope.clone(), id.to_string());
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        let changed = change_in(tx, &scope, &id, |p| {
            let status =
                next(Some(p.status), Event::Cancel).ok_or_else(|| unexpected_state(p, "canceled"))?;
            Change::of(
                PaymentRecord { status, amount_capturable: 0, next_action_url: None, ..p.clone() },
                now,
            )
        })?;
        Ok(changed.map(|(p, _)| payment_json(&p)))
    })
    .await;
    if let Some(Ok(p)) = reply.fresh() {
        tracing::info!(payment = %p.id, "payment canceled");
    }
    reply
}

/// A payment of the caller's scope, if there is one.
pub async fn load(svc: &Services, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>, Error> {
    let (scope, id) = (scope.clone(), id.to_string());
    Ok(store::read(&svc.store, move |tx| tx.get_payment(&scope, &id)).await?)
}

/// Checks a client secret against the payment's, in constant time.
pub fn client_secret_matches(p: &PaymentRecord, secret: &str) -> bool {
    p.client_secret.as_bytes().ct_eq(secret.as_bytes()).into()
}

/// A payment by id and client secret (the 3-D Secure page); 404 for a wrong secret.
pub async fn find_with_secret(svc: &Services, id: &str, client_secret: &str) -> Result<PaymentRecord, Error> {
    check_id(id)?;
    let pid = id.to_string();
    let p = store::read(&svc.store, move |tx| tx.find_payment(&pid)).await?.ok_or_else(no_such_payment)?;
    if client_secret_matches(&p, client_secret) {
        Ok(p)
    } else {
        Err(no_such_payment())
    }
}

/// The outcome of the 3-D Secure challenge: the issuer decides (pass → approved, or declined after
/// all; fail → `authentication_failed`). Whether the payment still waits is decided inside the
/// transaction, from the payment as it is then: a challenge racing a cancel ends one way only.
pub async fn complete_challenge(
    svc: &Services,
    id: &str,
    client_secret: &str,
    passed: bool,
) -> Result<Payment, Error> {
    let current = find_with_secret(svc, id, client_secret).await?;
    if current.status != PaymentStatus::RequiresAction {
        return Err(unexpected_state(&current, "authenticated"));
    }
    let processor = processor_for(svc, current.livemode).ok_or_else(live_unavailable)?;
    let card = card_of(svc, &current).await?;
    let currency = Currency::parse(&current.currency).ok_or_else(|| Error::internal("stored currency"))?;
    let decision = processor.complete_challenge(
        &AuthRequest { number: &card.number, cvc: None, amount: current.amount, currency },
        passed,
    );
    let disputes = processor.disputes_after_capture(&card.number);
    drop(card);
    let now = svc.now();
    let due = now + svc.config.async_delay_secs;
    let scope = current.scope();
    let pid = current.id.clone();
    let result = store::write(&svc.store, move |tx| {
        let changed = change_in(tx, &scope, &pid, |p| {
            let mut after = p.clone();
            decide(&mut after, decision, Some(p.status)).map_err(|_| unexpected_state(p, "authenticated"))?;
            let mut c = Change::of(after, now)?;
            c.jobs = dispute_job(&c.payment, disputes, due);
            Ok(c)
        })?;
        Ok(changed.map(|(p, _)| p))
    })
    .await?;
    let p = result?;
    tracing::info!(payment = %p.id, status = p.status.as_str(), "3-D Secure completed");
    let result = match decision {
        Decision::Decline(d) => Err(decline_error(&d, &p)),
        _ => Ok(payment_json(&p)),
    };
    record_outcome(svc, &p.scope(), &result, now);
    result
}

//! Payments: authorize (and capture), capture, cancel (void), refund, and the 3-D Secure challenge's
//! outcome. Every change to a payment goes through `state::next` (the one state machine) inside
//! `Store::mutate_payment` (one transaction), so concurrent captures, cancels and refunds of one
//! payment are serialized and can never over-capture or over-refund.

pub mod processor;
pub mod state;

use std::collections::BTreeMap;

use cardtoken_types::wire::{
    CaptureMethod, LastError, NextAction, Payment, PaymentCard, PaymentStatus, Refund, RefundStatus,
};
use cardtoken_types::{Brand, Currency};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::events::{new_event, payment_event_type};
use crate::ids::{new_id, random_alnum};
use crate::routes::tokens;
use crate::state::AppState;
use crate::store::{ApiKeyRecord, NewJob, PaymentChange, PaymentRecord, RefundRecord};
use crate::vault::OpenedCard;
use processor::{AuthRequest, Decision, Decline, RefundDecision};
use state::{next, Event};

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
        metadata: serde_json::from_str(&p.metadata).unwrap_or_default(),
    }
}

pub fn refund_json(r: &RefundRecord) -> Refund {
    Refund {
        id: r.id.clone(),
        object: "refund".to_string(),
        payment: r.payment_id.clone(),
        amount: r.amount,
        currency: r.currency.clone(),
        status: if r.status == "failed" { RefundStatus::Failed } else { RefundStatus::Succeeded },
        created: r.created,
    }
}

pub fn no_such_payment() -> ApiError {
    ApiError::NotFound { message: "No such payment.".to_string() }
}

/// An illegal transition: 400 naming the current status, with the payment.
fn unexpected_state(p: &PaymentRecord, action: &str) -> ApiError {
    let allowed = match p.status {
        PaymentStatus::RequiresAction => "it waits for 3-D Secure: complete or cancel it",
        PaymentStatus::RequiresCapture => "it can be captured or canceled",
        PaymentStatus::Succeeded => "it can be refunded",
        PaymentStatus::Failed | PaymentStatus::Canceled => "it is final",
    };
    ApiError::invalid(
        "payment_unexpected_state",
        format!("This payment's status is `{}`, so it cannot be {action}; {allowed}.", p.status.as_str()),
        None,
    )
    .with_payment(payment_json(p))
}

fn amount_error(code: &'static str, message: String) -> ApiError {
    ApiError::invalid(code, message, Some("amount"))
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

fn decline_error(d: &Decline, p: &PaymentRecord) -> ApiError {
    ApiError::Card { code: d.code, message: d.message, param: None, decline_code: d.decline_code }
        .with_payment(payment_json(p))
}

/// Applies the issuer's decision to a payment (new, or waiting for 3-D Secure).
fn decide(p: &mut PaymentRecord, decision: Decision, from: Option<PaymentStatus>) -> Result<(), ApiError> {
    let event = match decision {
        Decision::Approve => Event::Authorized { capture: p.capture },
        Decision::Challenge => Event::ChallengeRequired,
        Decision::Decline(d) => {
            record_decline(p, &d);
            Event::Declined
        }
    };
    p.status = next(from, event).ok_or_else(|| unexpected_state(p, "authorized"))?;
    p.amount_capturable = if p.status == PaymentStatus::RequiresCapture { p.amount } else { 0 };
    p.amount_captured = if p.status == PaymentStatus::Succeeded { p.amount } else { 0 };
    if p.status != PaymentStatus::RequiresAction {
        p.next_action_url = None;
    }
    Ok(())
}

/// Authorizes (and captures, unless `capture` is false) with a token, which this uses up.
pub async fn create(state: &AppState, key: &ApiKeyRecord, new: NewPayment) -> Result<Payment, ApiError> {
    let card = tokens::consume(state, &new.token).await?;
    let token_id = new.token.clone();
    let token = state.db(move |s| s.get_token(&token_id)).await?.ok_or_else(no_such_payment)?;
    let decision = state.processor.authorize(&AuthRequest {
        number: &card.number,
        cvc: card.cvc.as_ref(),
        amount: new.amount,
        currency: new.currency,
    });
    let disputes = state.processor.disputes_after_capture(&card.number);
    drop(card);

    let id = new_id("pay").map_err(ApiError::internal)?;
    let client_secret = format!("{id}_secret_{}", random_alnum(24).map_err(ApiError::internal)?);
    let mut p = PaymentRecord {
        next_action_url: Some(format!("{}/3ds/{id}?client_secret={client_secret}", state.api_base)),
        id,
        key_id: key.id.clone(),
        livemode: key.livemode,
        token_id: new.token,
        amount: new.amount,
        currency: new.currency.code().to_string(),
        status: PaymentStatus::RequiresAction,
        amount_capturable: 0,
        amount_captured: 0,
        amount_refunded: 0,
        capture: new.capture,
        client_secret,
        brand: token.brand,
        last4: token.last4,
        exp_month: token.exp_month,
        exp_year: token.exp_year,
        last_error_code: None,
        last_error_decline_code: None,
        last_error_message: None,
        description: new.description,
        metadata: serde_json::to_string(&new.metadata).map_err(ApiError::internal)?,
        created: state.clock.now(),
        version: 0,
    };
    decide(&mut p, decision, None)?;
    let now = p.created;
    let events = vec![new_event(payment_event_type(p.status), &payment_json(&p), now)?];
    let jobs = dispute_job(&p, disputes, now + state.config.async_delay_secs);
    let record = p.clone();
    state.db(move |s| s.insert_payment(&record, &events, &jobs)).await?;
    tracing::info!(payment = %p.id, status = p.status.as_str(), amount = p.amount, currency = %p.currency,
        "payment created");
    record_outcome(state, decision, now);
    match decision {
        Decision::Decline(d) => Err(decline_error(&d, &p)),
        _ => Ok(payment_json(&p)),
    }
}

/// Counts an authorization's outcome for the success rate and the declines by code.
fn record_outcome(state: &AppState, decision: Decision, now: i64) {
    use crate::monitoring::Outcome;
    let outcome = match decision {
        Decision::Approve => Outcome::Succeeded,
        Decision::Challenge => Outcome::Pending,
        Decision::Decline(ref d) => Outcome::Declined(d.decline_code.unwrap_or(d.code)),
    };
    state.monitor.record_payment(now, outcome);
}

/// The dispute a disputing card opens once the payment is captured, at `due`.
fn dispute_job(p: &PaymentRecord, disputes: bool, due: i64) -> Vec<NewJob> {
    if disputes && p.status == PaymentStatus::Succeeded {
        vec![NewJob { kind: "dispute".to_string(), subject: p.id.clone(), due }]
    } else {
        Vec::new()
    }
}

/// The card a payment was made with, out of the vault (its CVC long erased).
async fn card_of(state: &AppState, p: &PaymentRecord) -> Result<OpenedCard, ApiError> {
    let tid = p.token_id.clone();
    let token = state.db(move |s| s.get_token(&tid)).await?.ok_or_else(no_such_payment)?;
    state
        .vault
        .open_card(&token.id, token.master_version, &token.wrapped_key, &token.card_ct, None, None)
        .map_err(ApiError::internal)
}

async fn load(state: &AppState, id: &str) -> Result<PaymentRecord, ApiError> {
    let pid = id.to_string();
    state.db(move |s| s.get_payment(&pid)).await?.ok_or_else(no_such_payment)
}

/// A change with its status event.
fn change(p: PaymentRecord, now: i64) -> Result<PaymentChange, ApiError> {
    let events = vec![new_event(payment_event_type(p.status), &payment_json(&p), now)?];
    Ok(PaymentChange { payment: p, refund: None, events, jobs: Vec::new() })
}

/// Changes a payment in one transaction: `change` sees the stored payment and answers the new one.
async fn mutate<F>(state: &AppState, id: &str, change: F) -> Result<PaymentRecord, ApiError>
where
    F: FnMut(&PaymentRecord) -> Result<PaymentChange, ApiError> + Send + 'static,
{
    let id = id.to_string();
    let (found, rejection) = state
        .db(move |s| {
            let mut change = change;
            let mut rejection = None;
            let found = s.mutate_payment(&id, &mut |p| match change(p) {
                Ok(c) => Some(c),
                Err(e) => {
                    rejection = Some(e);
                    None
                }
            })?;
            Ok((found, rejection))
        })
        .await?;
    match (found, rejection) {
        (None, _) => Err(no_such_payment()),
        (Some(_), Some(e)) => Err(e),
        (Some(p), None) => Ok(p),
    }
}

pub async fn capture(state: &AppState, id: &str, amount: Option<u64>) -> Result<Payment, ApiError> {
    let current = load(state, id).await?;
    let disputes = state.processor.disputes_after_capture(&card_of(state, &current).await?.number);
    let now = state.clock.now();
    let due = now + state.config.async_delay_secs;
    let p = mutate(state, id, move |p| {
        let status = next(Some(p.status), Event::Capture).ok_or_else(|| unexpected_state(p, "captured"))?;
        let amount = amount.unwrap_or(p.amount_capturable);
        if amount == 0 {
            return Err(amount_error("amount_too_small", "The amount to capture must be at least 1.".into()));
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
        let mut c = change(
            PaymentRecord { status, amount_captured: amount, amount_capturable: 0, ..p.clone() },
            now,
        )?;
        c.jobs = dispute_job(&c.payment, disputes, due);
        Ok(c)
    })
    .await?;
    tracing::info!(payment = %p.id, captured = p.amount_captured, "payment captured");
    Ok(payment_json(&p))
}

pub async fn cancel(state: &AppState, id: &str) -> Result<Payment, ApiError> {
    let now = state.clock.now();
    let p = mutate(state, id, move |p| {
        let status = next(Some(p.status), Event::Cancel).ok_or_else(|| unexpected_state(p, "canceled"))?;
        change(PaymentRecord { status, amount_capturable: 0, next_action_url: None, ..p.clone() }, now)
    })
    .await?;
    tracing::info!(payment = %p.id, "payment canceled");
    Ok(payment_json(&p))
}

pub async fn refund(state: &AppState, payment_id: &str, amount: Option<u64>) -> Result<Refund, ApiError> {
    let refund_id = new_id("re").map_err(ApiError::internal)?;
    let written_id = refund_id.clone();
    let now = state.clock.now();
    let current = load(state, payment_id).await?;
    let card = card_of(state, &current).await?;
    let fails_later =
        state.processor.refund(&card.number, amount.unwrap_or(0)) == RefundDecision::SucceedThenFail;
    drop(card);
    let delay = state.config.async_delay_secs;
    let p = mutate(state, payment_id, move |p| {
        next(Some(p.status), Event::Refund).ok_or_else(|| unexpected_state(p, "refunded"))?;
        let remaining = p.amount_captured - p.amount_refunded;
        if remaining == 0 {
            return Err(ApiError::invalid(
                "charge_already_refunded",
                "This payment has already been refunded in full.",
                Some("payment"),
            )
            .with_payment(payment_json(p)));
        }
        let amount = amount.unwrap_or(remaining);
        if amount == 0 {
            return Err(amount_error("amount_too_small", "The amount to refund must be at least 1.".into()));
        }
        if amount > remaining {
            return Err(amount_error(
                "amount_too_large",
                format!(
                    "The amount to refund can be at most the {remaining} {} not yet refunded.",
                    p.currency
                ),
            ));
        }
        let refund = RefundRecord {
            id: refund_id.clone(),
            payment_id: p.id.clone(),
            amount,
            currency: p.currency.clone(),
            status: "succeeded".to_string(),
            created: now,
        };
        let events = vec![new_event("refund.succeeded", &refund_json(&refund), now)?];
        let jobs = if fails_later {
            vec![NewJob { kind: "refund_failure".to_string(), subject: refund.id.clone(), due: now + delay }]
        } else {
            Vec::new()
        };
        Ok(PaymentChange {
            payment: PaymentRecord { amount_refunded: p.amount_refunded + amount, ..p.clone() },
            refund: Some(refund),
            events,
            jobs,
        })
    })
    .await?;
    let pid = p.id.clone();
    let refunds = state.db(move |s| s.refunds_of(&pid)).await?;
    let refund = refunds
        .iter()
        .find(|r| r.id == written_id)
        .ok_or_else(|| ApiError::internal("the refund just written is missing"))?;
    tracing::info!(payment = %p.id, refund = %refund.id, amount = refund.amount, "refund succeeded");
    Ok(refund_json(refund))
}

/// Checks a client secret against the payment's, in constant time.
pub fn client_secret_matches(p: &PaymentRecord, secret: &str) -> bool {
    p.client_secret.as_bytes().ct_eq(secret.as_bytes()).into()
}

/// The outcome of the 3-D Secure challenge: the issuer decides (pass → approved, or declined after
/// all; fail → `authentication_failed`).
pub async fn complete_challenge(
    state: &AppState,
    id: &str,
    client_secret: &str,
    passed: bool,
) -> Result<Payment, ApiError> {
    let current = load(state, id).await?;
    if !client_secret_matches(&current, client_secret) {
        return Err(no_such_payment());
    }
    if current.status != PaymentStatus::RequiresAction {
        return Err(unexpected_state(&current, "authenticated"));
    }
    let card = card_of(state, &current).await?;
    let currency = Currency::parse(&current.currency).ok_or_else(|| ApiError::internal("stored currency"))?;
    let decision = state.processor.complete_challenge(
        &AuthRequest { number: &card.number, cvc: None, amount: current.amount, currency },
        passed,
    );
    let disputes = state.processor.disputes_after_capture(&card.number);
    drop(card);
    let now = state.clock.now();
    let due = now + state.config.async_delay_secs;
    let p = mutate(state, id, move |p| {
        let mut p = p.clone();
        decide(&mut p, decision, Some(PaymentStatus::RequiresAction))?;
        let mut c = change(p, now)?;
        c.jobs = dispute_job(&c.payment, disputes, due);
        Ok(c)
    })
    .await?;
    tracing::info!(payment = %p.id, status = p.status.as_str(), "3-D Secure completed");
    record_outcome(state, decision, now);
    match decision {
        Decision::Decline(d) => Err(decline_error(&d, &p)),
        _ => Ok(payment_json(&p)),
    }
}

//! Refunds: all or part of what a payment captured, several partial ones allowed, never more than
//! the capture. A refund and its payment's new `amount_refunded` commit together through the state
//! machine; a refund the bank fails later (`refund_failure` job) reverses it the same way.

use cardtoken_types::wire::{Refund, RefundStatus};

use crate::ids::new_id;
use crate::store::{NewJob, PaymentRecord, RefundRecord, Tx};

use super::events::new_event;
use super::idempotency::{self, Idempotency, OpResult, Render, Reply};
use super::payments::processor::RefundDecision;
use super::payments::state::{next, Event};
use super::payments::{self, amount_error, change_in, payment_json, unexpected_state, Change};
use super::{Caller, Error, Services};

pub fn refund_json(r: &RefundRecord) -> Refund {
    Refund {
        id: r.id.clone(),
        object: "refund".to_string(),
        payment: r.payment_id.clone(),
        amount: r.amount,
        currency: r.currency.clone(),
        status: if r.status == "failed" { RefundStatus::Failed } else { RefundStatus::Succeeded },
        created: r.created,
        livemode: r.livemode,
    }
}

/// Refunds all or part of what is left of a payment's capture.
pub async fn create(
    svc: &Services,
    caller: &Caller,
    payment_id: &str,
    amount: Option<u64>,
    idem: Option<Idempotency>,
    render: Render<Refund>,
) -> Reply<Refund> {
    let now = svc.now();
    let due = now + svc.config.async_delay_secs;
    let (scope, pid) = (caller.scope.clone(), payment_id.to_string());
    let fp = svc.failpoints.clone();
    // Whether the bank will fail this refund later is the processor's to say, from the card; it is
    // asked only once the key is held and no finished request answers it.
    let prepare = || async move {
        let fails_later = match payments::load(svc, &caller.scope, payment_id).await? {
            Some(p) => fails_later(svc, &p, amount).await?,
            None => false,
        };
        Ok::<_, Error>((fails_later, new_id("re").map_err(Error::internal)?))
    };
    let reply = idempotency::run_prepared(svc, &caller.scope, idem, render, prepare, move |prepared, tx| {
        let (fails_later, refund_id) = match prepared {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        fp.check("refund_before_change")?;
        let changed = change_in(tx, &scope, &pid, |p| {
            next(Some(p.status), Event::Refund).ok_or_else(|| unexpected_state(p, "refunded"))?;
            let remaining = p.amount_captured - p.amount_refunded;
            if remaining == 0 {
                return Err(Error::invalid(
                    "charge_already_refunded",
                    "This payment has already been refunded in full.",
                    Some("payment"),
                )
                .with_payment(payment_json(p)));
            }
            let amount = amount.unwrap_or(remaining);
            if amount == 0 {
                return Err(amount_error(
                    "amount_too_small",
                    "The amount to refund must be at least 1.".into(),
                ));
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
                account_id: p.account_id.clone(),
                livemode: p.livemode,
                payment_id: p.id.clone(),
                amount,
                currency: p.currency.clone(),
                status: "succeeded".to_string(),
                created: now,
            };
            let event = new_event(&p.scope(), "refund.succeeded", &refund.id, &refund_json(&refund), now)?;
            let jobs = if fails_later {
                vec![NewJob { kind: "refund_failure".to_string(), subject: refund.id.clone(), due }]
            } else {
                Vec::new()
            };
            Ok(Change {
                payment: PaymentRecord { amount_refunded: p.amount_refunded + amount, ..p.clone() },
                refund: Some(refund),
                refund_failed: None,
                dispute: None,
                events: vec![event],
                jobs,
            })
        })?;
        fp.check("refund_after_change")?;
        Ok(changed.and_then(|(_, c)| {
            c.refund
                .as_ref()
                .map(refund_json)
                .ok_or_else(|| Error::internal("the refund just made is missing"))
        }))
    })
    .await;
    if let Some(Ok(r)) = reply.fresh() {
        tracing::info!(payment = %r.payment, refund = %r.id, amount = r.amount, "refund succeeded");
    }
    reply
}

async fn fails_later(svc: &Services, p: &PaymentRecord, amount: Option<u64>) -> Result<bool, Error> {
    let Some(processor) = payments::processor_for(svc, p.livemode) else { return Ok(false) };
    let card = payments::card_of(svc, p).await?;
    Ok(processor.refund(&card.number, amount.unwrap_or(0)) == RefundDecision::SucceedThenFail)
}

/// A refund fails at the bank after it succeeded (the `refund_failure` job): `amount_refunded` goes back
/// down through the state machine (`RefundReversed`), the refund is marked failed and `refund.failed`
/// written, together.
pub fn fail_in(tx: &mut dyn Tx, refund_id: &str, now: i64) -> OpResult<()> {
    let Some(refund) = tx.find_refund(refund_id)? else { return Ok(Ok(())) };
    if refund.status == "failed" {
        return Ok(Ok(()));
    }
    let scope = crate::store::Scope::new(refund.account_id.clone(), refund.livemode);
    let changed = change_in(tx, &scope, &refund.payment_id, |p| {
        next(Some(p.status), Event::RefundReversed).ok_or_else(|| unexpected_state(p, "refund-reversed"))?;
        let failed = RefundRecord { status: "failed".to_string(), ..refund.clone() };
        let event = new_event(&scope, "refund.failed", &failed.id, &refund_json(&failed), now)?;
        Ok(Change {
            payment: PaymentRecord {
                amount_refunded: p.amount_refunded.saturating_sub(refund.amount),
                ..p.clone()
            },
            refund: None,
            refund_failed: Some(refund.id.clone()),
            dispute: None,
            events: vec![event],
            jobs: Vec::new(),
        })
    })?;
    Ok(changed.map(|_| ()))
}

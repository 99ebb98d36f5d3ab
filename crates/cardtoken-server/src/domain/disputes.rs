//! Disputes (chargebacks): opened by the cardholder's bank on a captured payment. The test card
//! 4000 0000 0000 0259 opens one shortly after capture (a `dispute` job: `open_in`).

use serde_json::{json, Value};

use crate::ids::new_id;
use crate::store::{self, DisputeRecord, Tx};

use super::events::new_event;
use super::idempotency::OpResult;
use super::payments::state::{next, Event};
use super::payments::{self, change_in, unexpected_state, Change};
use super::{Caller, Error, Services};

pub fn dispute_json(d: &DisputeRecord) -> Value {
    json!({
        "id": d.id, "object": "dispute", "payment": d.payment_id, "amount": d.amount, "currency": d.currency,
        "reason": d.reason, "status": d.status, "created": d.created, "livemode": d.livemode,
    })
}

/// A payment's disputes (secret key).
pub async fn of_payment(svc: &Services, caller: &Caller, payment_id: &str) -> Result<Vec<Value>, Error> {
    if payments::load(svc, &caller.scope, payment_id).await?.is_none() {
        return Err(payments::no_such_payment());
    }
    let pid = payment_id.to_string();
    let rows = store::read(&svc.store, move |tx| tx.disputes_of(&pid)).await?;
    Ok(rows.iter().map(dispute_json).collect())
}

/// A dispute opens on a captured payment (the `dispute` job): the payment goes through the state
/// machine (`DisputeOpened`), and the dispute and its event are written with it.
pub fn open_in(tx: &mut dyn Tx, payment_id: &str, now: i64) -> OpResult<()> {
    let Some(found) = tx.find_payment(payment_id)? else { return Ok(Ok(())) };
    let scope = found.scope();
    let changed = change_in(tx, &scope, payment_id, |p| {
        next(Some(p.status), Event::DisputeOpened).ok_or_else(|| unexpected_state(p, "disputed"))?;
        let dispute = DisputeRecord {
            id: new_id("dp").map_err(Error::internal)?,
            account_id: p.account_id.clone(),
            livemode: p.livemode,
            payment_id: p.id.clone(),
            amount: p.amount_captured,
            currency: p.currency.clone(),
            reason: "fraudulent".to_string(),
            status: "needs_response".to_string(),
            created: now,
        };
        let event = new_event(&scope, "dispute.created", &dispute.id, &dispute_json(&dispute), now)?;
        Ok(Change {
            payment: p.clone(),
            refund: None,
            refund_failed: None,
            dispute: Some(dispute),
            events: vec![event],
            jobs: Vec::new(),
        })
    })?;
    Ok(changed.map(|_| ()))
}

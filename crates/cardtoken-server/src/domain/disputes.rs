//! Disputes (chargebacks): opened by the cardholder's bank on a captured payment. The test card
//! 4000 0000 0000 0259 opens one shortly after capture (a `dispute` job; `payments::open_dispute_in`).

use serde_json::{json, Value};

use crate::store::{self, DisputeRecord};

use super::{payments, Caller, Error, Services};

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

//! Events: what happened, as the webhooks and `GET /v1/events` show it:
//! `{id: "evt_…", type, created, livemode, data: {object}}`. Written in the transaction of the change they
//! report, each with a delivery to every endpoint of its own account and mode that takes it.

use cardtoken_types::wire::PaymentStatus;
use serde::Serialize;
use serde_json::{json, Value};

use crate::ids::new_id;
use crate::store::{self, DeliveryRecord, EventRecord, NewEvent, Scope};

use super::idempotency::{self, Idempotency, Render, Reply};
use super::{Caller, Error, Services};

/// Every event type there is.
pub const TYPES: &[&str] = &[
    "payment.authorized",
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "payment.requires_action",
    "refund.succeeded",
    "refund.failed",
    "dispute.created",
    "alert.raised",
    "alert.cleared",
];

/// The event a payment reaching `status` emits.
pub fn payment_event_type(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::RequiresAction => "payment.requires_action",
        PaymentStatus::RequiresCapture => "payment.authorized",
        PaymentStatus::Succeeded => "payment.succeeded",
        PaymentStatus::Failed => "payment.failed",
        PaymentStatus::Canceled => "payment.canceled",
    }
}

pub fn new_event(
    scope: &Scope,
    kind: &str,
    object_id: &str,
    object: &impl Serialize,
    now: i64,
) -> Result<NewEvent, Error> {
    let id = new_id("evt").map_err(Error::internal)?;
    let body = json!({
        "id": id, "object": "event", "type": kind, "created": now, "livemode": scope.livemode,
        "data": { "object": object },
    });
    Ok(NewEvent {
        id,
        account_id: scope.account.clone(),
        livemode: scope.livemode,
        kind: kind.to_string(),
        object_id: Some(object_id.to_string()),
        created: now,
        body: body.to_string(),
    })
}

pub fn event_value(e: &EventRecord) -> Value {
    serde_json::from_str(&e.body).unwrap_or(Value::Null)
}

fn check_id(id: &str) -> Result<(), Error> {
    if id.starts_with("evt_") && id.len() <= 64 {
        Ok(())
    } else {
        Err(Error::not_found("event"))
    }
}

/// The caller's events, newest first, of one type or about one object if asked.
pub async fn list(
    svc: &Services,
    caller: &Caller,
    limit: usize,
    starting_after: Option<String>,
    kind: Option<String>,
    object: Option<String>,
) -> Result<(Vec<EventRecord>, bool), Error> {
    if kind.as_deref().is_some_and(|k| !TYPES.contains(&k) && k != store::TEST_EVENT) {
        return Err(Error::parameter("`type` must be an event type.", "type"));
    }
    let scope = caller.scope.clone();
    Ok(store::read(&svc.store, move |tx| {
        tx.list_events(&scope, limit, starting_after.as_deref(), kind.as_deref(), object.as_deref())
    })
    .await?)
}

/// An event, exactly as it is delivered.
pub async fn get(svc: &Services, caller: &Caller, id: &str) -> Result<EventRecord, Error> {
    check_id(id)?;
    let (scope, id) = (caller.scope.clone(), id.to_string());
    store::read(&svc.store, move |tx| tx.get_event(&scope, &id))
        .await?
        .ok_or_else(|| Error::not_found("event"))
}

/// The most deliveries of one event that may wait at once (resends included).
pub const MAX_PENDING_PER_EVENT: usize = 20;

/// What a resend queued.
#[derive(Debug, Serialize)]
pub struct Redelivered {
    pub event: String,
    pub deliveries_queued: usize,
}

/// Queues an event again for every enabled endpoint that takes it, or for one endpoint (same id:
/// receivers de-duplicate). At most `MAX_PENDING_PER_EVENT` deliveries of one event wait at once.
pub async fn redeliver(
    svc: &Services,
    caller: &Caller,
    id: &str,
    endpoint: Option<String>,
    idem: Option<Idempotency>,
    render: Render<Redelivered>,
) -> Reply<Redelivered> {
    if let Err(e) = check_id(id) {
        return Reply::Fresh(Err(e));
    }
    let now = svc.now();
    let (scope, id) = (caller.scope.clone(), id.to_string());
    idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        if tx.get_event(&scope, &id)?.is_none() {
            return Ok(Err(Error::not_found("event")));
        }
        if tx.pending_deliveries_of(&id)? >= MAX_PENDING_PER_EVENT {
            return Ok(Err(Error::RateLimited {
                retry_after: 60,
                message: "This event already has many deliveries waiting. Let them finish before sending it again.",
            }));
        }
        let n = tx.redeliver_event(&scope, &id, endpoint.as_deref(), now)?.unwrap_or(0);
        Ok(Ok(Redelivered { event: id.clone(), deliveries_queued: n }))
    })
    .await
}

/// Every delivery of an event with each attempt.
pub async fn deliveries(svc: &Services, caller: &Caller, id: &str) -> Result<Vec<DeliveryRecord>, Error> {
    get(svc, caller, id).await?;
    let (scope, id) = (caller.scope.clone(), id.to_string());
    Ok(store::read(&svc.store, move |tx| tx.deliveries_of_event(&scope, &id)).await?)
}

//! Events: what happened, as the webhooks and `GET /v1/events` show it:
//! `{id: "evt_…", type, created, data: {object}}`. Written in the transaction of the change they report.

use cardtoken_types::wire::PaymentStatus;
use serde::Serialize;
use serde_json::json;

use crate::error::ApiError;
use crate::ids::new_id;
use crate::store::NewEvent;

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

pub fn new_event(kind: &str, object: &impl Serialize, now: i64) -> Result<NewEvent, ApiError> {
    let id = new_id("evt").map_err(ApiError::internal)?;
    let body = json!({ "id": id, "type": kind, "created": now, "data": { "object": object } });
    Ok(NewEvent { id, kind: kind.to_string(), created: now, body: body.to_string() })
}

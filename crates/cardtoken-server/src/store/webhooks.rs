//! Webhook endpoints, the event outbox, deliveries and their attempts.

use super::{Result, Scope};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    pub url: String,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub created: i64,
}

/// The type of a test event (the dashboard's "Send test event"): it goes only to the endpoint it was
/// sent to (queued for it by `redeliver_event`), never to the endpoints that take every type.
pub const TEST_EVENT: &str = "webhook_endpoint.test";

impl EndpointRecord {
    pub fn takes(&self, kind: &str) -> bool {
        kind != TEST_EVENT && self.events.iter().any(|t| t == "*" || t == kind)
    }
}

/// An event to write in the same transaction as the change it reports (the outbox).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    pub kind: String,
    /// The id of the object it is about (`data.object.id`).
    pub object_id: Option<String>,
    pub created: i64,
    /// The whole event as delivered: `{id, type, created, livemode, data: {object}}`.
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub body: String,
}

/// A delivery a worker has claimed.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: String,
    /// The endpoint's account and mode.
    pub account_id: String,
    pub livemode: bool,
    pub attempts: u32,
    pub event_id: String,
    pub body: String,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub attempted: i64,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// What became of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(i64),
    /// Gave up (the schedule ran out).
    Failed,
    /// 410 Gone: this delivery fails and the endpoint is disabled.
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: Vec<AttemptRecord>,
}

pub trait WebhookRepo {
    fn insert_endpoint(&mut self, endpoint: &EndpointRecord) -> Result<()>;
    /// Endpoints not deleted, oldest first.
    fn list_endpoints(&mut self, scope: &Scope) -> Result<Vec<EndpointRecord>>;
    fn get_endpoint(&mut self, scope: &Scope, id: &str) -> Result<Option<EndpointRecord>>;
    /// Deletes an endpoint; its pending deliveries fail. False when there is none.
    fn delete_endpoint(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool>;
    /// Puts in a new secret; the old one keeps signing until `previous_until`.
    fn rotate_endpoint_secret(
        &mut self,
        scope: &Scope,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<Option<EndpointRecord>>;

    /// Writes events, and a pending delivery of each to every enabled endpoint of the event's own
    /// account and mode that takes its type.
    fn insert_events(&mut self, events: &[NewEvent]) -> Result<()>;
    fn get_event(&mut self, scope: &Scope, id: &str) -> Result<Option<EventRecord>>;
    /// Newest first, optionally of one type, or about one object (`data.object.id`).
    fn list_events(
        &mut self,
        scope: &Scope,
        limit: usize,
        starting_after: Option<&str>,
        kind: Option<&str>,
        object: Option<&str>,
    ) -> Result<(Vec<EventRecord>, bool)>;
    /// Queues the event again for `endpoint` (or every enabled endpoint of its scope that takes it);
    /// answers how many deliveries were queued (`None`: no such event).
    fn redeliver_event(
        &mut self,
        scope: &Scope,
        id: &str,
        endpoint: Option<&str>,
        now: i64,
    ) -> Result<Option<usize>>;
    /// How many deliveries of this event are pending now.
    fn pending_deliveries_of(&mut self, event_id: &str) -> Result<usize>;
    fn deliveries_of_event(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<DeliveryRecord>>;

    /// Claims up to `limit` deliveries due at `now` for `worker` until `lease_until`; a worker that dies
    /// mid-send leaves them to another after the lease. At most `per_endpoint` of one endpoint at once.
    fn claim_deliveries(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: usize,
        per_endpoint: usize,
        worker: &str,
    ) -> Result<Vec<DueDelivery>>;
    fn record_attempt(
        &mut self,
        delivery: &DueDelivery,
        attempt: &AttemptRecord,
        outcome: DeliveryOutcome,
    ) -> Result<()>;
    /// Releases every claim of `worker` (it is stopping), due again at `now`.
    fn release_deliveries(&mut self, worker: &str, now: i64) -> Result<usize>;
    /// When the next pending delivery or job is due, if any.
    fn next_due(&mut self) -> Result<Option<i64>>;
}

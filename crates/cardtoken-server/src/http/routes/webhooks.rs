//! Webhook endpoints (`/v1/webhook_endpoints`) and the event log (`/v1/events`), secret key only; each
//! key sees its own account and mode.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cardtoken_types::wire::{ErrorBody, List, WebhookEndpoint};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::events::{self, event_value, Redelivered};
use crate::domain::webhook_endpoints as endpoints;
use crate::domain::Error as ApiError;
use crate::http::auth::Secret;
use crate::http::error::{json, render, respond};
use crate::http::extract::{ApiQuery, IdemJson, IdemMaybeJson};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointBody {
    url: String,
    /// Event types to receive; default all (`["*"]`).
    #[serde(default)]
    events: Option<Vec<String>>,
}

/// Registers a receiver; answers its `whsec_…` secret, once.
#[utoipa::path(post, path = "/v1/webhook_endpoints", tag = "webhooks", request_body = CreateEndpointBody,
    params(crate::http::params::IdempotencyKey),
    responses((status = 200, description = "The endpoint, with its secret", body = WebhookEndpoint),
        (status = 400, description = "Invalid URL or event types", body = ErrorBody),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(name = "create_webhook_endpoint", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Secret(caller): Secret,
    IdemJson(body, idem): IdemJson<CreateEndpointBody>,
) -> Response {
    respond(endpoints::create(&state, &caller, &body.url, body.events, idem, render::<WebhookEndpoint>).await)
}

#[utoipa::path(get, path = "/v1/webhook_endpoints", tag = "webhooks",
    responses((status = 200, description = "Every endpoint (no secrets)", body = List<WebhookEndpoint>),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Secret(caller): Secret) -> Response {
    json(endpoints::list(&state, &caller).await.map(|data| List {
        object: "list".to_string(),
        data,
        has_more: false,
        url: "/v1/webhook_endpoints".to_string(),
    }))
}

#[utoipa::path(delete, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "we_…")),
    responses((status = 200, description = "Deleted; its pending deliveries fail", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
) -> Response {
    json(
        endpoints::delete(&state, &caller, &id)
            .await
            .map(|()| json!({"id": id, "object": "webhook_endpoint", "deleted": true})),
    )
}

/// A new secret; the old one keeps signing beside it for 24 hours.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhooks",
    params(("id" = String, Path, description = "we_…"), crate::http::params::IdempotencyKey),
    responses((status = 200, description = "The endpoint, with its new secret", body = WebhookEndpoint),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
    IdemMaybeJson(_body, idem): IdemMaybeJson<Value>,
) -> Response {
    respond(endpoints::rotate_secret(&state, &caller, &id, idem, render::<WebhookEndpoint>).await)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    limit: Option<usize>,
    starting_after: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events about this object (`pay_…`, `re_…`, `dp_…`, `alr_…`).
    object: Option<String>,
}

/// The event log, newest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Object),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    Secret(caller): Secret,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return json::<Value>(Err(ApiError::parameter("`limit` must be from 1 to 100.", "limit")));
    }
    json(events::list(&state, &caller, limit, q.starting_after, q.kind, q.object).await.map(
        |(rows, has_more)| {
            let data: Vec<Value> = rows.iter().map(event_value).collect();
            json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/events"})
        },
    ))
}

/// An event, exactly as it is delivered.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "evt_…")),
    responses((status = 200, description = "The event: {id, type, created, livemode, data: {object}}", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_event(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
) -> Response {
    match events::get(&state, &caller, &id).await {
        Ok(e) => ([(header::CONTENT_TYPE, "application/json")], e.body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverBody {
    /// Only to this endpoint (`we_…`); default: every enabled endpoint that takes the event.
    endpoint: Option<String>,
}

/// Sends an event again (same id: receivers de-duplicate).
#[utoipa::path(post, path = "/v1/events/{id}/redeliver", tag = "events",
    params(("id" = String, Path, description = "evt_…"), crate::http::params::IdempotencyKey),
    request_body(content = Option<RedeliverBody>, description = "Optional"),
    responses((status = 200, description = "How many deliveries were queued", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody),
        (status = 429, description = "Too many deliveries of this event already wait", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
    IdemMaybeJson(body, idem): IdemMaybeJson<RedeliverBody>,
) -> Response {
    respond(events::redeliver(&state, &caller, &id, body.endpoint, idem, render::<Redelivered>).await)
}

/// Every delivery of an event with each attempt: status, duration, response excerpt.
#[utoipa::path(get, path = "/v1/events/{id}/deliveries", tag = "events",
    params(("id" = String, Path, description = "evt_…")),
    responses((status = 200, description = "The deliveries and their attempts", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
) -> Response {
    json(events::deliveries(&state, &caller, &id).await.map(|rows| {
        let data: Vec<Value> = rows
            .iter()
            .map(|d| {
                json!({
                    "id": d.id, "object": "webhook_delivery", "event": d.event_id, "endpoint": d.endpoint_id,
                    "status": d.status,
                    "attempts": d.attempts.iter().map(|a| json!({
                        "attempted": a.attempted, "status_code": a.status_code, "duration_ms": a.duration_ms,
                        "response_excerpt": a.response_excerpt, "error": a.error,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({"object": "list", "data": data, "has_more": false})
    }))
}

//! Webhook endpoints (`/v1/webhook_endpoints`) and the event log (`/v1/events`), secret key only.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cardtoken_types::wire::{ErrorBody, List};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Secret;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::events::TYPES;
use crate::ids::new_id;
use crate::state::AppState;
use crate::store::{EndpointRecord, EventRecord};
use crate::webhooks::{check_url, new_secret};

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 60 * 60;

/// A webhook endpoint. `secret` appears only when it is made or rotated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    /// `we_…`
    id: String,
    object: &'static str,
    url: String,
    /// Event types, or `["*"]`.
    events: Vec<String>,
    /// `enabled`, or `disabled` (after a 410).
    status: &'static str,
    created: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn endpoint_json(e: &EndpointRecord, with_secret: bool) -> WebhookEndpoint {
    WebhookEndpoint {
        id: e.id.clone(),
        object: "webhook_endpoint",
        url: e.url.clone(),
        events: e.events.clone(),
        status: if e.enabled { "enabled" } else { "disabled" },
        created: e.created,
        secret: with_secret.then(|| e.secret.clone()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointBody {
    url: String,
    /// Event types to receive; default all (`["*"]`).
    #[serde(default)]
    events: Option<Vec<String>>,
}

fn invalid(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid("parameter_invalid", message, Some(param))
}

fn no_such(what: &str) -> ApiError {
    ApiError::NotFound { message: format!("No such {what}.") }
}

/// Registers a receiver; answers its `whsec_…` secret, once.
#[utoipa::path(post, path = "/v1/webhook_endpoints", tag = "webhooks", request_body = CreateEndpointBody,
    params(crate::openapi::IdempotencyKey),
    responses((status = 200, description = "The endpoint, with its secret", body = WebhookEndpoint),
        (status = 400, description = "Invalid URL or event types", body = ErrorBody),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(name = "create_webhook_endpoint", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Secret(_key): Secret,
    ApiJson(body): ApiJson<CreateEndpointBody>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    if body.url.len() > 2048 {
        return Err(invalid("`url` can be at most 2048 characters.", "url"));
    }
    let url =
        check_url(&body.url, state.config.allow_private_webhooks).await.map_err(|m| invalid(m, "url"))?;
    let events = body.events.unwrap_or_else(|| vec!["*".to_string()]);
    if events.is_empty() || events.iter().any(|e| e != "*" && !TYPES.contains(&e.as_str())) {
        return Err(invalid(
            format!("`events` must list event types ({}), or \"*\".", TYPES.join(", ")),
            "events",
        ));
    }
    let record = EndpointRecord {
        id: new_id("we").map_err(ApiError::internal)?,
        url: url.to_string(),
        events,
        enabled: true,
        secret: new_secret()?,
        previous_secret: None,
        previous_until: None,
        created: state.clock.now(),
    };
    let stored = record.clone();
    state.db(move |s| s.insert_endpoint(&stored)).await?;
    tracing::info!(endpoint = %record.id, "webhook endpoint registered");
    Ok(Json(endpoint_json(&record, true)))
}

#[utoipa::path(get, path = "/v1/webhook_endpoints", tag = "webhooks",
    responses((status = 200, description = "Every endpoint (no secrets)", body = List<WebhookEndpoint>),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Secret(_key): Secret,
) -> Result<Json<List<WebhookEndpoint>>, ApiError> {
    let all = state.db(|s| s.list_endpoints()).await?;
    Ok(Json(List {
        object: "list".to_string(),
        data: all.iter().map(|e| endpoint_json(e, false)).collect(),
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
    Secret(_key): Secret,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let key = id.clone();
    if !state.db(move |s| s.delete_endpoint(&key, now)).await? {
        return Err(no_such("webhook endpoint"));
    }
    Ok(Json(json!({"id": id, "object": "webhook_endpoint", "deleted": true})))
}

/// A new secret; the old one keeps signing beside it for 24 hours.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhooks",
    params(("id" = String, Path, description = "we_…"), crate::openapi::IdempotencyKey),
    responses((status = 200, description = "The endpoint, with its new secret", body = WebhookEndpoint),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Secret(_key): Secret,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    let secret = new_secret()?;
    let until = state.clock.now() + ROTATION_OVERLAP_SECS;
    let e = state
        .db(move |s| s.rotate_endpoint_secret(&id, &secret, until))
        .await?
        .ok_or_else(|| no_such("webhook endpoint"))?;
    tracing::info!(endpoint = %e.id, "webhook secret rotated");
    Ok(Json(endpoint_json(&e, true)))
}

fn raw_json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn event_value(e: &EventRecord) -> Value {
    serde_json::from_str(&e.body).unwrap_or(Value::Null)
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
    Secret(_key): Secret,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(invalid("`limit` must be from 1 to 100.", "limit"));
    }
    if q.kind.as_deref().is_some_and(|k| !TYPES.contains(&k)) {
        return Err(invalid("`type` must be an event type.", "type"));
    }
    let (rows, has_more) =
        state.db(move |s| s.list_events(limit, q.starting_after.as_deref(), q.kind.as_deref())).await?;
    let data: Vec<Value> = rows.iter().map(event_value).collect();
    Ok(Json(json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/events"})))
}

fn check_event_id(id: &str) -> Result<(), ApiError> {
    if id.starts_with("evt_") && id.len() <= 64 {
        Ok(())
    } else {
        Err(no_such("event"))
    }
}

/// An event, exactly as it is delivered.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "evt_…")),
    responses((status = 200, description = "The event: {id, type, created, data: {object}}", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_event(
    State(state): State<AppState>,
    Secret(_key): Secret,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_event_id(&id)?;
    let e = state.db(move |s| s.get_event(&id)).await?.ok_or_else(|| no_such("event"))?;
    Ok(raw_json(e.body))
}

/// Sends an event again to every enabled endpoint that takes it (same id: receivers de-duplicate).
#[utoipa::path(post, path = "/v1/events/{id}/redeliver", tag = "events",
    params(("id" = String, Path, description = "evt_…"), crate::openapi::IdempotencyKey),
    responses((status = 200, description = "How many deliveries were queued", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    Secret(_key): Secret,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_event_id(&id)?;
    let now = state.clock.now();
    let key = id.clone();
    let n = state.db(move |s| s.redeliver_event(&key, now)).await?.ok_or_else(|| no_such("event"))?;
    Ok(Json(json!({"event": id, "deliveries_queued": n})))
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
    Secret(_key): Secret,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_event_id(&id)?;
    let key = id.clone();
    if state.db(move |s| s.get_event(&key)).await?.is_none() {
        return Err(no_such("event"));
    }
    let rows = state.db(move |s| s.deliveries_of_event(&id)).await?;
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
    Ok(Json(json!({"object": "list", "data": data, "has_more": false})))
}

//! `/metrics` (Prometheus text), `GET /v1/alerts` and `GET /v1/monitoring` (secret key). The dashboard's
//! home page draws the same series for people signed in (`http::dashboard`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cardtoken_types::wire::ErrorBody;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::monitoring;
use crate::domain::Error as ApiError;
use crate::http::auth::Secret;
use crate::http::extract::ApiQuery;
use crate::http::AppState;

/// Prometheus metrics: requests by route and status, latency histograms, authorizations by outcome and
/// decline code, webhook deliveries by result, tokenizations per key, open alerts.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let open = monitoring::open_alerts(&state).await.unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.monitor.render(open, state.cvcs.len()),
    )
        .into_response()
}

/// Open alerts first, then recently cleared ones.
#[utoipa::path(get, path = "/v1/alerts", tag = "monitoring",
    responses((status = 200, description = "The alerts", body = Object),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn alerts(State(state): State<AppState>, Secret(caller): Secret) -> Result<Json<Value>, ApiError> {
    let data = monitoring::alerts(&state, &caller.scope).await?;
    Ok(Json(json!({"object": "list", "data": data, "has_more": false, "url": "/v1/alerts"})))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// `hour` (10 s buckets, the default) or `day` (5 min buckets).
    window: Option<String>,
}

/// The dashboard's data: per-bucket requests, success rate, latency percentiles, errors by status,
/// declines by code, webhook deliveries; totals; alerts.
#[utoipa::path(get, path = "/v1/monitoring", tag = "monitoring", params(SeriesQuery),
    responses((status = 200, description = "Series and alerts", body = Object),
        (status = 400, description = "Bad window", body = ErrorBody),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn series(
    State(state): State<AppState>,
    Secret(caller): Secret,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let day = match q.window.as_deref() {
        None | Some("hour") => false,
        Some("day") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "`window` is `hour` or `day`.",
                Some("window"),
            ))
        }
    };
    let mut body = monitoring::series(&state, &caller.scope, day).await?;
    body["alerts"] =
        serde_json::to_value(monitoring::alerts(&state, &caller.scope).await?).unwrap_or_default();
    body["now"] = json!(state.now());
    Ok(Json(body))
}

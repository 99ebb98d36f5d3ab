//! `/metrics` (Prometheus text), `GET /v1/alerts` and `GET /v1/monitoring` (secret key), and the
//! dashboard (`/dashboard`: the page asks for the secret key and reads `/v1/monitoring` with it).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
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

const DASHBOARD_HTML: &str = include_str!("../../../../../js/dashboard/dashboard.html");
const DASHBOARD_JS: &str = include_str!("../../../../../js/dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../../../../../js/dashboard/dashboard.css");

/// Prometheus metrics: requests by route and status, latency histograms, authorizations by outcome and
/// decline code, webhook deliveries by result, tokenizations per key, open alerts.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let open = monitoring::open_alerts(&state).await.unwrap_or(0);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.monitor.render(open))
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

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The monitoring page. It holds no data: it asks for the secret key and reads `/v1/monitoring`.
#[utoipa::path(get, path = "/dashboard", tag = "monitoring",
    responses((status = 200, description = "The dashboard page", content_type = "text/html", body = String)))]
pub async fn dashboard() -> Response {
    let mut r = asset("text/html; charset=utf-8", DASHBOARD_HTML);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    r
}

pub async fn dashboard_asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    match file.as_str() {
        "dashboard.js" => asset("text/javascript; charset=utf-8", DASHBOARD_JS),
        "dashboard.css" => asset("text/css; charset=utf-8", DASHBOARD_CSS),
        "uPlot.iife.min.js" | "uPlot.min.css" => {
            let content_type = if file.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else {
                "text/css; charset=utf-8"
            };
            match tokio::fs::read(state.config.dashboard_assets_dir.join(&file)).await {
                Ok(bytes) => asset(content_type, bytes),
                Err(_) => (StatusCode::NOT_FOUND, "uPlot is not installed: npm install").into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

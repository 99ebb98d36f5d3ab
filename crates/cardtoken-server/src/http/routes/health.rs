//! `GET /healthz` (the process answers) and `GET /readyz` (its database is reachable and migrated), for
//! load balancers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http::AppState;

/// Alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = Object)))]
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready for traffic: the database answers and its schema is current.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Object),
        (status = 503, description = "The database is unreachable or not migrated", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let ready = tokio::task::spawn_blocking(move || store.ready()).await;
    match ready {
        Ok(Ok(())) if !state.stopping() => {
            Json(json!({"status": "ready", "database": state.store.backend()})).into_response()
        }
        Ok(Ok(())) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "stopping"}))).into_response(),
        _ => {
            tracing::warn!("not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable"}))).into_response()
        }
    }
}

//! Idempotency keys, with Stripe's semantics (`shared/contract.md` §2). A POST with an
//! `Idempotency-Key` header reserves the key for (key owner, key) before it runs; its status and body
//! are then stored and replayed byte for byte (`Idempotent-Replayed: true`) to the same request for 24
//! hours. The same key with another endpoint or body is a 400; while the first request runs, a 409.
//! Requests that fail authentication or parameter validation are not stored (they never started).

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::auth::authenticate;
use crate::error::{ApiError, NotStarted};
use crate::startup::BODY_LIMIT;
use crate::state::AppState;
use crate::store::IdempotencyBegin;

/// How long a stored response is replayed.
pub const RETENTION_SECS: i64 = 24 * 60 * 60;
pub const MAX_KEY_LEN: usize = 255;

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw) = request.headers().get("idempotency-key") else {
        return next.run(request).await;
    };
    let key = match raw.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => k.to_string(),
        _ => {
            return ApiError::invalid(
                "parameter_invalid",
                "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
                Some("Idempotency-Key"),
            )
            .into_response()
        }
    };
    let (parts, body) = request.into_parts();
    let owner = match authenticate(&parts, &state).await {
        Ok(k) => k.id,
        Err(e) => return e.into_response(),
    };
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::TooLarge.into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(parts.uri.path().as_bytes());
    hasher.update([0]);
    hasher.update(&bytes);
    let hash = hasher.finalize().to_vec();

    let now = state.clock.now();
    let (o, k) = (owner.clone(), key.clone());
    let begun = state.db(move |s| s.idempotency_begin(&o, &k, &hash, now, RETENTION_SECS)).await;
    match begun {
        Err(e) => e.into_response(),
        Ok(IdempotencyBegin::Replay { status, body }) => replay(status, body),
        Ok(IdempotencyBegin::InProgress) => ApiError::Idempotency {
            status: StatusCode::CONFLICT,
            code: "idempotency_key_in_use",
            message: "A request with this Idempotency-Key is still running. Retry once it has finished.",
        }
        .into_response(),
        Ok(IdempotencyBegin::Mismatch) => ApiError::Idempotency {
            status: StatusCode::BAD_REQUEST,
            code: "idempotency_key_reused",
            message: "This Idempotency-Key was already used with another endpoint or body. Use a new key for a new request.",
        }
        .into_response(),
        Ok(IdempotencyBegin::Started) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            if response.extensions().get::<NotStarted>().is_some() {
                let _ = state.db(move |s| s.idempotency_abandon(&owner, &key)).await;
                return response;
            }
            let (rparts, rbody) = response.into_parts();
            let Ok(body) = to_bytes(rbody, usize::MAX).await else {
                let _ = state.db(move |s| s.idempotency_abandon(&owner, &key)).await;
                return ApiError::internal("response body unreadable").into_response();
            };
            let status = rparts.status.as_u16();
            let stored = body.to_vec();
            if let Err(e) = state.db(move |s| s.idempotency_finish(&owner, &key, status, &stored)).await {
                tracing::error!(error = %e, "storing an idempotent response failed");
            }
            Response::from_parts(rparts, Body::from(body))
        }
    }
}

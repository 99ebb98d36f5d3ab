//! The domain's errors as HTTP responses, mapped once: the status of each kind, the contract's JSON
//! body. Internal errors are logged and answered with a 500 that says nothing internal. Outcomes kept
//! for idempotent replay are rendered here too, so the bytes stored are the bytes sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cardtoken_types::wire::ErrorBody;
use serde::Serialize;

use crate::domain::idempotency::{Reply, Stored};
use crate::domain::Error;

pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::WithPayment(inner, _) => status_of(inner),
        Error::Idempotency { in_use: true, .. } => StatusCode::CONFLICT,
        Error::Idempotency { in_use: false, .. } | Error::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
        Error::Authentication { .. } => StatusCode::UNAUTHORIZED,
        Error::Card { .. } => StatusCode::PAYMENT_REQUIRED,
        Error::Permission { .. } => StatusCode::FORBIDDEN,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn log(e: &Error) {
    if let Error::Internal(cause) = e.inner() {
        tracing::error!(%cause, "internal error");
    }
}

/// The bytes of an error response.
pub fn error_body(e: &Error) -> Vec<u8> {
    serde_json::to_vec(&ErrorBody { error: e.to_wire() }).unwrap_or_default()
}

/// An outcome as status and JSON bytes.
pub fn render<T: Serialize>(result: &Result<T, Error>) -> Stored {
    match result {
        Ok(v) => match serde_json::to_vec(v) {
            Ok(body) => Stored { status: 200, body },
            Err(e) => {
                let e = Error::internal(e);
                Stored { status: 500, body: error_body(&e) }
            }
        },
        Err(e) => Stored { status: status_of(e).as_u16(), body: error_body(e) },
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn with_retry_after(mut response: Response, e: &Error) -> Response {
    if let Error::RateLimited { retry_after, .. } = e.inner() {
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// An operation's reply: a fresh outcome rendered, or the stored one replayed byte for byte.
pub fn respond<T: Serialize>(reply: Reply<T>) -> Response {
    match reply {
        Reply::Replayed(stored) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = json_response(status, stored.body);
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        Reply::Fresh(result) => {
            if let Err(e) = &result {
                log(e);
            }
            let stored = render(&result);
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let response = json_response(status, stored.body);
            match &result {
                Err(e) => with_retry_after(response, e),
                Ok(_) => response,
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        log(&self);
        let response = json_response(status_of(&self), error_body(&self));
        with_retry_after(response, &self)
    }
}

/// A JSON answer, or the error's.
pub fn json<T: Serialize>(result: Result<T, Error>) -> Response {
    respond(Reply::Fresh(result))
}

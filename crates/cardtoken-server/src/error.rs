//! One error type for the HTTP API, mapped to the contract's JSON once, in `IntoResponse`.
//! Internal errors are logged and answered with a 500 that says nothing internal.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cardtoken_types::wire::{ApiError as WireError, ErrorBody, ErrorType};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed or missing parameters.
    #[error("invalid request: {message}")]
    InvalidRequest { code: &'static str, message: String, param: Option<String> },
    /// 401: missing or unknown key.
    #[error("authentication failed: {message}")]
    Authentication { code: &'static str, message: &'static str },
    /// 402: the card was declined, or its data is invalid.
    #[error("card error {code}")]
    Card {
        code: &'static str,
        message: &'static str,
        param: Option<&'static str>,
        decline_code: Option<&'static str>,
    },
    /// 403: a publishable key where a secret key is needed (or the reverse).
    #[error("permission denied: {message}")]
    Permission { code: &'static str, message: &'static str },
    /// 404: no such resource.
    #[error("not found: {message}")]
    NotFound { message: String },
    /// 429: too many requests.
    #[error("rate limited")]
    RateLimited,
    /// 413: the body is over the limit.
    #[error("request body too large")]
    TooLarge,
    /// 400 (a key reused with another request) or 409 (the first request still runs).
    #[error("idempotency error: {code}")]
    Idempotency { status: StatusCode, code: &'static str, message: &'static str },
    /// 500: our fault. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// Any of the above, about a payment, which the error body then carries.
    #[error("{0}")]
    WithPayment(Box<ApiError>, Box<cardtoken_types::wire::Payment>),
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }

    pub fn invalid(code: &'static str, message: impl Into<String>, param: Option<&str>) -> ApiError {
        ApiError::InvalidRequest { code, message: message.into(), param: param.map(str::to_string) }
    }

    /// Attaches the payment the error concerns.
    pub fn with_payment(self, payment: cardtoken_types::wire::Payment) -> ApiError {
        ApiError::WithPayment(Box::new(self), Box::new(payment))
    }

    /// Whether this is a rejection of the request's parameters: such responses are not stored for
    /// idempotent replay (the request never started).
    pub fn is_parameter_error(&self) -> bool {
        match self {
            ApiError::InvalidRequest { code, .. } => {
                code.starts_with("parameter_")
                    || matches!(*code, "invalid_json" | "invalid_content_type" | "body_unreadable")
            }
            ApiError::TooLarge
            | ApiError::RateLimited
            | ApiError::Authentication { .. }
            | ApiError::Idempotency { .. } => true,
            _ => false,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Idempotency { status, .. } => *status,
            ApiError::WithPayment(inner, _) => inner.status(),
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Authentication { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Card { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::Permission { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> WireError {
        if let ApiError::WithPayment(inner, payment) = self {
            let mut body = inner.body();
            body.payment = Some(payment.clone());
            return body;
        }
        let (kind, code, message, param, decline_code): (_, &str, String, Option<String>, Option<&str>) = match self {
            ApiError::WithPayment(..) => unreachable_body(),
            ApiError::Idempotency { code, message, .. } => {
                (ErrorType::IdempotencyError, code, (*message).to_string(), None, None)
            }
            ApiError::InvalidRequest { code, message, param } => {
                (ErrorType::InvalidRequestError, code, message.clone(), param.clone(), None)
            }
            ApiError::Authentication { code, message } => {
                (ErrorType::AuthenticationError, code, (*message).to_string(), None, None)
            }
            ApiError::Card { code, message, param, decline_code } => (
                ErrorType::CardError,
                code,
                (*message).to_string(),
                param.map(str::to_string),
                *decline_code,
            ),
            ApiError::Permission { code, message } => {
                (ErrorType::PermissionError, code, (*message).to_string(), None, None)
            }
            ApiError::NotFound { message } => {
                (ErrorType::InvalidRequestError, "resource_missing", message.clone(), None, None)
            }
            ApiError::RateLimited => (
                ErrorType::RateLimitError,
                "too_many_requests",
                "Too many cards were tokenized with this key in the last minute. Wait a minute and try again."
                    .to_string(),
                None,
                None,
            ),
            ApiError::TooLarge => (
                ErrorType::InvalidRequestError,
                "request_too_large",
                "The request body is larger than 1 MB.".to_string(),
                None,
                None,
            ),
            ApiError::Internal(_) => (
                ErrorType::ApiError,
                "internal_error",
                "Something went wrong on our side. Please try again; if it keeps happening, contact support."
                    .to_string(),
                None,
                None,
            ),
        };
        WireError {
            kind,
            code: code.to_string(),
            message,
            param,
            decline_code: decline_code.map(str::to_string),
            payment: None,
        }
    }
}

/// `WithPayment` is handled before the match that would need it.
fn unreachable_body() -> (ErrorType, &'static str, String, Option<String>, Option<&'static str>) {
    (ErrorType::ApiError, "internal_error", String::new(), None, None)
}

/// Marks a response whose request never started (a parameter error): idempotency does not store it.
#[derive(Clone, Copy, Debug)]
pub struct NotStarted;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let status = self.status();
        let not_started = self.is_parameter_error();
        let body = serde_json::to_vec(&ErrorBody { error: self.body() }).unwrap_or_default();
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if not_started {
            response.extensions_mut().insert(NotStarted);
        }
        response
    }
}

/// The JSON body extractor: its rejections have our error shape, and never quote the body (serde's
/// messages can contain the values sent, and a value may be a card number).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json_type {
            return Err(ApiError::invalid(
                "invalid_content_type",
                "Send the body as JSON, with Content-Type: application/json.",
                None,
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::invalid("body_unreadable", "The request body could not be read.", None)
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be absent (an empty body means `T::default()`), as `POST …/cancel` takes.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty_declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        if empty_declared || req.headers().get(header::CONTENT_TYPE).is_none() {
            let bytes = Bytes::from_request(req, state).await.map_err(|_| ApiError::TooLarge)?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            return Err(ApiError::invalid(
                "invalid_content_type",
                "Send the body as JSON, with Content-Type: application/json.",
                None,
            ));
        }
        ApiJson::from_request(req, state).await.map(|ApiJson(v)| OptionalJson(v))
    }
}

/// Query parameters, with rejections in our error shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|_| ApiError::invalid("parameter_invalid", "Invalid or unknown query parameters.", None))
    }
}

/// Parses a JSON body, describing a failure by its place, never by the value found there.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        if !inner.is_data() {
            return ApiError::invalid("invalid_json", "The request body is not valid JSON.", None);
        }
        if let Some(field) = quoted_field(&text, "missing field `") {
            let param = param_name(&path, Some(field));
            return ApiError::invalid(
                "parameter_missing",
                format!("Missing required parameter: {param}."),
                Some(&param),
            );
        }
        if text.starts_with("unknown field `") {
            // The path already ends with the unknown key.
            let param = param_name(&path, None);
            return ApiError::invalid(
                "parameter_unknown",
                format!("Received unknown parameter: {param}."),
                Some(&param),
            );
        }
        let param = param_name(&path, None);
        ApiError::invalid("parameter_invalid", format!("Invalid value for parameter: {param}."), Some(&param))
    })
}

/// A name from the request fit to repeat: short, word characters, not all digits (a card number sent
/// as a key must not come back in the error).
fn plausible(name: &str) -> &str {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        name
    } else {
        "(unnamed)"
    }
}

/// The field name serde quotes after `marker`.
fn quoted_field<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = text.split_once(marker)?.1;
    Some(plausible(rest.split_once('`')?.0))
}

/// The parameter as the API names it: the innermost field for card fields (`number`, `exp_month`, …,
/// as the browser package names them), else the dotted path. Every segment passes `plausible`.
fn param_name(path: &str, field: Option<&str>) -> String {
    let mut parts: Vec<&str> =
        path.split('.').filter(|p| !p.is_empty() && *p != "?").map(plausible).collect();
    parts.extend(field);
    match parts.as_slice() {
        ["card", inner, ..] => (*inner).to_string(),
        [] => "body".to_string(),
        _ => parts.join("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        card: Card,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Card {
        number: String,
        exp_month: u32,
    }

    fn err(json: &str) -> (String, Option<String>, String) {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::InvalidRequest { code, message, param }) => (code.to_string(), param, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn body_errors_name_the_parameter_and_never_the_value() {
        assert_eq!(err("{").0, "invalid_json");
        let (code, param, _) = err(r#"{"card":{"exp_month":1}}"#);
        assert_eq!((code.as_str(), param.as_deref()), ("parameter_missing", Some("number")));
        let (code, param, _) = err(r#"{"card":{"number":"1","exp_month":1,"pin":"1"}}"#);
        assert_eq!((code.as_str(), param.as_deref()), ("parameter_unknown", Some("pin")));
        let (code, param, message) = err(r#"{"card":{"number":"1","exp_month":"4242424242424242"}}"#);
        assert_eq!((code.as_str(), param.as_deref()), ("parameter_invalid", Some("exp_month")));
        assert!(!message.contains("4242"), "{message}");
        let (_, param, message) = err(r#"{"card":{"number":"1","exp_month":1,"4242424242424242":1}}"#);
        assert_eq!(param.as_deref(), Some("(unnamed)"));
        assert!(!message.contains("4242"), "{message}");
    }
}

//! The domain's one error type. It says what went wrong in the API's terms (`type`, `code`, message,
//! parameter); the HTTP layer maps each kind to a status once. Internal causes are kept for the log and
//! never shown.

use cardtoken_types::wire::{ApiError as WireError, ErrorType, Payment};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or missing parameters, or a request the object's state refuses.
    #[error("invalid request: {message}")]
    InvalidRequest { code: &'static str, message: String, param: Option<String> },
    /// A missing or unknown key.
    #[error("authentication failed: {message}")]
    Authentication { code: &'static str, message: &'static str },
    /// The card was declined, or its data is invalid.
    #[error("card error {code}")]
    Card {
        code: &'static str,
        message: &'static str,
        param: Option<&'static str>,
        decline_code: Option<&'static str>,
    },
    /// The wrong kind of key.
    #[error("permission denied: {message}")]
    Permission { code: &'static str, message: &'static str },
    /// No such object (or not the caller's: existence is not revealed).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// Too many requests; retry after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after: u64, message: &'static str },
    /// The body is over the limit.
    #[error("request body too large")]
    TooLarge,
    /// An idempotency key reused with another request, or still in use by one that runs.
    #[error("idempotency error: {code}")]
    Idempotency { in_use: bool, code: &'static str, message: &'static str },
    /// Our fault. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// Any of the above, about a payment, which the error body then carries.
    #[error("{0}")]
    WithPayment(Box<Error>, Box<Payment>),
}

impl Error {
    pub fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    pub fn invalid(code: &'static str, message: impl Into<String>, param: Option<&str>) -> Error {
        Error::InvalidRequest { code, message: message.into(), param: param.map(str::to_string) }
    }

    pub fn parameter(message: impl Into<String>, param: &str) -> Error {
        Error::invalid("parameter_invalid", message, Some(param))
    }

    pub fn not_found(what: &str) -> Error {
        Error::NotFound { message: format!("No such {what}.") }
    }

    /// Attaches the payment the error concerns.
    pub fn with_payment(self, payment: Payment) -> Error {
        Error::WithPayment(Box::new(self), Box::new(payment))
    }

    /// The error without the payment it may carry.
    pub fn inner(&self) -> &Error {
        match self {
            Error::WithPayment(inner, _) => inner.inner(),
            other => other,
        }
    }

    /// Whether the request never started: a malformed parameter, authentication, a rate limit. Such
    /// answers are not kept for idempotent replay (the same key may be used again, rightly).
    pub fn never_started(&self) -> bool {
        match self.inner() {
            Error::InvalidRequest { code, .. } => {
                code.starts_with("parameter_")
                    || matches!(*code, "invalid_json" | "invalid_content_type" | "body_unreadable")
            }
            Error::TooLarge
            | Error::RateLimited { .. }
            | Error::Authentication { .. }
            | Error::Idempotency { .. } => true,
            Error::Permission { .. } | Error::Internal(_) => true,
            _ => false,
        }
    }

    /// The error object the API answers with.
    pub fn to_wire(&self) -> WireError {
        if let Error::WithPayment(inner, payment) = self {
            let mut body = inner.to_wire();
            body.payment = Some(payment.clone());
            return body;
        }
        let wire = |kind, code: &str, message: String, param: Option<String>, decline_code: Option<&str>| {
            WireError {
                kind,
                code: code.to_string(),
                message,
                param,
                decline_code: decline_code.map(str::to_string),
                payment: None,
            }
        };
        match self {
            Error::WithPayment(..) => wire(ErrorType::ApiError, "internal_error", String::new(), None, None),
            Error::Idempotency { code, message, .. } => {
                wire(ErrorType::IdempotencyError, code, (*message).to_string(), None, None)
            }
            Error::InvalidRequest { code, message, param } => {
                wire(ErrorType::InvalidRequestError, code, message.clone(), param.clone(), None)
            }
            Error::Authentication { code, message } => {
                wire(ErrorType::AuthenticationError, code, (*message).to_string(), None, None)
            }
            Error::Card { code, message, param, decline_code } => wire(
                ErrorType::CardError,
                code,
                (*message).to_string(),
                param.map(str::to_string),
                *decline_code,
            ),
            Error::Permission { code, message } => {
                wire(ErrorType::PermissionError, code, (*message).to_string(), None, None)
            }
            Error::NotFound { message } => {
                wire(ErrorType::InvalidRequestError, "resource_missing", message.clone(), None, None)
            }
            Error::RateLimited { message, .. } => {
                wire(ErrorType::RateLimitError, "too_many_requests", (*message).to_string(), None, None)
            }
            Error::TooLarge => wire(
                ErrorType::InvalidRequestError,
                "request_too_large",
                "The request body is larger than 1 MB.".to_string(),
                None,
                None,
            ),
            Error::Internal(_) => wire(
                ErrorType::ApiError,
                "internal_error",
                "Something went wrong on our side. Please try again; if it keeps happening, contact support."
                    .to_string(),
                None,
                None,
            ),
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<crate::vault::VaultError> for Error {
    fn from(e: crate::vault::VaultError) -> Error {
        Error::Internal(e.to_string())
    }
}

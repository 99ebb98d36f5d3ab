//! `POST /v1/payments`, `GET /v1/payments/{id}`, `GET /v1/payments`, `POST /v1/payments/{id}/capture`,
//! `POST /v1/payments/{id}/cancel`, `POST /v1/refunds`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use cardtoken_types::wire::{ErrorBody, List, Payment, PaymentStatus, Refund};
use cardtoken_types::Currency;
use serde::Deserialize;

use crate::domain::idempotency::Reply;
use crate::domain::payments::{self, check_id, NewPayment};
use crate::domain::{refunds, Error as ApiError};
use crate::http::auth::{AnyKey, Secret};
use crate::http::error::{json, render, respond};
use crate::http::extract::{ApiQuery, IdemJson, IdemMaybeJson};
use crate::http::AppState;
use crate::store::PaymentFilter;

/// The errors every payment route may answer, described once for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description, never built
pub enum PaymentErrors {
    /// Invalid request, or an illegal transition
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or unknown key
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The wrong kind of key
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such payment
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Idempotency key in use
    #[response(status = 409)]
    Conflict(ErrorBody),
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentBody {
    amount: u64,
    currency: String,
    token: String,
    #[serde(default = "yes")]
    capture: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn invalid(message: String, param: &str) -> ApiError {
    ApiError::invalid("parameter_invalid", message, Some(param))
}

impl CreatePaymentBody {
    /// Checks what serde cannot: the currency, the amount's range in it, the token's form, and sizes.
    fn validate(self) -> Result<NewPayment, ApiError> {
        let currency = Currency::parse(&self.currency).ok_or_else(|| {
            invalid(
                "`currency` must be a three-letter ISO 4217 code, such as `jpy` or `usd`.".into(),
                "currency",
            )
        })?;
        if self.amount == 0 || self.amount > currency.max_amount() {
            return Err(invalid(
                format!(
                    "`amount` must be a whole number of the currency's minor unit from 1 to {} ({} has {} decimals).",
                    currency.max_amount(),
                    currency.code(),
                    currency.exponent()
                ),
                "amount",
            ));
        }
        if !self.token.starts_with("tok_") || self.token.len() > 64 {
            return Err(invalid(
                "`token` must be a token id (`tok_…`) from POST /v1/tokens.".into(),
                "token",
            ));
        }
        if self.description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
            return Err(invalid("`description` can be at most 1000 characters.".into(), "description"));
        }
        let bad_metadata = self.metadata.len() > 50
            || self
                .metadata
                .iter()
                .any(|(k, v)| k.is_empty() || k.chars().count() > 40 || v.chars().count() > 500);
        if bad_metadata {
            return Err(invalid(
                "`metadata` takes at most 50 keys of 1 to 40 characters, with values of at most 500.".into(),
                "metadata",
            ));
        }
        Ok(NewPayment {
            amount: self.amount,
            currency,
            token: self.token,
            capture: self.capture,
            description: self.description,
            metadata: self.metadata,
        })
    }
}

/// Authorizes a payment with a token, and captures it unless `capture` is false.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = CreatePaymentBody,
    params(crate::http::params::IdempotencyKey),
    responses(
        (status = 200, description = "The payment (`requires_action` for 3-D Secure)", body = Payment),
        (status = 402, description = "Declined: the error carries the failed payment", body = ErrorBody),
        PaymentErrors,
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "create_payment", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Secret(caller): Secret,
    IdemJson(body, idem): IdemJson<CreatePaymentBody>,
) -> Response {
    match body.validate() {
        Ok(new) => {
            let svc = state.services().clone();
            let created = crate::http::detached(
                async move { payments::create(&svc, &caller, new, idem, render::<Payment>).await },
                || Reply::Fresh(Err(ApiError::internal("the payment's task failed"))),
            );
            respond(created.await)
        }
        Err(e) => json::<Payment>(Err(e)),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientSecretQuery {
    client_secret: Option<String>,
}

/// With a secret key, any payment; with a publishable key, only with the payment's client secret.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "pay_…"), ClientSecretQuery),
    responses((status = 200, description = "The payment", body = Payment),
        PaymentErrors,
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "get_payment", skip_all)]
pub async fn get(
    State(state): State<AppState>,
    AnyKey(caller): AnyKey,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ClientSecretQuery>,
) -> Response {
    json(payments::get(&state, &caller, &id, query.client_secret.as_deref()).await)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    limit: Option<usize>,
    starting_after: Option<String>,
    /// Only payments in this status.
    status: Option<PaymentStatus>,
    /// Only payments created at or after this time (Unix seconds)…
    created_gte: Option<i64>,
    /// …and before this one.
    created_lt: Option<i64>,
    /// Only payments with a card ending in these four digits.
    last4: Option<String>,
    /// Only payments of this amount.
    amount: Option<u64>,
}

impl ListQuery {
    /// The page size, the cursor and the filter, checked.
    pub fn parts(self) -> Result<(usize, Option<String>, PaymentFilter), ApiError> {
        let limit = self.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(invalid("`limit` must be from 1 to 100.".into(), "limit"));
        }
        if let Some(a) = &self.starting_after {
            check_id(a)
                .map_err(|_| invalid("`starting_after` must be a payment id.".into(), "starting_after"))?;
        }
        if self.last4.as_ref().is_some_and(|l| l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit())) {
            return Err(invalid("`last4` is four digits.".into(), "last4"));
        }
        if self.amount.is_some_and(|a| i64::try_from(a).is_err()) {
            return Err(invalid("`amount` is too large to be any payment's.".into(), "amount"));
        }
        let filter = PaymentFilter {
            status: self.status,
            created_from: self.created_gte,
            created_until: self.created_lt,
            last4: self.last4,
            amount: self.amount,
        };
        Ok((limit, self.starting_after, filter))
    }
}

/// Payments, newest first.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(ListQuery),
    responses((status = 200, description = "A page of payments", body = List<Payment>),
        PaymentErrors,
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "list_payments", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Secret(caller): Secret,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Response {
    let listed = async {
        let (limit, after, filter) = query.parts()?;
        let (data, has_more) = payments::list(&state, &caller, filter, limit, after).await?;
        Ok(List { object: "list".to_string(), data, has_more, url: "/v1/payments".to_string() })
    };
    json(listed.await)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    amount: Option<u64>,
}

/// Captures all or part of an authorization (the rest is released).
#[utoipa::path(post, path = "/v1/payments/{id}/capture", tag = "payments",
    params(("id" = String, Path, description = "pay_…"), crate::http::params::IdempotencyKey),
    request_body(content = Option<CaptureBody>, description = "Optional; an empty body captures all"),
    responses((status = 200, description = "The captured payment", body = Payment),
        PaymentErrors,
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "capture_payment", skip_all)]
pub async fn capture(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
    IdemMaybeJson(body, idem): IdemMaybeJson<CaptureBody>,
) -> Response {
    if let Err(e) = check_id(&id) {
        return json::<Payment>(Err(e));
    }
    respond(payments::capture(&state, &caller, &id, body.amount, idem, render::<Payment>).await)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[allow(dead_code)] // accepted for the merchant's records, like Stripe's
    cancellation_reason: Option<String>,
}

/// Voids an uncaptured payment.
#[utoipa::path(post, path = "/v1/payments/{id}/cancel", tag = "payments",
    params(("id" = String, Path, description = "pay_…"), crate::http::params::IdempotencyKey),
    request_body(content = Option<CancelBody>, description = "Optional"),
    responses((status = 200, description = "The canceled payment", body = Payment),
        PaymentErrors,
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "cancel_payment", skip_all)]
pub async fn cancel(
    State(state): State<AppState>,
    Secret(caller): Secret,
    Path(id): Path<String>,
    IdemMaybeJson(_body, idem): IdemMaybeJson<CancelBody>,
) -> Response {
    if let Err(e) = check_id(&id) {
        return json::<Payment>(Err(e));
    }
    respond(payments::cancel(&state, &caller, &id, idem, render::<Payment>).await)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    payment: String,
    amount: Option<u64>,
    #[allow(dead_code)] // accepted for the merchant's records
    reason: Option<String>,
}

/// Refunds all or part of what a payment captured.
#[utoipa::path(post, path = "/v1/refunds", tag = "refunds", request_body = RefundBody,
    params(crate::http::params::IdempotencyKey),
    responses((status = 200, description = "The refund", body = Refund),
        PaymentErrors,
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "create_refund", skip_all)]
pub async fn refund(
    State(state): State<AppState>,
    Secret(caller): Secret,
    IdemJson(body, idem): IdemJson<RefundBody>,
) -> Response {
    if !body.payment.starts_with("pay_") || body.payment.len() > 64 {
        return json::<Refund>(Err(invalid("`payment` must be a payment id (`pay_…`).".into(), "payment")));
    }
    let svc = state.services().clone();
    let refunded = crate::http::detached(
        async move { refunds::create(&svc, &caller, &body.payment, body.amount, idem, render::<Refund>).await },
        || Reply::Fresh(Err(ApiError::internal("the refund's task failed"))),
    );
    respond(refunded.await)
}

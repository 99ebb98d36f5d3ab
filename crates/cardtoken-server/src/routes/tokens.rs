//! `POST /v1/tokens` (publishable key, CORS open) and `GET /v1/tokens/{id}` (secret key).
//! The card is checked with the same code as the browser's (never trusting it), vaulted, and answered
//! as a Token: brand, last four, expiry, fingerprint; never the number.

use axum::extract::{Path, State};
use axum::Json;
use cardtoken_types::wire::{CardData, CardDataError, CardFields, ErrorBody, Token, TokenCard};
use cardtoken_types::{check_number, Brand, NumberError, NumberOptions};
use serde::Deserialize;
use zeroize::Zeroize;

use crate::auth::{Publishable, Secret};
use crate::clock::year_month;
use crate::error::{ApiError, ApiJson};
use crate::ids::new_id;
use crate::state::AppState;
use crate::store::{Consumed, TokenRecord};
use crate::vault::OpenedCard;

/// A string that holds card data: erased on drop, never printed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
struct SecretText(String);

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    card: CardBody,
}

/// The card to tokenize.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CardBody {
    number: SecretText,
    exp_month: u32,
    exp_year: u32,
    cvc: SecretText,
    #[serde(default)]
    name: Option<String>,
}

/// A refused card as the API answers it: 402 `card_error` naming the field, or 400 for the name.
fn card_error(e: CardDataError, number: &str) -> ApiError {
    // A number of a known brand and length that fails the Luhn check is "incorrect".
    let luhn_failure = || {
        let check = check_number(number, NumberOptions::default());
        check.brand.is_some() && check.error == Some(NumberError::Invalid)
    };
    let (code, message): (&'static str, &'static str) = match e.code {
        "invalid_number" if luhn_failure() => ("incorrect_number", "Your card number is incorrect."),
        "invalid_number" | "incomplete_number" | "unknown_brand" | "too_long" => {
            ("invalid_number", "Your card number is not a valid card number.")
        }
        "incomplete_cvc" | "invalid_cvc" => ("invalid_cvc", "Your card's security code is invalid."),
        "expired_card" => ("expired_card", "Your card has expired."),
        "invalid_expiry_month" => ("invalid_expiry_month", "Your card's expiration month is invalid."),
        "invalid_expiry_year" => ("invalid_expiry_year", "Your card's expiration year is invalid."),
        _ => return ApiError::invalid("parameter_invalid", e.message, Some(e.param)),
    };
    ApiError::Card { code, message, param: Some(e.param), decline_code: None }
}

pub fn token_json(t: &TokenRecord) -> Token {
    Token {
        id: t.id.clone(),
        object: "token".to_string(),
        card: TokenCard {
            brand: Brand::from_name(&t.brand).unwrap_or(Brand::Visa),
            last4: t.last4.clone(),
            exp_month: t.exp_month,
            exp_year: t.exp_year,
            fingerprint: t.fingerprint.clone(),
        },
        created: t.created,
        livemode: t.livemode,
        used: t.used,
    }
}

/// Tokenizes a card (publishable key; CORS open). The Token never holds the number.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateTokenBody,
    params(crate::openapi::IdempotencyKey),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 402, description = "Invalid card data", body = ErrorBody),
        (status = 403, description = "A secret key on the browser endpoint", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody),
        (status = 413, description = "Body over 1 MB", body = ErrorBody),
        (status = 429, description = "Too many tokenizations", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "create_token", skip_all, fields(key = %key.id, token))]
pub async fn create(
    State(state): State<AppState>,
    Publishable(key): Publishable,
    ApiJson(body): ApiJson<CreateTokenBody>,
) -> Result<Json<Token>, ApiError> {
    let now = state.clock.now();
    if !state.token_limiter.allow(&key.id, now) {
        tracing::warn!("tokenization rate limit reached");
        return Err(ApiError::RateLimited);
    }
    let c = &body.card;
    let fields = CardFields {
        number: &c.number.0,
        exp_month: c.exp_month,
        exp_year: c.exp_year,
        cvc: &c.cvc.0,
        name: c.name.as_deref(),
    };
    let card = CardData::parse(fields, year_month(now)).map_err(|e| card_error(e, &c.number.0))?;
    drop(body);

    let id = new_id("tok").map_err(ApiError::internal)?;
    let sealed = state.vault.seal(&id, &card).map_err(ApiError::internal)?;
    let record = TokenRecord {
        id: id.clone(),
        key_id: key.id.clone(),
        livemode: key.livemode,
        created: now,
        expires: now + state.config.token_ttl_secs,
        used: false,
        brand: card.number.brand().name().to_string(),
        last4: card.number.last4().to_string(),
        bin: card.number.bin().to_string(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        fingerprint: state.vault.fingerprint(&card.number),
        master_version: sealed.master_version,
        wrapped_key: sealed.wrapped_key,
        card_ct: sealed.card_ct,
        cvc_ct: Some(sealed.cvc_ct),
    };
    let token = token_json(&record);
    state.db(move |s| s.insert_token(&record)).await?;
    state.monitor.record_token(now, &key.id);
    tracing::Span::current().record("token", id.as_str());
    tracing::info!(brand = %token.card.brand, last4 = %token.card.last4, "token created");
    Ok(Json(token))
}

fn no_such_token() -> ApiError {
    ApiError::NotFound { message: "No such token.".to_string() }
}

/// A token (secret key). Never the number.
#[utoipa::path(get, path = "/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path, description = "tok_…")),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 403, description = "A publishable key", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "get_token", skip_all)]
pub async fn get(
    State(state): State<AppState>,
    Secret(_key): Secret,
    Path(id): Path<String>,
) -> Result<Json<Token>, ApiError> {
    if !id.starts_with("tok_") || id.len() > 64 {
        return Err(no_such_token());
    }
    let record = state.db(move |s| s.get_token(&id)).await?.ok_or_else(no_such_token)?;
    Ok(Json(token_json(&record)))
}

/// Uses a token: once, before it expires. Answers the card (with its CVC, which storage has now
/// erased) for the processor. Payments call this.
pub async fn consume(state: &AppState, id: &str) -> Result<OpenedCard, ApiError> {
    let now = state.clock.now();
    let owned = id.to_string();
    match state.db(move |s| s.consume_token(&owned, now)).await? {
        Consumed::Fresh(t) => state
            .vault
            .open_card(
                &t.id,
                t.master_version,
                &t.wrapped_key,
                &t.card_ct,
                t.cvc_ct.as_deref(),
                Brand::from_name(&t.brand),
            )
            .map_err(ApiError::internal),
        Consumed::AlreadyUsed => Err(ApiError::invalid(
            "token_already_used",
            "This token has already been used; tokens are single-use. Create a new one.",
            Some("token"),
        )),
        Consumed::Expired => Err(ApiError::invalid(
            "token_expired",
            "This token has expired (tokens last 15 minutes). Create a new one.",
            Some("token"),
        )),
        Consumed::NotFound => Err(ApiError::invalid("resource_missing", "No such token.", Some("token"))),
    }
}

//! `POST /v1/tokens` (publishable key, CORS open) and `GET /v1/tokens/{id}` (secret key).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use cardtoken_types::wire::{ErrorBody, Token, TokenRequest};

use crate::domain::tokens;
use crate::http::auth::{Publishable, Secret};
use crate::http::client::ClientIp;
use crate::http::error::{json, render, respond};
use crate::http::extract::IdemJson;
use crate::http::AppState;

/// Tokenizes a card, sent in clear (`card`) or encrypted to a key of `/.well-known/jwks.json`
/// (`card_jwe`) (publishable key; CORS open). The Token never holds the number.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = TokenRequest,
    params(crate::http::params::IdempotencyKey),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 400, description = "Malformed request; a `card_jwe` that does not decrypt (unknown or retired key, another algorithm, altered, or older than 5 minutes), always with `param: \"card_jwe\"` and the same message; a card in clear where the account takes it only encrypted (`encryption_required`, `param: \"card\"`)", body = ErrorBody),
        (status = 401, description = "Missing or unknown key", body = ErrorBody),
        (status = 402, description = "Invalid card data", body = ErrorBody),
        (status = 403, description = "A secret key on the browser endpoint", body = ErrorBody),
        (status = 409, description = "Idempotency key in use", body = ErrorBody),
        (status = 413, description = "Body over 1 MB", body = ErrorBody),
        (status = 429, description = "Too many tokenizations (the card-testing defence); see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(name = "create_token", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Publishable(caller): Publishable,
    ClientIp(client): ClientIp,
    IdemJson(body, idem): IdemJson<TokenRequest>,
) -> Response {
    respond(tokens::create(&state, &caller, client, body, idem, render::<Token>).await)
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
pub async fn get(State(state): State<AppState>, Secret(caller): Secret, Path(id): Path<String>) -> Response {
    json(tokens::get(&state, &caller, &id).await)
}

/// The public keys a card may be encrypted to for `POST /v1/tokens` `{card_jwe}` (JWKS, RFC 7517): EC P-256,
/// `use: "enc"`, `alg: "ECDH-ES"`; encrypt to the first. Open to every origin; cacheable for 5 minutes (a
/// key retired by a rotation stays accepted for its grace period, longer than that).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "The encryption keys", body = crate::jwe::Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(tokens::encryption_keys(&state)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    response
}

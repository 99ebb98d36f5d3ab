//! Authentication extractors. `Publishable` and `Secret` name what a route needs: a missing or unknown
//! key is 401, the wrong kind of key is 403.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;
use crate::store::{ApiKeyRecord, KeyKind};

/// A request made with a publishable key.
pub struct Publishable(pub ApiKeyRecord);

/// A request made with a secret key.
pub struct Secret(pub ApiKeyRecord);

/// A request made with either kind of key (the route decides what each may see).
pub struct AnyKey(pub ApiKeyRecord);

const MISSING: ApiError = ApiError::Authentication {
    code: "missing_api_key",
    message: "No API key provided. Send it as `Authorization: Bearer <key>`.",
};
const UNKNOWN: ApiError = ApiError::Authentication {
    code: "invalid_api_key",
    message: "Invalid API key: it is unknown or has been revoked.",
};

pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<ApiKeyRecord, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(MISSING)?;
    let value = header.to_str().map_err(|_| UNKNOWN)?;
    let bearer = value.strip_prefix("Bearer ").map(str::trim).filter(|k| !k.is_empty()).ok_or(MISSING)?;
    if bearer.len() > 128 {
        return Err(UNKNOWN);
    }
    let bearer = bearer.to_string();
    state.db(move |s| keys::lookup(s, &bearer)).await?.ok_or(UNKNOWN)
}

impl FromRequestParts<AppState> for Publishable {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = authenticate(parts, state).await?;
        match key.kind {
            KeyKind::Publishable => Ok(Publishable(key)),
            KeyKind::Secret => Err(ApiError::Permission {
                code: "secret_key_not_allowed",
                message: "This endpoint is called from browsers: use your publishable key (pk_…). \
                          Never put a secret key in a web page.",
            }),
        }
    }
}

impl FromRequestParts<AppState> for Secret {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = authenticate(parts, state).await?;
        match key.kind {
            KeyKind::Secret => Ok(Secret(key)),
            KeyKind::Publishable => Err(ApiError::Permission {
                code: "secret_key_required",
                message: "This request needs your secret key (sk_…); a publishable key cannot make it.",
            }),
        }
    }
}

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(AnyKey)
    }
}

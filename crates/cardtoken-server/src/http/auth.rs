//! Authentication extractors. `Publishable` and `Secret` name what a route needs: a missing, unknown,
//! expired or revoked key is 401, the wrong kind of key is 403. The caller's account and mode are left
//! for the request's monitoring (`CallerSlot`).

use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::domain::{accounts, Caller, Error, Scope};
use crate::store::KeyKind;

use super::AppState;

/// A request made with a publishable key.
pub struct Publishable(pub Caller);

/// A request made with a secret key.
pub struct Secret(pub Caller);

/// A request made with either kind of key (the route decides what each may see).
pub struct AnyKey(pub Caller);

/// Where authentication leaves the caller's scope for the request's monitoring.
#[derive(Clone, Default)]
pub struct CallerSlot(pub Arc<OnceLock<Scope>>);

pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, Error> {
    let bearer = match parts.headers.get(AUTHORIZATION) {
        None => None,
        Some(v) => {
            let value = v.to_str().map_err(|_| Error::Authentication {
                code: "invalid_api_key",
                message: "Invalid API key: it is unknown, expired or revoked.",
            })?;
            Some(value.strip_prefix("Bearer ").unwrap_or(""))
        }
    };
    let caller = accounts::authenticate(state, bearer).await?;
    if let Some(slot) = parts.extensions.get::<CallerSlot>() {
        let _ = slot.0.set(caller.scope.clone());
    }
    Ok(caller)
}

impl FromRequestParts<AppState> for Publishable {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        match caller.kind {
            KeyKind::Publishable => Ok(Publishable(caller)),
            KeyKind::Secret => Err(Error::Permission {
                code: "secret_key_not_allowed",
                message: "This endpoint is called from browsers: use your publishable key (pk_…). \
                          Never put a secret key in a web page.",
            }),
        }
    }
}

impl FromRequestParts<AppState> for Secret {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        match caller.kind {
            KeyKind::Secret => Ok(Secret(caller)),
            KeyKind::Publishable => Err(Error::Permission {
                code: "secret_key_required",
                message: "This request needs your secret key (sk_…); a publishable key cannot make it.",
            }),
        }
    }
}

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(AnyKey)
    }
}

//! The merchant dashboard at `/dashboard`, on the API's origin: pages rendered on the server (maud,
//! escaped by construction), a small script for the home page's charts (uPlot), English and Japanese.
//!
//! People sign in with an email and a password (`domain::users`); the session is a cookie (`HttpOnly`,
//! `SameSite=Strict`, `Path=/dashboard`, `Secure` when the API's public URL is https) naming a session
//! kept in the database. A signed-in person acts as a `Caller` of their account in the mode the switch
//! selects, with no API key: the dashboard calls the same domain operations as the API. Every change is a
//! POST from a form that carries the session's CSRF token (compared in constant time), the mode the page
//! was shown in, and an idempotency key made when the page was rendered (a double click sends the same
//! key, and the second request replays the first); a request whose `Origin` or `Sec-Fetch-Site` says it
//! came from another site is refused before anything else. No page holds a secret key (a new one is
//! shown once, on the page answering the request that made it), a card number or a client secret.

mod events;
mod format;
pub mod home;
mod i18n;
mod keys;
mod payments;
mod sessions;
mod views;
mod webhooks;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::domain::idempotency::{Idempotency, Reply};
use crate::domain::{users, Caller, Error};
use crate::store::{SessionRecord, UserRecord};

use super::AppState;
pub use i18n::{Lang, M};

/// The session cookie.
const SESSION_COOKIE: &str = "ct_session";
/// The sign-in form's CSRF cookie (double submit: there is no session yet).
const SIGN_IN_COOKIE: &str = "ct_signin";
/// The language chosen on a page (`?lang=`).
const LANG_COOKIE: &str = "ct_lang";

/// The pages' Content-Security-Policy: scripts, styles and fetches from this origin only; forms post
/// here only; no framing.
const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    use axum::routing::post;
    Router::new()
        .route("/dashboard", get(home::page))
        .route("/dashboard/monitoring.json", get(home::data))
        .route("/dashboard/assets/{file}", get(home::asset))
        .route("/dashboard/sign-in", get(sessions::form).post(sessions::sign_in))
        .route("/dashboard/sign-out", post(sessions::sign_out))
        .route("/dashboard/mode", post(sessions::mode))
        .route("/dashboard/payments", get(payments::list))
        .route("/dashboard/payments/{id}", get(payments::show))
        .route("/dashboard/payments/{id}/{action}", get(payments::confirm).post(payments::act))
        .route("/dashboard/keys", get(keys::list).post(keys::create))
        .route("/dashboard/keys/{id}/{action}", get(keys::confirm).post(keys::act))
        .route("/dashboard/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/dashboard/webhooks/{id}/{action}", get(webhooks::confirm).post(webhooks::act))
        .route("/dashboard/events", get(events::list))
        .route("/dashboard/events/{id}", get(events::show))
        .route("/dashboard/events/{id}/resend", post(events::resend))
        .layer(axum::middleware::from_fn(headers))
}

/// Every dashboard answer: the CSP, no framing, no caching (pages hold account data), no referrer
/// outside; and a `?lang=` choice remembered in a cookie.
async fn headers(request: Request, next: Next) -> Response {
    let chosen = query_param(request.uri().query(), "lang").and_then(|l| Lang::parse(&l));
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(lang) = chosen {
        let cookie =
            format!("{LANG_COOKIE}={}; Path=/dashboard; SameSite=Strict; Max-Age=31536000", lang.code());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A query string's parameter, decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A cookie's value.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The page's language: `?lang=`, the cookie, or the browser's preference.
fn lang_of(parts: &Parts) -> Lang {
    query_param(parts.uri.query(), "lang")
        .and_then(|l| Lang::parse(&l))
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(|l| Lang::parse(&l)))
        .unwrap_or_else(|| {
            Lang::from_accept(
                parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or(""),
            )
        })
}

/// The language alone (pages shown before signing in).
pub struct PageLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(lang_of(parts)))
    }
}

/// Whether cookies must be `Secure`: the API is served over https.
fn secure(state: &AppState) -> bool {
    state.api_base.starts_with("https://")
}

/// A cookie for the dashboard's path: `HttpOnly`, `SameSite=Strict`, `Secure` over https.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict");
    if secure(state) {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A signed-in person: their session, and the caller they act as.
pub struct Signed {
    pub user: UserRecord,
    pub session: SessionRecord,
    pub caller: Caller,
    pub lang: Lang,
}

impl Signed {
    pub fn mode(&self) -> &'static str {
        self.caller.scope.mode()
    }
}

/// To the sign-in page, forgetting a session cookie that no longer works.
fn to_sign_in(state: &AppState, ended: bool) -> Response {
    let target = if ended { "/dashboard/sign-in?ended=1" } else { "/dashboard/sign-in" };
    let mut r = Redirect::to(target).into_response();
    if ended {
        r.headers_mut().append(header::SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", Some(0)));
    }
    r
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = lang_of(parts);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(to_sign_in(state, false));
        };
        match users::session(state, &token).await {
            Ok(Some((session, user))) => {
                let caller = users::caller(&user, &session);
                Ok(Signed { user, session, caller, lang })
            }
            Ok(None) => Err(to_sign_in(state, true)),
            Err(e) => Err(views::error_page(lang, &e)),
        }
    }
}

/// Whether a change comes from this dashboard's own pages by what the browser says: `Sec-Fetch-Site`
/// (same-origin, or none for a user's own navigation) and `Origin` (this origin). A request saying
/// neither (an old browser, a script) still needs the CSRF token.
fn same_origin(parts: &Parts, state: &AppState) -> bool {
    let h = &parts.headers;
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = h.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let ours = url::Url::parse(&state.api_base).ok().map(|u| u.origin().ascii_serialization());
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    ours.as_deref() == Some(origin)
        || host.is_some_and(|host| origin == format!("http://{host}") || origin == format!("https://{host}"))
}

/// A form's fields, in the order sent.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The last value of a name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a name (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A field, trimmed, `None` when empty.
    pub fn filled(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}

async fn read_form(req: Request, state: &AppState) -> Result<Fields, Response> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let bytes = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
    if !form {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    }
    let fields = url::form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    Ok(Fields(fields))
}

/// A change made from a dashboard page: by a signed-in person, from this origin, with the session's
/// CSRF token, in the mode the page was shown in. Carries the form's fields and the click's
/// idempotency key.
pub struct Change {
    pub signed: Signed,
    pub fields: Fields,
    pub idem: Option<Idempotency>,
}

impl Change {
    pub fn lang(&self) -> Lang {
        self.signed.lang
    }
}

impl FromRequest<AppState> for Change {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let lang = lang_of(&parts);
        if !same_origin(&parts, state) {
            tracing::warn!("dashboard change refused: from another site");
            return Err(views::refused(lang, StatusCode::FORBIDDEN, M::Forbidden));
        }
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let path = parts.uri.path().to_string();
        let fields = read_form(Request::from_parts(parts, body), state).await?;
        let token = fields.get("csrf").unwrap_or("");
        if !bool::from(token.as_bytes().ct_eq(signed.session.csrf.as_bytes())) {
            tracing::warn!("dashboard change refused: no valid CSRF token");
            return Err(views::refused(lang, StatusCode::FORBIDDEN, M::Forbidden));
        }
        if fields.get("in_mode").is_some_and(|m| m != signed.mode()) {
            return Err(views::refused(lang, StatusCode::CONFLICT, M::ModeChanged));
        }
        // The request's fingerprint covers what it asks for (never the CSRF token).
        let idem = fields.filled("idem").filter(|k| k.len() <= 64).map(|k| {
            let canonical: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.0.iter().filter(|(k, _)| k.as_str() != "csrf"))
                .finish();
            Idempotency {
                key: format!("dashboard_{k}"),
                fingerprint: state.vault.idempotency_fingerprint("POST", &path, canonical.as_bytes()),
            }
        });
        Ok(Change { signed, fields, idem })
    }
}

/// What a change came to: a fresh outcome, or a replay of an earlier click's (its stored JSON).
pub enum Outcome<T> {
    Fresh(T),
    Replayed(Value),
    Failed(StatusCode, String),
}

/// Runs an operation with the click's idempotency key; a second click that arrives while the first
/// still runs waits for it and replays its answer (instead of answering "in use").
pub async fn settle<T, F, Fut>(op: F) -> Outcome<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Reply<T>>,
{
    for _ in 0..200 {
        match op().await {
            Reply::Fresh(Err(Error::Idempotency { in_use: true, .. })) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Reply::Fresh(Ok(v)) => return Outcome::Fresh(v),
            Reply::Fresh(Err(e)) => {
                if let Error::Internal(cause) = e.inner() {
                    tracing::error!(%cause, "internal error");
                }
                return Outcome::Failed(super::error::status_of(&e), e.to_wire().message);
            }
            Reply::Replayed(stored) => {
                let body: Value = serde_json::from_slice(&stored.body).unwrap_or(Value::Null);
                if stored.status == 200 {
                    return Outcome::Replayed(body);
                }
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
                return Outcome::Failed(status, message);
            }
        }
    }
    Outcome::Failed(StatusCode::CONFLICT, crate::domain::idempotency::in_use().to_wire().message)
}

/// An HTML answer.
pub fn html(status: StatusCode, page: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response()
}

/// After a change: back to a page (303, so a reload does not post again), with a notice.
pub fn see_other(path: &str, notice: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}notice={notice}")).into_response()
}

/// A fresh idempotency key for a form about to be shown (one per rendering: a double click sends it
/// twice, a new page gets a new one).
pub fn click_key() -> String {
    crate::ids::random_alnum(24).unwrap_or_default()
}

//! Signing in and out, and the test/live switch.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::views::{bare, notice};
use super::{
    cookie, html as respond, lang_of, query_param, read_form, same_origin, set_cookie, Change, Lang, M,
    SESSION_COOKIE, SIGN_IN_COOKIE,
};
use crate::domain::{users, Error};
use crate::http::client::ClientIp;
use crate::http::AppState;

fn form_page(lang: Lang, csrf: &str, error: Option<String>, info: Option<M>) -> maud::Markup {
    let body = html! {
        @if let Some(e) = &error {
            p.error #sign-in-error role="alert" { (e) }
        }
        @if let Some(i) = info {
            p.notice role="status" { (lang.t(i)) }
        }
        form.sign-in method="post" action="/dashboard/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            label for="email" { (lang.t(M::Email)) }
            input #email type="email" name="email" autocomplete="username" required autofocus
                aria-describedby=[error.as_ref().map(|_| "sign-in-error")];
            label for="password" { (lang.t(M::Password)) }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { (lang.t(M::SignIn)) }
        }
    };
    bare(lang, "/dashboard/sign-in", lang.t(M::SignInTitle), body)
}

fn random_token() -> String {
    crate::ids::random_alnum(32).unwrap_or_default()
}

/// The sign-in form, with a fresh CSRF cookie (double submit).
fn show(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    error: Option<String>,
    info: Option<M>,
) -> Response {
    let csrf = random_token();
    let mut r = respond(status, form_page(lang, &csrf, error, info));
    r.headers_mut().append(header::SET_COOKIE, set_cookie(state, SIGN_IN_COOKIE, &csrf, None));
    r
}

/// `GET /dashboard/sign-in`
pub async fn form(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let lang = lang_of(&parts);
    // Signed in already: to the dashboard.
    if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = users::session(&state, &token).await {
            return Redirect::to("/dashboard").into_response();
        }
    }
    let info = if query_param(parts.uri.query(), "ended").is_some() {
        Some(M::SessionEnded)
    } else {
        notice(query_param(parts.uri.query(), "notice").as_deref())
    };
    show(&state, lang, StatusCode::OK, None, info)
}

/// `POST /dashboard/sign-in`: email and password; a session cookie and the dashboard, or the form again.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let lang = lang_of(&parts);
    let expected = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !same_origin(&parts, &state) {
        return super::views::refused(lang, StatusCode::FORBIDDEN, M::Forbidden);
    }
    let fields = match read_form(Request::from_parts(parts, body), &state).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let sent = fields.get("csrf").unwrap_or("");
    if expected.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        tracing::warn!("dashboard sign-in refused: no valid CSRF token");
        return super::views::refused(lang, StatusCode::FORBIDDEN, M::Forbidden);
    }
    let email = fields.get("email").unwrap_or("").to_string();
    let password = SecretString::from(fields.get("password").unwrap_or("").to_string());
    drop(fields);
    match users::sign_in(&state, &email, password, client).await {
        Ok(made) => {
            let mut r = Redirect::to("/dashboard").into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, made.token.expose_secret(), None),
            );
            h.append(header::SET_COOKIE, set_cookie(&state, SIGN_IN_COOKIE, "", Some(0)));
            r
        }
        Err(Error::RateLimited { retry_after, .. }) => {
            let mut r = show(
                &state,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                Some(lang.f(M::Throttled, &[&retry_after.to_string()])),
                None,
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(Error::Authentication { .. }) => {
            show(&state, lang, StatusCode::UNAUTHORIZED, Some(lang.t(M::WrongCredentials).to_string()), None)
        }
        Err(e) => super::views::error_page(lang, &e),
    }
}

/// `POST /dashboard/sign-out`: the session ends (everywhere: it is a row) and its cookie goes.
pub async fn sign_out(State(state): State<AppState>, change: Change) -> Response {
    if let Err(e) = users::sign_out(&state, &change.signed.session).await {
        return super::views::error_page(change.lang(), &e);
    }
    let mut r = Redirect::to("/dashboard/sign-in?notice=signed_out").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    r
}

/// `POST /dashboard/mode`: the test/live switch; back to the section's first page.
pub async fn mode(State(state): State<AppState>, change: Change) -> Response {
    let livemode = match change.fields.get("to") {
        Some("live") => true,
        Some("test") => false,
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    if let Err(e) = users::set_mode(&state, &change.signed.session, livemode).await {
        return super::views::error_page(change.lang(), &e);
    }
    let back = change
        .fields
        .get("back")
        .filter(|b| {
            b.starts_with("/dashboard") && !b.contains("//") && !b.contains('\\') && !b.contains("..")
        })
        .unwrap_or("/dashboard");
    Redirect::to(back).into_response()
}

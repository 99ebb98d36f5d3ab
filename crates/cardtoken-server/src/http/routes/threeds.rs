//! The 3-D Secure challenge page of the test processor: `GET /3ds/{payment}?client_secret=…` shows the
//! payment and two buttons; `POST /3ds/{payment}` (the form) records the outcome and moves the payment
//! on. The result page tells the framing page (the package's `handleNextAction`, which passes its own
//! `origin`) by `postMessage` to that origin only, with the payment's id and status only.
//!
//! Every page sends a Content-Security-Policy: no script or style but the page's own (by a nonce made
//! for each response; no inline handlers), forms only to this origin, and `frame-ancestors` as the
//! account's publishable keys allow (`cardtoken-server keys frame-ancestors`; `*` by default).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::Engine;
use cardtoken_types::wire::{Payment, PaymentStatus};
use serde::Deserialize;

use crate::domain::payments::{self, payment_json};
use crate::domain::{accounts, Error as ApiError, Scope};
use crate::http::AppState;
use crate::ids::random_bytes;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChallengeQuery {
    client_secret: String,
    /// The framing page's origin, told the result (`handleNextAction` sends it).
    origin: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChallengeForm {
    client_secret: String,
    result: String,
    #[serde(default)]
    origin: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What a page's policy needs: its nonce, and who may frame it.
struct Policy {
    nonce: String,
    ancestors: String,
}

impl Policy {
    fn new(ancestors: String) -> Policy {
        let nonce = base64::engine::general_purpose::STANDARD.encode(random_bytes::<18>().unwrap_or([7; 18]));
        Policy { nonce, ancestors }
    }

    fn header(&self) -> String {
        format!(
            "default-src 'none'; script-src 'nonce-{n}'; style-src 'nonce-{n}'; form-action 'self'; \
             base-uri 'none'; frame-ancestors {a}",
            n = self.nonce,
            a = self.ancestors
        )
    }
}

fn page(status: StatusCode, policy: &Policy, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style nonce=\"{nonce}\">\
         body{{font-family:system-ui,sans-serif;margin:0;padding:1.5rem;color:#1a1a2e;background:#fff}}\
         h1{{font-size:1.2rem}}.card{{color:#555}}.buttons{{display:flex;gap:.8rem;margin-top:1.2rem}}\
         button{{flex:1;padding:.7rem;font-size:1rem;border-radius:6px;border:1px solid #4056f4;cursor:pointer}}\
         button[value=pass]{{background:#4056f4;color:#fff}}button[value=fail]{{background:#fff;color:#4056f4}}\
         button:focus{{outline:3px solid #f4a340;outline-offset:2px}}</style></head><body>{body}</body></html>",
        title = escape(title),
        nonce = policy.nonce,
    );
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        html,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&policy.header()) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

fn describe(p: &Payment) -> String {
    format!(
        "<p class=\"card\">{} {} · {} ending {}</p>",
        p.amount,
        escape(&p.currency.to_uppercase()),
        escape(p.card.brand.info().nice_name),
        escape(&p.card.last4)
    )
}

/// An origin as a page states it: `scheme://host[:port]`, nothing else.
fn plain_origin(origin: &str) -> Option<&str> {
    let (scheme, host) = origin.split_once("://")?;
    let ok = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    ok.then_some(origin)
}

/// Whether `frame-ancestors` lets `origin` frame the page.
fn ancestors_allow(ancestors: &str, origin: &str) -> bool {
    ancestors.split_whitespace().any(|a| match a {
        "*" => true,
        "'none'" | "'self'" => false,
        pattern => match pattern.split_once("://*.") {
            Some((scheme, suffix)) => {
                origin.starts_with(&format!("{scheme}://")) && origin.ends_with(&format!(".{suffix}"))
            }
            None => pattern.trim_end_matches('/') == origin,
        },
    })
}

/// The origin the result may be posted to: the one the framing page gave, if the account lets it frame.
fn target_origin<'a>(given: Option<&'a str>, ancestors: &str) -> Option<&'a str> {
    given.and_then(plain_origin).filter(|o| ancestors_allow(ancestors, o))
}

fn finished(policy: &Policy, p: &Payment, origin: Option<&str>) -> Response {
    finished_with(StatusCode::OK, policy, p, origin)
}

/// The result page, telling the framing page (only) the payment's state.
fn finished_with(code: StatusCode, policy: &Policy, p: &Payment, origin: Option<&str>) -> Response {
    let (title, text) = match p.status {
        PaymentStatus::Succeeded | PaymentStatus::RequiresCapture => {
            ("Authentication complete", "You have been verified. You can close this window.")
        }
        _ => ("Authentication failed", "The payment was not authorized."),
    };
    let message = serde_json::json!({
        "source": "cardtoken", "type": "three_d_secure_complete", "payment": p.id, "status": p.status,
    });
    let script = match target_origin(origin, &policy.ancestors) {
        // JSON in a script element: `<` escaped, so nothing in it can close the element.
        Some(o) => format!(
            "<script nonce=\"{}\">if (window.parent !== window) window.parent.postMessage({}, {});</script>",
            policy.nonce,
            message.to_string().replace('<', "\\u003c"),
            serde_json::Value::String(o.to_string()).to_string().replace('<', "\\u003c"),
        ),
        None => String::new(),
    };
    let body = format!(
        "<h1>{title}</h1>{}<p id=\"result\" data-status=\"{}\">{text}</p>{script}",
        describe(p),
        p.status.as_str(),
    );
    page(code, policy, title, &body)
}

fn not_found(policy: &Policy) -> Response {
    page(StatusCode::NOT_FOUND, policy, "Not found", "<h1>No such authentication</h1>")
}

/// Who may frame an account's pages: its keys' `frame-ancestors` (`*` while any key has none set).
async fn ancestors_of(state: &AppState, scope: &Scope) -> String {
    accounts::frame_ancestors(state, scope).await.unwrap_or_else(|_| "'none'".to_string())
}

/// The 3-D Secure challenge page (HTML), reached with the payment's client secret.
#[utoipa::path(get, path = "/3ds/{id}", tag = "3-D Secure",
    params(("id" = String, Path, description = "pay_…"), ChallengeQuery),
    responses((status = 200, description = "The challenge, or its result", content_type = "text/html", body = String),
        (status = 400, description = "Missing client secret", body = String),
        (status = 404, description = "No such payment, or a wrong client secret", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ChallengeQuery>,
) -> Response {
    let Ok(p) = payments::find_with_secret(&state, &id, &q.client_secret).await else {
        return not_found(&Policy::new("'none'".into()));
    };
    let policy = Policy::new(ancestors_of(&state, &p.scope()).await);
    let p = payment_json(&p);
    let origin = q.origin.as_deref();
    if p.status != PaymentStatus::RequiresAction {
        return finished(&policy, &p, origin);
    }
    let origin_field = match target_origin(origin, &policy.ancestors) {
        Some(o) => format!("<input type=\"hidden\" name=\"origin\" value=\"{}\">", escape(o)),
        None => String::new(),
    };
    let body = format!(
        "<h1>Confirm this payment</h1>{}\
         <p>Test mode: choose the outcome of the 3-D Secure challenge.</p>\
         <form method=\"post\" action=\"/3ds/{id}\">\
         <input type=\"hidden\" name=\"client_secret\" value=\"{secret}\">{origin_field}\
         <div class=\"buttons\"><button type=\"submit\" name=\"result\" value=\"pass\" autofocus>Pass</button>\
         <button type=\"submit\" name=\"result\" value=\"fail\">Fail</button></div></form>",
        describe(&p),
        id = escape(&p.id),
        secret = escape(&q.client_secret),
    );
    page(StatusCode::OK, &policy, "3-D Secure", &body)
}

/// Records the challenge's outcome (`pass` or `fail`) and moves the payment on; answers the result page.
#[utoipa::path(post, path = "/3ds/{id}", tag = "3-D Secure",
    params(("id" = String, Path, description = "pay_…")),
    request_body(content = ChallengeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The result page", content_type = "text/html", body = String),
        (status = 400, description = "Not pass or fail, or the payment is not waiting", body = String),
        (status = 404, description = "No such payment, or a wrong client secret", content_type = "text/html", body = String),
        (status = 415, description = "Not a form", body = String),
        (status = 422, description = "Missing fields", body = String)))]
pub async fn complete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ChallengeForm>,
) -> Response {
    let Ok(current) = payments::find_with_secret(&state, &id, &form.client_secret).await else {
        return not_found(&Policy::new("'none'".into()));
    };
    let policy = Policy::new(ancestors_of(&state, &current.scope()).await);
    let origin = form.origin.as_deref();
    let passed = match form.result.as_str() {
        "pass" => true,
        "fail" => false,
        _ => return page(StatusCode::BAD_REQUEST, &policy, "Bad request", "<h1>Choose pass or fail.</h1>"),
    };
    let (svc, pid, secret) = (state.services().clone(), id.clone(), form.client_secret.clone());
    let completed = crate::http::detached(
        async move { payments::complete_challenge(&svc, &pid, &secret, passed).await },
        || Err(ApiError::internal("the challenge's task failed")),
    );
    match completed.await {
        Ok(p) => finished(&policy, &p, origin),
        // The payment had moved on (canceled, or another result came first): say so, with its state.
        Err(ApiError::WithPayment(e, p)) if matches!(*e, ApiError::InvalidRequest { .. }) => {
            finished_with(StatusCode::BAD_REQUEST, &policy, &p, origin)
        }
        // A decline after the challenge still finishes the challenge: show the payment's state.
        Err(ApiError::WithPayment(_, p)) => finished(&policy, &p, origin),
        Err(ApiError::NotFound { .. }) => not_found(&policy),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_goes_only_to_an_origin_the_account_lets_frame_it() {
        assert_eq!(target_origin(Some("https://shop.example"), "*"), Some("https://shop.example"));
        assert_eq!(
            target_origin(Some("https://shop.example"), "https://shop.example"),
            Some("https://shop.example")
        );
        assert_eq!(target_origin(Some("https://evil.example"), "https://shop.example"), None);
        assert_eq!(
            target_origin(Some("https://a.shop.example"), "https://*.shop.example"),
            Some("https://a.shop.example")
        );
        assert_eq!(target_origin(Some("https://shop.example"), "'none'"), None);
        assert_eq!(target_origin(None, "*"), None, "no origin given: no message");
        for bad in ["javascript:alert(1)", "https://x.example/path", "https://x.example\"<", "*", "null"] {
            assert_eq!(target_origin(Some(bad), "*"), None, "{bad}");
        }
    }
}

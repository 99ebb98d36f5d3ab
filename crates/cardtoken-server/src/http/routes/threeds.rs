//! The 3-D Secure challenge page of the test processor: `GET /3ds/{payment}?client_secret=…` shows the
//! payment and two buttons; `POST /3ds/{payment}` (the form) records the outcome and moves the payment
//! on. The result page tells a framing page (the package's `handleNextAction`) by `postMessage`, with
//! the payment's id and status only.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use cardtoken_types::wire::{Payment, PaymentStatus};
use serde::Deserialize;

use crate::domain::payments::{self, payment_json};
use crate::domain::Error as ApiError;
use crate::http::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChallengeQuery {
    client_secret: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChallengeForm {
    client_secret: String,
    result: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:0;padding:1.5rem;color:#1a1a2e;background:#fff}}\
         h1{{font-size:1.2rem}}.card{{color:#555}}.buttons{{display:flex;gap:.8rem;margin-top:1.2rem}}\
         button{{flex:1;padding:.7rem;font-size:1rem;border-radius:6px;border:1px solid #4056f4;cursor:pointer}}\
         button[value=pass]{{background:#4056f4;color:#fff}}button[value=fail]{{background:#fff;color:#4056f4}}\
         button:focus{{outline:3px solid #f4a340;outline-offset:2px}}</style></head><body>{body}</body></html>",
        title = escape(title)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
        .into_response()
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

fn finished(p: &Payment) -> Response {
    finished_with(StatusCode::OK, p)
}

/// The result page, telling a framing page the payment's state.
fn finished_with(code: StatusCode, p: &Payment) -> Response {
    let (title, text) = match p.status {
        PaymentStatus::Succeeded | PaymentStatus::RequiresCapture => {
            ("Authentication complete", "You have been verified. You can close this window.")
        }
        _ => ("Authentication failed", "The payment was not authorized."),
    };
    let message = serde_json::json!({
        "source": "cardtoken", "type": "three_d_secure_complete", "payment": p.id, "status": p.status,
    });
    let body = format!(
        "<h1>{title}</h1>{}<p id=\"result\" data-status=\"{}\">{text}</p>\
         <script>if (window.parent !== window) window.parent.postMessage({message}, '*');</script>",
        describe(p),
        p.status.as_str(),
    );
    page(code, title, &body)
}

fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "Not found", "<h1>No such authentication</h1>")
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
        return not_found();
    };
    let p = payment_json(&p);
    if p.status != PaymentStatus::RequiresAction {
        return finished(&p);
    }
    let body = format!(
        "<h1>Confirm this payment</h1>{}\
         <p>Test mode: choose the outcome of the 3-D Secure challenge.</p>\
         <form method=\"post\" action=\"/3ds/{id}\">\
         <input type=\"hidden\" name=\"client_secret\" value=\"{secret}\">\
         <div class=\"buttons\"><button type=\"submit\" name=\"result\" value=\"pass\" autofocus>Pass</button>\
         <button type=\"submit\" name=\"result\" value=\"fail\">Fail</button></div></form>",
        describe(&p),
        id = escape(&p.id),
        secret = escape(&q.client_secret),
    );
    page(StatusCode::OK, "3-D Secure", &body)
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
    let passed = match form.result.as_str() {
        "pass" => true,
        "fail" => false,
        _ => return page(StatusCode::BAD_REQUEST, "Bad request", "<h1>Choose pass or fail.</h1>"),
    };
    match payments::complete_challenge(&state, &id, &form.client_secret, passed).await {
        Ok(p) => finished(&p),
        // The payment had moved on (canceled, or another result came first): say so, with its state.
        Err(ApiError::WithPayment(e, p)) if matches!(*e, ApiError::InvalidRequest { .. }) => {
            finished_with(StatusCode::BAD_REQUEST, &p)
        }
        // A decline after the challenge still finishes the challenge: show the payment's state.
        Err(ApiError::WithPayment(_, p)) => finished(&p),
        Err(ApiError::NotFound { .. }) => not_found(),
        Err(e) => e.into_response(),
    }
}

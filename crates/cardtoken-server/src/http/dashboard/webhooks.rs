//! Webhook endpoints of the selected mode: Add (the signing secret shown once), Rotate secret, Delete,
//! Send test event.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use cardtoken_types::wire::WebhookEndpoint;
use maud::{html, Markup};

use super::views::{guard, notice, page, signed_error, when, Nav};
use super::{html as respond, query_param, see_other, settle, Change, Outcome, Signed, M};
use crate::domain::dashboard;
use crate::domain::events::{Redelivered, TYPES};
use crate::domain::idempotency::Stored;
use crate::domain::{webhook_endpoints as endpoints, Error};
use crate::http::error::{error_body, render, status_of};
use crate::http::AppState;

const PATH: &str = "/dashboard/webhooks";

/// What the idempotency record keeps of an endpoint answer: never its signing secret.
fn without_secret(r: &Result<WebhookEndpoint, Error>) -> Stored {
    match r {
        Ok(e) => render::<WebhookEndpoint>(&Ok(WebhookEndpoint { secret: None, ..e.clone() })),
        Err(e) => Stored { status: status_of(e).as_u16(), body: error_body(e) },
    }
}

fn add_form(s: &Signed, url: Option<&str>) -> Markup {
    let lang = s.lang;
    html! {
        section.add aria-labelledby="add-title" {
            h2 #add-title { (lang.t(M::AddEndpoint)) }
            form method="post" action=(PATH) {
                (guard(s))
                div.field {
                    label for="url" { (lang.t(M::EndpointUrl)) }
                    input #url name="url" type="url" required placeholder="https://shop.example/webhooks" value=[url];
                }
                fieldset.types {
                    legend { (lang.t(M::EventTypes)) }
                    label { input type="checkbox" name="events" value="*" checked; " " (lang.t(M::AllEvents)) }
                    @for t in TYPES {
                        label { input type="checkbox" name="events" value=(t); " " code { (t) } }
                    }
                }
                button type="submit" { (lang.t(M::Add)) }
            }
        }
    }
}

fn list_page(
    s: &Signed,
    all: &[WebhookEndpoint],
    notice_: Option<M>,
    error: Option<&str>,
    url: Option<&str>,
) -> Markup {
    let lang = s.lang;
    let body = html! {
        p.intro { (lang.t(M::WebhooksIntro)) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if all.is_empty() {
            p.empty { (lang.t(M::NoEndpoints)) }
        } @else {
            table.endpoints {
                caption.visually-hidden { (lang.t(M::Webhooks)) }
                thead { tr {
                    th scope="col" { (lang.t(M::EndpointUrl)) }
                    th scope="col" { (lang.t(M::EventTypes)) }
                    th scope="col" { (lang.t(M::Enabled)) }
                    th scope="col" { (lang.t(M::Created)) }
                    th scope="col" { (lang.t(M::Actions)) }
                } }
                tbody {
                    @for e in all {
                        tr data-endpoint=(e.id) {
                            td { code.url { (e.url) } br; small { code { (e.id) } } }
                            td { @for (i, t) in e.events.iter().enumerate() {
                                @if i > 0 { ", " }
                                @if t == "*" { (lang.t(M::AllEvents)) } @else { code { (t) } }
                            } }
                            td { (lang.t(if e.status == "enabled" { M::StEnabled } else { M::StDisabled })) }
                            td { (when(e.created)) }
                            td.actions {
                                form.inline method="post" action={(PATH) "/" (e.id) "/test"} {
                                    (guard(s))
                                    button type="submit" aria-label={(lang.t(M::SendTest)) ": " (e.url)} { (lang.t(M::SendTest)) }
                                }
                                a href={(PATH) "/" (e.id) "/rotate"} aria-label={(lang.t(M::RotateAction)) " " (e.url)} { (lang.t(M::RotateAction)) }
                                " "
                                a href={(PATH) "/" (e.id) "/delete"} aria-label={(lang.t(M::DeleteAction)) " " (e.url)} { (lang.t(M::DeleteAction)) }
                            }
                        }
                    }
                }
            }
        }
        (add_form(s, url))
    };
    page(s, Nav::Webhooks, PATH, lang.t(M::Webhooks), notice_, body)
}

/// `GET /dashboard/webhooks`
pub async fn list(State(state): State<AppState>, s: Signed, request: axum::extract::Request) -> Response {
    match endpoints::list(&state, &s.caller).await {
        Ok(all) => {
            let n = notice(query_param(request.uri().query(), "notice").as_deref());
            respond(StatusCode::OK, list_page(&s, &all, n, None, None))
        }
        Err(e) => signed_error(&s, Nav::Webhooks, PATH, status_of(&e), &e.to_wire().message),
    }
}

/// The page showing a signing secret, once.
fn secret_page(s: &Signed, title: M, e: &WebhookEndpoint) -> Response {
    let lang = s.lang;
    let body = html! {
        p.warning role="alert" { (lang.t(M::SecretShownOnce)) }
        dl.facts {
            dt { (lang.t(M::EndpointUrl)) } dd { code { (e.url) } }
            dt { (lang.t(M::SigningSecret)) } dd { code.key.new-secret { (e.secret.as_deref().unwrap_or("")) } }
        }
        p { a href=(PATH) { (lang.t(M::BackToWebhooks)) } }
    };
    respond(StatusCode::OK, page(s, Nav::Webhooks, PATH, lang.t(title), None, body))
}

fn already_done(s: &Signed, title: M) -> Response {
    let lang = s.lang;
    let body = html! {
        p.notice role="status" { (lang.t(M::AlreadyShown)) }
        p { a href=(PATH) { (lang.t(M::BackToWebhooks)) } }
    };
    respond(StatusCode::OK, page(s, Nav::Webhooks, PATH, lang.t(title), None, body))
}

/// `POST /dashboard/webhooks`: a new endpoint; its signing secret is shown on this answer only.
pub async fn create(State(state): State<AppState>, change: Change) -> Response {
    let s = &change.signed;
    let url = change.fields.get("url").unwrap_or("").trim().to_string();
    let chosen: Vec<String> = change.fields.all("events").into_iter().map(str::to_string).collect();
    // "All events" wins; none chosen means all.
    let events = if chosen.is_empty() || chosen.iter().any(|e| e == "*") { None } else { Some(chosen) };
    let outcome = settle(|| {
        endpoints::create(&state, &s.caller, &url, events.clone(), change.idem.clone(), without_secret)
    })
    .await;
    match outcome {
        Outcome::Fresh(e) => secret_page(s, M::EndpointAddedTitle, &e),
        Outcome::Replayed(_) => already_done(s, M::EndpointAddedTitle),
        Outcome::Failed(status, message) => {
            let all = endpoints::list(&state, &s.caller).await.unwrap_or_default();
            respond(status, list_page(s, &all, None, Some(&message), Some(&url)))
        }
    }
}

fn confirm_page(s: &Signed, e: &WebhookEndpoint, rotate: bool) -> Markup {
    let lang = s.lang;
    let action = if rotate { "rotate" } else { "delete" };
    let body = html! {
        dl.facts {
            dt { (lang.t(M::EndpointUrl)) } dd { code { (e.url) } }
            dt { (lang.t(M::Endpoint)) } dd { code { (e.id) } }
        }
        p { (lang.t(if rotate { M::RotateExplain } else { M::DeleteExplain })) }
        form.confirm method="post" action={(PATH) "/" (e.id) "/" (action)} {
            (guard(s))
            button.danger type="submit" { (lang.t(if rotate { M::ConfirmRotate } else { M::ConfirmDelete })) }
            a.cancel href=(PATH) { (lang.t(M::Cancel)) }
        }
    };
    let title = lang.t(if rotate { M::RotateTitle } else { M::DeleteTitle });
    page(s, Nav::Webhooks, &format!("{PATH}/{}/{action}", e.id), title, None, body)
}

/// `GET /dashboard/webhooks/{id}/rotate|delete`
pub async fn confirm(
    State(state): State<AppState>,
    s: Signed,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let rotate = match action.as_str() {
        "rotate" => true,
        "delete" => false,
        _ => {
            return signed_error(
                &s,
                Nav::Webhooks,
                PATH,
                StatusCode::NOT_FOUND,
                &Error::not_found("page").to_wire().message,
            )
        }
    };
    match endpoints::get(&state, &s.caller, &id).await {
        Ok(e) => respond(StatusCode::OK, confirm_page(&s, &e, rotate)),
        Err(e) => signed_error(&s, Nav::Webhooks, PATH, status_of(&e), &e.to_wire().message),
    }
}

/// `POST /dashboard/webhooks/{id}/rotate|delete|test`
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    change: Change,
) -> Response {
    let s = &change.signed;
    let (caller, idem) = (&s.caller, &change.idem);
    let failed = |status, message: String| signed_error(s, Nav::Webhooks, PATH, status, &message);
    match action.as_str() {
        "rotate" => {
            match settle(|| endpoints::rotate_secret(&state, caller, &id, idem.clone(), without_secret)).await
            {
                Outcome::Fresh(e) => secret_page(s, M::RotatedTitle, &e),
                Outcome::Replayed(_) => already_done(s, M::RotatedTitle),
                Outcome::Failed(status, message) => failed(status, message),
            }
        }
        "delete" => {
            match settle(|| {
                dashboard::delete_endpoint(&state, caller, &id, idem.clone(), render::<dashboard::Done>)
            })
            .await
            {
                Outcome::Fresh(_) | Outcome::Replayed(_) => see_other(PATH, "deleted"),
                Outcome::Failed(status, message) => failed(status, message),
            }
        }
        "test" => {
            match settle(|| {
                dashboard::send_test_event(&state, caller, &id, idem.clone(), render::<Redelivered>)
            })
            .await
            {
                Outcome::Fresh(r) => see_other(&format!("/dashboard/events/{}", r.event), "test_sent"),
                Outcome::Replayed(v) => match v["event"].as_str() {
                    Some(event) => see_other(&format!("/dashboard/events/{event}"), "test_sent"),
                    None => see_other(PATH, "test_sent"),
                },
                Outcome::Failed(status, message) => failed(status, message),
            }
        }
        _ => failed(StatusCode::NOT_FOUND, Error::not_found("page").to_wire().message),
    }
}

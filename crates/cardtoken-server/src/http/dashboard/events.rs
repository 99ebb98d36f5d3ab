//! Events of the selected mode: the log (filter by type), an event's page (its body, secrets hidden,
//! and every delivery attempt: status, duration, response excerpt), and Resend.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::payments::endpoint_urls;
use super::views::{guard, notice, page, signed_error, status_word, when, Nav};
use super::{html as respond, query_param, see_other, settle, Change, Outcome, Signed, M};
use crate::domain::dashboard::{event_for_display, redact};
use crate::domain::events::{self, event_value, Redelivered, TYPES};
use crate::http::error::{render, status_of};
use crate::http::AppState;
use crate::store::TEST_EVENT;

const PATH: &str = "/dashboard/events";
const PAGE_SIZE: usize = 25;

fn plausible_id(id: &str) -> bool {
    id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The object an event is about, as a link where the dashboard has a page for it.
fn object_link(value: &Value) -> Markup {
    let object = &value["data"]["object"];
    let id = object["id"].as_str().unwrap_or("");
    let payment = if id.starts_with("pay_") { Some(id) } else { object["payment"].as_str() };
    html! {
        code { (id) }
        @if let Some(p) = payment.filter(|p| p.starts_with("pay_") && plausible_id(p)) {
            @if p != id { " (" a href={"/dashboard/payments/" (p)} { code { (p) } } ")" }
            @else { " " a href={"/dashboard/payments/" (p)} aria-label={"→ " (p)} { "→" } }
        }
    }
}

/// `GET /dashboard/events?type=`
pub async fn list(State(state): State<AppState>, s: Signed, request: axum::extract::Request) -> Response {
    let lang = s.lang;
    let query = request.uri().query();
    let kind = query_param(query, "type").filter(|t| TYPES.contains(&t.as_str()) || t == TEST_EVENT);
    let after = query_param(query, "after").filter(|a| a.starts_with("evt_") && plausible_id(a));
    let (rows, more) =
        match events::list(&state, &s.caller, PAGE_SIZE, after.clone(), kind.clone(), None).await {
            Ok(r) => r,
            Err(e) => return signed_error(&s, Nav::Events, PATH, status_of(&e), &e.to_wire().message),
        };
    let link = |after: Option<&str>| {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some(k) = &kind {
            pairs.push(("type", k));
        }
        if let Some(a) = after {
            pairs.push(("after", a));
        }
        format!(
            "{PATH}?{}",
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
        )
    };
    let types: Vec<&str> = TYPES.iter().copied().chain([TEST_EVENT]).collect();
    let body = html! {
        p.intro { (lang.t(M::EventsIntro)) }
        form.filters method="get" action=(PATH) {
            div.field {
                label for="type" { (lang.t(M::Type)) }
                select #type name="type" {
                    option value="" { (lang.t(M::AllTypes)) }
                    @for t in &types {
                        option value=(t) selected[kind.as_deref() == Some(*t)] { (t) }
                    }
                }
            }
            button type="submit" { (lang.t(M::Filter)) }
        }
        @if rows.is_empty() {
            p.empty { (lang.t(M::NoEvents)) }
        } @else {
            table.events {
                caption.visually-hidden { (lang.t(M::Events)) }
                thead { tr {
                    th scope="col" { (lang.t(M::Event)) }
                    th scope="col" { (lang.t(M::Type)) }
                    th scope="col" { (lang.t(M::Object)) }
                    th scope="col" { (lang.t(M::Created)) }
                } }
                tbody {
                    @for e in &rows {
                        tr data-type=(e.kind) {
                            td { a href={(PATH) "/" (e.id)} { code { (e.id) } } }
                            td { code { (e.kind) } }
                            td { (object_link(&event_value(e))) }
                            td { (when(e.created)) }
                        }
                    }
                }
            }
        }
        nav.pages aria-label=(lang.t(M::Events)) {
            @if after.is_some() { a href=(link(None)) { (lang.t(M::FirstPage)) } }
            @if let Some(last) = rows.last().filter(|_| more) { a href=(link(Some(&last.id))) rel="next" { (lang.t(M::NextPage)) } }
        }
    };
    respond(StatusCode::OK, page(&s, Nav::Events, PATH, lang.t(M::Events), None, body))
}

/// `GET /dashboard/events/{id}`
pub async fn show(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let lang = s.lang;
    let path = format!("{PATH}/{id}");
    let found = async {
        let event = events::get(&state, &s.caller, &id).await?;
        let deliveries = events::deliveries(&state, &s.caller, &id).await?;
        Ok::<_, crate::domain::Error>((event, deliveries))
    };
    let (event, deliveries) = match found.await {
        Ok(f) => f,
        Err(e) => return signed_error(&s, Nav::Events, &path, status_of(&e), &e.to_wire().message),
    };
    let endpoints = endpoint_urls(&state, &s).await;
    let url_of =
        |id: &str| endpoints.iter().find(|(e, _)| e == id).map_or(id.to_string(), |(_, u)| u.clone());
    let body = html! {
        dl.facts {
            dt { (lang.t(M::Type)) } dd { code #event-type { (event.kind) } }
            dt { (lang.t(M::Created)) } dd { (when(event.created)) }
            dt { (lang.t(M::Object)) } dd { (object_link(&event_value(&event))) }
        }
        section aria-labelledby="deliveries-title" {
            h2 #deliveries-title { (lang.t(M::Deliveries)) }
            p { a href=(path) { (lang.t(M::Refresh)) } }
            @if deliveries.is_empty() {
                p.hint { (lang.t(M::NoDeliveries)) }
            }
            @for (i, d) in deliveries.iter().enumerate() {
                section.delivery data-status=(d.status) data-endpoint=(d.endpoint_id) aria-labelledby={"delivery-" (i)} {
                    h3 #{"delivery-" (i)} { (lang.t(M::Endpoint)) " " code { (url_of(&d.endpoint_id)) } " · " span class={"status " (d.status)} { (status_word(lang, &d.status)) } }
                    @if d.attempts.is_empty() {
                        p.hint { (lang.t(M::NotAttempted)) }
                    } @else {
                        table.attempts {
                            caption.visually-hidden { (lang.t(M::Attempts)) }
                            thead { tr {
                                th scope="col" { (lang.t(M::Time)) }
                                th scope="col" { (lang.t(M::Status)) }
                                th scope="col" { (lang.t(M::Duration)) }
                                th scope="col" { (lang.t(M::Response)) }
                            } }
                            tbody {
                                @for a in &d.attempts {
                                    tr.attempt data-code=[a.status_code] {
                                        td { (when(a.attempted)) }
                                        td { @match a.status_code { Some(c) => { "HTTP " (c) } None => { (redact(a.error.as_deref().unwrap_or("—"))) } } }
                                        td.num { (a.duration_ms) " ms" }
                                        td { @if let Some(x) = &a.response_excerpt { code.excerpt { (redact(x)) } } }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action={(PATH) "/" (event.id) "/resend"} {
                        (guard(&s))
                        input type="hidden" name="endpoint" value=(d.endpoint_id);
                        button type="submit" aria-label={(lang.t(M::Resend)) ": " (url_of(&d.endpoint_id))} { (lang.t(M::Resend)) }
                    }
                }
            }
            @if event.kind != TEST_EVENT {
                form method="post" action={(PATH) "/" (event.id) "/resend"} {
                    (guard(&s))
                    button.secondary type="submit" { (lang.t(M::ResendAll)) }
                }
            }
        }
        section aria-labelledby="body-title" {
            h2 #body-title { (lang.t(M::Body)) }
            pre.body { code { (event_for_display(&event)) } }
        }
    };
    let n = notice(query_param(request.uri().query(), "notice").as_deref());
    respond(
        StatusCode::OK,
        page(&s, Nav::Events, &path, &format!("{} {}", lang.t(M::Event), event.id), n, body),
    )
}

/// `POST /dashboard/events/{id}/resend`: to one endpoint (`endpoint`), or every one that takes it.
pub async fn resend(State(state): State<AppState>, Path(id): Path<String>, change: Change) -> Response {
    let s = &change.signed;
    let path = format!("{PATH}/{id}");
    let endpoint = change.fields.filled("endpoint").map(str::to_string);
    let outcome = settle(|| {
        events::redeliver(
            &state,
            &s.caller,
            &id,
            endpoint.clone(),
            change.idem.clone(),
            render::<Redelivered>,
        )
    })
    .await;
    match outcome {
        Outcome::Fresh(_) | Outcome::Replayed(_) => see_other(&path, "resent"),
        Outcome::Failed(status, message) => signed_error(s, Nav::Events, &path, status, &message),
    }
}

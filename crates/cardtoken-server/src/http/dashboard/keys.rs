//! API keys of the selected mode: publishable keys in full, secret keys masked; Create a pair, Roll
//! (with a grace period to choose) and Revoke. A new secret key is on the answering page only, once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::views::{guard, notice, page, signed_error, when, Nav};
use super::{html as respond, query_param, see_other, settle, Change, Lang, Outcome, Signed, M};
use crate::domain::dashboard::{self, MadeKey, MadeKeys, Rolled};
use crate::domain::Error;
use crate::http::error::render;
use crate::http::AppState;
use crate::store::{ApiKeyRecord, KeyKind};

const PATH: &str = "/dashboard/keys";

/// The grace periods offered when rolling a key (seconds).
const GRACES: &[(i64, M)] = &[
    (0, M::GraceNone),
    (3600, M::GraceHour),
    (86_400, M::GraceDay),
    (259_200, M::Grace3Days),
    (604_800, M::Grace7Days),
];

fn kind(lang: Lang, k: KeyKind) -> &'static str {
    lang.t(match k {
        KeyKind::Publishable => M::Publishable,
        KeyKind::Secret => M::Secret,
    })
}

fn state_of(lang: Lang, k: &ApiKeyRecord, now: i64) -> Markup {
    html! {
        @if k.revoked.is_some() {
            span.status.revoked { (lang.t(M::StRevoked)) }
        } @else if let Some(e) = k.expires {
            @if e <= now {
                span.status.expired { (lang.t(M::StExpired)) }
            } @else {
                span.status.expiring { (lang.f(M::StExpiresAt, &[&super::format::time(e)])) }
            }
        } @else {
            span.status.active { (lang.t(M::StActive)) }
        }
    }
}

/// `GET /dashboard/keys`
pub async fn list(State(state): State<AppState>, s: Signed, request: axum::extract::Request) -> Response {
    let lang = s.lang;
    let keys = match dashboard::keys(&state, &s.caller).await {
        Ok(k) => k,
        Err(e) => {
            return signed_error(
                &s,
                Nav::Keys,
                PATH,
                super::super::error::status_of(&e),
                &e.to_wire().message,
            )
        }
    };
    let now = state.now();
    let body = html! {
        p.intro { (lang.t(M::KeysIntro)) }
        form method="post" action=(PATH) {
            (guard(&s))
            button type="submit" { (lang.t(M::CreateKeys)) }
        }
        @if keys.is_empty() {
            p.empty { (lang.t(M::NoKeys)) }
        } @else {
            table.keys {
                caption.visually-hidden { (lang.t(M::ApiKeys)) }
                thead { tr {
                    th scope="col" { (lang.t(M::KeyId)) }
                    th scope="col" { (lang.t(M::Kind)) }
                    th scope="col" { (lang.t(M::Key)) }
                    th scope="col" { (lang.t(M::Status)) }
                    th scope="col" { (lang.t(M::Created)) }
                    th scope="col" { (lang.t(M::Actions)) }
                } }
                tbody {
                    @for k in keys.iter().rev() {
                        tr data-key=(k.id) data-kind=(k.kind.as_str()) {
                            td { code { (k.id) } }
                            td { (kind(lang, k.kind)) }
                            // Publishable keys in full (they are public); secret keys only by their hint.
                            td { code.key { (if k.kind == KeyKind::Publishable { k.publishable.as_deref().unwrap_or(&k.hint) } else { &k.hint }) } }
                            td { (state_of(lang, k, now)) }
                            td { (when(k.created)) }
                            td.actions {
                                @if k.active(now) {
                                    a href={(PATH) "/" (k.id) "/roll"} aria-label={(lang.t(M::RollAction)) " " (k.id)} { (lang.t(M::RollAction)) }
                                    " "
                                    a href={(PATH) "/" (k.id) "/revoke"} aria-label={(lang.t(M::RevokeAction)) " " (k.id)} { (lang.t(M::RevokeAction)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let n = notice(query_param(request.uri().query(), "notice").as_deref());
    respond(StatusCode::OK, page(&s, Nav::Keys, PATH, lang.t(M::ApiKeys), n, body))
}

/// A key just made, as its one page shows it.
fn made_key(lang: Lang, label: M, k: &MadeKey) -> Markup {
    html! {
        dt { (lang.t(label)) }
        dd {
            code.key.new-key data-kind=(k.kind) { (k.reveal().unwrap_or(&k.shown)) }
            " " small { "(" code { (k.id) } ")" }
        }
    }
}

fn already_done(s: &Signed, title: M) -> Response {
    let lang = s.lang;
    let body = html! {
        p.notice role="status" { (lang.t(M::AlreadyShown)) }
        p { a href=(PATH) { (lang.t(M::BackToKeys)) } }
    };
    respond(StatusCode::OK, page(s, Nav::Keys, PATH, lang.t(title), None, body))
}

/// `POST /dashboard/keys`: a new pair; the secret key is shown on this answer only.
pub async fn create(State(state): State<AppState>, change: Change) -> Response {
    let s = &change.signed;
    let lang = s.lang;
    match settle(|| dashboard::create_keys(&state, &s.caller, change.idem.clone(), render::<MadeKeys>)).await
    {
        Outcome::Fresh(made) => {
            let body = html! {
                p.warning role="alert" { (lang.t(M::ShownOnce)) }
                dl.facts.new-keys {
                    (made_key(lang, M::PublishableKey, &made.publishable))
                    (made_key(lang, M::SecretKey, &made.secret))
                }
                p { a href=(PATH) { (lang.t(M::BackToKeys)) } }
            };
            respond(StatusCode::OK, page(s, Nav::Keys, PATH, lang.t(M::NewKeysTitle), None, body))
        }
        Outcome::Replayed(_) => already_done(s, M::NewKeysTitle),
        Outcome::Failed(status, message) => signed_error(s, Nav::Keys, PATH, status, &message),
    }
}

/// The caller's active key `id`, or the 404 page.
async fn own_key(state: &AppState, s: &Signed, id: &str) -> Result<ApiKeyRecord, Response> {
    let not_found = |s: &Signed| {
        signed_error(
            s,
            Nav::Keys,
            PATH,
            StatusCode::NOT_FOUND,
            &Error::not_found("API key").to_wire().message,
        )
    };
    let keys = dashboard::keys(state, &s.caller).await.map_err(|_| not_found(s))?;
    let now = state.now();
    keys.into_iter().find(|k| k.id == id && k.active(now)).ok_or_else(|| not_found(s))
}

fn confirm_page(s: &Signed, k: &ApiKeyRecord, roll: bool, error: Option<&str>) -> Markup {
    let lang = s.lang;
    let action = if roll { "roll" } else { "revoke" };
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        dl.facts {
            dt { (lang.t(M::KeyId)) } dd { code { (k.id) } }
            dt { (lang.t(M::Kind)) } dd { (kind(lang, k.kind)) }
            dt { (lang.t(M::Key)) } dd { code { (if k.kind == KeyKind::Publishable { k.publishable.as_deref().unwrap_or(&k.hint) } else { &k.hint }) } }
        }
        p { (lang.t(if roll { M::RollExplain } else { M::RevokeExplain })) }
        form.confirm method="post" action={(PATH) "/" (k.id) "/" (action)} {
            (guard(s))
            @if roll {
                div.field {
                    label for="grace" { (lang.t(M::Grace)) }
                    select #grace name="grace" {
                        @for (secs, label) in GRACES {
                            option value=(secs) selected[*secs == 86_400] { (lang.t(*label)) }
                        }
                    }
                }
            }
            button.danger type="submit" { (lang.t(if roll { M::ConfirmRoll } else { M::ConfirmRevoke })) }
            a.cancel href=(PATH) { (lang.t(M::Cancel)) }
        }
    };
    page(
        s,
        Nav::Keys,
        &format!("{PATH}/{}/{action}", k.id),
        lang.t(if roll { M::RollTitle } else { M::RevokeTitle }),
        None,
        body,
    )
}

/// `GET /dashboard/keys/{id}/roll|revoke`
pub async fn confirm(
    State(state): State<AppState>,
    s: Signed,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let roll = match action.as_str() {
        "roll" => true,
        "revoke" => false,
        _ => {
            return signed_error(
                &s,
                Nav::Keys,
                PATH,
                StatusCode::NOT_FOUND,
                &Error::not_found("page").to_wire().message,
            )
        }
    };
    match own_key(&state, &s, &id).await {
        Ok(k) => respond(StatusCode::OK, confirm_page(&s, &k, roll, None)),
        Err(r) => r,
    }
}

/// `POST /dashboard/keys/{id}/roll|revoke`
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    change: Change,
) -> Response {
    let s = &change.signed;
    let lang = s.lang;
    let (caller, idem) = (&s.caller, &change.idem);
    match action.as_str() {
        "roll" => {
            let Some(grace) = change.fields.get("grace").and_then(|g| g.parse::<i64>().ok()) else {
                return signed_error(
                    s,
                    Nav::Keys,
                    PATH,
                    StatusCode::BAD_REQUEST,
                    &Error::parameter("Choose a grace period.", "grace").to_wire().message,
                );
            };
            match settle(|| dashboard::roll_key(&state, caller, &id, grace, idem.clone(), render::<Rolled>))
                .await
            {
                Outcome::Fresh(rolled) => {
                    let body = html! {
                        @if rolled.new.secret.is_some() { p.warning role="alert" { (lang.t(M::ShownOnce)) } }
                        dl.facts.new-keys {
                            (made_key(lang, M::NewKey, &rolled.new))
                        }
                        p #old-key { (lang.f(M::OldKeyStops, &[&rolled.old, &super::format::time(rolled.old_expires)])) }
                        p { a href=(PATH) { (lang.t(M::BackToKeys)) } }
                    };
                    respond(StatusCode::OK, page(s, Nav::Keys, PATH, lang.t(M::RolledTitle), None, body))
                }
                Outcome::Replayed(_) => already_done(s, M::RolledTitle),
                Outcome::Failed(status, message) => signed_error(s, Nav::Keys, PATH, status, &message),
            }
        }
        "revoke" => match settle(|| {
            dashboard::revoke_key(&state, caller, &id, idem.clone(), render::<dashboard::Done>)
        })
        .await
        {
            Outcome::Fresh(_) | Outcome::Replayed(_) => see_other(PATH, "revoked"),
            Outcome::Failed(status, message) => signed_error(s, Nav::Keys, PATH, status, &message),
        },
        _ => signed_error(
            s,
            Nav::Keys,
            PATH,
            StatusCode::NOT_FOUND,
            &Error::not_found("page").to_wire().message,
        ),
    }
}

//! The pages' common parts: the layout (skip link, navigation, the test/live switch, language, sign
//! out), forms' hidden guards, notices and error pages.

use axum::http::StatusCode;
use axum::response::Response;
use cardtoken_types::wire::PaymentStatus;
use maud::{html, Markup, DOCTYPE};

use super::{click_key, html as respond, Lang, Signed, M};
use crate::domain::Error;

/// The navigation's sections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Home,
    Payments,
    Keys,
    Webhooks,
    Events,
}

const SECTIONS: &[(Nav, &str, M)] = &[
    (Nav::Home, "/dashboard", M::Home),
    (Nav::Payments, "/dashboard/payments", M::Payments),
    (Nav::Keys, "/dashboard/keys", M::ApiKeys),
    (Nav::Webhooks, "/dashboard/webhooks", M::Webhooks),
    (Nav::Events, "/dashboard/events", M::Events),
];

/// Where a section starts (the mode switch returns there: an object of one mode is not in the other).
pub fn section_path(nav: Nav) -> &'static str {
    SECTIONS.iter().find(|(n, _, _)| *n == nav).map_or("/dashboard", |(_, href, _)| href)
}

fn head(lang: Lang, title: &str, charts: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (lang.t(M::Product)) }
            @if charts {
                link rel="stylesheet" href="/dashboard/assets/uPlot.min.css";
            }
            link rel="stylesheet" href="/dashboard/assets/dashboard.css";
            @if charts {
                script src="/dashboard/assets/uPlot.iife.min.js" defer {}
                script src="/dashboard/assets/dashboard.js" defer {}
            }
        }
    }
}

/// The language links: the same page in the other language.
fn languages(lang: Lang, path: &str) -> Markup {
    html! {
        nav.languages aria-label=(lang.t(M::Language)) {
            ul {
                li { a href={(path) "?lang=en"} lang="en" hreflang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" } }
                li { a href={(path) "?lang=ja"} lang="ja" hreflang="ja" aria-current=[(lang == Lang::Ja).then_some("true")] { "日本語" } }
            }
        }
    }
}

/// The hidden fields every change carries: the session's CSRF token, the mode the page shows, and this
/// rendering's idempotency key.
pub fn guard(s: &Signed) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(s.session.csrf);
        input type="hidden" name="in_mode" value=(s.mode());
        input type="hidden" name="idem" value=(click_key());
    }
}

/// A signed-in page.
pub fn page(s: &Signed, nav: Nav, path: &str, title: &str, notice: Option<M>, body: Markup) -> Markup {
    page_with(s, nav, path, title, notice, false, body)
}

pub fn page_with(
    s: &Signed,
    nav: Nav,
    path: &str,
    title: &str,
    notice: Option<M>,
    charts: bool,
    body: Markup,
) -> Markup {
    let lang = s.lang;
    let live = s.caller.scope.livemode;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title, charts))
            body.live[live] {
                a.skip href="#main" { (lang.t(M::SkipToContent)) }
                header.top {
                    p.brand { a href="/dashboard" { "cardtoken" } }
                    nav.sections aria-label=(lang.t(M::MainNav)) {
                        ul {
                            @for (section, href, label) in SECTIONS {
                                li { a href=(href) aria-current=[(*section == nav).then_some("page")] { (lang.t(*label)) } }
                            }
                        }
                    }
                    div.session {
                        form.mode method="post" action="/dashboard/mode" {
                            input type="hidden" name="csrf" value=(s.session.csrf);
                            input type="hidden" name="back" value=(section_path(nav));
                            fieldset {
                                legend { (lang.t(M::Mode)) }
                                button type="submit" name="to" value="test" aria-pressed=(if live { "false" } else { "true" }) { (lang.t(M::TestMode)) }
                                button type="submit" name="to" value="live" aria-pressed=(if live { "true" } else { "false" }) { (lang.t(M::LiveMode)) }
                            }
                        }
                        (languages(lang, path))
                        p.who { (lang.f(M::SignedInAs, &[&s.user.email])) }
                        form method="post" action="/dashboard/sign-out" {
                            input type="hidden" name="csrf" value=(s.session.csrf);
                            button.secondary type="submit" { (lang.t(M::SignOut)) }
                        }
                    }
                }
                p.banner role="note" { (lang.t(if live { M::LiveBanner } else { M::TestBanner })) }
                main #main tabindex="-1" {
                    h1 { (title) }
                    @if let Some(n) = notice {
                        p.notice role="status" { (lang.t(n)) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A page for someone not signed in (the sign-in page, refusals).
pub fn bare(lang: Lang, path: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title, false))
            body.bare {
                header.top {
                    p.brand { "cardtoken" }
                    (languages(lang, path))
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A refused change (another site, a stale page): a page that says why, with a way back.
pub fn refused(lang: Lang, status: StatusCode, why: M) -> Response {
    let body = html! {
        p.error role="alert" { (lang.t(why)) }
        p { a href="/dashboard" { (lang.t(M::BackHome)) } }
    };
    respond(status, bare(lang, "/dashboard", lang.t(M::ErrorTitle), body))
}

/// A domain error as a page (404 for anything not the caller's, as the API answers).
pub fn error_page(lang: Lang, e: &Error) -> Response {
    let status = crate::http::error::status_of(e);
    if let Error::Internal(cause) = e.inner() {
        tracing::error!(%cause, "internal error");
    }
    let title = if status == StatusCode::NOT_FOUND { M::NotFoundTitle } else { M::ErrorTitle };
    let body = html! {
        p.error role="alert" { (e.to_wire().message) }
        p { a href="/dashboard" { (lang.t(M::BackHome)) } }
    };
    respond(status, bare(lang, "/dashboard", lang.t(title), body))
}

/// A domain error inside the signed-in layout.
pub fn signed_error(s: &Signed, nav: Nav, path: &str, status: StatusCode, message: &str) -> Response {
    let lang = s.lang;
    let title = if status == StatusCode::NOT_FOUND { M::NotFoundTitle } else { M::ErrorTitle };
    let body = html! { p.error role="alert" { (message) } };
    respond(status, page(s, nav, path, lang.t(title), None, body))
}

pub fn payment_status(lang: Lang, s: PaymentStatus) -> &'static str {
    lang.t(match s {
        PaymentStatus::RequiresAction => M::StRequiresAction,
        PaymentStatus::RequiresCapture => M::StRequiresCapture,
        PaymentStatus::Succeeded => M::StSucceeded,
        PaymentStatus::Failed => M::StFailed,
        PaymentStatus::Canceled => M::StCanceled,
    })
}

/// A delivery's or refund's status word.
pub fn status_word(lang: Lang, s: &str) -> &str {
    match s {
        "pending" => lang.t(M::StPending),
        "delivered" => lang.t(M::StDelivered),
        "failed" => lang.t(M::StFailed),
        "succeeded" => lang.t(M::StSucceeded),
        other => other,
    }
}

/// A time, readable and machine-readable.
pub fn when(unix: i64) -> Markup {
    html! { time datetime=(super::format::iso(unix)) { (super::format::time(unix)) } }
}

/// The notice a `?notice=` names, if it is one of ours.
pub fn notice(code: Option<&str>) -> Option<M> {
    Some(match code? {
        "captured" => M::Captured_,
        "voided" => M::Voided,
        "refunded" => M::RefundMade,
        "revoked" => M::KeyRevoked,
        "deleted" => M::EndpointDeleted,
        "test_sent" => M::TestSent,
        "resent" => M::Resent,
        "signed_out" => M::SignedOut,
        _ => return None,
    })
}

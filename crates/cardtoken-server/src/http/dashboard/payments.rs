//! Payments: the list (newest first, filters, find by id), a payment's page (amounts, card, timeline of
//! events with their webhook deliveries), and Capture, Void and Refund, each confirmed on a page of its
//! own before the same domain operations as the API run.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cardtoken_types::wire::{Payment, PaymentStatus, Refund};
use maud::{html, Markup};

use super::format::{amount as money, parse_amount, parse_date};
use super::views::{guard, notice, page, payment_status, signed_error, status_word, when, Nav};
use super::{html as respond, query_param, see_other, settle, Change, Lang, Outcome, Signed, M};
use crate::domain::dashboard::{self, PaymentPage};
use crate::domain::{payments, refunds, Error};
use crate::http::error::render;
use crate::http::AppState;
use crate::store::PaymentFilter;

const PAGE_SIZE: usize = 25;

const STATUSES: &[PaymentStatus] = &[
    PaymentStatus::RequiresAction,
    PaymentStatus::RequiresCapture,
    PaymentStatus::Succeeded,
    PaymentStatus::Failed,
    PaymentStatus::Canceled,
];

/// A payment id as it may appear in a path.
fn plausible_id(id: &str) -> bool {
    id.starts_with("pay_") && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

struct Query {
    status: Option<PaymentStatus>,
    from: Option<String>,
    until: Option<String>,
    last4: Option<String>,
    amount: Option<String>,
    after: Option<String>,
}

impl Query {
    fn read(query: Option<&str>) -> Query {
        let get = |n: &str| query_param(query, n).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Query {
            status: get("status").and_then(|s| STATUSES.iter().copied().find(|p| p.as_str() == s)),
            from: get("from"),
            until: get("until"),
            last4: get("last4"),
            amount: get("amount"),
            after: get("after").filter(|a| plausible_id(a)),
        }
    }

    /// The filter, or the field at fault.
    fn filter(&self) -> Result<PaymentFilter, M> {
        let from = match &self.from {
            Some(d) => Some(parse_date(d).ok_or(M::CreatedFrom)?),
            None => None,
        };
        let until = match &self.until {
            // Until a day: before the next one begins.
            Some(d) => Some(parse_date(d).ok_or(M::CreatedUntil)? + 86_400),
            None => None,
        };
        if self.last4.as_ref().is_some_and(|l| l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit())) {
            return Err(M::CardLast4);
        }
        let amount = match &self.amount {
            Some(a) => {
                Some(a.parse::<u64>().ok().filter(|a| i64::try_from(*a).is_ok()).ok_or(M::AmountMinor)?)
            }
            None => None,
        };
        Ok(PaymentFilter {
            status: self.status,
            created_from: from,
            created_until: until,
            last4: self.last4.clone(),
            amount,
        })
    }

    /// This query's parameters, for the next page's link.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(s) = self.status {
            out.push(("status", s.as_str().to_string()));
        }
        for (k, v) in
            [("from", &self.from), ("until", &self.until), ("last4", &self.last4), ("amount", &self.amount)]
        {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        }
        out
    }
}

fn filters(lang: Lang, q: &Query) -> Markup {
    html! {
        section.find aria-labelledby="find-title" {
            h2 #find-title { (lang.t(M::FindPayment)) }
            form method="get" action="/dashboard/payments" role="search" {
                label for="q" { (lang.t(M::PaymentId)) }
                input #q name="q" type="search" placeholder="pay_…" autocomplete="off";
                button type="submit" { (lang.t(M::Find)) }
            }
        }
        section.filters aria-labelledby="filters-title" {
            h2 #filters-title { (lang.t(M::Filters)) }
            form method="get" action="/dashboard/payments" {
                div.field {
                    label for="status" { (lang.t(M::Status)) }
                    select #status name="status" {
                        option value="" { (lang.t(M::AnyStatus)) }
                        @for s in STATUSES {
                            option value=(s.as_str()) selected[q.status == Some(*s)] { (payment_status(lang, *s)) }
                        }
                    }
                }
                div.field {
                    label for="from" { (lang.t(M::CreatedFrom)) }
                    input #from name="from" type="date" value=[q.from.as_deref()];
                }
                div.field {
                    label for="until" { (lang.t(M::CreatedUntil)) }
                    input #until name="until" type="date" value=[q.until.as_deref()];
                }
                div.field {
                    label for="last4" { (lang.t(M::CardLast4)) }
                    input #last4 name="last4" inputmode="numeric" pattern="[0-9]{4}" maxlength="4" autocomplete="off" value=[q.last4.as_deref()];
                }
                div.field {
                    label for="amount" { (lang.t(M::AmountMinor)) }
                    input #amount name="amount" inputmode="numeric" pattern="[0-9]+" autocomplete="off" value=[q.amount.as_deref()];
                }
                div.buttons {
                    button type="submit" { (lang.t(M::Filter)) }
                    a href="/dashboard/payments" { (lang.t(M::ClearFilters)) }
                }
            }
        }
    }
}

/// `GET /dashboard/payments`
pub async fn list(State(state): State<AppState>, s: Signed, request: axum::extract::Request) -> Response {
    let lang = s.lang;
    let query = request.uri().query();
    if let Some(id) = query_param(query, "q").map(|q| q.trim().to_string()).filter(|q| !q.is_empty()) {
        if plausible_id(&id) {
            return Redirect::to(&format!("/dashboard/payments/{id}")).into_response();
        }
        return signed_error(
            &s,
            Nav::Payments,
            "/dashboard/payments",
            StatusCode::NOT_FOUND,
            &Error::not_found("payment").to_wire().message,
        );
    }
    let q = Query::read(query);
    let filter = match q.filter() {
        Ok(f) => f,
        Err(field) => {
            let body = html! {
                p.error role="alert" { (lang.t(M::ErrorTitle)) ": " (lang.t(field)) }
                (filters(lang, &q))
            };
            return respond(
                StatusCode::BAD_REQUEST,
                page(&s, Nav::Payments, "/dashboard/payments", lang.t(M::Payments), None, body),
            );
        }
    };
    let (rows, more) = match payments::list(&state, &s.caller, filter, PAGE_SIZE, q.after.clone()).await {
        Ok(r) => r,
        Err(e) => {
            return signed_error(
                &s,
                Nav::Payments,
                "/dashboard/payments",
                super::super::error::status_of(&e),
                &e.to_wire().message,
            )
        }
    };
    let next = rows.last().filter(|_| more).map(|last| {
        let mut pairs = q.pairs();
        pairs.push(("after", last.id.clone()));
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        format!("/dashboard/payments?{qs}")
    });
    let first = q.after.is_some().then(|| {
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q.pairs()).finish();
        format!("/dashboard/payments?{qs}")
    });
    let body = html! {
        p.intro { (lang.t(M::PaymentsIntro)) }
        (filters(lang, &q))
        @if rows.is_empty() {
            p.empty { (lang.t(M::NoPayments)) }
        } @else {
            table.payments {
                caption.visually-hidden { (lang.t(M::Payments)) }
                thead { tr {
                    th scope="col" { (lang.t(M::Payment)) }
                    th scope="col" { (lang.t(M::Amount)) }
                    th scope="col" { (lang.t(M::Status)) }
                    th scope="col" { (lang.t(M::Card)) }
                    th scope="col" { (lang.t(M::Created)) }
                } }
                tbody {
                    @for p in &rows {
                        tr {
                            td { a href={"/dashboard/payments/" (p.id)} { code { (p.id) } } }
                            td.num { (money(p.amount, &p.currency)) }
                            td { span class={"status " (p.status.as_str())} { (payment_status(lang, p.status)) } }
                            td { (card(p)) }
                            td { (when(p.created)) }
                        }
                    }
                }
            }
        }
        nav.pages aria-label=(lang.t(M::Payments)) {
            @if let Some(f) = &first { a href=(f) { (lang.t(M::FirstPage)) } }
            @if let Some(n) = &next { a href=(n) rel="next" { (lang.t(M::NextPage)) } }
        }
    };
    respond(StatusCode::OK, page(&s, Nav::Payments, "/dashboard/payments", lang.t(M::Payments), None, body))
}

fn card(p: &Payment) -> Markup {
    html! { (p.card.brand.info().nice_name) " ····" (p.card.last4) }
}

/// The action forms a payment's status allows.
fn actions(lang: Lang, p: &Payment) -> Markup {
    let remaining = p.amount_captured - p.amount_refunded;
    html! {
        @if p.status == PaymentStatus::RequiresCapture {
            form.action method="get" action={"/dashboard/payments/" (p.id) "/capture"} {
                label for="capture-amount" { (lang.f(M::AmountOptionalCapture, &[&money(p.amount_capturable, &p.currency)])) }
                input #capture-amount name="amount" inputmode="decimal" autocomplete="off";
                button type="submit" { (lang.t(M::CaptureAction)) }
            }
        }
        @if matches!(p.status, PaymentStatus::RequiresCapture | PaymentStatus::RequiresAction) {
            form.action method="get" action={"/dashboard/payments/" (p.id) "/void"} {
                button.danger type="submit" { (lang.t(M::VoidAction)) }
            }
        }
        @if p.status == PaymentStatus::Succeeded && remaining > 0 {
            form.action method="get" action={"/dashboard/payments/" (p.id) "/refund"} {
                label for="refund-amount" { (lang.f(M::AmountOptionalRefund, &[&money(remaining, &p.currency)])) }
                input #refund-amount name="amount" inputmode="decimal" autocomplete="off";
                button type="submit" { (lang.t(M::RefundAction)) }
            }
        }
    }
}

fn summary(lang: Lang, p: &Payment) -> Markup {
    html! {
        dl.facts {
            dt { (lang.t(M::Amount)) } dd { (money(p.amount, &p.currency)) }
            dt { (lang.t(M::Status)) } dd { span class={"status " (p.status.as_str())} { (payment_status(lang, p.status)) } }
            dt { (lang.t(M::Captured)) } dd { (money(p.amount_captured, &p.currency)) }
            dt { (lang.t(M::Refunded)) } dd #refunded { (money(p.amount_refunded, &p.currency)) }
            @if p.amount_capturable > 0 {
                dt { (lang.t(M::Capturable)) } dd { (money(p.amount_capturable, &p.currency)) }
            }
            dt { (lang.t(M::Card)) } dd { (card(p)) " · " (lang.t(M::Expires)) " " (format!("{:02}/{}", p.card.exp_month, p.card.exp_year)) }
            dt { (lang.t(M::CaptureMethod)) } dd {
                (lang.t(if p.capture_method == cardtoken_types::wire::CaptureMethod::Automatic { M::Automatic } else { M::Manual }))
            }
            dt { (lang.t(M::Created)) } dd { (when(p.created)) }
            @if let Some(d) = &p.description { dt { (lang.t(M::Description)) } dd { (d) } }
            @if let Some(e) = &p.last_error {
                dt { (lang.t(M::LastError)) } dd { code { (e.code) } @if let Some(dc) = &e.decline_code { " (" code { (dc) } ")" } " " (e.message) }
            }
        }
    }
}

fn deliveries(lang: Lang, list: &[crate::store::DeliveryRecord], endpoints: &[(String, String)]) -> Markup {
    html! {
        @if list.is_empty() {
            p.hint { (lang.t(M::NoDeliveries)) }
        } @else {
            ul.deliveries {
                @for d in list {
                    @let url = endpoints.iter().find(|(id, _)| *id == d.endpoint_id).map_or(d.endpoint_id.as_str(), |(_, u)| u.as_str());
                    li.delivery data-status=(d.status) {
                        span.endpoint { (url) } " · "
                        span class={"status " (d.status)} { (status_word(lang, &d.status)) }
                        @match d.attempts.last() {
                            Some(a) => { " · " (attempt_line(a)) }
                            None => { " · " (lang.t(M::NotAttempted)) }
                        }
                    }
                }
            }
        }
    }
}

/// An attempt in a line: HTTP status (or the error), duration.
pub fn attempt_line(a: &crate::store::AttemptRecord) -> Markup {
    html! {
        @match a.status_code {
            Some(code) => { "HTTP " (code) }
            None => { (a.error.as_deref().unwrap_or("—")) }
        }
        " · " (a.duration_ms) " ms · " (when(a.attempted))
    }
}

fn render_page(s: &Signed, p: &PaymentPage, endpoints: &[(String, String)], notice_: Option<M>) -> Markup {
    let lang = s.lang;
    let pay = &p.payment;
    let path = format!("/dashboard/payments/{}", pay.id);
    let body = html! {
        (summary(lang, pay))
        section.actions aria-labelledby="actions-title" {
            h2 #actions-title { (lang.t(M::Actions)) }
            (actions(lang, pay))
        }
        section aria-labelledby="refunds-title" {
            h2 #refunds-title { (lang.t(M::Refunds)) }
            @if p.refunds.is_empty() {
                p.empty { (lang.t(M::NoRefunds)) }
            } @else {
                table.refunds {
                    thead { tr { th scope="col" { "ID" } th scope="col" { (lang.t(M::Amount)) } th scope="col" { (lang.t(M::Status)) } th scope="col" { (lang.t(M::Created)) } } }
                    tbody { @for r in &p.refunds { tr {
                        td { code { (r.id) } } td.num { (money(r.amount, &r.currency)) } td { (status_word(lang, &r.status)) } td { (when(r.created)) }
                    } } }
                }
            }
        }
        @if !p.disputes.is_empty() {
            section aria-labelledby="disputes-title" {
                h2 #disputes-title { (lang.t(M::Disputes)) }
                ul { @for d in &p.disputes { li { code { (d["id"].as_str().unwrap_or("")) } " · " (d["status"].as_str().unwrap_or("")) " · " (d["reason"].as_str().unwrap_or("")) } } }
            }
        }
        section aria-labelledby="timeline-title" {
            h2 #timeline-title { (lang.t(M::Timeline)) }
            @if p.timeline.is_empty() {
                p.empty { (lang.t(M::NoEvents)) }
            } @else {
                ol.timeline {
                    @for t in &p.timeline {
                        li.event data-type=(t.event.kind) {
                            p.what {
                                (when(t.event.created)) " · "
                                a href={"/dashboard/events/" (t.event.id)} { code { (t.event.kind) } }
                            }
                            (deliveries(lang, &t.deliveries, endpoints))
                        }
                    }
                }
            }
        }
    };
    page(s, Nav::Payments, &path, &format!("{} {}", lang.t(M::Payment), pay.id), notice_, body)
}

/// The endpoints of the caller's mode: (id, url), to name deliveries by their URL.
pub async fn endpoint_urls(state: &AppState, s: &Signed) -> Vec<(String, String)> {
    let scope = s.caller.scope.clone();
    crate::store::read(&state.store, move |tx| tx.list_endpoints(&scope))
        .await
        .map(|all| all.into_iter().map(|e| (e.id, e.url)).collect())
        .unwrap_or_default()
}

/// `GET /dashboard/payments/{id}`
pub async fn show(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let path = format!("/dashboard/payments/{id}");
    match dashboard::payment_page(&state, &s.caller, &id).await {
        Ok(p) => {
            let endpoints = endpoint_urls(&state, &s).await;
            let n = notice(query_param(request.uri().query(), "notice").as_deref());
            respond(StatusCode::OK, render_page(&s, &p, &endpoints, n))
        }
        Err(e) => {
            signed_error(&s, Nav::Payments, &path, super::super::error::status_of(&e), &e.to_wire().message)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Capture,
    Void,
    Refund,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "capture" => Some(Action::Capture),
            "void" => Some(Action::Void),
            "refund" => Some(Action::Refund),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Action::Capture => "capture",
            Action::Void => "void",
            Action::Refund => "refund",
        }
    }
}

/// The confirmation page of an action: what it will do, and the form that does it.
fn confirm_page(s: &Signed, p: &Payment, action: Action, amount: Option<u64>, error: Option<&str>) -> Markup {
    let lang = s.lang;
    let remaining = p.amount_captured - p.amount_refunded;
    let (title, button, what) = match action {
        Action::Capture => {
            (M::ConfirmCaptureTitle, M::ConfirmCapture, Some((M::ToCapture, p.amount_capturable)))
        }
        Action::Void => (M::ConfirmVoidTitle, M::ConfirmVoid, None),
        Action::Refund => (M::ConfirmRefundTitle, M::ConfirmRefund, Some((M::ToRefund, remaining))),
    };
    let back = format!("/dashboard/payments/{}", p.id);
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        dl.facts {
            dt { (lang.t(M::Payment)) } dd { code { (p.id) } }
            dt { (lang.t(M::Amount)) } dd { (money(p.amount, &p.currency)) }
            dt { (lang.t(M::Card)) } dd { (card(p)) }
            @if let Some((label, all)) = what {
                dt { (lang.t(label)) } dd #confirm-amount {
                    @match amount {
                        Some(a) => { (money(a, &p.currency)) }
                        None => { (lang.f(M::AllOf, &[&money(all, &p.currency)])) }
                    }
                }
            }
        }
        @if action == Action::Void { p { (lang.t(M::VoidExplain)) } }
        form.confirm method="post" action={"/dashboard/payments/" (p.id) "/" (action.path())} {
            (guard(s))
            @if let Some(a) = amount { input type="hidden" name="amount" value=(a); }
            button.danger[action != Action::Capture] type="submit" { (lang.t(button)) }
            a.cancel href=(back) { (lang.t(M::Cancel)) }
        }
    };
    page(s, Nav::Payments, &format!("{back}/{}", action.path()), lang.t(title), None, body)
}

/// `GET /dashboard/payments/{id}/{action}`: confirm a capture, void or refund.
pub async fn confirm(
    State(state): State<AppState>,
    s: Signed,
    Path((id, action)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    let path = format!("/dashboard/payments/{id}");
    let Some(action) = Action::parse(&action) else {
        return signed_error(
            &s,
            Nav::Payments,
            &path,
            StatusCode::NOT_FOUND,
            &Error::not_found("page").to_wire().message,
        );
    };
    let p = match payments::get(&state, &s.caller, &id, None).await {
        Ok(p) => p,
        Err(e) => {
            return signed_error(
                &s,
                Nav::Payments,
                &path,
                super::super::error::status_of(&e),
                &e.to_wire().message,
            )
        }
    };
    let typed =
        query_param(request.uri().query(), "amount").map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    let amount = match typed.as_deref().filter(|_| action != Action::Void) {
        None => None,
        Some(text) => match parse_amount(text, &p.currency) {
            Some(a) => Some(a),
            None => {
                let e = s.lang.f(M::InvalidAmount, &[&super::format::exponent(&p.currency).to_string()]);
                return respond(StatusCode::BAD_REQUEST, confirm_page(&s, &p, action, None, Some(&e)));
            }
        },
    };
    respond(StatusCode::OK, confirm_page(&s, &p, action, amount, None))
}

/// `POST /dashboard/payments/{id}/{action}`: capture, void or refund, as the API would, with the
/// click's idempotency key.
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    change: Change,
) -> Response {
    let s = &change.signed;
    let path = format!("/dashboard/payments/{id}");
    let Some(action) = Action::parse(&action) else {
        return signed_error(
            s,
            Nav::Payments,
            &path,
            StatusCode::NOT_FOUND,
            &Error::not_found("page").to_wire().message,
        );
    };
    let amount: Option<u64> = match change.fields.filled("amount") {
        None => None,
        Some(a) => match a.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                return signed_error(
                    s,
                    Nav::Payments,
                    &path,
                    StatusCode::BAD_REQUEST,
                    s.lang.t(M::InvalidAmount),
                )
            }
        },
    };
    // On a task of its own, as the API's payments and refunds run: a person who closes the tab mid-click
    // does not stop the change between the processor's answer and its commit.
    let (svc, caller, idem, pid) =
        (state.services().clone(), s.caller.clone(), change.idem.clone(), id.clone());
    let outcome = crate::http::detached(
        async move {
            let (svc, caller, id) = (&*svc, &caller, &pid);
            match action {
                Action::Capture => {
                    settle(|| payments::capture(svc, caller, id, amount, idem.clone(), render::<Payment>))
                        .await
                        .map(|_| ())
                }
                Action::Void => settle(|| payments::cancel(svc, caller, id, idem.clone(), render::<Payment>))
                    .await
                    .map(|_| ()),
                Action::Refund => {
                    settle(|| refunds::create(svc, caller, id, amount, idem.clone(), render::<Refund>))
                        .await
                        .map(|_| ())
                }
            }
        },
        || Outcome::Failed(StatusCode::INTERNAL_SERVER_ERROR, Error::internal("task").to_wire().message),
    )
    .await;
    let done = match action {
        Action::Capture => "captured",
        Action::Void => "voided",
        Action::Refund => "refunded",
    };
    let caller = &s.caller;
    match outcome {
        Outcome::Fresh(()) | Outcome::Replayed(_) => see_other(&path, done),
        Outcome::Failed(status, message) => match payments::get(&state, caller, &id, None).await {
            Ok(p) => respond(status, confirm_page(s, &p, action, amount, Some(&message))),
            Err(_) => signed_error(s, Nav::Payments, &path, status, &message),
        },
    }
}

impl<T> Outcome<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Fresh(v) => Outcome::Fresh(f(v)),
            Outcome::Replayed(v) => Outcome::Replayed(v),
            Outcome::Failed(s, m) => Outcome::Failed(s, m),
        }
    }
}

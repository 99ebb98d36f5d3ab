//! The dashboard as a browser uses it, over HTTP: people sign in (Argon2id, a session cookie in the
//! database), every change carries the session's CSRF token and comes from this origin, a double click
//! does nothing twice, another account's objects are 404, and no page holds a secret key, a card number
//! or a client secret.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{
    contains, eventually, hanging_up, spawn_app, spawn_app_realtime, spawn_app_with_processor, Slow, TestApp,
};
use crate::webhooks::Receiver;
use cardtoken_server::domain::users;

const PASSWORD: &str = "correct horse battery staple";

/// A person's browser: cookies kept per name, redirects not followed, `Origin` and `Sec-Fetch-Site`
/// sent as a browser sends them from the dashboard's own pages.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Page {
    status: StatusCode,
    text: String,
    headers: reqwest::header::HeaderMap,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
    }

    /// The hidden fields of the form posting to `action`.
    fn form(&self, action: &str) -> Vec<(String, String)> {
        let start = self
            .text
            .find(&format!("action=\"{action}\""))
            .unwrap_or_else(|| panic!("no form to {action} in:\n{}", self.text));
        let form = &self.text[start..];
        let form = &form[..form.find("</form>").unwrap()];
        let mut out = Vec::new();
        for input in form.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap()];
            if !tag.contains("type=\"hidden\"") {
                continue;
            }
            let attr = |name: &str| {
                let at = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                tag[at..at + tag[at..].find('"').unwrap()].to_string()
            };
            out.push((attr("name"), attr("value")));
        }
        out
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.base.clone(),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    /// A request from this browser, through `client`: its cookies, `headers`, and `form` as its body.
    fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        form: Option<&[(String, String)]>,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut req = client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", jar.join("; "));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(f) = form {
            req = req.form(f);
        }
        req
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(String, String)]>,
        headers: &[(&str, &str)],
    ) -> Page {
        let resp = self.request(&self.client, method, path, form, headers).send().await.unwrap();
        let page = Page { status: resp.status(), headers: resp.headers().clone(), text: String::new() };
        let text = resp.text().await.unwrap();
        let page = Page { text, ..page };
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        page
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None, &[]).await
    }

    /// A form posted from one of the dashboard's pages.
    async fn post(&mut self, path: &str, fields: &[(String, String)]) -> Page {
        let origin = self.base.clone();
        self.send(Method::POST, path, Some(fields), &Browser::from_page(&origin)).await
    }

    /// The headers a browser adds to a request from a page of `origin`.
    fn from_page(origin: &str) -> [(&'static str, &str); 2] {
        [("origin", origin), ("sec-fetch-site", "same-origin")]
    }

    /// Submits the form to `action` found on `page`, with `extra` fields.
    async fn submit(&mut self, page: &Page, action: &str, extra: &[(&str, &str)]) -> Page {
        let mut fields = page.form(action);
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.post(action, &fields).await
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/dashboard/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text);
        self.submit(&form, "/dashboard/sign-in", &[("email", email), ("password", password)]).await
    }

    /// Signs in and lands on the dashboard.
    async fn signed_in(app: &TestApp, email: &str) -> Browser {
        let mut b = Browser::new(app);
        let r = b.sign_in(email, PASSWORD).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/dashboard"), "{}", r.text);
        b
    }

    async fn switch_mode(&mut self, to: &str) {
        let home = self.get("/dashboard").await;
        let r = self.submit(&home, "/dashboard/mode", &[("to", to)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    }
}

async fn add_user(app: &TestApp, account: &str, email: &str) {
    users::create(&app.svc.store, account, email, SecretString::from(PASSWORD.to_string()), app.clock.now())
        .await
        .unwrap();
}

use cardtoken_server::clock::Clock;

/// A payment's JSON, through the API.
async fn payment(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/payments/{id}")).await.json
}

#[tokio::test]
async fn people_sign_in_with_a_password_and_a_session_cookie_and_sign_out() {
    let app = spawn_app().await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let mut b = Browser::new(&app);
    let r = b.get("/dashboard").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/dashboard/sign-in"), "not signed in");
    let form = b.get("/dashboard/sign-in").await;
    for label in [
        "<label for=\"email\">Email</label>",
        "<label for=\"password\">Password</label>",
        ">Sign in</button>",
    ] {
        assert!(form.text.contains(label), "{label}");
    }
    assert!(!form.text.contains("sk_test_"), "the page never asks for a secret key");

    let wrong = b
        .submit(&form, "/dashboard/sign-in", &[("email", "ann@shop.example"), ("password", "not it at all")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("The email or the password is wrong."));
    assert!(!b.cookies.contains_key("ct_session"));

    let ok = b
        .submit(&wrong, "/dashboard/sign-in", &[("email", " Ann@Shop.Example "), ("password", PASSWORD)])
        .await;
    assert_eq!((ok.status, ok.location()), (StatusCode::SEE_OTHER, "/dashboard"), "{}", ok.text);
    let cookie = ok.set_cookies().into_iter().find(|c| c.starts_with("ct_session=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "served over http here: {cookie}");
    let token = b.cookies["ct_session"].clone();
    let home = b.get("/dashboard").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains("ann@shop.example") && home.text.contains("aria-label=\"Main\""));
    for nav in [">Payments</a>", ">API keys</a>", ">Webhooks</a>", ">Events</a>"] {
        assert!(home.text.contains(nav), "{nav}");
    }
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(home.headers["cache-control"], "no-store");

    // Neither the password nor the session token is stored: an Argon2id hash, a SHA-256.
    let db = app.database_bytes().await;
    assert!(!contains(&db, PASSWORD.as_bytes()) && !contains(&db, token.as_bytes()));
    let user = app.read(|tx| tx.find_user_by_email("ann@shop.example")).await.unwrap();
    assert!(user.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", user.password_hash);

    let out = b.submit(&home, "/dashboard/sign-out", &[]).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/dashboard/sign-in?notice=signed_out"));
    assert!(!b.cookies.contains_key("ct_session"), "the cookie is cleared");
    b.cookies.insert("ct_session".into(), token);
    let r = b.get("/dashboard").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the signed-out session is refused even with its old cookie");
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes_and_twelve_hours_at_most() {
    let app = spawn_app().await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let mut idle = Browser::signed_in(&app, "ann@shop.example").await;
    let mut busy = Browser::signed_in(&app, "ann@shop.example").await;
    app.clock.advance(29 * 60);
    assert_eq!(busy.get("/dashboard").await.status, StatusCode::OK);
    app.clock.advance(2 * 60);
    assert_eq!(busy.get("/dashboard").await.status, StatusCode::OK, "used 2 minutes ago");
    let r = idle.get("/dashboard").await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/dashboard/sign-in?ended=1"),
        "31 idle minutes"
    );
    // Used every 25 minutes, a session still ends 12 hours after sign-in.
    let mut used = 31 * 60;
    while used < 12 * 60 * 60 - 25 * 60 {
        app.clock.advance(25 * 60);
        used += 25 * 60;
        assert_eq!(busy.get("/dashboard/payments").await.status, StatusCode::OK, "{used}");
    }
    app.clock.advance(25 * 60);
    assert_eq!(busy.get("/dashboard/payments").await.status, StatusCode::SEE_OTHER, "past 12 hours");
}

#[tokio::test]
async fn a_wrong_password_six_times_slows_sign_in_even_for_the_right_one_on_every_instance() {
    let first = spawn_app().await;
    add_user(&first, &first.account, "ann@shop.example").await;
    // A second instance on the same database.
    let second = crate::helpers::spawn_second_instance(&first).await;
    // Successes do not count.
    for _ in 0..8 {
        Browser::signed_in(&first, "ann@shop.example").await;
    }
    let mut b = Browser::new(&first);
    for i in 0..5 {
        let r = b.sign_in("ann@shop.example", "wrong password!").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let sixth = b.sign_in("ann@shop.example", "wrong password!").await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS, "{}", sixth.text);
    assert!(sixth.text.contains("Too many failed sign-ins"), "{}", sixth.text);
    let wait: u64 = sixth.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        b.sign_in("ann@shop.example", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one"
    );
    let mut elsewhere = Browser::new(&second);
    assert_eq!(
        elsewhere.sign_in("Ann@shop.example", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the other instance counts the same failures"
    );
    // Another person is not slowed by Ann's failures (5 per address would be 20).
    add_user(&first, &first.account, "bob@shop.example").await;
    Browser::signed_in(&first, "bob@shop.example").await;
    // A minute later, one more attempt.
    first.clock.advance(61);
    second.clock.advance(61);
    assert_eq!(b.sign_in("ann@shop.example", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_another_and_signing_out_there_ends_it() {
    let first = spawn_app().await;
    add_user(&first, &first.account, "ann@shop.example").await;
    let second = crate::helpers::spawn_second_instance(&first).await;
    let mut on_first = Browser::signed_in(&first, "ann@shop.example").await;
    let mut on_second = Browser::new(&second);
    on_second.cookies = on_first.cookies.clone();
    let home = on_second.get("/dashboard").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.text);
    on_second.switch_mode("live").await;
    assert!(
        on_first.get("/dashboard").await.text.contains("Live mode: real payments."),
        "the switch is the session's"
    );
    let home = on_second.get("/dashboard").await;
    assert_eq!(on_second.submit(&home, "/dashboard/sign-out", &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(on_first.get("/dashboard").await.status, StatusCode::SEE_OTHER, "signed out everywhere");
}

#[tokio::test]
async fn a_forged_cross_site_post_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let pid = app.pay("4242424242424242", 1000, true).await.json["id"].as_str().unwrap().to_string();
    let mut b = Browser::signed_in(&app, "ann@shop.example").await;
    let confirm = b.get(&format!("/dashboard/payments/{pid}/refund?amount=300")).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    let action = format!("/dashboard/payments/{pid}/refund");
    let fields = confirm.form(&action);
    let without = |name: &str| fields.iter().filter(|(k, _)| k != name).cloned().collect::<Vec<_>>();
    let with_csrf = |value: &str| {
        let mut f = without("csrf");
        f.push(("csrf".into(), value.into()));
        f
    };
    // From another site, even with the right token (had it leaked): refused.
    let evil = b.send(Method::POST, &action, Some(&fields), &[("origin", "https://evil.example")]).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let cross = b.send(Method::POST, &action, Some(&fields), &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // The session's cookie alone (an old browser sending it cross-site, no Origin): no token, no change.
    assert_eq!(
        b.send(Method::POST, &action, Some(&without("csrf")), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.send(Method::POST, &action, Some(&with_csrf("guessed")), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    // What a modern browser sends cross-site: no cookie at all (SameSite=Strict).
    let mut stranger = Browser::new(&app);
    let r = stranger.send(Method::POST, &action, Some(&fields), &[]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/dashboard/sign-in"));
    // Signing in from a forged form (login CSRF): no sign-in cookie to match.
    let forged = vec![
        ("csrf".to_string(), "x".to_string()),
        ("email".to_string(), "ann@shop.example".to_string()),
        ("password".to_string(), PASSWORD.to_string()),
    ];
    let mut other = Browser::new(&app);
    assert_eq!(
        other.send(Method::POST, "/dashboard/sign-in", Some(&forged), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(payment(&app, &pid).await["amount_refunded"], 0, "nothing was refunded");

    // The same form from the dashboard's own page works.
    let done = b.post(&action, &fields).await;
    assert_eq!(
        (done.status, done.location()),
        (StatusCode::SEE_OTHER, format!("/dashboard/payments/{pid}?notice=refunded").as_str())
    );
    assert_eq!(payment(&app, &pid).await["amount_refunded"], 300);
}

#[tokio::test]
async fn another_accounts_objects_and_the_other_modes_objects_are_404() {
    let app = spawn_app().await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let other = app.new_account("Other shop").await;
    let (opk, osk) = (
        cardtoken_server::domain::accounts::reveal(&other.test.publishable).to_string(),
        cardtoken_server::domain::accounts::reveal(&other.test.secret).to_string(),
    );
    let theirs = app.pay_with(&opk, &osk, "4242424242424242", 1000, true).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ours = app.pay("4242424242424242", 1000, true).await.json["id"].as_str().unwrap().to_string();
    let their_key = other.test.secret.id.clone();
    let endpoint = app
        .call(
            Method::POST,
            "/v1/webhook_endpoints",
            Some(&osk),
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
            None,
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let their_event = app.call(Method::GET, "/v1/events", Some(&osk), None, None).await.json["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut b = Browser::signed_in(&app, "ann@shop.example").await;
    for path in [
        format!("/dashboard/payments/{theirs}"),
        format!("/dashboard/payments/{theirs}/refund"),
        format!("/dashboard/payments?q={theirs}"),
        format!("/dashboard/keys/{their_key}/roll"),
        format!("/dashboard/webhooks/{endpoint}/rotate"),
        format!("/dashboard/events/{their_event}"),
    ] {
        let mut r = b.get(&path).await;
        if r.status == StatusCode::SEE_OTHER {
            r = b.get(r.location()).await;
        }
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Changes too: a form of ours aimed at their objects.
    let page = b.get(&format!("/dashboard/payments/{ours}/refund")).await;
    let fields = page.form(&format!("/dashboard/payments/{ours}/refund"));
    for action in [
        format!("/dashboard/payments/{theirs}/refund"),
        format!("/dashboard/keys/{their_key}/revoke"),
        format!("/dashboard/webhooks/{endpoint}/delete"),
        format!("/dashboard/webhooks/{endpoint}/test"),
        format!("/dashboard/events/{their_event}/resend"),
    ] {
        let mut f = fields.clone();
        f.retain(|(k, _)| k != "idem");
        f.push(("idem".into(), format!("x{}", action.len())));
        assert_eq!(b.post(&action, &f).await.status, StatusCode::NOT_FOUND, "{action}");
    }
    let theirs_now =
        app.call(Method::GET, &format!("/v1/payments/{theirs}"), Some(&osk), None, None).await.json;
    assert_eq!(theirs_now["amount_refunded"], 0);
    assert_eq!(
        app.call(Method::GET, "/v1/payments", Some(&osk), None, None).await.status,
        StatusCode::OK,
        "their key works"
    );

    // Our own test payment, seen in live mode: 404 as well, and no test object listed.
    assert_eq!(b.get(&format!("/dashboard/payments/{ours}")).await.status, StatusCode::OK);
    b.switch_mode("live").await;
    assert_eq!(b.get(&format!("/dashboard/payments/{ours}")).await.status, StatusCode::NOT_FOUND);
    let listed = b.get("/dashboard/payments").await;
    assert!(listed.text.contains("No payments.") && !listed.text.contains(&ours));
    // A form shown in test mode, posted after the switch to live: refused (the mode changed).
    let r = b.post(&format!("/dashboard/payments/{ours}/refund"), &fields).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
}

/// Ann, signed in, on the page that confirms a refund of 300 of a new payment of 1000: her browser, the
/// payment's id, and the confirming form's action and fields.
async fn refund_confirmed(app: &TestApp) -> (Browser, String, String, Vec<(String, String)>) {
    add_user(app, &app.account, "ann@shop.example").await;
    let pid = app.pay("4242424242424242", 1000, true).await.json["id"].as_str().unwrap().to_string();
    let mut b = Browser::signed_in(app, "ann@shop.example").await;
    let confirm = b.get(&format!("/dashboard/payments/{pid}/refund?amount=300")).await;
    let action = format!("/dashboard/payments/{pid}/refund");
    let fields = confirm.form(&action);
    (b, pid, action, fields)
}

#[tokio::test]
async fn a_double_click_refunds_once() {
    let app = spawn_app().await;
    let (mut b, pid, action, fields) = refund_confirmed(&app).await;
    let (mut b1, mut b2) = (Browser::new(&app), Browser::new(&app));
    b1.cookies = b.cookies.clone();
    b2.cookies = b.cookies.clone();
    let (one, two) = tokio::join!(b1.post(&action, &fields), b2.post(&action, &fields));
    assert_eq!(
        (one.status, two.status),
        (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER),
        "{}{}",
        one.text,
        two.text
    );
    assert_eq!(b.post(&action, &fields).await.status, StatusCode::SEE_OTHER, "a third click replays too");
    let p = payment(&app, &pid).await;
    assert_eq!(p["amount_refunded"], 300, "refunded once");
    let refunds = app.read(move |tx| tx.refunds_of(&pid)).await;
    assert_eq!(refunds.len(), 1);
    // A new page is a new click: a second refund.
    let again = b.get(&format!("/dashboard/payments/{}/refund?amount=300", p["id"].as_str().unwrap())).await;
    assert_eq!(b.submit(&again, &action, &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(payment(&app, p["id"].as_str().unwrap()).await["amount_refunded"], 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_who_leaves_mid_refund_leaves_it_whole_and_the_same_click_replays_it() {
    let slow = Arc::new(Slow::refunding(Duration::from_millis(800)));
    let app = spawn_app_with_processor(slow.clone()).await;
    let (mut b, pid, action, fields) = refund_confirmed(&app).await;
    // The tab is closed (the connection with it) while the processor is still deciding.
    let gone = b
        .request(&hanging_up(), Method::POST, &action, Some(&fields), &Browser::from_page(&app.base))
        .send()
        .await;
    assert!(gone.is_err(), "the browser left: {gone:?}");
    eventually("the processor to have been asked", || slow.refunds.load(Ordering::SeqCst) == 1).await;
    // The refund went on without it; the same click, sent again once it has finished, replays it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.post(&action, &fields).await.status, StatusCode::SEE_OTHER);
    assert_eq!(slow.refunds.load(Ordering::SeqCst), 1, "the processor was asked once");
    assert_eq!(payment(&app, &pid).await["amount_refunded"], 300);
    assert_eq!(app.read(move |tx| tx.refunds_of(&pid)).await.len(), 1, "one refund");
}

/// A receiver that answers 500 with the body it got (so a response excerpt could hold anything sent).
async fn echoing_receiver() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://127.0.0.1:{}/echo", listener.local_addr().unwrap().port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new().route(
        "/echo",
        post(|body: Bytes| async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, body) }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (url, tx)
}

#[tokio::test]
async fn no_page_or_response_of_the_dashboard_holds_a_secret_key_a_card_number_or_a_client_secret() {
    let app = spawn_app_realtime(|c| c.webhook_retry_secs = vec![3600]).await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let (echo, _stop) = echoing_receiver().await;
    let mut b = Browser::signed_in(&app, "ann@shop.example").await;

    // An endpoint added from the dashboard: its secret on that one answer.
    let webhooks = b.get("/dashboard/webhooks").await;
    let added = b.submit(&webhooks, "/dashboard/webhooks", &[("url", &echo), ("events", "*")]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let whsec = between(&added.text, "new-secret\">", "<");
    assert!(whsec.starts_with("whsec_"), "{whsec}");
    // Traffic: a captured card, a 3-D Secure one (its next action holds the client secret), a refund.
    let cards = ["4242424242424242", "5555555555554444", "4000002500003155"];
    let mut payments = Vec::new();
    for n in cards {
        payments.push(app.pay(n, 1000, true).await.json);
    }
    let pid = payments[0]["id"].as_str().unwrap().to_string();
    app.post("/v1/refunds", json!({"payment": pid, "amount": 100})).await;
    let mut client_secrets: Vec<String> =
        payments.iter().map(|p| p["client_secret"].as_str().unwrap().to_string()).collect();
    assert!(payments[2]["next_action"]["url"].as_str().unwrap().contains(&client_secrets[2]));
    client_secrets.retain(|c| !c.is_empty());
    // The receiver echoes every event back, client secrets and all: wait for the attempts.
    let scope = cardtoken_server::store::Scope::new(app.account.clone(), false);
    for _ in 0..200 {
        let s = scope.clone();
        let (events, _) = app.read(move |tx| tx.list_events(&s, 100, None, None, None)).await;
        let mut attempted = 0;
        for e in &events {
            let (s, id) = (scope.clone(), e.id.clone());
            let d = app.read(move |tx| tx.deliveries_of_event(&s, &id)).await;
            attempted += usize::from(d.iter().any(|d| !d.attempts.is_empty()));
        }
        if attempted == events.len() && attempted >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // New keys and a roll: each secret on its own answer only.
    let keys = b.get("/dashboard/keys").await;
    let made = b.submit(&keys, "/dashboard/keys", &[]).await;
    let new_sk = between(&made.text, "data-kind=\"secret\">", "<");
    assert!(new_sk.starts_with("sk_test_"), "{}", made.text);
    let replay = b.submit(&keys, "/dashboard/keys", &[]).await;
    assert!(
        replay.text.contains("cannot be shown again") && !replay.text.contains(&new_sk),
        "a replay shows no secret"
    );
    let keys = b.get("/dashboard/keys").await;
    let hash = cardtoken_server::domain::accounts::hash_secret(&app.sk);
    let first_secret = app.read(move |tx| tx.find_secret_key(&hash)).await.unwrap();
    let roll_page = b.get(&format!("/dashboard/keys/{}/roll", first_secret.id)).await;
    let rolled = b
        .submit(&roll_page, &format!("/dashboard/keys/{}/roll", first_secret.id), &[("grace", "3600")])
        .await;
    let rolled_sk = between(&rolled.text, "data-kind=\"secret\">", "<");
    assert!(rolled_sk.starts_with("sk_test_") && rolled_sk != app.sk, "{}", rolled.text);
    assert!(keys.text.contains(&app.pk), "publishable keys in full");

    // Every page a person can reach, and every answer.
    let mut pages = vec![
        "/dashboard".to_string(),
        "/dashboard/monitoring.json".into(),
        "/dashboard/monitoring.json?window=day".into(),
        "/dashboard/payments".into(),
        "/dashboard/payments?last4=4242&status=succeeded".into(),
        "/dashboard/keys".into(),
        "/dashboard/webhooks".into(),
        "/dashboard/events".into(),
        "/dashboard/events?type=payment.requires_action".into(),
        "/dashboard/assets/dashboard.js".into(),
        "/dashboard/sign-in".into(),
        "/dashboard?lang=ja".into(),
    ];
    for p in &payments {
        let id = p["id"].as_str().unwrap();
        pages.push(format!("/dashboard/payments/{id}"));
        pages.push(format!("/dashboard/payments/{id}/refund"));
        pages.push(format!("/dashboard/payments/{id}/void"));
    }
    let s = scope.clone();
    let (events, _) = app.read(move |tx| tx.list_events(&s, 100, None, None, None)).await;
    pages.extend(events.iter().map(|e| format!("/dashboard/events/{}", e.id)));
    let mut excerpts = 0;
    let mut seen = String::new();
    for path in &pages {
        let r = b.get(path).await;
        assert!(r.status == StatusCode::OK || r.status == StatusCode::SEE_OTHER, "{path}: {}", r.status);
        excerpts += r.text.matches("class=\"excerpt\"").count();
        seen.push_str(&r.text);
        seen.push_str(&format!("{:?}", r.headers));
    }
    assert!(excerpts >= 4, "the receivers' answers are shown ({excerpts})");
    assert!(seen.contains("[redacted]"), "what the receiver echoed had secrets, hidden");
    let mut secrets: Vec<&str> = vec![&app.sk, &new_sk, &rolled_sk, &whsec];
    secrets.extend(client_secrets.iter().map(String::as_str));
    secrets.extend(cards);
    for secret in &secrets {
        assert!(!seen.contains(secret), "{secret} on a dashboard page");
    }
    assert!(
        !seen.contains("sk_test_") || !seen.split("sk_test_").skip(1).any(|rest| !rest.starts_with('…')),
        "only masked secret keys"
    );
    // Nor in storage: the idempotency records keep answers without the secrets they showed.
    let db = app.database_bytes().await;
    assert!(
        !contains(&db, new_sk.as_bytes()) && !contains(&db, rolled_sk.as_bytes()),
        "a new secret key is never stored in clear"
    );
    // The new keys work as API keys; the rolled one still works for its grace period.
    for k in [&new_sk, &rolled_sk, &app.sk] {
        assert_eq!(app.call(Method::GET, "/v1/payments", Some(k), None, None).await.status, StatusCode::OK);
    }
    // Nor in the logs, at trace level: no password, session or CSRF token, key, card or client secret.
    let logs = crate::helpers::captured_logs();
    assert!(logs.contains("/dashboard/keys") && logs.contains("TRACE"), "the trace logs were captured");
    let csrf = between(&keys.text, "name=\"csrf\" value=\"", "\"");
    let mut held: Vec<(&str, &str)> = vec![(PASSWORD, "the password"), (&csrf, "a CSRF token")];
    assert!(b.cookies.contains_key("ct_session"), "{:?}", b.cookies.keys());
    held.extend(b.cookies.values().filter(|v| v.len() >= 16).map(|v| (v.as_str(), "a cookie")));
    held.extend(secrets.iter().map(|s| (*s, "a secret or card")));
    for (value, what) in held {
        assert!(!logs.contains(value), "{what} in the logs: {value}");
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let at = text.find(start).unwrap_or_else(|| panic!("no {start} in:\n{text}")) + start.len();
    text[at..at + text[at..].find(end).unwrap()].to_string()
}

#[tokio::test]
async fn capture_void_refund_keys_webhooks_and_events_work_from_the_dashboard() {
    let app = spawn_app_realtime(|c| c.webhook_retry_secs = vec![3600]).await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let mut b = Browser::signed_in(&app, "ann@shop.example").await;

    // Capture part of an authorization; void another.
    let held = app.pay("5555555555554444", 1000, false).await.json["id"].as_str().unwrap().to_string();
    let page = b.get(&format!("/dashboard/payments/{held}")).await;
    assert!(page.text.contains("Capture…") && page.text.contains("Void…") && !page.text.contains("Refund…"));
    let confirm = b.get(&format!("/dashboard/payments/{held}/capture?amount=700")).await;
    assert!(confirm.text.contains("700 JPY"), "{}", confirm.text);
    let r = b.submit(&confirm, &format!("/dashboard/payments/{held}/capture"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let p = payment(&app, &held).await;
    assert_eq!((p["status"].as_str(), p["amount_captured"].as_u64()), (Some("succeeded"), Some(700)));
    let voided = app.pay("5555555555554444", 1000, false).await.json["id"].as_str().unwrap().to_string();
    let confirm = b.get(&format!("/dashboard/payments/{voided}/void")).await;
    b.submit(&confirm, &format!("/dashboard/payments/{voided}/void"), &[]).await;
    assert_eq!(payment(&app, &voided).await["status"], "canceled");
    // A refund larger than what is left: the confirmation again, with the reason.
    let confirm = b.get(&format!("/dashboard/payments/{held}/refund?amount=800")).await;
    let r = b.submit(&confirm, &format!("/dashboard/payments/{held}/refund"), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("at most the 700 jpy"), "{}", r.text);
    let bad = b.get(&format!("/dashboard/payments/{held}/refund?amount=1.5")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "JPY has no decimals");
    // Filters and search.
    let found = b.get("/dashboard/payments?last4=4444&status=canceled").await;
    assert!(found.text.contains(&voided) && !found.text.contains(&held));
    assert_eq!(
        b.get(&format!("/dashboard/payments?q={held}")).await.location(),
        format!("/dashboard/payments/{held}")
    );
    assert_eq!(b.get("/dashboard/payments?last4=42").await.status, StatusCode::BAD_REQUEST);

    // Keys: create, roll with no grace, revoke.
    let keys = b.get("/dashboard/keys").await;
    let made = b.submit(&keys, "/dashboard/keys", &[]).await;
    let new_sk = between(&made.text, "data-kind=\"secret\">", "<");
    let ok = |k: String| {
        let app = &app;
        async move { app.call(Method::GET, "/v1/payments", Some(&k), None, None).await.status }
    };
    assert_eq!(ok(new_sk.clone()).await, StatusCode::OK);
    let hash = cardtoken_server::domain::accounts::hash_secret(&new_sk);
    let old_id = app.read(move |tx| tx.find_secret_key(&hash)).await.unwrap().id;
    let roll = b.get(&format!("/dashboard/keys/{old_id}/roll")).await;
    let rolled = b.submit(&roll, &format!("/dashboard/keys/{old_id}/roll"), &[("grace", "0")]).await;
    let newer = between(&rolled.text, "data-kind=\"secret\">", "<");
    assert_eq!(
        (ok(new_sk.clone()).await, ok(newer.clone()).await),
        (StatusCode::UNAUTHORIZED, StatusCode::OK)
    );
    let newer_id = app
        .read(move |tx| tx.find_secret_key(&cardtoken_server::domain::accounts::hash_secret(&newer)))
        .await
        .unwrap()
        .id;
    let revoke = b.get(&format!("/dashboard/keys/{newer_id}/revoke")).await;
    let r = b.submit(&revoke, &format!("/dashboard/keys/{newer_id}/revoke"), &[]).await;
    assert_eq!(r.location(), "/dashboard/keys?notice=revoked");
    let listed = b.get("/dashboard/keys").await;
    assert!(listed.text.contains("revoked") && listed.text.contains("expired"), "{}", listed.text);
    let first = first_key(&app).await;
    let roll = b.get(&format!("/dashboard/keys/{first}/roll")).await;
    let bad_grace = b.submit(&roll, &format!("/dashboard/keys/{first}/roll"), &[("grace", "9999999")]).await;
    assert_eq!(bad_grace.status, StatusCode::BAD_REQUEST, "at most 7 days");

    // Webhooks: add (failing receiver), send a test event, see the failed attempt, resend to a receiver that
    // now answers 200.
    let receiver = Receiver::start(0, &[500]).await;
    let other = Receiver::start(0, &[]).await;
    let hooks = b.get("/dashboard/webhooks").await;
    b.submit(&hooks, "/dashboard/webhooks", &[("url", &receiver.url), ("events", "refund.succeeded")]).await;
    let hooks = b.get("/dashboard/webhooks").await;
    b.submit(&hooks, "/dashboard/webhooks", &[("url", &other.url), ("events", "*")]).await;
    let hooks = b.get("/dashboard/webhooks").await;
    let endpoints = app.get("/v1/webhook_endpoints").await.json;
    let we =
        endpoints["data"].as_array().unwrap().iter().find(|e| e["url"] == receiver.url.as_str()).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    let sent = b.submit(&hooks, &format!("/dashboard/webhooks/{we}/test"), &[]).await;
    let event_page = sent.location().split('?').next().unwrap().to_string();
    assert!(event_page.starts_with("/dashboard/events/evt_"), "{}", sent.location());
    eventually("the test event's first attempt", || receiver.deliveries().len() == 1).await;
    let mut page = b.get(&event_page).await;
    for _ in 0..50 {
        if page.text.contains("HTTP 500") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = b.get(&event_page).await;
    }
    assert!(page.text.contains("HTTP 500") && page.text.contains("webhook_endpoint.test"), "{}", page.text);
    assert!(
        other.deliveries().is_empty(),
        "a test event goes only to its endpoint, not to those taking every type"
    );
    let resend_action = format!("{event_page}/resend");
    let r = b.submit(&page, &resend_action, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    eventually("the resent event", || receiver.deliveries().len() == 2).await;
    let mut page = b.get(&event_page).await;
    for _ in 0..50 {
        if page.text.contains("HTTP 200") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = b.get(&event_page).await;
    }
    assert!(
        page.text.contains("HTTP 200") && page.text.contains("data-status=\"delivered\""),
        "{}",
        page.text
    );
    let events = b.get("/dashboard/events?type=webhook_endpoint.test").await;
    assert!(
        events.text.contains("data-type=\"webhook_endpoint.test\"")
            && !events.text.contains("data-type=\"payment.succeeded\"")
    );
    // Rotate and delete.
    let rotate = b.get(&format!("/dashboard/webhooks/{we}/rotate")).await;
    let rotated = b.submit(&rotate, &format!("/dashboard/webhooks/{we}/rotate"), &[]).await;
    assert!(between(&rotated.text, "new-secret\">", "<").starts_with("whsec_"));
    let delete = b.get(&format!("/dashboard/webhooks/{we}/delete")).await;
    let r = b.submit(&delete, &format!("/dashboard/webhooks/{we}/delete"), &[]).await;
    assert_eq!(r.location(), "/dashboard/webhooks?notice=deleted");
    assert!(!b.get("/dashboard/webhooks").await.text.contains(&receiver.url));

    // Japanese, remembered.
    let ja = b.get("/dashboard/payments?lang=ja").await;
    assert!(ja.text.contains("<html lang=\"ja\">") && ja.text.contains(">支払い</a>"), "{}", ja.text);
    assert!(b.get("/dashboard/keys").await.text.contains("<html lang=\"ja\">"));
}

async fn first_key(app: &TestApp) -> String {
    let account = app.account.clone();
    app.read(move |tx| tx.list_keys(Some(&account)))
        .await
        .into_iter()
        .find(|k| {
            k.kind == cardtoken_server::store::KeyKind::Secret
                && k.revoked.is_none()
                && k.expires.is_none()
                && !k.livemode
        })
        .unwrap()
        .id
}

fn run_cli(env: &[(&'static str, String)], args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[tokio::test]
async fn users_are_created_with_a_password_on_standard_input_listed_and_removed_from_the_command_line() {
    let app = spawn_app().await;
    let env = crate::helpers::binary_env(&app.dir).await;
    let account = app.account.clone();
    let (ok, out) = run_cli(
        &env,
        &["users", "create", "--account", &account, "--email", "Ann@Shop.example"],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok && out.contains("created user user_") && out.contains("ann@shop.example"), "{out}");
    let (ok, out) =
        run_cli(&env, &["users", "create", "--account", &account, "--email", "bob@shop.example"], "short\n");
    assert!(!ok && out.contains("at least 12 characters"), "{out}");
    let (ok, out) = run_cli(
        &env,
        &["users", "create", "--account", "acct_nope", "--email", "bob@shop.example"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && out.contains("No such account"), "{out}");
    let (ok, out) = run_cli(
        &env,
        &["users", "create", "--account", &account, "--email", "ann@shop.example"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, listed) = run_cli(&env, &["users", "list"], "");
    assert!(ok && listed.contains("ann@shop.example") && listed.contains(&account), "{listed}");
    assert!(!listed.contains("argon2") && !listed.contains(PASSWORD));

    // The password read is the one line (without its line ending), and it signs in.
    let mut b = Browser::signed_in(&app, "ann@shop.example").await;
    assert_eq!(b.get("/dashboard").await.status, StatusCode::OK);
    let (ok, out) = run_cli(&env, &["users", "remove", "ann@shop.example"], "");
    assert!(ok && out.contains("removed user"), "{out}");
    assert_eq!(b.get("/dashboard").await.status, StatusCode::SEE_OTHER, "their sessions ended");
    let (_, listed) = run_cli(&env, &["users", "list", "--account", &account], "");
    assert!(!listed.contains("ann@shop.example"));
}

#[tokio::test]
async fn served_over_https_the_cookies_are_secure() {
    // Behind a TLS proxy: browsers reach https://…, the server listens in plain http.
    let port = crate::webhooks::free_port();
    let app = crate::helpers::spawn_app_with(|c| {
        c.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        c.public_url = Some(format!("https://127.0.0.1:{port}"));
    })
    .await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let mut b = Browser::new(&app);
    b.base = format!("http://127.0.0.1:{port}");
    let form = b.get("/dashboard/sign-in").await;
    assert!(form.set_cookies().iter().all(|c| c.contains("; Secure")), "{:?}", form.set_cookies());
    let r = b.sign_in("ann@shop.example", PASSWORD).await;
    let session = r.set_cookies().into_iter().find(|c| c.starts_with("ct_session=")).unwrap();
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn date_of(t: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test]
async fn the_payments_page_filters_by_date_range_and_amount() {
    let app = spawn_app().await;
    add_user(&app, &app.account, "ann@shop.example").await;
    let day0 = app.clock.now();
    let early = app.pay("4242424242424242", 1000, true).await.json["id"].as_str().unwrap().to_string();
    app.clock.advance(3 * 86_400);
    let late = app.pay("4242424242424242", 2500, true).await.json["id"].as_str().unwrap().to_string();
    let later = app.pay("5555555555554444", 1000, true).await.json["id"].as_str().unwrap().to_string();
    // Signed in now (a session ends after 30 idle minutes of the test's clock).
    let mut b = Browser::signed_in(&app, "ann@shop.example").await;
    let shown =
        |text: &str| [&early, &late, &later].iter().map(|id| text.contains(id.as_str())).collect::<Vec<_>>();

    let (d0, d3) = (date_of(day0), date_of(day0 + 3 * 86_400));
    let all = b.get("/dashboard/payments").await;
    assert_eq!(shown(&all.text), [true, true, true]);
    let r = b.get(&format!("/dashboard/payments?from={d3}")).await;
    assert_eq!(shown(&r.text), [false, true, true], "from the day of the later two");
    let r = b.get(&format!("/dashboard/payments?until={d0}")).await;
    assert_eq!(shown(&r.text), [true, false, false], "until the first day, that day included");
    let r = b.get(&format!("/dashboard/payments?from={d0}&until={}", date_of(day0 + 86_400))).await;
    assert_eq!(shown(&r.text), [true, false, false]);
    let r = b.get("/dashboard/payments?amount=1000").await;
    assert_eq!(shown(&r.text), [true, false, true], "by amount, in minor units");
    let r = b.get(&format!("/dashboard/payments?amount=1000&from={d3}&last4=4444")).await;
    assert_eq!(shown(&r.text), [false, false, true], "the filters together");
    // A date that is not one: said so, and nothing listed.
    let r = b.get("/dashboard/payments?from=2026-02-31").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(shown(&r.text), [false, false, false]);
    assert!(r.text.contains("role=\"alert\""), "{}", r.text);
}

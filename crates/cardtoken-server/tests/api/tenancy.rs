//! Accounts and modes: a key sees only its own account and mode. Every endpoint probed with another
//! account's key, or with the same account's key of the other mode, answers 404 (existence is not
//! revealed) and changes nothing; lists and event streams hold only the caller's objects; endpoints
//! receive only their own account's events of their own mode; live mode declines the test cards.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{card, eventually, spawn_app, spawn_app_realtime, TestApp};
use crate::webhooks::Receiver;

/// Account A's objects, made with its test keys.
struct Objects {
    token: String,
    paid: Value,
    authorized: Value,
    refund: Value,
    endpoint: Value,
    event: String,
}

async fn make_objects(app: &TestApp) -> Objects {
    let token = app.token_for("4242424242424242").await;
    let paid = app.pay("4242424242424242", 1000, true).await.json;
    let authorized = app.pay("5555555555554444", 700, false).await.json;
    let refund = app.post("/v1/refunds", json!({"payment": paid["id"], "amount": 100})).await.json;
    let endpoint = app.post("/v1/webhook_endpoints", json!({"url": "http://127.0.0.1:9/hook"})).await.json;
    let events = app.get("/v1/events?limit=1").await.json;
    let event = events["data"][0]["id"].as_str().unwrap().to_string();
    assert!(endpoint["secret"].is_string() && refund["id"].is_string(), "{endpoint} {refund}");
    Objects { token, paid, authorized, refund, endpoint, event }
}

/// What A's objects look like now (to compare before and after the probes).
async fn snapshot(app: &TestApp, o: &Objects) -> Vec<String> {
    let mut out = Vec::new();
    for path in [
        format!("/v1/payments/{}", o.paid["id"].as_str().unwrap()),
        format!("/v1/payments/{}", o.authorized["id"].as_str().unwrap()),
        format!("/v1/tokens/{}", o.token),
        format!("/v1/events/{}/deliveries", o.event),
        "/v1/webhook_endpoints".to_string(),
        "/v1/events?limit=100".to_string(),
        "/v1/payments?limit=100".to_string(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        out.push(r.text);
    }
    out
}

/// Every endpoint that names one of A's objects, with `sk`/`pk` (another account's, or A's other mode's).
async fn probe(app: &TestApp, o: &Objects, pk: &str, sk: &str, who: &str) {
    let pid = o.paid["id"].as_str().unwrap();
    let aid = o.authorized["id"].as_str().unwrap();
    let wid = o.endpoint["id"].as_str().unwrap();
    let secret = o.paid["client_secret"].as_str().unwrap();
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, format!("/v1/tokens/{}", o.token), None, sk),
        (Method::GET, format!("/v1/payments/{pid}"), None, sk),
        (Method::GET, format!("/v1/payments/{pid}?client_secret={secret}"), None, pk),
        (Method::POST, format!("/v1/payments/{aid}/capture"), Some(json!({})), sk),
        (Method::POST, format!("/v1/payments/{aid}/cancel"), Some(json!({})), sk),
        (Method::POST, "/v1/refunds".to_string(), Some(json!({"payment": pid, "amount": 1})), sk),
        (
            Method::POST,
            "/v1/payments".to_string(),
            Some(json!({"amount": 100, "currency": "jpy", "token": o.token})),
            sk,
        ),
        (Method::DELETE, format!("/v1/webhook_endpoints/{wid}"), None, sk),
        (Method::POST, format!("/v1/webhook_endpoints/{wid}/rotate_secret"), Some(json!({})), sk),
        (Method::GET, format!("/v1/events/{}", o.event), None, sk),
        (Method::GET, format!("/v1/events/{}/deliveries", o.event), None, sk),
        (Method::POST, format!("/v1/events/{}/redeliver", o.event), Some(json!({})), sk),
    ];
    for (method, path, body, key) in cases {
        let r = app.call(method.clone(), &path, Some(key), body, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}: {method} {path} answered {}", r.text);
        assert_eq!(r.error_code(), "resource_missing", "{who}: {method} {path}");
        assert!(!r.text.contains(pid) || path.contains(pid), "{who}: nothing of A's shows");
    }
    // Lists and streams hold none of A's objects.
    for path in ["/v1/payments?limit=100", "/v1/events?limit=100", "/v1/webhook_endpoints", "/v1/alerts"] {
        let r = app.call(Method::GET, path, Some(sk), None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{who}: {path}");
        for id in [pid, aid, wid, o.event.as_str(), o.refund["id"].as_str().unwrap()] {
            assert!(!r.text.contains(id), "{who}: {path} shows {id}");
        }
    }
}

#[tokio::test]
async fn another_account_and_the_other_mode_see_nothing_of_an_accounts_objects_and_change_nothing() {
    let app = spawn_app().await;
    let o = make_objects(&app).await;
    let before = snapshot(&app, &o).await;

    let b = app.new_account("Another shop").await;
    let (b_pk, b_sk) = (
        cardtoken_server::domain::accounts::reveal(&b.test.publishable).to_string(),
        cardtoken_server::domain::accounts::reveal(&b.test.secret).to_string(),
    );
    probe(&app, &o, &b_pk, &b_sk, "account B (test)").await;
    let (live_pk, live_sk) = app.live_keys();
    probe(&app, &o, &live_pk, &live_sk, "account A (live)").await;

    assert_eq!(snapshot(&app, &o).await, before, "the probes changed nothing");
    // B's own objects work, and A does not see them either.
    let b_paid = app.pay_with(&b_pk, &b_sk, "4242424242424242", 500, true).await;
    assert_eq!(b_paid.status, StatusCode::OK, "{}", b_paid.text);
    let b_id = b_paid.json["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/payments/{b_id}")).await.status, StatusCode::NOT_FOUND);
    assert!(!app.get("/v1/payments?limit=100").await.text.contains(b_id));
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_account_and_mode() {
    // The same key sent by another account, or by the same account in live mode, is theirs: it runs
    // (never a replay of A's answer, which would show A's payment), and A's replay stays A's.
    let app = spawn_app().await;
    let body = |token: &str| json!({"amount": 900, "currency": "usd", "token": token});
    let a_token = app.token_for("4242424242424242").await;
    let a =
        app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body(&a_token)), Some("order-1")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let b = app.new_account("Another shop").await;
    let (b_pk, b_sk) = (
        cardtoken_server::domain::accounts::reveal(&b.test.publishable).to_string(),
        cardtoken_server::domain::accounts::reveal(&b.test.secret).to_string(),
    );
    let (live_pk, live_sk) = app.live_keys();
    for (pk, sk, who) in [(&b_pk, &b_sk, "another account"), (&live_pk, &live_sk, "live mode")] {
        let (_, token, _) = app.tokenize(pk, card("4242424242424242", "123")).await;
        let tid = token["id"].as_str().unwrap();
        let r = app.call(Method::POST, "/v1/payments", Some(sk), Some(body(tid)), Some("order-1")).await;
        assert!(r.headers.get("idempotent-replayed").is_none(), "{who}: a replay of A's answer");
        assert!(!r.text.contains(a.json["id"].as_str().unwrap()), "{who}: {}", r.text);
        let id = r.json["id"].as_str().or(r.json["error"]["payment"]["id"].as_str()).unwrap().to_string();
        // …and its own retry replays its own answer.
        let again = app.call(Method::POST, "/v1/payments", Some(sk), Some(body(tid)), Some("order-1")).await;
        assert_eq!((again.status, &again.text), (r.status, &r.text), "{who}");
        assert!(again.text.contains(&id));
    }
    let replay =
        app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body(&a_token)), Some("order-1")).await;
    assert_eq!((replay.status, &replay.text), (StatusCode::OK, &a.text));
    assert_eq!(replay.headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn live_keys_tokenize_decline_the_test_cards_and_refuse_payments_without_a_live_processor() {
    let app = spawn_app().await;
    let (live_pk, live_sk) = app.live_keys();
    assert!(live_pk.starts_with("pk_live_") && live_sk.starts_with("sk_live_"));
    for number in ["4242424242424242", "5555555555554444", "4000000000009995", "4000002500003155"] {
        let paid = app.pay_with(&live_pk, &live_sk, number, 1000, true).await;
        assert_eq!(paid.status, StatusCode::PAYMENT_REQUIRED, "{number}: {}", paid.text);
        assert_eq!(
            (paid.error_code(), paid.json["error"]["decline_code"].as_str()),
            ("card_declined", Some("live_mode_test_card")),
            "{number}"
        );
        assert_eq!(paid.json["error"]["payment"]["livemode"], true);
        assert_eq!(paid.json["error"]["payment"]["status"], "failed");
    }
    // A card that is not a test card: tokenized in live mode, but no live processor is configured.
    let (status, token, text) = app.tokenize(&live_pk, card("4111111111111111", "123")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(token["livemode"], true);
    let r = app
        .call(
            Method::POST,
            "/v1/payments",
            Some(&live_sk),
            Some(json!({"amount": 1000, "currency": "jpy", "token": token["id"]})),
            None,
        )
        .await;
    assert_eq!((r.status, r.error_code()), (StatusCode::BAD_REQUEST, "live_mode_unavailable"), "{}", r.text);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("live processor"));
    // The test keys see none of it; the live list holds the declined live payments only.
    let live_list = app.call(Method::GET, "/v1/payments?limit=100", Some(&live_sk), None, None).await.json;
    assert_eq!(live_list["data"].as_array().unwrap().len(), 4);
    assert!(live_list["data"].as_array().unwrap().iter().all(|p| p["livemode"] == true));
    assert!(app.get("/v1/payments").await.json["data"].as_array().unwrap().is_empty());
    // …and each live object is a 404 to them, to read or to change.
    let live_token = token["id"].as_str().unwrap();
    let (status, _, _) = app.get_token(&app.sk, live_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a live token, with the test key");
    for p in live_list["data"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        for (method, path, body) in [
            (Method::GET, format!("/v1/payments/{id}"), None),
            (Method::POST, format!("/v1/payments/{id}/capture"), Some(json!({}))),
            (Method::POST, format!("/v1/payments/{id}/cancel"), Some(json!({}))),
            (Method::POST, "/v1/refunds".to_string(), Some(json!({"payment": id}))),
        ] {
            let r = app.call(method.clone(), &path, Some(&app.sk), body, None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path} with the test key: {}", r.text);
        }
    }
    // A test key tokenizes in test mode.
    let (_, test_token, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    assert_eq!(test_token["livemode"], false);
}

#[tokio::test]
async fn an_endpoint_receives_only_its_own_accounts_events_of_its_own_mode() {
    let app = spawn_app_realtime(|_| {}).await;
    let (a_test, b_test, a_live) =
        (Receiver::start(0, &[]).await, Receiver::start(0, &[]).await, Receiver::start(0, &[]).await);
    let b = app.new_account("B").await;
    let b_keys = (
        cardtoken_server::domain::accounts::reveal(&b.test.publishable).to_string(),
        cardtoken_server::domain::accounts::reveal(&b.test.secret).to_string(),
    );
    let (live_pk, live_sk) = app.live_keys();
    let register = |sk: String, url: String| {
        let app = &app;
        async move {
            let r = app
                .call(Method::POST, "/v1/webhook_endpoints", Some(&sk), Some(json!({"url": url})), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json["livemode"].as_bool().unwrap()
        }
    };
    assert!(!register(app.sk.clone(), a_test.url.clone()).await);
    assert!(!register(b_keys.1.clone(), b_test.url.clone()).await);
    assert!(register(live_sk.clone(), a_live.url.clone()).await);

    let a_paid = app.pay("4242424242424242", 1000, true).await.json;
    let b_paid = app.pay_with(&b_keys.0, &b_keys.1, "5555555555554444", 500, true).await.json;
    let live_declined = app.pay_with(&live_pk, &live_sk, "4242424242424242", 300, true).await.json;
    let live_id = live_declined["error"]["payment"]["id"].as_str().unwrap().to_string();

    let objects = |r: &Receiver| -> Vec<String> {
        r.deliveries()
            .iter()
            .map(|d| d.json()["data"]["object"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    eventually("each receiver has its event", || {
        objects(&a_test).len() == 1 && objects(&b_test).len() == 1 && objects(&a_live).len() == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(objects(&a_test), vec![a_paid["id"].as_str().unwrap().to_string()]);
    assert_eq!(objects(&b_test), vec![b_paid["id"].as_str().unwrap().to_string()]);
    assert_eq!(objects(&a_live), vec![live_id]);
    assert_eq!(a_live.deliveries()[0].json()["livemode"], true);
    assert_eq!(a_test.deliveries()[0].json()["livemode"], false);
}

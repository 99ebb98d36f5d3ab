use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with_processor, Recorder};

#[tokio::test]
async fn a_replay_returns_the_same_bytes_and_says_so() {
    let app = spawn_app().await;
    let token = app.token_for("4242424242424242").await;
    let body = json!({"amount": 1500, "currency": "jpy", "token": token});
    let first =
        app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body.clone()), Some("order-1")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let second =
        app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body.clone()), Some("order-1")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.text, first.text, "byte for byte");
    assert_eq!(second.headers["idempotent-replayed"], "true");
    // a decline is stored and replayed too
    let declined_token = app.token_for("4000000000009995").await;
    let body2 = json!({"amount": 1500, "currency": "jpy", "token": declined_token});
    let d1 =
        app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body2.clone()), Some("order-2")).await;
    let d2 = app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body2), Some("order-2")).await;
    assert_eq!((d1.status, d2.status), (StatusCode::PAYMENT_REQUIRED, StatusCode::PAYMENT_REQUIRED));
    assert_eq!(d1.text, d2.text);
    assert_eq!(app.get("/v1/payments").await.json["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_key_reused_with_another_body_or_endpoint_is_a_400() {
    let app = spawn_app().await;
    let p = app.pay("4242424242424242", 1000, true).await.json;
    let pid = p["id"].as_str().unwrap();
    let r1 = app
        .call(
            Method::POST,
            "/v1/refunds",
            Some(&app.sk),
            Some(json!({"payment": pid, "amount": 100})),
            Some("k"),
        )
        .await;
    assert_eq!(r1.status, StatusCode::OK);
    let other_body = app
        .call(
            Method::POST,
            "/v1/refunds",
            Some(&app.sk),
            Some(json!({"payment": pid, "amount": 200})),
            Some("k"),
        )
        .await;
    assert_eq!((other_body.status, other_body.error_type()), (StatusCode::BAD_REQUEST, "idempotency_error"));
    let other_endpoint = app
        .call(Method::POST, &format!("/v1/payments/{pid}/cancel"), Some(&app.sk), Some(json!({})), Some("k"))
        .await;
    assert_eq!(
        (other_endpoint.status, other_endpoint.error_type()),
        (StatusCode::BAD_REQUEST, "idempotency_error")
    );
    assert_eq!(
        app.get(&format!("/v1/payments/{pid}")).await.json["amount_refunded"],
        100,
        "nothing ran twice"
    );
    let long = "k".repeat(256);
    let r = app
        .call(Method::POST, "/v1/refunds", Some(&app.sk), Some(json!({"payment": pid})), Some(&long))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fifty_concurrent_requests_with_one_key_create_exactly_one_payment() {
    let app = Arc::new(spawn_app().await);
    let token = app.token_for("4242424242424242").await;
    let body = json!({"amount": 1500, "currency": "jpy", "token": token});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, body) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body), Some("same-key")).await
        }));
    }
    let mut ok_bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => ok_bodies.push(r.text),
            StatusCode::CONFLICT => assert_eq!(r.error_code(), "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(!ok_bodies.is_empty());
    assert!(ok_bodies.windows(2).all(|w| w[0] == w[1]), "every success is the one payment");
    assert_eq!(app.get("/v1/payments").await.json["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_partial_refunds_never_exceed_the_capture() {
    let app = Arc::new(spawn_app().await);
    let p = app.pay("4242424242424242", 1000, true).await.json;
    let pid = p["id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, pid) = (app.clone(), pid.clone());
        tasks.push(tokio::spawn(async move {
            app.post("/v1/refunds", json!({"payment": pid, "amount": 30})).await
        }));
    }
    let mut succeeded = 0u64;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => succeeded += 1,
            StatusCode::BAD_REQUEST => assert_eq!(r.error_code(), "amount_too_large", "{}", r.text),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(succeeded, 33, "1000 / 30 = 33 refunds fit");
    let after = app.get(&format!("/v1/payments/{pid}")).await.json;
    assert_eq!(after["amount_refunded"].as_u64(), Some(990));
}

#[tokio::test]
async fn a_key_older_than_a_day_runs_anew() {
    let app = spawn_app().await;
    let p = app.pay("4242424242424242", 1000, true).await.json;
    let pid = p["id"].as_str().unwrap();
    let body = json!({"payment": pid, "amount": 100});
    let first = app.call(Method::POST, "/v1/refunds", Some(&app.sk), Some(body.clone()), Some("daily")).await;
    app.clock.advance(24 * 60 * 60 - 1);
    let replay =
        app.call(Method::POST, "/v1/refunds", Some(&app.sk), Some(body.clone()), Some("daily")).await;
    assert_eq!(replay.text, first.text, "still replayed just under 24 hours");
    app.clock.advance(1);
    let fresh = app.call(Method::POST, "/v1/refunds", Some(&app.sk), Some(body), Some("daily")).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_ne!(fresh.json["id"], first.json["id"], "a new refund");
    assert_eq!(app.get(&format!("/v1/payments/{pid}")).await.json["amount_refunded"], 200);
}

#[tokio::test]
async fn failed_authentication_and_bad_parameters_are_not_stored() {
    let app = spawn_app().await;
    let token = app.token_for("4242424242424242").await;
    let good = json!({"amount": 1500, "currency": "jpy", "token": token});
    let unauth =
        app.call(Method::POST, "/v1/payments", Some("sk_test_wrong"), Some(good.clone()), Some("k1")).await;
    assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);
    let bad = app
        .call(
            Method::POST,
            "/v1/payments",
            Some(&app.sk),
            Some(json!({"amount": 0, "currency": "jpy", "token": token})),
            Some("k1"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // the same key then works with the right request: neither failure was stored against it
    let ok = app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(good), Some("k1")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(ok.headers.get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_retried_payment_or_refund_never_asks_the_processor_again() {
    // With a real acquirer, asking again would authorize the card twice: a replay answers from the record
    // before the processor is asked, and a duplicate sent while the first runs is refused before it asks.
    let recorder = Arc::new(Recorder::default());
    let app = Arc::new(spawn_app_with_processor(recorder.clone()).await);
    let token = app.token_for("4242424242424242").await;
    let body = json!({"amount": 1500, "currency": "usd", "token": token});
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(async move {
                app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body), Some("order-9")).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let paid: Vec<_> = answers.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert!(!paid.is_empty(), "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert!(
        answers.iter().all(|r| r.status == StatusCode::OK || r.status == StatusCode::CONFLICT),
        "{:?}",
        answers.iter().map(|r| (r.status, &r.text)).collect::<Vec<_>>()
    );
    assert!(paid.iter().all(|r| r.text == paid[0].text), "one payment, the same bytes");
    let again =
        app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body.clone()), Some("order-9")).await;
    assert_eq!((again.status, &again.text), (StatusCode::OK, &paid[0].text));
    assert_eq!(recorder.seen.lock().unwrap().len(), 1, "the processor authorized once");

    let pid = paid[0].json["id"].as_str().unwrap().to_string();
    let refund = json!({"payment": pid, "amount": 100});
    for _ in 0..3 {
        let r = app
            .call(Method::POST, "/v1/refunds", Some(&app.sk), Some(refund.clone()), Some("refund-9"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    assert_eq!(recorder.refunds.lock().unwrap().len(), 1, "the processor was asked about one refund");
    let p = app.get(&format!("/v1/payments/{pid}")).await.json;
    assert_eq!(p["amount_refunded"], 100);
}

//! What a load balancer and an operator see: health checks, and a graceful stop that finishes what is
//! in flight (requests and deliveries), answers 503 on `/readyz` meanwhile, and gives its claims back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cardtoken_server::domain::payments::processor::TestCards;
use cardtoken_server::store;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{eventually, hanging_up, spawn_app, spawn_configured, test_config, Slow};
use crate::webhooks::Receiver;

#[tokio::test]
async fn healthz_says_alive_and_readyz_names_the_database_once_migrated() {
    let app = spawn_app().await;
    let live = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], app.svc.store.backend());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_answers_503_on_readyz_while_it_drains_and_finishes_the_payment_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path()).await;
    config.drain_secs = 1;
    let slow = Arc::new(Slow::authorizing(Duration::from_millis(1500)));
    let mut app = spawn_configured(config, None, false, slow.clone()).await;
    let token = app.token_for("4242424242424242").await;
    let (base, sk, client) = (app.base.clone(), app.sk.clone(), app.client.clone());
    let paying = tokio::spawn(async move {
        client
            .post(format!("{base}/v1/payments"))
            .bearer_auth(&sk)
            .json(&json!({"amount": 1200, "currency": "usd", "token": token}))
            .send()
            .await
    });
    eventually("the payment to reach the processor", || slow.authorizations.load(Ordering::SeqCst) == 1)
        .await;
    let stopped = app.begin_stop();
    // Draining: not ready, still answering.
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "stopping");
    // The payment in flight finishes with its answer, and is stored.
    let paid = paying.await.unwrap().expect("the payment in flight is answered");
    assert_eq!(paid.status(), StatusCode::OK);
    let paid: serde_json::Value = paid.json().await.unwrap();
    assert_eq!(paid["status"], "succeeded");
    stopped.await.unwrap().unwrap();
    // Stopped: nothing listens any more.
    let after = reqwest::Client::new().get(format!("{}/healthz", app.base)).send().await;
    assert!(after.is_err(), "a stopped server answered: {after:?}");
    let id = paid["id"].as_str().unwrap().to_string();
    let scope = store::Scope::new(app.account.clone(), false);
    let stored = app.read(move |tx| tx.get_payment(&scope, &id)).await;
    assert_eq!(stored.map(|p| p.amount_captured), Some(1200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_lets_the_delivery_in_flight_finish_and_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path()).await;
    config.webhook_retry_secs = vec![1; 10];
    let mut app = spawn_configured(config, None, true, Arc::new(TestCards)).await;
    // The receiver takes 1.5 s to answer each delivery.
    let receiver = Receiver::start_slow(Duration::from_millis(1500)).await;
    let r = app
        .call(Method::POST, "/v1/webhook_endpoints", Some(&app.sk), Some(json!({"url": receiver.url})), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.pay("4242424242424242", 500, true).await;
    eventually("a delivery in flight", || receiver.started() >= 1).await;
    assert!(receiver.deliveries().is_empty(), "still in flight when the stop begins");
    app.begin_stop().await.unwrap().unwrap();
    let delivered = receiver.deliveries();
    assert_eq!(delivered.len(), 1, "the delivery in flight was answered before the stop ended");
    // …and recorded as delivered, so that no instance sends it again.
    let event = delivered[0].header("webhook-id").to_string();
    let scope = store::Scope::new(app.account.clone(), false);
    let deliveries = app.read(move |tx| tx.deliveries_of_event(&scope, &event)).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, "delivered", "{:?}", deliveries[0].status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_hangs_up_mid_payment_leaves_it_whole_and_its_retry_replays_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(tmp.path()).await;
    let slow = Arc::new(Slow::authorizing(Duration::from_millis(800)));
    let app = spawn_configured(config, None, false, slow.clone()).await;
    let token = app.token_for("4242424242424242").await;
    let body = json!({"amount": 700, "currency": "usd", "token": token});
    // The client gives up (and closes its connection) while the processor is still deciding.
    let gone = hanging_up()
        .post(format!("{}/v1/payments", app.base))
        .bearer_auth(&app.sk)
        .header("idempotency-key", "order-77")
        .json(&body)
        .send()
        .await;
    assert!(gone.is_err(), "the client hung up: {gone:?}");
    eventually("the processor to have been asked", || slow.authorizations.load(Ordering::SeqCst) == 1).await;
    // The operation went on without it: its retry, once it has finished, replays it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let retry = app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(body), Some("order-77")).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(retry.headers["idempotent-replayed"], "true", "the first request finished and was stored");
    assert_eq!(slow.authorizations.load(Ordering::SeqCst), 1, "asked once");
    let list = app.get("/v1/payments").await.json;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "one payment");
    assert_eq!(list["data"][0]["amount_captured"], 700);
}

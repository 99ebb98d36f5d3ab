//! One transaction per operation: a payment or a refund cut at any step (an injected failure, as a crash
//! there would) left either nothing (a retry runs it) or all of it with its response (a retry replays
//! it): exactly one effect, the same response, no burned token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Response, TestApp};

const PAYMENT_STEPS: &[&str] = &[
    "payment_after_token_used",
    "payment_after_payment_written",
    "payment_after_events_written",
    "before_response_stored",
    "before_commit",
    "after_commit",
];

const REFUND_STEPS: &[&str] = &[
    "refund_before_change",
    "refund_after_change",
    "before_response_stored",
    "before_commit",
    "after_commit",
];

async fn post_keyed(app: &TestApp, path: &str, body: &Value, key: &str) -> Response {
    app.call(Method::POST, path, Some(&app.sk), Some(body.clone()), Some(key)).await
}

async fn events_about(app: &TestApp, object: &str) -> Vec<String> {
    let events = app.get(&format!("/v1/events?limit=100&object={object}")).await.json;
    events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_payment_cut_at_any_step_leaves_nothing_or_everything_and_its_retry_has_one_effect() {
    let app = spawn_app().await;
    app.post("/v1/webhook_endpoints", json!({"url": "http://127.0.0.1:9/hook"})).await;
    for (n, step) in PAYMENT_STEPS.iter().enumerate() {
        let token = app.token_for("4242424242424242").await;
        let body = json!({"amount": 1000 + n, "currency": "jpy", "token": token});
        let key = format!("order-{step}");
        app.svc.failpoints.arm(step);
        let cut = post_keyed(&app, "/v1/payments", &body, &key).await;
        assert_eq!(cut.status, StatusCode::INTERNAL_SERVER_ERROR, "{step}: {}", cut.text);
        let (_, t, _) = app.get_token(&app.sk, &token).await;
        let listed = |v: &Value| -> Vec<Value> {
            v["data"].as_array().unwrap().iter().filter(|p| p["amount"] == 1000 + n).cloned().collect()
        };
        let before = listed(&app.get("/v1/payments?limit=100").await.json);
        if *step == "after_commit" {
            assert_eq!((before.len(), t["used"].as_bool()), (1, Some(true)), "{step}: committed whole");
        } else {
            assert_eq!(
                (before.len(), t["used"].as_bool()),
                (0, Some(false)),
                "{step}: no trace, token unused"
            );
        }

        let retry = post_keyed(&app, "/v1/payments", &body, &key).await;
        assert_eq!(retry.status, StatusCode::OK, "{step}: {}", retry.text);
        assert_eq!(
            retry.headers.get("idempotent-replayed").is_some(),
            *step == "after_commit",
            "{step}: replayed only what had committed"
        );
        let again = post_keyed(&app, "/v1/payments", &body, &key).await;
        assert_eq!(again.text, retry.text, "{step}: the same response, byte for byte");
        let after = listed(&app.get("/v1/payments?limit=100").await.json);
        assert_eq!(after.len(), 1, "{step}: exactly one payment");
        assert_eq!(after[0]["id"], retry.json["id"]);
        let id = retry.json["id"].as_str().unwrap();
        assert_eq!(events_about(&app, id).await, vec!["payment.succeeded"], "{step}: one event");
        let deliveries = app.get(&format!("/v1/events?object={id}")).await.json["data"][0]["id"].clone();
        let d = app.get(&format!("/v1/events/{}/deliveries", deliveries.as_str().unwrap())).await.json;
        assert_eq!(d["data"].as_array().unwrap().len(), 1, "{step}: one delivery queued");
    }
}

#[tokio::test]
async fn a_refund_cut_at_any_step_leaves_nothing_or_everything_and_its_retry_has_one_effect() {
    let app = spawn_app().await;
    let paid = app.pay("4242424242424242", 10_000, true).await.json;
    let pid = paid["id"].as_str().unwrap();
    let mut refunded = 0;
    for (n, step) in REFUND_STEPS.iter().enumerate() {
        let amount = 100 + n as u64;
        let body = json!({"payment": pid, "amount": amount});
        let key = format!("refund-{step}");
        app.svc.failpoints.arm(step);
        let cut = post_keyed(&app, "/v1/refunds", &body, &key).await;
        assert_eq!(cut.status, StatusCode::INTERNAL_SERVER_ERROR, "{step}: {}", cut.text);
        let now = app.get(&format!("/v1/payments/{pid}")).await.json["amount_refunded"].as_u64().unwrap();
        let committed = *step == "after_commit";
        assert_eq!(now, refunded + if committed { amount } else { 0 }, "{step}");

        let retry = post_keyed(&app, "/v1/refunds", &body, &key).await;
        assert_eq!(retry.status, StatusCode::OK, "{step}: {}", retry.text);
        assert_eq!(retry.headers.get("idempotent-replayed").is_some(), committed, "{step}");
        assert_eq!(post_keyed(&app, "/v1/refunds", &body, &key).await.text, retry.text, "{step}");
        refunded += amount;
        let p = app.get(&format!("/v1/payments/{pid}")).await.json;
        assert_eq!(p["amount_refunded"].as_u64(), Some(refunded), "{step}: exactly one refund");
    }
    let kinds = events_about(&app, pid).await;
    assert_eq!(kinds, vec!["payment.succeeded"]);
    let refunds = app.get("/v1/events?type=refund.succeeded&limit=100").await.json;
    assert_eq!(refunds["data"].as_array().unwrap().len(), REFUND_STEPS.len(), "one event per refund");
}

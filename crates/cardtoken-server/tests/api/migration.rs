//! A data dir made by the 0.1.0 server (before accounts; `tests/fixtures/v0.1.0`) opens with this one:
//! its keys and data land in one account, everything still answers, its idempotency records still
//! replay (their unkeyed digests re-keyed), and its CVCs (under the old scheme) are gone.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{contains, spawn_configured};
use cardtoken_server::config::Config;
use cardtoken_server::domain::payments::processor::TestCards;

const PK: &str = "pk_test_B8TjQIEkAutvB4rRfyIrJPtx";
const SK: &str = "sk_test_v6VlPoEvjmrLAhC0pt8adlMKOBJMFrsH";
const MADE_AT: i64 = 1_796_099_680;

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1.0");
    for file in ["cardtoken.sqlite", "keys.json"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

#[tokio::test]
async fn a_database_made_by_the_previous_release_migrates_into_one_account() {
    if crate::helpers::postgres().is_some() {
        return; // 0.1.0 ran on SQLite only: there is no earlier PostgreSQL database to migrate
    }
    let tmp = tempfile::tempdir().unwrap();
    copy_fixture(tmp.path());
    // The request the fixture's payment was made with, and its unkeyed digest as 0.1.0 stored it.
    let body = r#"{"amount":1500,"currency":"jpy","token":"tok_ncxZYuNBmO1uUV2SQkhyZzAK"}"#;
    let legacy: Vec<u8> = {
        use sha2::Digest;
        sha2::Sha256::digest([b"POST\0/v1/payments\0".as_slice(), body.as_bytes()].concat()).to_vec()
    };
    assert!(
        contains(&std::fs::read(tmp.path().join("cardtoken.sqlite")).unwrap(), &legacy),
        "the fixture has it"
    );

    let app = spawn_configured(
        Config::for_tests(tmp.path()),
        Some((PK.to_string(), SK.to_string())),
        false,
        std::sync::Arc::new(TestCards),
    )
    .await;
    app.clock.advance(MADE_AT + 60 - crate::helpers::NOW);
    // One account holds every key and object.
    let accounts = app.read(|tx| tx.list_accounts()).await;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let keys = app.read(|tx| tx.list_keys(None)).await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.account_id == accounts[0].id && !k.livemode));

    let payments = app.get("/v1/payments?limit=10").await.json;
    let ids: Vec<&str> =
        payments["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec!["pay_GREJmCbNQA3IxCpwgaD348xO", "pay_h36Dt4o20Iiioc6a8mGkI5Ri", "pay_NsKg7bBF6gCTAcDPAAiq0HpI"]
    );
    let first = app.get("/v1/payments/pay_NsKg7bBF6gCTAcDPAAiq0HpI").await.json;
    assert_eq!(
        (first["amount_captured"].as_u64(), first["amount_refunded"].as_u64()),
        (Some(1500), Some(500))
    );
    for id in ["tok_ncxZYuNBmO1uUV2SQkhyZzAK", "tok_M3zpjtvEjBWbBZAfs5tW3w2O"] {
        let (status, token, _) = app.get_token(&app.sk, id).await;
        assert_eq!(status, StatusCode::OK, "{id}");
        assert_eq!(token["livemode"], false);
    }
    let events = app.get("/v1/events?limit=100").await.json;
    assert_eq!(events["data"].as_array().unwrap().len(), 4);
    let endpoints = app.get("/v1/webhook_endpoints").await.json;
    assert_eq!(endpoints["data"][0]["id"], "we_5zWil8DEJCmEVMqihRyI0Q6f");

    // The old request replays with its key, byte for byte the payment it made.
    let replay = app
        .client
        .post(format!("{}/v1/payments", app.base))
        .bearer_auth(SK)
        .header("content-type", "application/json")
        .header("idempotency-key", "old-order-1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replayed: serde_json::Value = replay.json().await.unwrap();
    assert_eq!(replayed["id"], "pay_NsKg7bBF6gCTAcDPAAiq0HpI");
    assert!(!contains(&app.database_bytes().await, &legacy), "the unkeyed digest was re-keyed away");

    // Work goes on: capture the authorization, complete the waiting 3-D Secure, pay with the unused token.
    let captured = app.post("/v1/payments/pay_h36Dt4o20Iiioc6a8mGkI5Ri/capture", json!({})).await;
    assert_eq!(captured.json["status"], "succeeded", "{}", captured.text);
    let unused = app
        .call(
            Method::POST,
            "/v1/payments",
            Some(SK),
            Some(json!({"amount": 700, "currency": "jpy", "token": "tok_M3zpjtvEjBWbBZAfs5tW3w2O"})),
            None,
        )
        .await;
    assert_eq!(unused.status, StatusCode::OK, "{}", unused.text);
    assert_eq!(unused.json["card"]["last4"], "1117");
    let scope = cardtoken_server::store::Scope::new(app.account.clone(), false);
    let records = app.read(move |tx| {
        let mut all = Vec::new();
        for id in
            ["tok_ncxZYuNBmO1uUV2SQkhyZzAK", "tok_RPGuYXV4KLXnVq3XlIxnY3ot", "tok_M3zpjtvEjBWbBZAfs5tW3w2O"]
        {
            all.extend(tx.get_token(&scope, id)?);
        }
        Ok(all)
    });
    // 0.1.0's CVCs (under the data keys) were erased: no one holds them, the tokens pay without.
    assert!(records.await.iter().all(|t| t.cvc_holder.is_none()), "0.1.0's CVCs were erased");
}

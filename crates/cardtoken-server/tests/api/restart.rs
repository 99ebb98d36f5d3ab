use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{card, spawn_app_with_processor, spawn_configured, test_config, Recorder, TestApp};
use cardtoken_server::cli::rotate_master;

async fn pay(app: &TestApp, token: &str) {
    let r = app.post("/v1/payments", json!({"amount": 1000, "currency": "jpy", "token": token})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn tokens_survive_a_restart_and_a_master_key_rotation() {
    let recorder = Arc::new(Recorder::default());
    let app = spawn_app_with_processor(recorder.clone()).await;
    let mut ids = Vec::new();
    for number in ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"] {
        let cvc = if number.starts_with('3') { "1234" } else { "123" };
        let (status, token, _) = app.tokenize(&app.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK);
        ids.push(token["id"].as_str().unwrap().to_string());
    }
    let (dir, keys, tmp) = app.stop().await;

    // Same data dir: the keys and tokens are still there.
    let app = spawn_configured(test_config(&dir).await, Some(keys), false, recorder.clone()).await;
    for id in &ids {
        let (status, token, _) = app.get_token(&app.sk, id).await;
        assert_eq!(status, StatusCode::OK, "{id}");
        assert_eq!(token["id"], id.as_str());
    }
    pay(&app, &ids[0]).await;
    assert_eq!(recorder.last().unwrap().0, "4242");

    // Rotate while the server runs: no downtime, data keys re-wrapped under version 2.
    let (version, rewrapped) = rotate_master(&app.config).await.unwrap();
    assert_eq!((version, rewrapped), (2, ids.len()));
    assert!(app.read(|tx| tx.wrapped_keys()).await.iter().all(|(_, v, _)| *v == 2));
    pay(&app, &ids[1]).await;
    assert_eq!(recorder.last().unwrap().0, "4444", "the running server reads v2");
    let (status, _, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    assert_eq!(status, StatusCode::OK);
    let (dir, keys, _tmp2) = app.stop().await;

    let app = spawn_configured(test_config(&dir).await, Some(keys), false, recorder.clone()).await;
    assert_eq!(app.svc.vault.current_version(), 2);
    for id in &ids {
        let (status, _, _) = app.get_token(&app.sk, id).await;
        assert_eq!(status, StatusCode::OK);
    }
    pay(&app, &ids[2]).await;
    assert_eq!(recorder.last(), Some(("0005".to_string(), Some("1234".to_string()))), "the CVC survived too");
    app.stop().await;
    drop(tmp);
}

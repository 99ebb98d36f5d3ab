use reqwest::StatusCode;

use crate::helpers::{card, spawn_app, spawn_app_in};
use cardtoken_server::cli::rotate_master;
use cardtoken_server::routes::tokens::consume;

#[tokio::test]
async fn tokens_survive_a_restart_and_a_master_key_rotation() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for number in ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"] {
        let cvc = if number.starts_with('3') { "1234" } else { "123" };
        let (status, token, _) = app.tokenize(&app.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK);
        ids.push(token["id"].as_str().unwrap().to_string());
    }
    let (dir, keys, tmp) = app.stop().await;

    // Same data dir: the keys and tokens are still there.
    let app = spawn_app_in(&dir, Some(keys)).await;
    for id in &ids {
        let (status, token, _) = app.get_token(&app.sk, id).await;
        assert_eq!(status, StatusCode::OK, "{id}");
        assert_eq!(token["id"], id.as_str());
    }
    assert_eq!(consume(&app.state, &ids[0]).await.unwrap().number.last4(), "4242");

    // Rotate while the server runs: no downtime, data keys re-wrapped under version 2.
    let (version, rewrapped) = rotate_master(&app.config).unwrap();
    assert_eq!((version, rewrapped), (2, ids.len()));
    assert!(app.state.store.wrapped_keys().unwrap().iter().all(|(_, v, _)| *v == 2));
    assert_eq!(
        consume(&app.state, &ids[1]).await.unwrap().number.last4(),
        "4444",
        "the running server reads v2"
    );
    let (status, _, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    assert_eq!(status, StatusCode::OK);
    let (dir, keys, _tmp2) = app.stop().await;

    let app = spawn_app_in(&dir, Some(keys)).await;
    assert_eq!(app.state.vault.current_version(), 2);
    for id in &ids {
        let (status, _, _) = app.get_token(&app.sk, id).await;
        assert_eq!(status, StatusCode::OK);
    }
    let amex = consume(&app.state, &ids[2]).await.unwrap();
    assert_eq!((amex.number.last4(), amex.cvc.as_ref().map(|c| c.expose())), ("0005", Some("1234")));
    app.stop().await;
    drop(tmp);
}

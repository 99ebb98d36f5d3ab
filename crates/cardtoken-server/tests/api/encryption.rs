//! Card data encrypted to the server's key (`POST /v1/tokens {card_jwe}`), its keys and their rotation.
//! The JWEs here come from the server crate's own `jwe::encrypt`; `tests/js/encryption.test.mjs` makes
//! them with `jose` (npm) and `jwcrypto` (PyPI), and checks the package's own with `jose`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cardtoken_server::cli::rotate_encryption;
use cardtoken_server::clock::Clock;
use cardtoken_server::domain::accounts;
use cardtoken_server::jwe::{self, Jwk};
use p256::PublicKey;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{captured_logs, card, spawn_app, TestApp};

pub async fn jwks(app: &TestApp) -> Vec<Jwk> {
    let body: Value = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(body["keys"].clone()).unwrap()
}

fn public(jwk: &Jwk) -> PublicKey {
    let mut sec1 = vec![4u8];
    sec1.extend(URL_SAFE_NO_PAD.decode(&jwk.x).unwrap());
    sec1.extend(URL_SAFE_NO_PAD.decode(&jwk.y).unwrap());
    PublicKey::from_sec1_bytes(&sec1).unwrap()
}

pub fn encrypt_to(jwk: &Jwk, kid: &str, card: &Value, iat: i64) -> String {
    jwe::encrypt(&public(jwk), kid, card.to_string().as_bytes(), iat).unwrap()
}

pub async fn tokenize_jwe(app: &TestApp, compact: &str) -> (StatusCode, Value) {
    let (status, body, _) =
        app.post_raw(Some(&app.pk), "application/json", json!({"card_jwe": compact}).to_string()).await;
    (status, body)
}

#[tokio::test]
async fn the_jwks_publishes_an_encryption_key_to_any_origin() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.base))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(h("access-control-allow-origin").as_deref(), Some("*"));
    assert!(h("access-control-expose-headers").unwrap_or_default().to_lowercase().contains("date"));
    assert_eq!(h("cache-control").as_deref(), Some("public, max-age=300"));
    let body: Value = resp.json().await.unwrap();
    let key = &body["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["use"], &key["alg"]),
        (&json!("EC"), &json!("P-256"), &json!("enc"), &json!("ECDH-ES"))
    );
    assert!(key["kid"].as_str().unwrap().starts_with("ek_"));
    assert!(key.get("d").is_none(), "never the private key");
    public(&serde_json::from_value(key.clone()).unwrap()); // a point on the curve
}

#[tokio::test]
async fn an_encrypted_card_makes_the_same_token_as_a_plain_one_and_is_never_logged() {
    let app = spawn_app().await;
    let key = jwks(&app).await.remove(0);
    let number = "6011000990139424";
    let plain = app.tokenize(&app.pk, card(number, "987")).await.1;
    let compact = encrypt_to(&key, &key.kid, &card(number, "987"), app.clock.now());
    let (status, token) = tokenize_jwe(&app, &compact).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["card"]["fingerprint"], plain["card"]["fingerprint"]);
    assert_eq!((&token["card"]["last4"], &token["card"]["brand"]), (&json!("9424"), &json!("discover")));
    // A card error inside the JWE names its field, as a plain one does.
    let expired = json!({"number": number, "exp_month": 1, "exp_year": 2020, "cvc": "987"});
    let (status, err) = tokenize_jwe(&app, &encrypt_to(&key, &key.kid, &expired, app.clock.now())).await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("exp_month")),
        "{err}"
    );
    assert!(!captured_logs().contains(number));
    // Operators see how cards arrive.
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("cardtoken_tokens_created_total{mode=\"test\",sent=\"encrypted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("cardtoken_tokens_created_total{mode=\"test\",sent=\"clear\"} 1"), "{metrics}");
}

#[tokio::test]
async fn every_jwe_that_does_not_open_gets_the_same_400_naming_card_jwe() {
    let app = spawn_app().await;
    let key = jwks(&app).await.remove(0);
    let now = app.clock.now();
    let good = card("4242424242424242", "123");
    let fresh = encrypt_to(&key, &key.kid, &good, now);
    let parts: Vec<&str> = fresh.split('.').collect();
    let with_header = |edit: &dyn Fn(&mut Value)| {
        let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        edit(&mut header);
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        p[0] = URL_SAFE_NO_PAD.encode(header.to_string());
        p.join(".")
    };
    let tampered = {
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        let mut ct = URL_SAFE_NO_PAD.decode(&p[3]).unwrap();
        ct[0] ^= 1;
        p[3] = URL_SAFE_NO_PAD.encode(ct);
        p.join(".")
    };
    let other = jwe::EncryptionKey::generate(now).unwrap().public_jwk();
    let cases: Vec<(&str, String)> = vec![
        ("an unknown kid", encrypt_to(&key, "ek_unknown", &good, now)),
        ("another key under our kid", encrypt_to(&other, &key.kid, &good, now)),
        ("another alg", with_header(&|h| h["alg"] = json!("ECDH-ES+A256KW"))),
        ("another enc", with_header(&|h| h["enc"] = json!("A128GCM"))),
        ("a compressed plaintext", with_header(&|h| h["zip"] = json!("DEF"))),
        ("tampered ciphertext", tampered),
        ("a stale iat", encrypt_to(&key, &key.kid, &good, now - 301)),
        ("an iat from the future", encrypt_to(&key, &key.kid, &good, now + 301)),
        ("a plaintext that is no card", encrypt_to(&key, &key.kid, &json!({"card": good}), now)),
        ("not a JWE", "eyJhbGciOiJub25lIn0.e30.".to_string()),
    ];
    let mut messages = std::collections::BTreeSet::new();
    for (what, compact) in cases {
        let (status, err) = tokenize_jwe(&app, &compact).await;
        assert_eq!(
            (status, err["error"]["type"].as_str(), err["error"]["param"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request_error"), Some("card_jwe")),
            "{what}: {err}"
        );
        messages.insert(err["error"]["message"].as_str().unwrap().to_string());
    }
    assert_eq!(messages.len(), 1, "one message for every failure: {messages:?}");
    let (status, _) = tokenize_jwe(&app, &fresh).await;
    assert_eq!(status, StatusCode::OK, "the unaltered JWE");

    let both = json!({"card": good, "card_jwe": fresh}).to_string();
    let (status, err, _) = app.post_raw(Some(&app.pk), "application/json", both).await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("card_jwe")),
        "{err}"
    );
    let (status, err, _) = app.post_raw(Some(&app.pk), "application/json", "{}").await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("parameter_missing"), Some("card")),
        "{err}"
    );
}

#[tokio::test]
async fn a_rotated_key_keeps_decrypting_for_its_grace_period_then_is_refused() {
    let app = spawn_app().await;
    let first = jwks(&app).await.remove(0);
    let fresh = |key: &Jwk| encrypt_to(key, &key.kid, &card("4242424242424242", "123"), app.clock.now());
    assert_eq!(tokenize_jwe(&app, &fresh(&first)).await.0, StatusCode::OK, "under key 1");

    let (kid, retiring) = rotate_encryption(&app.config, app.clock.now(), 3600).unwrap();
    assert_eq!(retiring, vec![first.kid.clone()]);
    // The running server picks the new key up by itself (it re-reads the keys file every 2 s).
    let mut keys = Vec::new();
    for _ in 0..100 {
        keys = jwks(&app).await;
        if keys[0].kid == kid {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(
        kids,
        vec![kid.as_str(), first.kid.as_str()],
        "the new key first, the old one while it retires"
    );
    let second = keys[0].clone();
    assert_eq!(tokenize_jwe(&app, &fresh(&second)).await.0, StatusCode::OK, "under key 2");
    app.clock.advance(3599);
    assert_eq!(tokenize_jwe(&app, &fresh(&first)).await.0, StatusCode::OK, "key 1 inside its grace period");
    app.clock.advance(1);
    let (status, err) = tokenize_jwe(&app, &fresh(&first)).await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("card_jwe")),
        "key 1 after it"
    );
    assert_eq!(tokenize_jwe(&app, &fresh(&second)).await.0, StatusCode::OK, "key 2 still");
    let kids: Vec<String> = jwks(&app).await.into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, vec![kid.clone()], "the retired key is no longer published");

    // The next rotation drops the retired key from the keys file for good.
    let (third, retiring) = rotate_encryption(&app.config, app.clock.now(), 0).unwrap();
    assert_eq!(retiring, vec![kid]);
    let file = std::fs::read_to_string(app.config.keys_path()).unwrap();
    assert!(!file.contains(&first.kid) && file.contains(&third), "{}", file.len());
}

#[tokio::test]
async fn an_account_that_requires_encryption_refuses_a_card_in_clear_and_takes_it_encrypted() {
    let app = spawn_app().await;
    let other = app.new_account("Another shop").await;
    let other_pk = cardtoken_server::domain::accounts::reveal(&other.test.publishable).to_string();
    accounts::set_require_encryption(&app.svc.store, &app.account, true).await.unwrap();
    let plain = card("4242424242424242", "123");
    let (status, err, _) =
        app.post_raw(Some(&app.pk), "application/json", json!({"card": plain}).to_string()).await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("encryption_required"), Some("card")),
        "{err}"
    );
    assert!(err["error"]["message"].as_str().unwrap().contains("card_jwe"));
    let key = jwks(&app).await.remove(0);
    let (status, _) = tokenize_jwe(&app, &encrypt_to(&key, &key.kid, &plain, app.clock.now())).await;
    assert_eq!(status, StatusCode::OK, "encrypted, it is taken");
    assert_eq!(
        app.tokenize(&other_pk, plain.clone()).await.0,
        StatusCode::OK,
        "another account is not affected"
    );
    // Off again: a running server applies it within the key cache's 2 s (here, at once).
    accounts::set_require_encryption(&app.svc.store, &app.account, false).await.unwrap();
    app.svc.keys.clear();
    assert_eq!(app.tokenize(&app.pk, plain).await.0, StatusCode::OK);
    let missing = accounts::set_require_encryption(&app.svc.store, "acct_nope", true).await.unwrap_err();
    assert!(matches!(missing, cardtoken_server::domain::Error::NotFound { .. }), "{missing:?}");
}

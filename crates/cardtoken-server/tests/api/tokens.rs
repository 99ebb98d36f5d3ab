use reqwest::StatusCode;
use serde_json::json;

use std::sync::Arc;

use crate::helpers::{captured_logs, card, spawn_app, spawn_app_with_processor, Recorder, NOW};
use cardtoken_server::domain::{accounts, maintenance};

#[tokio::test]
async fn a_publishable_key_creates_a_token_that_shows_the_card_but_never_its_number() {
    let app = spawn_app().await;
    let (status, token, text) = app.tokenize(&app.pk, card("4242 4242 4242 4242", "123")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(token["id"].as_str().unwrap().starts_with("tok_"));
    assert_eq!(token["object"], "token");
    assert_eq!(token["card"]["brand"], "visa");
    assert_eq!(token["card"]["last4"], "4242");
    assert_eq!(
        (token["card"]["exp_month"].as_u64(), token["card"]["exp_year"].as_u64()),
        (Some(12), Some(2034))
    );
    assert_eq!(token["created"], crate::helpers::NOW);
    assert_eq!((token["livemode"].as_bool(), token["used"].as_bool()), (Some(false), Some(false)));
    assert!(!text.contains("4242424242424242") && !text.contains("\"123\""), "{text}");

    let (status, again, text) = app.get_token(&app.sk, token["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, token);
    assert!(!text.contains("4242424242424242"));
    // The same card tokenized again has the same fingerprint; another card does not.
    let (_, twin, _) = app.tokenize(&app.pk, card("4242-4242-4242-4242", "999")).await;
    assert_eq!(twin["card"]["fingerprint"], token["card"]["fingerprint"]);
    let (_, other, _) = app.tokenize(&app.pk, card("5555555555554444", "999")).await;
    assert_ne!(other["card"]["fingerprint"], token["card"]["fingerprint"]);
}

#[tokio::test]
async fn keys_are_checked_missing_or_unknown_is_401_and_the_wrong_kind_is_403() {
    let app = spawn_app().await;
    let body = json!({ "card": card("4242424242424242", "123") }).to_string();
    let (status, err, _) = app.post_raw(None, "application/json", body.clone()).await;
    assert_eq!(
        (status, err["error"]["type"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("authentication_error"))
    );
    assert_eq!(err["error"]["code"], "missing_api_key");
    let (status, err, _) = app.post_raw(Some("pk_test_doesnotexist"), "application/json", body.clone()).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")));
    let (status, _, _) = app.post_raw(Some("sk_test_doesnotexist"), "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // a secret key on the browser endpoint, and a publishable key on a secret one: 403
    let (status, err, _) = app.post_raw(Some(&app.sk), "application/json", body.clone()).await;
    assert_eq!((status, err["error"]["type"].as_str()), (StatusCode::FORBIDDEN, Some("permission_error")));
    let (_, token, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    let id = token["id"].as_str().unwrap();
    let (status, err, _) = app.get_token(&app.pk, id).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("secret_key_required")));
    let (status, _, _) = app.get_token(&app.sk, id).await;
    assert_eq!(status, StatusCode::OK);
    // a revoked key is unknown
    let keys = app.read(|tx| tx.list_keys(None)).await;
    let pk_id = keys.iter().find(|k| k.publishable.as_deref() == Some(app.pk.as_str())).unwrap().id.clone();
    accounts::revoke(&app.svc, &pk_id).await.unwrap();
    let (status, _, _) = app.post_raw(Some(&app.pk), "application/json", body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_card_data_is_a_402_card_error_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (card("4242424242424241", "123"), "number", "incorrect_number"),
        (card("4242 4242", "123"), "number", "invalid_number"),
        (card("0000000000000000", "123"), "number", "invalid_number"),
        (card("4242424242424242x", "123"), "number", "invalid_number"),
        (
            json!({"number": "4242424242424242", "exp_month": 13, "exp_year": 2034, "cvc": "123"}),
            "exp_month",
            "invalid_expiry_month",
        ),
        (
            json!({"number": "4242424242424242", "exp_month": 12, "exp_year": 20345, "cvc": "123"}),
            "exp_year",
            "invalid_expiry_year",
        ),
        (
            json!({"number": "4242424242424242", "exp_month": 10, "exp_year": 2026, "cvc": "123"}),
            "exp_month",
            "expired_card",
        ),
        (card("378282246310005", "123"), "cvc", "invalid_cvc"),
        (card("4242424242424242", "12a"), "cvc", "invalid_cvc"),
    ];
    for (c, param, code) in cases {
        let (status, err, text) = app.tokenize(&app.pk, c.clone()).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{c} {text}");
        assert_eq!(err["error"]["type"], "card_error");
        assert_eq!(
            (err["error"]["param"].as_str(), err["error"]["code"].as_str()),
            (Some(param), Some(code)),
            "{c}"
        );
        assert!(!text.contains(c["number"].as_str().unwrap()), "{text}");
    }
    let (status, err, _) = app
        .tokenize(
            &app.pk,
            json!({"number": "4242424242424242", "exp_month": 12,
        "exp_year": 2034, "cvc": "123", "name": "x".repeat(201)}),
        )
        .await;
    assert_eq!((status, err["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("name")));
}

#[tokio::test]
async fn malformed_requests_are_400_with_the_parameter_and_oversized_ones_413() {
    let app = spawn_app().await;
    let (status, err, _) = app.post_raw(Some(&app.pk), "application/json", "{\"card\": ").await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    assert_eq!(err["error"]["type"], "invalid_request_error");
    let (status, err, _) = app.post_raw(Some(&app.pk), "text/plain", "{}").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_content_type"))
    );
    let unknown = json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123", "pin": "1234"}});
    let (status, err, _) = app.post_raw(Some(&app.pk), "application/json", unknown.to_string()).await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("parameter_unknown"), Some("pin"))
    );
    let unknown_top = json!({"card": card("4242424242424242", "123"), "extra": 1});
    let (_, err, _) = app.post_raw(Some(&app.pk), "application/json", unknown_top.to_string()).await;
    assert_eq!(err["error"]["param"], "extra");
    let missing = json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034}});
    let (status, err, _) = app.post_raw(Some(&app.pk), "application/json", missing.to_string()).await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("parameter_missing"), Some("cvc"))
    );
    let wrong_type = json!({"card": {"number": "4242424242424242", "exp_month": "4242424242424242", "exp_year": 2034, "cvc": "1"}});
    let (status, err, text) = app.post_raw(Some(&app.pk), "application/json", wrong_type.to_string()).await;
    assert_eq!((status, err["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("exp_month")));
    assert!(!text.contains("4242"), "{text}");
    let big = format!("{{\"card\":{{\"name\":\"{}\"}}}}", "x".repeat(1024 * 1024 + 1));
    let (status, err, _) = app.post_raw(Some(&app.pk), "application/json", big).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("request_too_large"))
    );
    let resp = app.client.get(format!("{}/v1/nothing", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, _, _) = app.get_token(&app.sk, "tok_missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_tokenization_endpoint_is_open_to_browsers_of_any_origin() {
    let app = spawn_app().await;
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/tokens", app.base))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let allowed = resp.headers()["access-control-allow-headers"].to_str().unwrap().to_string();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    let post = app
        .client
        .post(format!("{}/v1/tokens", app.base))
        .header("origin", "https://shop.example")
        .bearer_auth(&app.pk)
        .json(&json!({"card": card("4242424242424242", "123")}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.headers()["access-control-allow-origin"], "*");
    // the secret-key endpoint is not open to browsers
    let get = app
        .client
        .get(format!("{}/v1/tokens/tok_x", app.base))
        .header("origin", "https://shop.example")
        .bearer_auth(&app.sk)
        .send()
        .await
        .unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

/// The first tokenizations of a CVC epoch race to make its key, each with `CREATE … IF NOT EXISTS`;
/// PostgreSQL's notice that the table was already there is expected and not worth a log line.
#[tokio::test]
async fn expected_database_notices_are_not_logged() {
    let app = Arc::new(spawn_app().await);
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.tokenize(&app.pk, card("4242424242424242", "123")).await })
        })
        .collect();
    for racer in racers {
        let (status, _, text) = racer.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let logs = captured_logs();
    let notices: Vec<&str> = logs.lines().filter(|l| l.contains("NOTICE")).collect();
    assert!(notices.is_empty(), "{}", notices.join("\n"));
}

async fn pay_with_token(app: &crate::helpers::TestApp, token: &str) -> crate::helpers::Response {
    app.post("/v1/payments", serde_json::json!({"amount": 1000, "currency": "jpy", "token": token})).await
}

#[tokio::test]
async fn tokens_are_single_use() {
    let recorder = Arc::new(Recorder::default());
    let app = spawn_app_with_processor(recorder.clone()).await;
    let (_, token, _) = app.tokenize(&app.pk, card("5555 5555 5555 4444", "321")).await;
    let id = token["id"].as_str().unwrap();
    let paid = pay_with_token(&app, id).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
    assert_eq!(
        recorder.last(),
        Some(("4444".to_string(), Some("321".to_string()))),
        "the processor got the CVC"
    );
    let again = pay_with_token(&app, id).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::BAD_REQUEST, "token_already_used"));
    let (_, after, _) = app.get_token(&app.sk, id).await;
    assert_eq!(after["used"], true);
    let record = app
        .read({
            let (scope, id) =
                (cardtoken_server::store::Scope::new(app.account.clone(), false), id.to_string());
            move |tx| tx.get_token(&scope, &id)
        })
        .await
        .unwrap();
    assert!(record.used);
    assert!(app.svc.cvcs.get(id, &app.account, false, NOW).is_none(), "using a token drops its CVC");
    let missing = pay_with_token(&app, "tok_nothere").await;
    assert_eq!(missing.error_code(), "resource_missing");
}

#[tokio::test]
async fn tokens_expire_after_fifteen_minutes_and_lose_their_cvc() {
    let recorder = Arc::new(Recorder::default());
    let app = spawn_app_with_processor(recorder.clone()).await;
    let (_, early, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    let (_, late, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    app.clock.advance(15 * 60 - 1);
    let paid = pay_with_token(&app, early["id"].as_str().unwrap()).await;
    assert_eq!(paid.status, StatusCode::OK, "still valid one second before expiry");
    assert!(recorder.last().unwrap().1.is_some(), "with its CVC");
    app.clock.advance(1);
    let err = pay_with_token(&app, late["id"].as_str().unwrap()).await;
    assert_eq!((err.status, err.error_code()), (StatusCode::BAD_REQUEST, "token_expired"));
    let swept = maintenance::sweep(&app.svc).await.unwrap();
    assert_eq!(swept.cvcs_erased, 1, "the expired token's CVC is erased");
    let scope = cardtoken_server::store::Scope::new(app.account.clone(), false);
    let id = late["id"].as_str().unwrap().to_string();
    let record = app.read(move |tx| tx.get_token(&scope, &id)).await.unwrap();
    assert!(!record.used);
    assert!(app.svc.cvcs.is_empty(), "no CVC is held any more");
}

#[tokio::test]
async fn an_unused_tokens_card_is_deleted_after_the_retention_and_idempotency_records_after_a_day() {
    let app = spawn_app().await;
    let scope = cardtoken_server::store::Scope::new(app.account.clone(), false);
    let (_, unused, _) = app.tokenize(&app.pk, card("5555555555554444", "123")).await;
    let id = unused["id"].as_str().unwrap().to_string();
    let token = app.token_for("4242424242424242").await;
    let body = json!({"amount": 800, "currency": "jpy", "token": token});
    let paid =
        app.call(reqwest::Method::POST, "/v1/payments", Some(&app.sk), Some(body.clone()), Some("k-1")).await;
    assert_eq!(paid.status, StatusCode::OK);
    let owner = format!("{}:test", app.account);
    let app = &app;
    let record = |id: String| {
        let scope = scope.clone();
        async move { app.read(move |tx| tx.get_token(&scope, &id)).await.unwrap() }
    };
    let idem = || {
        let owner = owner.clone();
        async move { app.read(move |tx| tx.get_idempotency(&owner, "k-1")).await }
    };

    // Expired, but within the retention (a day after expiry by default): the card is still there.
    app.clock.advance(15 * 60 + 24 * 60 * 60 - 10);
    maintenance::sweep(&app.svc).await.unwrap();
    assert!(record(id.clone()).await.card_ct.is_some(), "kept for the retention period");
    assert!(idem().await.is_none(), "the idempotency record is gone after 24 hours");
    // Past it: the encrypted card and its data key are deleted; what the token shows stays.
    app.clock.advance(20);
    let swept = maintenance::sweep(&app.svc).await.unwrap();
    assert_eq!(swept.card_data_purged, 1, "{swept:?}");
    let t = record(id.clone()).await;
    assert!(t.card_ct.is_none() && t.wrapped_key.is_none(), "the card is deleted");
    assert_eq!((t.last4.as_str(), t.brand.as_str()), ("4444", "mastercard"));
    let shown = app.get(&format!("/v1/tokens/{id}")).await;
    assert_eq!(shown.json["card"]["last4"], "4444", "{}", shown.text);
    // The used token keeps its card: a payment's refunds and disputes need it.
    let paid_token = record(token).await;
    assert!(paid_token.card_ct.is_some());
}

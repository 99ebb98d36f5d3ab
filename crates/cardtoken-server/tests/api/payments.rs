use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{card, spawn_app, spawn_app_with, TestApp};

/// Completes a payment's 3-D Secure challenge through the challenge page's form.
async fn challenge(app: &TestApp, payment: &serde_json::Value, result: &str) -> String {
    let url = payment["next_action"]["url"].as_str().unwrap();
    assert_eq!(payment["next_action"]["type"], "three_d_secure");
    let page = app.client.get(url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"pass\"") && page.contains("value=\"fail\""), "{page}");
    let id = payment["id"].as_str().unwrap();
    let secret = payment["client_secret"].as_str().unwrap();
    let done = app
        .client
        .post(format!("{}/3ds/{id}", app.base))
        .form(&[("client_secret", secret), ("result", result), ("origin", "https://shop.example")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("three_d_secure_complete"), "{done}");
    app.get(&format!("/v1/payments/{id}")).await.json["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_test_card_gives_its_outcome() {
    let app = spawn_app().await;
    for number in [
        "4242424242424242",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "6011111111111117",
        "3056930009020004",
        "3566002020360505",
        "6200000000000005",
        "4000000000000259",
        "4000000000005126",
    ] {
        let r = app.pay(number, 1500, true).await;
        assert_eq!(r.status, StatusCode::OK, "{number}: {}", r.text);
        assert_eq!(r.json["status"], "succeeded", "{number}");
        assert_eq!(
            (r.json["amount_captured"].as_u64(), r.json["amount_capturable"].as_u64()),
            (Some(1500), Some(0))
        );
        assert_eq!(r.json["card"]["last4"], &number[number.len() - 4..]);
        assert!(!r.text.contains(number), "a payment never shows the number");
    }
    let declines = [
        ("4000000000000002", "card_declined", Some("generic_decline")),
        ("4000000000009995", "card_declined", Some("insufficient_funds")),
        ("4000000000009987", "card_declined", Some("lost_card")),
        ("4000000000009979", "card_declined", Some("stolen_card")),
        ("4000000000006975", "card_declined", Some("card_velocity_exceeded")),
        ("4100000000000019", "card_declined", Some("fraudulent")),
        ("4000000000000069", "expired_card", Some("expired_card")),
        ("4000000000000127", "incorrect_cvc", Some("incorrect_cvc")),
        ("4000000000000119", "processing_error", Some("processing_error")),
    ];
    for (number, code, decline_code) in declines {
        let r = app.pay(number, 1500, true).await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{number}: {}", r.text);
        assert_eq!((r.error_type(), r.error_code()), ("card_error", code), "{number}");
        assert_eq!(r.json["error"]["decline_code"].as_str(), decline_code, "{number}");
        let payment = &r.json["error"]["payment"];
        assert_eq!(payment["status"], "failed", "{number}");
        assert_eq!(payment["last_error"]["code"], code);
        // the failed payment is on record
        assert_eq!(
            app.get(&format!("/v1/payments/{}", payment["id"].as_str().unwrap())).await.json["status"],
            "failed"
        );
    }
    // 3-D Secure: pass → authorized (and captured), fail → authentication_failed
    for (number, result, expected) in [
        ("4000002500003155", "pass", "succeeded"),
        ("4000000000003220", "pass", "succeeded"),
        ("4000002500003155", "fail", "failed"),
        ("4000008400001629", "pass", "failed"),
    ] {
        let r = app.pay(number, 1500, true).await;
        assert_eq!(
            (r.status, r.json["status"].as_str()),
            (StatusCode::OK, Some("requires_action")),
            "{number}"
        );
        assert_eq!(challenge(&app, &r.json, result).await, expected, "{number} {result}");
        let after = app.get(&format!("/v1/payments/{}", r.json["id"].as_str().unwrap())).await.json;
        assert!(after["next_action"].is_null());
        let expected_error = match (number, result) {
            (_, "fail") => Some("authentication_failed"),
            ("4000008400001629", _) => Some("card_declined"),
            _ => None,
        };
        assert_eq!(after["last_error"]["code"].as_str(), expected_error, "{number} {result}");
    }
    // the Luhn-failing card is refused at tokenization
    let (status, err, _) = app.tokenize(&app.pk, card("4242424242424241", "123")).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("incorrect_number"))
    );
}

#[tokio::test]
async fn a_manual_capture_can_be_partial_and_releases_the_rest() {
    let app = spawn_app().await;
    let r = app.pay("4242424242424242", 1000, false).await;
    assert_eq!(r.json["status"], "requires_capture");
    assert_eq!(
        (r.json["amount_capturable"].as_u64(), r.json["capture_method"].as_str()),
        (Some(1000), Some("manual"))
    );
    let id = r.json["id"].as_str().unwrap();
    let too_much = app.post(&format!("/v1/payments/{id}/capture"), json!({"amount": 1001})).await;
    assert_eq!((too_much.status, too_much.error_code()), (StatusCode::BAD_REQUEST, "amount_too_large"));
    let zero = app.post(&format!("/v1/payments/{id}/capture"), json!({"amount": 0})).await;
    assert_eq!(zero.error_code(), "amount_too_small");
    let captured = app.post(&format!("/v1/payments/{id}/capture"), json!({"amount": 600})).await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.text);
    assert_eq!(captured.json["status"], "succeeded");
    assert_eq!(
        (captured.json["amount_captured"].as_u64(), captured.json["amount_capturable"].as_u64()),
        (Some(600), Some(0))
    );
    // The whole authorization, with no body at all:
    let other = app.pay("5555555555554444", 700, false).await;
    let oid = other.json["id"].as_str().unwrap();
    let full =
        app.call(Method::POST, &format!("/v1/payments/{oid}/capture"), Some(&app.sk), None, None).await;
    assert_eq!(
        (full.status, full.json["amount_captured"].as_u64()),
        (StatusCode::OK, Some(700)),
        "{}",
        full.text
    );
}

#[tokio::test]
async fn every_illegal_transition_is_a_400_naming_the_current_status() {
    let app = spawn_app().await;
    let succeeded = app.pay("4242424242424242", 1000, true).await.json;
    let authorized = app.pay("4242424242424242", 1000, false).await.json;
    let action = app.pay("4000002500003155", 1000, false).await.json;
    let failed = app.pay("4000000000000002", 1000, true).await.json["error"]["payment"].clone();
    let canceled = app.pay("4242424242424242", 1000, false).await.json;
    let cid = canceled["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/v1/payments/{cid}/cancel"), json!({})).await.json["status"], "canceled");

    let id = |p: &serde_json::Value| p["id"].as_str().unwrap().to_string();
    let cases = [
        (id(&succeeded), "capture", "succeeded"),
        (id(&succeeded), "cancel", "succeeded"),
        (id(&action), "capture", "requires_action"),
        (id(&failed), "capture", "failed"),
        (id(&failed), "cancel", "failed"),
        (id(&failed), "refund", "failed"),
        (id(&canceled), "capture", "canceled"),
        (id(&canceled), "cancel", "canceled"),
        (id(&canceled), "refund", "canceled"),
        (id(&authorized), "refund", "requires_capture"),
        (id(&action), "refund", "requires_action"),
    ];
    for (pid, action_name, status) in cases {
        let r = match action_name {
            "refund" => app.post("/v1/refunds", json!({"payment": pid})).await,
            verb => app.post(&format!("/v1/payments/{pid}/{verb}"), json!({})).await,
        };
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{action_name} on {status}: {}", r.text);
        assert_eq!((r.error_type(), r.error_code()), ("invalid_request_error", "payment_unexpected_state"));
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{status}`")), "{message}");
        assert_eq!(r.json["error"]["payment"]["status"], status);
    }
    // the legal ones: cancel an authorization, and a payment waiting for 3-D Secure
    let aid = id(&authorized);
    let r = app
        .post(&format!("/v1/payments/{aid}/cancel"), json!({"cancellation_reason": "requested_by_customer"}))
        .await;
    assert_eq!(
        (r.json["status"].as_str(), r.json["amount_capturable"].as_u64()),
        (Some("canceled"), Some(0))
    );
    let r = app
        .call(Method::POST, &format!("/v1/payments/{}/cancel", id(&action)), Some(&app.sk), None, None)
        .await;
    assert_eq!(r.json["status"], "canceled", "{}", r.text);
    assert!(r.json["next_action"].is_null());
}

#[tokio::test]
async fn refunds_add_up_to_at_most_what_was_captured() {
    let app = spawn_app().await;
    let p = app.pay("4242424242424242", 1000, true).await.json;
    let pid = p["id"].as_str().unwrap();
    let mut refunded = 0;
    for amount in [300, 300, 250] {
        let r = app.post("/v1/refunds", json!({"payment": pid, "amount": amount})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.json["id"].as_str().unwrap().starts_with("re_"));
        assert_eq!((r.json["amount"].as_u64(), r.json["status"].as_str()), (Some(amount), Some("succeeded")));
        refunded += amount;
    }
    let over = app.post("/v1/refunds", json!({"payment": pid, "amount": 151})).await;
    assert_eq!((over.status, over.error_code()), (StatusCode::BAD_REQUEST, "amount_too_large"));
    assert!(over.json["error"]["message"].as_str().unwrap().contains("150"));
    let rest = app.post("/v1/refunds", json!({"payment": pid})).await;
    assert_eq!(rest.json["amount"].as_u64(), Some(1000 - refunded));
    let after = app.get(&format!("/v1/payments/{pid}")).await.json;
    assert_eq!(
        (after["status"].as_str(), after["amount_refunded"].as_u64()),
        (Some("succeeded"), Some(1000))
    );
    let again = app.post("/v1/refunds", json!({"payment": pid})).await;
    assert_eq!(again.error_code(), "charge_already_refunded");
    // a partial capture refunds at most what was captured
    let manual = app.pay("4242424242424242", 1000, false).await.json;
    let mid = manual["id"].as_str().unwrap();
    app.post(&format!("/v1/payments/{mid}/capture"), json!({"amount": 400})).await;
    let r = app.post("/v1/refunds", json!({"payment": mid, "amount": 401})).await;
    assert_eq!(r.error_code(), "amount_too_large");
    let missing = app.post("/v1/refunds", json!({"payment": "pay_nope"})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn payments_list_newest_first_in_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for amount in 1..=5 {
        ids.push(
            app.pay("4242424242424242", amount * 100, true).await.json["id"].as_str().unwrap().to_string(),
        );
    }
    ids.reverse();
    let first = app.get("/v1/payments?limit=2").await.json;
    assert_eq!(first["object"], "list");
    let page = |v: &serde_json::Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!((page(&first), first["has_more"].as_bool()), (ids[0..2].to_vec(), Some(true)));
    let second = app.get(&format!("/v1/payments?limit=2&starting_after={}", ids[1])).await.json;
    assert_eq!((page(&second), second["has_more"].as_bool()), (ids[2..4].to_vec(), Some(true)));
    let last = app.get(&format!("/v1/payments?limit=2&starting_after={}", ids[3])).await.json;
    assert_eq!((page(&last), last["has_more"].as_bool()), (ids[4..].to_vec(), Some(false)));
    assert_eq!(page(&app.get("/v1/payments").await.json), ids, "default limit 10 holds all five");
    for bad in ["limit=0", "limit=101", "limit=x", "starting_after=tok_1", "color=red"] {
        let r = app.get(&format!("/v1/payments?{bad}")).await;
        assert_eq!((r.status, r.error_type()), (StatusCode::BAD_REQUEST, "invalid_request_error"), "{bad}");
    }
}

#[tokio::test]
async fn keys_decide_who_may_do_what_with_payments() {
    let app = spawn_app().await;
    let token = app.token_for("4242424242424242").await;
    let body = json!({"amount": 1500, "currency": "jpy", "token": token});
    let none = app.call(Method::POST, "/v1/payments", None, Some(body.clone()), None).await;
    assert_eq!((none.status, none.error_type()), (StatusCode::UNAUTHORIZED, "authentication_error"));
    let pk = app.call(Method::POST, "/v1/payments", Some(&app.pk), Some(body.clone()), None).await;
    assert_eq!((pk.status, pk.error_type()), (StatusCode::FORBIDDEN, "permission_error"));
    let p = app.post("/v1/payments", body).await.json;
    let (id, secret) = (p["id"].as_str().unwrap(), p["client_secret"].as_str().unwrap());
    // a publishable key reads a payment only with its client secret
    let with = app
        .call(Method::GET, &format!("/v1/payments/{id}?client_secret={secret}"), Some(&app.pk), None, None)
        .await;
    assert_eq!((with.status, with.json["id"].as_str()), (StatusCode::OK, Some(id)));
    let without = app.call(Method::GET, &format!("/v1/payments/{id}"), Some(&app.pk), None, None).await;
    assert_eq!((without.status, without.error_code()), (StatusCode::FORBIDDEN, "client_secret_required"));
    let wrong = app
        .call(
            Method::GET,
            &format!("/v1/payments/{id}?client_secret={id}_secret_x"),
            Some(&app.pk),
            None,
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    for path in [format!("/v1/payments/{id}/capture"), format!("/v1/payments/{id}/cancel")] {
        let r = app.call(Method::POST, &path, Some(&app.pk), Some(json!({})), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = app.call(Method::POST, "/v1/refunds", Some(&app.pk), Some(json!({"payment": id})), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.call(Method::GET, "/v1/payments", Some(&app.pk), None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // the challenge page needs the client secret too
    let page = app.client.get(format!("{}/3ds/{id}?client_secret=nope", app.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn payment_parameters_are_checked_before_anything_happens() {
    let app = spawn_app().await;
    let token = app.token_for("4242424242424242").await;
    let cases = [
        (json!({"amount": 1500, "currency": "xyz", "token": token}), "currency"),
        (json!({"amount": 0, "currency": "jpy", "token": token}), "amount"),
        (json!({"amount": -5, "currency": "jpy", "token": token}), "amount"),
        (json!({"amount": 15.5, "currency": "jpy", "token": token}), "amount"),
        (json!({"amount": 100_000_000u64, "currency": "jpy", "token": token}), "amount"),
        (json!({"amount": 1500, "currency": "jpy", "token": "card_123"}), "token"),
        (json!({"amount": 1500, "currency": "jpy"}), "token"),
        (json!({"amount": 1500, "currency": "jpy", "token": token, "tip": 1}), "tip"),
        (
            json!({"amount": 1500, "currency": "jpy", "token": token, "metadata": {"k": "v".repeat(501)}}),
            "metadata",
        ),
    ];
    for (body, param) in cases {
        let r = app.post("/v1/payments", body.clone()).await;
        assert_eq!((r.status, r.error_type()), (StatusCode::BAD_REQUEST, "invalid_request_error"), "{body}");
        assert_eq!(r.json["error"]["param"].as_str(), Some(param), "{body}: {}", r.text);
    }
    // none of those used the token
    let ok = app
        .post(
            "/v1/payments",
            json!({"amount": 1050, "currency": "USD", "token": token,
        "description": "Mug", "metadata": {"order": "42"}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        (ok.json["currency"].as_str(), ok.json["metadata"]["order"].as_str()),
        (Some("usd"), Some("42"))
    );
    let reused = app.post("/v1/payments", json!({"amount": 1500, "currency": "jpy", "token": token})).await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::BAD_REQUEST, "token_already_used"));
    let unknown =
        app.post("/v1/payments", json!({"amount": 1500, "currency": "jpy", "token": "tok_unknown"})).await;
    assert_eq!((unknown.status, unknown.error_code()), (StatusCode::NOT_FOUND, "resource_missing"));
    let missing = app.get("/v1/payments/pay_missing").await;
    assert_eq!((missing.status, missing.error_type()), (StatusCode::NOT_FOUND, "invalid_request_error"));
}

#[tokio::test]
async fn tokenizing_too_fast_with_one_key_is_a_429() {
    let app = spawn_app_with(|c| c.rate_key_per_minute = 3).await;
    for _ in 0..3 {
        let (status, _, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let body = json!({ "card": card("4242424242424242", "123") }).to_string();
    let resp = app
        .client
        .post(format!("{}/v1/tokens", app.base))
        .bearer_auth(&app.pk)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "20", "one token refills in 20 s at 3 a minute");
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "rate_limit_error");
    app.clock.advance(20);
    let (status, _, _) = app.tokenize(&app.pk, card("4242424242424242", "123")).await;
    assert_eq!(status, StatusCode::OK, "refilled");
}

use reqwest::StatusCode;

use crate::helpers::{captured_logs, card, contains, contains_word, spawn_app};
use cardtoken_server::domain::maintenance;
use cardtoken_server::store::Scope;

/// Test cards. The scan looks for the numbers, and for the American Express cards' four-digit CVCs: a
/// three-digit string can turn up by chance in binary data, four digits hardly can in files this small.
const CARDS: &[(&str, &str)] = &[
    ("378282246310005", "7294"),
    ("371449635398431", "8361"),
    ("4242424242424242", "123"),
    ("5555555555554444", "591"),
    ("6011111111111117", "603"),
];

#[tokio::test]
async fn neither_the_database_nor_the_logs_hold_a_card_number_or_cvc_and_used_or_expired_cvcs_are_gone() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (number, cvc) in CARDS {
        let (status, token, text) = app.tokenize(&app.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        ids.push(token["id"].as_str().unwrap().to_string());
        // bad data too: the refusals must not log the number either
        let last = number.as_bytes()[number.len() - 1] - b'0';
        let bad = format!("{}{}", &number[..number.len() - 1], (last + 1) % 10);
        let (status, _, _) = app.tokenize(&app.pk, card(&bad, cvc)).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }
    let db = app.database_bytes().await;
    assert!(db.len() > 4096, "the database was read ({} bytes)", db.len());
    let logs = captured_logs();
    assert!(logs.contains("token created"), "the logs were captured");
    for (number, cvc) in CARDS {
        assert!(!contains(&db, number.as_bytes()), "{number} in the database");
        assert!(!logs.contains(number), "{number} in the logs");
        if cvc.len() == 4 {
            // Four digits can turn up by chance in PostgreSQL's hundreds of megabytes (its shared log
            // holds every test's database): the raw scan of CVCs is SQLite's, whose file is small.
            if crate::helpers::postgres().is_none() {
                assert!(!contains(&db, cvc.as_bytes()), "CVC {cvc} in the database");
            }
            assert!(!contains_word(&logs, cvc), "CVC {cvc} in the logs");
        }
    }

    // The CVCs are in none of those files at all: the instance that made each token holds it in memory,
    // and the token names the holder. Used: dropped at once. Expired: dropped by the sweep.
    let scope = Scope::new(app.account.clone(), false);
    let mut records = Vec::new();
    for id in &ids {
        let (scope, id) = (scope.clone(), id.clone());
        records.push(app.read(move |tx| tx.get_token(&scope, &id)).await.unwrap());
    }
    assert!(records.iter().all(|t| t.cvc_holder.as_deref() == Some(app.svc.cvcs.id())), "held here");
    assert_eq!(app.svc.cvcs.len(), CARDS.len());
    let held = |id: &str| {
        app.svc.cvcs.get(id, &app.account, false, crate::helpers::NOW).map(|c| c.expose().to_string())
    };
    assert_eq!(held(&ids[0]).as_deref(), Some(CARDS[0].1));
    let paid = app
        .post("/v1/payments", serde_json::json!({"amount": 100, "currency": "jpy", "token": ids[0]}))
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
    assert_eq!(held(&ids[0]), None, "used: dropped at once");
    assert_eq!(app.svc.cvcs.len(), CARDS.len() - 1);

    app.clock.advance(15 * 60 + 60);
    let swept = maintenance::sweep(&app.svc).await.unwrap();
    assert_eq!(swept.cvcs_erased, CARDS.len() - 1, "the unused tokens' CVCs are dropped at expiry");
    assert!(app.svc.cvcs.is_empty());
    // And after all that, still no CVC in any file of the data dir (the database, its log, the keys).
    if crate::helpers::postgres().is_none() {
        let files = crate::helpers::data_dir_bytes(&app.dir);
        for (_, cvc) in CARDS.iter().filter(|(_, c)| c.len() == 4) {
            assert!(!contains(&files, cvc.as_bytes()), "CVC {cvc} in the data dir");
        }
    }
}

#[tokio::test]
async fn a_graceful_stop_keeps_unused_cvcs_sealed_for_the_next_start_which_erases_them_from_disk() {
    let recorder = std::sync::Arc::new(crate::helpers::Recorder::default());
    let app = crate::helpers::spawn_app_with_processor(recorder.clone()).await;
    let mut ids = Vec::new();
    for (number, cvc) in CARDS {
        let (status, token, _) = app.tokenize(&app.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK);
        ids.push(token["id"].as_str().unwrap().to_string());
    }
    // One used before the stop: its CVC is not kept.
    let paid = app
        .post("/v1/payments", serde_json::json!({"amount": 100, "currency": "jpy", "token": ids[1]}))
        .await;
    assert_eq!(paid.status, StatusCode::OK);
    let (dir, keys, _tmp) = app.stop().await;
    let snapshot = std::fs::read(dir.join("cvcs.snapshot")).expect("a snapshot of the CVCs still held");
    for (_, cvc) in CARDS.iter().filter(|(_, c)| c.len() == 4) {
        assert!(!contains(&snapshot, cvc.as_bytes()), "CVC {cvc} in clear in the snapshot");
    }
    let app = crate::helpers::spawn_configured(
        crate::helpers::test_config(&dir).await,
        Some(keys),
        false,
        recorder.clone(),
    )
    .await;
    assert!(!dir.join("cvcs.snapshot").exists(), "read and erased at start");
    assert_eq!(app.svc.cvcs.len(), CARDS.len() - 1, "the unused ones, not the used one");
    let paid = app
        .post("/v1/payments", serde_json::json!({"amount": 100, "currency": "jpy", "token": ids[0]}))
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
    assert_eq!(recorder.last(), Some(("0005".to_string(), Some("7294".to_string()))), "paid with its CVC");
    app.stop().await;
}

#[tokio::test]
async fn internal_errors_say_nothing_internal() {
    let err = cardtoken_server::domain::Error::internal("rusqlite: disk I/O error at /secret/path");
    let resp = axum::response::IntoResponse::into_response(err);
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("\"type\":\"api_error\"") && !text.contains("rusqlite") && !text.contains("/secret"),
        "{text}"
    );
}

/// Every unkeyed digest an attacker with the database file could match guesses against.
fn digests(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    use md5::Digest as _;
    vec![
        ("MD5", md5::Md5::digest(data).to_vec()),
        ("SHA-1", sha1::Sha1::digest(data).to_vec()),
        ("SHA-256", sha2::Sha256::digest(data).to_vec()),
        ("SHA-512", sha2::Sha512::digest(data).to_vec()),
    ]
}

#[tokio::test]
async fn tokenizing_with_an_idempotency_key_stores_no_unkeyed_digest_of_the_body_the_number_or_the_cvc() {
    let app = spawn_app().await;
    let mut searched = Vec::new();
    for (i, (number, cvc)) in CARDS.iter().enumerate() {
        let body = serde_json::json!({"card": card(number, cvc)}).to_string();
        let resp = app
            .client
            .post(format!("{}/v1/tokens", app.base))
            .bearer_auth(&app.pk)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("tok-{i}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // What the record fingerprints, and each secret alone.
        let request = [b"POST\0/v1/tokens\0".as_slice(), body.as_bytes()].concat();
        for data in [body.as_bytes(), &request, number.as_bytes(), cvc.as_bytes()] {
            searched.extend(digests(data));
        }
    }
    // The records are there (a replay works) …
    let owner = format!("{}:test", app.account);
    let record = app.read(move |tx| tx.get_idempotency(&owner, "tok-0")).await.expect("the key was recorded");
    assert_eq!(record.fingerprint.len(), 32);
    // … and no digest of anything sent is in the file, as raw bytes or in hex.
    let db = app.database_bytes().await;
    let hexes: Vec<String> =
        searched.iter().map(|(_, d)| d.iter().map(|b| format!("{b:02x}")).collect()).collect();
    let mut needles: Vec<&[u8]> = searched.iter().map(|(_, d)| d.as_slice()).collect();
    needles.extend(hexes.iter().map(|h| h.as_bytes()));
    let hits = crate::helpers::found(&db, &needles);
    let named: Vec<String> = hits
        .iter()
        .map(|i| {
            format!("{}{}", searched[i % searched.len()].0, if *i >= searched.len() { " (hex)" } else { "" })
        })
        .collect();
    assert!(named.is_empty(), "unkeyed digests of what was sent are in the database: {named:?}");
}

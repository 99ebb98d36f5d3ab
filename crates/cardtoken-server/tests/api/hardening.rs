//! What a hostile client, a hostile webhook receiver and a hostile page could do, tried from outside.
//! Addresses in 127.0.0.0/8 stand for distinct clients (Linux routes the whole block to loopback).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cardtoken_server::cli::rotate_master;
use cardtoken_server::clock::{Clock, SystemClock};
use cardtoken_server::config::Config;
use cardtoken_server::domain::accounts;
use cardtoken_server::domain::webhook_endpoints::HostResolver;
use cardtoken_server::store::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::encryption::{encrypt_to, jwks, tokenize_jwe};
use crate::helpers::{
    captured_logs, card, contains, contains_word, eventually, luhn_digit, spawn_app, spawn_app_realtime,
    spawn_app_with, spawn_app_with_resolver, TestApp,
};
use crate::webhooks::{free_port, register, Receiver};

/// A client whose requests come from 127.0.0.`n`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))).build().unwrap()
}

/// A Visa number passing the Luhn check, different for each `seed` (so each has its own fingerprint);
/// `valid: false` spoils its check digit.
fn visa(seed: u64, valid: bool) -> String {
    let body = format!("4{:014}", seed.wrapping_mul(2_654_435_761) % 100_000_000_000_000);
    let check = luhn_digit(&body);
    format!("{body}{}", if valid { check } else { (check + 1) % 10 })
}

/// The card-testing defence at its documented defaults (the tests' servers otherwise run unlimited).
fn default_limits(c: &mut Config) {
    let d = Config::default();
    c.rate_key_per_minute = d.rate_key_per_minute;
    c.rate_client_per_minute = d.rate_client_per_minute;
    c.rate_card_per_hour = d.rate_card_per_hour;
    c.rate_failure_cost = d.rate_failure_cost;
}

async fn tokenize_as(
    app: &TestApp,
    client: &reqwest::Client,
    number: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut req = client
        .post(format!("{}/v1/tokens", app.base))
        .bearer_auth(&app.pk)
        .json(&json!({ "card": card(number, "123") }));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn card_testing_from_one_address_runs_dry_while_twenty_shoppers_elsewhere_all_get_tokens() {
    let app = spawn_app_with(default_limits).await;
    let attacker = client_from(2);
    let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
    let mut retry_after = None;
    for i in 0..200 {
        let resp = tokenize_as(&app, &attacker, &visa(i, false), None).await;
        *seen.entry(resp.status().as_u16()).or_default() += 1;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS && retry_after.is_none() {
            retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
        }
    }
    // A refused card costs three of the address's 30 a minute: ten tries, then 429s.
    let tried = seen.get(&402).copied().unwrap_or(0);
    assert!((9..=11).contains(&tried), "{seen:?}");
    assert_eq!(seen.get(&429).copied().unwrap_or(0), 200 - tried, "{seen:?}");
    let wait: u64 = retry_after.expect("a 429 says when to come back").parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");

    // Meanwhile shoppers elsewhere, on the same publishable key, are served.
    let mut served = 0;
    for n in 10..30u8 {
        let resp = tokenize_as(&app, &client_from(n), &visa(1000 + u64::from(n), true), None).await;
        served += usize::from(resp.status() == StatusCode::OK);
    }
    assert_eq!(served, 20, "every shopper got a token");
}

#[tokio::test]
async fn a_token_bucket_lets_no_more_than_its_rate_through_across_a_minute_boundary() {
    let app = spawn_app_with(default_limits).await;
    let shopper = client_from(3);
    let mut seed = 0;
    let mut burst = |n: usize| {
        let cards: Vec<String> = (0..n)
            .map(|_| {
                seed += 1;
                visa(5000 + seed, true)
            })
            .collect();
        let (app, shopper) = (&app, &shopper);
        async move {
            let mut ok = 0;
            for c in cards {
                ok += usize::from(tokenize_as(app, shopper, &c, None).await.status() == StatusCode::OK);
            }
            ok
        }
    };
    // The last second of a minute (the test clock starts on a minute boundary), then the first of the
    // next: a fixed window would let 30 through on each side.
    app.clock.advance(59);
    assert_eq!(burst(31).await, 30, "the bucket holds 30");
    app.clock.advance(1);
    let after = burst(30).await;
    assert!(after <= 1, "{after} more passed one second later, across the boundary");
    app.clock.advance(60);
    assert!(burst(30).await >= 29, "a minute refills it");
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // Anyone else's X-Forwarded-For is their own word: rotating it escapes nothing.
    let app = spawn_app_with(default_limits).await;
    let client = client_from(4);
    let mut ok = 0;
    for i in 0..40u64 {
        let forged = format!("198.51.100.{i}");
        ok += usize::from(
            tokenize_as(&app, &client, &visa(7000 + i, true), Some(&forged)).await.status() == StatusCode::OK,
        );
    }
    assert_eq!(ok, 30, "one address, whatever it claims");

    // Behind a configured proxy, the address it forwards is the client's.
    let app = spawn_app_with(|c| {
        default_limits(c);
        c.trusted_proxies = vec!["127.0.0.5/32".parse().unwrap()];
    })
    .await;
    let proxy = client_from(5);
    let mut ok = 0;
    for i in 0..40u64 {
        let shopper = format!("198.51.100.{i}");
        ok += usize::from(
            tokenize_as(&app, &proxy, &visa(8000 + i, true), Some(&shopper)).await.status() == StatusCode::OK,
        );
    }
    assert_eq!(ok, 40, "forty shoppers behind the proxy");
    let mut ok = 0;
    for i in 0..40u64 {
        ok += usize::from(
            tokenize_as(&app, &proxy, &visa(9000 + i, true), Some("203.0.113.9")).await.status()
                == StatusCode::OK,
        );
    }
    assert_eq!(ok, 30, "one shopper behind the proxy has one address's budget");
}

#[tokio::test]
async fn one_card_tried_from_many_addresses_is_stopped_by_its_own_bucket() {
    let app = spawn_app_with(default_limits).await;
    let number = visa(4242, true);
    let mut statuses = Vec::new();
    for n in 40..70u8 {
        statuses.push(tokenize_as(&app, &client_from(n), &number, None).await.status().as_u16());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 20, "20 an hour per card: {statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn guessing_one_numbers_expiry_and_cvc_runs_its_card_dry_from_any_address() {
    // The number is good, its expiry or CVC is not: each refusal costs the card three of its 20 an hour,
    // so after seven the right expiry and CVC are refused too, wherever they come from.
    let app = spawn_app_with(default_limits).await;
    let number = visa(4343, true);
    for (i, (month, year, cvc)) in [
        (1, 2021, "123"),
        (2, 2021, "123"),
        (12, 2040, "1"),
        (12, 2040, "12"),
        (3, 2020, "123"),
        (13, 2040, "123"),
    ]
    .into_iter()
    .chain(std::iter::once((4, 2019, "123")))
    .enumerate()
    {
        let resp = client_from(80 + i as u8)
            .post(format!("{}/v1/tokens", app.base))
            .bearer_auth(&app.pk)
            .json(&json!({"card": {"number": number, "exp_month": month, "exp_year": year, "cvc": cvc}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED, "guess {i}");
    }
    let right = tokenize_as(&app, &client_from(99), &number, None).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = right.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("This card"), "{body}");
    // Another card from the same addresses is untouched.
    assert_eq!(tokenize_as(&app, &client_from(80), &visa(4344, true), None).await.status(), StatusCode::OK);
}

/// A receiver that answers 500 and then streams a body that never ends, until the server hangs up.
struct Endless {
    url: String,
    sent: Arc<AtomicU64>,
    hung_up: Arc<AtomicBool>,
}

async fn endless_receiver() -> Endless {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sent, hung_up) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let (s, h) = (sent.clone(), hung_up.clone());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (s, h) = (s.clone(), h.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                while conn.write_all(chunk.as_bytes()).await.is_ok() {
                    s.fetch_add(0x10000, Ordering::Relaxed);
                }
                h.store(true, Ordering::SeqCst);
            });
        }
    });
    Endless { url, sent, hung_up }
}

/// The deliveries of the account's first event, once one has an attempt.
async fn first_attempt(app: &TestApp) -> Value {
    for _ in 0..200 {
        let events = app.get("/v1/events").await.json;
        if let Some(id) = events["data"].as_array().and_then(|d| d.last()).and_then(|e| e["id"].as_str()) {
            let d = app.get(&format!("/v1/events/{id}/deliveries")).await.json;
            if let Some(a) = d["data"][0]["attempts"].as_array().and_then(|a| a.first()) {
                return a.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery attempt was recorded");
}

#[tokio::test]
async fn a_receiver_streaming_an_endless_body_gets_its_status_recorded_and_the_rest_unread() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = endless_receiver().await;
    register(&app, &receiver.url).await;
    app.pay("4242424242424242", 1000, true).await;
    let attempt = first_attempt(&app).await;
    // The status, at once (not after the 15 s timeout), and a short excerpt.
    assert_eq!(attempt["status_code"], 500, "{attempt}");
    assert_eq!(attempt["error"], Value::Null, "{attempt}");
    assert!(attempt["duration_ms"].as_u64().unwrap() < 5000, "{attempt}");
    let excerpt = attempt["response_excerpt"].as_str().unwrap();
    assert!(!excerpt.is_empty() && excerpt.len() <= 500 && excerpt.bytes().all(|b| b == b'x'), "{excerpt}");
    // The server hung up: the receiver's writes fail once the sockets' buffers are full.
    eventually("the server to hang up", || receiver.hung_up.load(Ordering::SeqCst)).await;
    let sent = receiver.sent.load(Ordering::Relaxed);
    assert!(sent < 64 << 20, "{sent} bytes went out before the server hung up");
}

#[tokio::test]
async fn made_up_methods_and_paths_fold_into_one_label_each() {
    let app = spawn_app().await;
    let app = &app;
    let metrics = || async {
        app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap()
    };
    let made_up = |from: usize, to: usize| async move {
        for i in from..to {
            let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
            app.client.request(method, format!("{}/v1/tokens", app.base)).send().await.unwrap();
            app.client.get(format!("{}/made/up/{i}", app.base)).send().await.unwrap();
        }
    };
    made_up(0, 10).await;
    metrics().await; // counts itself once: from now on, a series that is already there
    let before = metrics().await;
    made_up(10, 300).await;
    let text = metrics().await;
    assert!(!text.contains("MADEUP") && !text.contains("/made/up"), "labels taken as sent");
    assert!(text.contains("method=\"other\",route=\"/v1/tokens\",status=\"404\"} 300"), "{text}");
    assert!(text.contains("method=\"GET\",route=\"unmatched\",status=\"404\"} 300"), "{text}");
    // Counts and sums grow by a digit or so; no series is added.
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(series(&text), series(&before), "no series is new:\n{before}\n{text}");
    assert!(text.len() < before.len() + 200, "/metrics grew from {} to {} bytes", before.len(), text.len());
}

/// The Content-Security-Policy of a page, and the nonce its scripts must carry.
fn policy(resp: &reqwest::Response) -> (String, String) {
    let csp = resp.headers().get("content-security-policy").expect("a CSP").to_str().unwrap().to_string();
    let nonce = csp
        .split(';')
        .find_map(|d| d.trim().strip_prefix("script-src 'nonce-"))
        .and_then(|n| n.strip_suffix('\''))
        .expect("scripts by nonce")
        .to_string();
    (csp, nonce)
}

/// Every `<script` of `page` carries `nonce`, and no element has an inline handler.
fn scripts_by_nonce_only(page: &str, nonce: &str) {
    for (i, _) in page.match_indices("<script") {
        assert!(page[i..].starts_with(&format!("<script nonce=\"{nonce}\"")), "{page}");
    }
    let lower = page.to_ascii_lowercase();
    for handler in [" onclick=", " onload=", " onsubmit=", " onerror=", "javascript:"] {
        assert!(!lower.contains(handler), "{handler} in {page}");
    }
}

async fn challenge_payment(app: &TestApp) -> (String, String, String) {
    let p = app.pay("4000002500003155", 1000, true).await.json;
    assert_eq!(p["status"], "requires_action", "{p}");
    (
        p["id"].as_str().unwrap().to_string(),
        p["client_secret"].as_str().unwrap().to_string(),
        p["next_action"]["url"].as_str().unwrap().to_string(),
    )
}

async fn finish_challenge(app: &TestApp, id: &str, secret: &str, origin: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/3ds/{id}", app.base))
        .form(&[("client_secret", secret), ("result", "pass"), ("origin", origin)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_3ds_page_runs_only_its_own_script_and_tells_only_an_allowed_framing_origin() {
    let app = spawn_app().await;
    let (id, secret, url) = challenge_payment(&app).await;
    let shop = "https://shop.example";
    let first = app.client.get(format!("{url}&origin={shop}")).send().await.unwrap();
    let (csp, nonce) = policy(&first);
    assert!(csp.contains("frame-ancestors *") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let page = first.text().await.unwrap();
    scripts_by_nonce_only(&page, &nonce);
    assert!(page.contains(&format!("name=\"origin\" value=\"{shop}\"")), "{page}");
    let again = app.client.get(&url).send().await.unwrap();
    assert_ne!(policy(&again).1, nonce, "a nonce for each response");

    let done = finish_challenge(&app, &id, &secret, shop).await;
    let (_, nonce) = policy(&done);
    let page = done.text().await.unwrap();
    scripts_by_nonce_only(&page, &nonce);
    assert!(page.contains("postMessage({") && page.contains(&format!(", \"{shop}\")")), "{page}");
    assert!(!page.contains("'*'") && !page.contains("\"*\""), "never to any origin: {page}");

    // The account names who may frame it: the policy says so, and another origin is told nothing.
    let key = accounts::lookup(&app.svc, &app.pk).await.unwrap().unwrap().id;
    let changed = app.svc.store.clone();
    cardtoken_server::store::write(&changed, move |tx| tx.set_frame_ancestors(&key, Some(shop)))
        .await
        .unwrap();
    let (id, secret, url) = challenge_payment(&app).await;
    let evil = "https://evil.example";
    let shown = app.client.get(format!("{url}&origin={evil}")).send().await.unwrap();
    let (csp, _) = policy(&shown);
    assert!(csp.contains(&format!("frame-ancestors {shop}")), "{csp}");
    let page = shown.text().await.unwrap();
    assert!(!page.contains(evil), "{page}");
    let done = finish_challenge(&app, &id, &secret, evil).await;
    let page = done.text().await.unwrap();
    assert!(!page.contains("<script") && !page.contains(evil), "{page}");
    assert!(page.contains("data-status=\"succeeded\""), "{page}");
}

#[tokio::test]
async fn every_api_call_at_trace_level_logs_no_card_number_cvc_secret_key_client_secret_or_webhook_secret() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[]).await;
    let mut secrets: Vec<(String, &str)> = vec![(app.sk.clone(), "secret key")];
    let (endpoint, whsec) = register(&app, &receiver.url).await;
    secrets.push((whsec, "webhook secret"));
    let rotated = app.post(&format!("/v1/webhook_endpoints/{endpoint}/rotate_secret"), json!({})).await;
    secrets.push((rotated.json["secret"].as_str().unwrap().to_string(), "rotated webhook secret"));
    let (live_pk, live_sk) = app.live_keys();
    secrets.push((live_sk.clone(), "live secret key"));

    // Cards: good and bad, through every path a card takes.
    let cards = [("378282246310005", "7294"), ("4000002500003155", "846"), ("5555555555554444", "591")];
    let mut tokens = Vec::new();
    for (number, cvc) in cards {
        let (status, token, text) = app.tokenize(&app.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        tokens.push(token["id"].as_str().unwrap().to_string());
        let spaced: String = number
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        app.tokenize(&app.pk, card(&spaced, cvc)).await;
        app.tokenize(&app.pk, json!({"number": number, "exp_month": 13, "exp_year": 2034, "cvc": cvc})).await;
        app.tokenize(&app.pk, card(&number[..number.len() - 1], cvc)).await;
        app.tokenize(&live_pk, card(number, cvc)).await;
        // Encrypted, as the package sends it by default; and one whose plaintext is not a card object.
        let key = &jwks(&app).await[0];
        let (status, _) =
            tokenize_jwe(&app, &encrypt_to(key, &key.kid, &card(number, cvc), SystemClock.now())).await;
        assert_eq!(status, StatusCode::OK);
        let bad = json!({"number": number, "cvc": cvc, "exp_month": "x"});
        tokenize_jwe(&app, &encrypt_to(key, &key.kid, &bad, SystemClock.now())).await;
        app.post_raw(
            Some(&app.pk),
            "application/json",
            format!("{{\"card\":{{\"number\":\"{number}\",\"cvc\":\"{cvc}\""),
        )
        .await;
    }
    app.get_token(&app.sk, &tokens[0]).await;
    app.get_token(&app.pk, &tokens[0]).await;
    let pay = |token: &str, capture: bool| json!({"amount": 1500, "currency": "jpy", "token": token, "capture": capture});
    let p = app
        .call(Method::POST, "/v1/payments", Some(&app.sk), Some(pay(&tokens[0], false)), Some("idem-1"))
        .await;
    let id = p.json["id"].as_str().unwrap().to_string();
    secrets.push((p.json["client_secret"].as_str().unwrap().to_string(), "client secret"));
    app.call(Method::POST, "/v1/payments", Some(&app.sk), Some(pay(&tokens[0], false)), Some("idem-1")).await;
    app.post(&format!("/v1/payments/{id}/capture"), json!({"amount": 1000})).await;
    app.post("/v1/refunds", json!({"payment": id, "amount": 500})).await;
    let challenged = app.post("/v1/payments", pay(&tokens[1], true)).await.json;
    let cid = challenged["id"].as_str().unwrap().to_string();
    let csecret = challenged["client_secret"].as_str().unwrap().to_string();
    secrets.push((csecret.clone(), "3-D Secure client secret"));
    let read = app
        .client
        .get(format!("{}/v1/payments/{cid}?client_secret={csecret}", app.base))
        .bearer_auth(&app.pk)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    app.client.get(challenged["next_action"]["url"].as_str().unwrap()).send().await.unwrap();
    finish_challenge(&app, &cid, &csecret, "https://shop.example").await;
    let voided = app.post("/v1/payments", pay(&tokens[2], false)).await.json;
    app.post(&format!("/v1/payments/{}/cancel", voided["id"].as_str().unwrap()), json!({})).await;
    app.get("/v1/payments?limit=5").await;
    let events = app.get("/v1/events").await.json;
    let event = events["data"][0]["id"].as_str().unwrap().to_string();
    app.get(&format!("/v1/events/{event}")).await;
    app.post(&format!("/v1/events/{event}/redeliver"), json!({})).await;
    app.get(&format!("/v1/events/{event}/deliveries")).await;
    app.get("/v1/webhook_endpoints").await;
    app.get("/v1/alerts").await;
    app.get("/v1/monitoring").await;
    app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    // Wrong keys: a typo of the secret key, and a secret key where a publishable one belongs.
    let typo = format!("{}x", app.sk);
    app.call(Method::GET, "/v1/payments", Some(&typo), None, None).await;
    app.tokenize(&app.sk, card("4242424242424242", "123")).await;
    eventually("deliveries", || receiver.deliveries().len() >= 3).await;
    app.call(Method::DELETE, &format!("/v1/webhook_endpoints/{endpoint}"), Some(&app.sk), None, None).await;

    let logs = captured_logs();
    assert!(logs.contains(&format!("/3ds/{cid}")) && logs.contains("TRACE"), "the trace logs were captured");
    // Digits logged with separators between them count too.
    let squeezed: String = logs.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | ',' | '\n')).collect();
    for (number, cvc) in cards {
        assert!(!logs.contains(number), "{number} in the logs");
        assert!(!squeezed.contains(number), "{number}, with separators, in the logs");
        assert!(!contains_word(&logs, cvc), "CVC {cvc} in the logs");
        assert!(!logs.contains(&number[..number.len() - 1]), "a near-number in the logs");
    }
    for (secret, what) in &secrets {
        assert!(!logs.contains(secret.as_str()), "the {what} in the logs");
        // …nor its random part alone.
        let tail = secret.rsplit('_').next().unwrap();
        assert!(!logs.contains(tail), "the {what}'s random part in the logs");
    }
    assert!(!logs.contains(&typo) && !logs.contains("client_secret="), "a query string or wrong key logged");
}

#[tokio::test]
async fn a_master_key_rotated_by_another_process_reaches_the_running_servers_sealing_within_seconds() {
    let app = spawn_app().await;
    let app = &app;
    let scope = Scope::new(app.account.clone(), false);
    let version_of = |id: String| {
        let scope = scope.clone();
        async move { app.read(move |tx| tx.get_token(&scope, &id)).await.unwrap().master_version }
    };
    assert_eq!(version_of(app.token_for("4242424242424242").await).await, 1);
    let (version, _) = rotate_master(&app.config).await.unwrap();
    assert_eq!(version, 2);
    // No restart, and nothing made the server meet version 2 on its own: it picks the key file up.
    let started = std::time::Instant::now();
    let mut latest = 1;
    while started.elapsed() < Duration::from_secs(10) && latest != 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        latest = version_of(app.token_for("4242424242424242").await).await;
    }
    assert_eq!(latest, 2, "new tokens are sealed under the new master key");
    assert_eq!(app.svc.vault.current_version(), 2);
}

#[tokio::test]
async fn a_twelve_digit_maestro_keeps_at_most_half_its_digits_in_clear() {
    let app = spawn_app().await;
    let number = "501800000009";
    let (status, token, text) = app.tokenize(&app.pk, card(number, "123")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(token["card"]["last4"], "0009");
    let (scope, id) = (Scope::new(app.account.clone(), false), token["id"].as_str().unwrap().to_string());
    let record = app.read(move |tx| tx.get_token(&scope, &id)).await.unwrap();
    assert_eq!((record.bin.as_str(), record.last4.as_str()), ("50", "0009"), "2 + 4 of 12 digits");
    assert!(!text.contains("501800"), "{text}");
    if crate::helpers::postgres().is_none() {
        assert!(!contains(&app.database_bytes().await, b"50180000"), "more digits stored");
    }
}

#[tokio::test]
async fn a_failing_job_is_logged_and_retried_and_deliveries_go_on_meanwhile() {
    let app = spawn_app().await;
    let receiver = Receiver::start(0, &[]).await;
    register(&app, &receiver.url).await;
    app.svc.failpoints.arm("job");
    let disputed = app.pay("4000000000000259", 1000, true).await.json;
    eventually("the payment's event", || receiver.event_types().contains(&"payment.succeeded".into())).await;
    app.clock.advance(app.config.async_delay_secs + 1);
    eventually("the dispute job to fail", || !app.svc.failpoints.pending()).await;
    // Deliveries go on: another payment's event arrives while the dispute waits for its retry.
    app.pay("4242424242424242", 500, true).await;
    eventually("the next payment's event", || {
        receiver.event_types().iter().filter(|t| *t == "payment.succeeded").count() == 2
    })
    .await;
    assert!(!receiver.event_types().contains(&"dispute.created".into()), "the job failed");
    assert!(captured_logs().contains("a job failed; it will be tried again"));
    // Its retry, half a minute on, opens the dispute.
    app.clock.advance(31);
    eventually("the retried job's dispute", || receiver.event_types().contains(&"dispute.created".into()))
        .await;
    let dispute = receiver.deliveries().into_iter().find(|d| d.json()["type"] == "dispute.created").unwrap();
    assert_eq!(dispute.json()["data"]["object"]["payment"], disputed["id"]);
}

/// A receiver that takes `delay` to answer; counts what it has finished answering.
async fn slow_receiver(delay: Duration) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (arrived, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, d) = (arrived.clone(), answered.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (a, d) = (a.clone(), d.clone());
            async move {
                a.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                d.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, arrived, answered)
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_another() {
    let app = spawn_app_realtime(|_| {}).await;
    let (slow, arrived, answered) = slow_receiver(Duration::from_secs(10)).await;
    register(&app, &slow).await;
    let fast = Receiver::start(0, &[]).await;
    register(&app, &fast.url).await;
    for _ in 0..8 {
        app.pay("4242424242424242", 1000, true).await;
    }
    eventually("the fast endpoint's eight events", || fast.deliveries().len() >= 8).await;
    assert!(arrived.load(Ordering::SeqCst) >= 1, "the slow endpoint was being sent to meanwhile");
    assert_eq!(answered.load(Ordering::SeqCst), 0, "…and had answered none of them");
}

#[tokio::test]
async fn an_event_cannot_be_queued_for_redelivery_without_limit() {
    let app = spawn_app().await;
    // Nothing listens: the delivery fails and waits for a retry the test clock never reaches.
    register(&app, &format!("http://127.0.0.1:{}/hook", free_port())).await;
    app.pay("4242424242424242", 1000, true).await;
    let event = app.get("/v1/events").await.json["data"][0]["id"].as_str().unwrap().to_string();
    let mut queued = 0;
    let refused = loop {
        let r = app.post(&format!("/v1/events/{event}/redeliver"), json!({})).await;
        if r.status != StatusCode::OK {
            break r;
        }
        queued += 1;
        assert!(queued < 100, "redelivery never stopped");
    };
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.text);
    assert!(refused.headers.contains_key("retry-after"));
    let pending =
        app.get(&format!("/v1/events/{event}/deliveries")).await.json["data"].as_array().unwrap().len();
    assert_eq!(pending, 20, "{queued} queued");
}

/// A DNS server that answers a public address the first time and loopback ever after.
/// A DNS server of the tests' making: the first lookup (the endpoint's registration) answers `first`, every
/// later one `then`, or never when it is `None`.
struct Scripted {
    port: u16,
    first: IpAddr,
    then: Option<IpAddr>,
    asked: AtomicUsize,
}

impl Scripted {
    fn new(port: u16, first: IpAddr, then: Option<IpAddr>) -> Arc<Scripted> {
        Arc::new(Scripted { port, first, then, asked: AtomicUsize::new(0) })
    }
}

impl HostResolver for Scripted {
    fn lookup(
        &self,
        _host: String,
        _port: u16,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
        let answer =
            if self.asked.fetch_add(1, Ordering::SeqCst) == 0 { Some(self.first) } else { self.then };
        let port = self.port;
        Box::pin(async move {
            match answer {
                Some(ip) => Ok(vec![SocketAddr::new(ip, port)]),
                None => std::future::pending().await,
            }
        })
    }
}

#[tokio::test]
async fn a_host_that_rebinds_to_loopback_after_the_check_is_never_connected_to() {
    let receiver = Receiver::start(0, &[]).await;
    let port: u16 = receiver.url.rsplit(':').next().unwrap().trim_end_matches("/hook").parse().unwrap();
    let dns = Scripted::new(port, [93, 184, 216, 34].into(), Some(Ipv4Addr::LOCALHOST.into()));
    let app = spawn_app_with_resolver(|c| c.allow_private_webhooks = false, dns.clone()).await;
    register(&app, &format!("http://hooks.rebind.test:{port}/hook")).await;
    app.pay("4242424242424242", 1000, true).await;
    let attempt = first_attempt(&app).await;
    assert_eq!(
        (attempt["status_code"].clone(), attempt["error"].as_str()),
        (Value::Null, Some("connection failed")),
        "{attempt}"
    );
    assert!(dns.asked.load(Ordering::SeqCst) >= 2, "the delivery resolved the host itself");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.deliveries().is_empty(), "the loopback receiver got a delivery");
}

//! Races on one payment, run many times: whatever the interleaving, one consistent outcome, and events
//! that tell one story (never both `payment.canceled` and `payment.succeeded`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

const ROUNDS: usize = 30;

/// A start delay for one side of round `i`: each side goes first in some rounds, so both orders (and
/// the real overlaps between) are tried.
fn stagger(i: usize) -> (Duration, Duration) {
    let d = Duration::from_micros(((i * 397) % 4000) as u64);
    if i.is_multiple_of(2) {
        (d, Duration::ZERO)
    } else {
        (Duration::ZERO, d)
    }
}

fn both_seen(outcomes: &BTreeMap<String, usize>, what: &str) {
    eprintln!("{what}: {outcomes:?}");
    assert_eq!(outcomes.len(), 2, "{what}: both outcomes happened in {ROUNDS} rounds: {outcomes:?}");
}

async fn challenge(app: &TestApp, id: &str, secret: &str, result: &str) -> StatusCode {
    app.client
        .post(format!("{}/3ds/{id}", app.base))
        .form(&[("client_secret", secret), ("result", result)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn story(app: &TestApp, id: &str) -> (String, Vec<String>) {
    let status = app.get(&format!("/v1/payments/{id}")).await.json["status"].as_str().unwrap().to_string();
    let events = app.get(&format!("/v1/events?limit=100&object={id}")).await.json;
    let mut kinds: Vec<String> =
        events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    kinds.reverse(); // oldest first
    (status, kinds)
}

#[tokio::test]
async fn a_passed_challenge_racing_a_cancel_ends_one_way_with_one_story() {
    let app = Arc::new(spawn_app().await);
    let mut outcomes = BTreeMap::<String, usize>::new();
    for round in 0..ROUNDS {
        let p = app.pay("4000002500003155", 1000, true).await.json;
        let (id, secret) =
            (p["id"].as_str().unwrap().to_string(), p["client_secret"].as_str().unwrap().to_string());
        let (a, b) = (app.clone(), app.clone());
        let (i1, s1, i2) = (id.clone(), secret.clone(), id.clone());
        let (da, db) = stagger(round);
        let pass = tokio::spawn(async move {
            tokio::time::sleep(da).await;
            challenge(&a, &i1, &s1, "pass").await
        });
        let cancel = tokio::spawn(async move {
            tokio::time::sleep(db).await;
            b.call(Method::POST, &format!("/v1/payments/{i2}/cancel"), Some(&b.sk), Some(json!({})), None)
                .await
                .status
        });
        let (pass, cancel) = (pass.await.unwrap(), cancel.await.unwrap());
        let (status, kinds) = story(&app, &id).await;
        let expected_last = match status.as_str() {
            "succeeded" => "payment.succeeded",
            "canceled" => "payment.canceled",
            other => panic!("{id} ended {other}"),
        };
        assert_eq!(kinds, vec!["payment.requires_action", expected_last], "{id}");
        assert_eq!(cancel == StatusCode::OK, status == "canceled", "the cancel succeeded iff it won");
        if status == "canceled" {
            assert_eq!(pass, StatusCode::BAD_REQUEST, "the challenge lost and said so");
        } else {
            assert_eq!(pass, StatusCode::OK);
        }
        *outcomes.entry(status).or_default() += 1;
    }
    both_seen(&outcomes, "pass vs cancel");
}

#[tokio::test]
async fn a_pass_racing_a_fail_ends_one_way_with_one_story() {
    let app = Arc::new(spawn_app().await);
    let mut outcomes = BTreeMap::<String, usize>::new();
    for round in 0..ROUNDS {
        let p = app.pay("4000002500003155", 1000, true).await.json;
        let (id, secret) =
            (p["id"].as_str().unwrap().to_string(), p["client_secret"].as_str().unwrap().to_string());
        let (a, b) = (app.clone(), app.clone());
        let (i1, s1, i2, s2) = (id.clone(), secret.clone(), id.clone(), secret.clone());
        let (da, db) = stagger(round);
        let pass = tokio::spawn(async move {
            tokio::time::sleep(da).await;
            challenge(&a, &i1, &s1, "pass").await
        });
        let fail = tokio::spawn(async move {
            tokio::time::sleep(db).await;
            challenge(&b, &i2, &s2, "fail").await
        });
        let statuses = [pass.await.unwrap(), fail.await.unwrap()];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}: one result counts"
        );
        let (status, kinds) = story(&app, &id).await;
        let last = match status.as_str() {
            "succeeded" => "payment.succeeded",
            "failed" => "payment.failed",
            other => panic!("{id} ended {other}"),
        };
        assert_eq!(kinds, vec!["payment.requires_action", last], "{id}");
        *outcomes.entry(status).or_default() += 1;
    }
    both_seen(&outcomes, "pass vs fail");
}

#[tokio::test]
async fn a_capture_racing_a_cancel_ends_one_way_with_one_story() {
    let app = Arc::new(spawn_app().await);
    let mut outcomes = BTreeMap::<String, usize>::new();
    for round in 0..ROUNDS {
        let p = app.pay("4242424242424242", 1000, false).await.json;
        let id = p["id"].as_str().unwrap().to_string();
        let (a, b) = (app.clone(), app.clone());
        let (i1, i2) = (id.clone(), id.clone());
        let (da, db) = stagger(round);
        let capture = tokio::spawn(async move {
            tokio::time::sleep(da).await;
            a.call(Method::POST, &format!("/v1/payments/{i1}/capture"), Some(&a.sk), Some(json!({})), None)
                .await
                .status
        });
        let cancel = tokio::spawn(async move {
            tokio::time::sleep(db).await;
            b.call(Method::POST, &format!("/v1/payments/{i2}/cancel"), Some(&b.sk), Some(json!({})), None)
                .await
                .status
        });
        let (capture, cancel) = (capture.await.unwrap(), cancel.await.unwrap());
        assert_ne!(capture == StatusCode::OK, cancel == StatusCode::OK, "exactly one wins");
        let (status, kinds) = story(&app, &id).await;
        let last = if capture == StatusCode::OK { "payment.succeeded" } else { "payment.canceled" };
        assert_eq!(status, last.trim_start_matches("payment."));
        assert_eq!(kinds, vec!["payment.authorized", last], "{id}");
        let p = app.get(&format!("/v1/payments/{id}")).await.json;
        let captured = p["amount_captured"].as_u64().unwrap();
        assert_eq!(captured, if capture == StatusCode::OK { 1000 } else { 0 });
        *outcomes.entry(status).or_default() += 1;
    }
    both_seen(&outcomes, "capture vs cancel");
}

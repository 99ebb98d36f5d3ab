use cardtoken_server::domain::monitoring::evaluate_and_emit;
use prometheus_parse::{Scrape, Value};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, TestApp};

/// Ten seconds of traffic: one payment per card, then the clock moves on and the alerts are evaluated.
async fn step(app: &TestApp, cards: &[&str]) -> usize {
    for card in cards {
        app.pay(card, 1000, true).await;
    }
    app.clock.advance(10);
    evaluate_and_emit(&app.svc).await.unwrap()
}

const OK: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const NO_FUNDS: &str = "4000000000009995";

#[tokio::test]
async fn a_burst_of_declines_raises_an_alert_that_clears_when_it_ends_and_steady_traffic_raises_none() {
    let app = spawn_app().await;
    for i in 0..14 {
        // steady, mixed: about one decline in eight
        let cards: &[&str] = if i % 4 == 0 { &[OK, DECLINED] } else { &[OK, OK] };
        assert_eq!(step(&app, cards).await, 0, "no alert on steady traffic (step {i})");
    }
    let alerts = app.get("/v1/alerts").await.json;
    assert!(alerts["data"].as_array().unwrap().is_empty(), "{alerts}");

    let mut raised = 0;
    for _ in 0..4 {
        raised += step(&app, &[NO_FUNDS, NO_FUNDS]).await;
    }
    if raised != 1 {
        let series = app.get("/v1/monitoring").await.json;
        let rates: Vec<String> = series["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}:{}", p["success_rate"], p["requests"]))
            .collect();
        panic!("one alert for the burst, got {raised}: {rates:?}");
    }
    let alerts = app.get("/v1/alerts").await.json;
    let alert = &alerts["data"][0];
    assert_eq!(
        (alert["status"].as_str(), alert["metric"].as_str()),
        (Some("open"), Some("authorization_success_rate"))
    );
    assert!(alert["message"].as_str().unwrap().contains("authorization success rate"));
    let events = app.get("/v1/events?type=alert.raised").await.json;
    assert_eq!(
        events["data"][0]["data"]["object"]["id"], alert["id"],
        "alert.raised went through the outbox"
    );
    // The alert and the traffic are the account's test mode's: another account, and the same account's
    // live mode, see neither.
    let b = app.new_account("Another shop").await;
    let b_sk = cardtoken_server::domain::accounts::reveal(&b.test.secret).to_string();
    let (_, live_sk) = app.live_keys();
    for (key, who) in [(&b_sk, "another account"), (&live_sk, "live mode")] {
        let get = |path: &'static str| app.call(reqwest::Method::GET, path, Some(key), None, None);
        let alerts = get("/v1/alerts").await.json;
        assert_eq!(alerts["data"].as_array().map(Vec::len), Some(0), "{who}: {alerts}");
        let raised = get("/v1/events?type=alert.raised").await.json;
        assert_eq!(raised["data"].as_array().map(Vec::len), Some(0), "{who}: {raised}");
        let series = get("/v1/monitoring?window=hour").await.json;
        assert_eq!(series["totals"]["authorizations"], 0, "{who}: {}", series["totals"]);
        assert_eq!(series["totals"]["tokens"], 0, "{who}: {}", series["totals"]);
    }
    assert!(app.get("/v1/monitoring?window=hour").await.json["totals"]["authorizations"].as_u64() > Some(30));

    let mut cleared = 0;
    for _ in 0..12 {
        cleared += step(&app, &[OK, OK]).await;
    }
    assert_eq!(cleared, 1, "cleared once the burst is over");
    let alerts = app.get("/v1/alerts").await.json;
    assert_eq!(alerts["data"][0]["status"], "cleared");
    assert!(alerts["data"][0]["cleared_at"].is_i64());
    let events = app.get("/v1/events?type=alert.cleared").await.json;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    // the series the dashboard draws
    let series = app.get("/v1/monitoring?window=hour").await.json;
    assert!(series["points"].as_array().unwrap().len() >= 20);
    assert_eq!(series["totals"]["declines"]["insufficient_funds"], 8);
    assert_eq!(app.get("/v1/monitoring?window=week").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text() {
    let app = spawn_app().await;
    for card in [OK, OK, NO_FUNDS] {
        app.pay(card, 1000, true).await;
    }
    app.get("/v1/payments/pay_missing").await;
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses as Prometheus text");
    let find = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    };
    let counter = |name: &str, labels: &[(&str, &str)]| match find(name, labels).map(|s| &s.value) {
        Some(Value::Counter(v)) | Some(Value::Untyped(v)) => *v,
        other => panic!("{name} {labels:?}: {other:?}\n{text}"),
    };
    assert_eq!(
        counter(
            "cardtoken_http_requests_total",
            &[("route", "/v1/payments"), ("method", "POST"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        counter("cardtoken_http_requests_total", &[("route", "/v1/payments"), ("status", "402")]),
        1.0
    );
    assert_eq!(
        counter("cardtoken_http_requests_total", &[("route", "/v1/payments/:id"), ("status", "404")]),
        1.0
    );
    assert_eq!(
        counter(
            "cardtoken_payment_authorizations_total",
            &[("outcome", "declined"), ("decline_code", "insufficient_funds")]
        ),
        1.0
    );
    assert_eq!(counter("cardtoken_payment_authorizations_total", &[("outcome", "succeeded")]), 2.0);
    assert_eq!(counter("cardtoken_tokens_created_total", &[]), 3.0);
    let histogram = find("cardtoken_http_request_duration_seconds", &[("route", "/v1/tokens")]);
    assert!(matches!(histogram.map(|s| &s.value), Some(Value::Histogram(b)) if !b.is_empty()), "{text}");
    assert!(!text.contains("4242424242424242"));
}

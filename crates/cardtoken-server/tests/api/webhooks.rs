use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use cardtoken_types::webhook::{sign, verify, Deduplicator, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app_realtime, TestApp};

#[derive(Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A local webhook receiver: records every delivery, answers the scripted statuses, then 200.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    started: Arc<std::sync::atomic::AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Clone)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Delivery>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// How long each answer takes, and how many deliveries have arrived (answered or not).
    delay: std::time::Duration,
    started: Arc<std::sync::atomic::AtomicUsize>,
}

async fn hook(State(r): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    r.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(r.delay).await;
    r.got.lock().unwrap().push(Delivery { headers, body: body.to_vec() });
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    AxumStatus::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start(port: u16, script: &[u16]) -> Receiver {
        Receiver::start_with(port, script, std::time::Duration::ZERO).await
    }

    /// A receiver that takes `delay` to answer each delivery (200).
    pub async fn start_slow(delay: std::time::Duration) -> Receiver {
        Receiver::start_with(0, &[], delay).await
    }

    /// How many deliveries have arrived, answered or not.
    pub fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn start_with(port: u16, script: &[u16], delay: std::time::Duration) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let state = ReceiverState {
            got: got.clone(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            delay,
            started: started.clone(),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new().route("/hook", post(hook)).with_state(state);
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver { url, got, started, stop: Some(tx) }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    pub fn event_types(&self) -> Vec<String> {
        self.deliveries().iter().map(|d| d.json()["type"].as_str().unwrap().to_string()).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn register(app: &TestApp, url: &str) -> (String, String) {
    let r = app.post("/v1/webhook_endpoints", json!({"url": url})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["secret"].as_str().unwrap().starts_with("whsec_"));
    (r.json["id"].as_str().unwrap().to_string(), r.json["secret"].as_str().unwrap().to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn ours(secret: &str, d: &Delivery, at: i64) -> bool {
    verify(secret, |n| d.headers.get(n).and_then(|v| v.to_str().ok()), &d.body, at).is_ok()
}

fn official(secret: &str, d: &Delivery) -> bool {
    standardwebhooks::Webhook::new(secret).unwrap().verify(&d.body, &d.headers).is_ok()
}

#[tokio::test]
async fn every_event_verifies_with_the_official_crate_and_ours_and_tampering_does_not() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[]).await;
    let (_, secret) = register(&app, &receiver.url).await;

    let paid = app.pay("4242424242424242", 1000, true).await.json;
    let authorized = app.pay("5555555555554444", 1000, false).await.json;
    let aid = authorized["id"].as_str().unwrap();
    app.post(&format!("/v1/payments/{aid}/capture"), json!({})).await;
    app.post("/v1/refunds", json!({"payment": paid["id"], "amount": 300})).await;
    let voided = app.pay("4242424242424242", 1000, false).await.json;
    app.post(&format!("/v1/payments/{}/cancel", voided["id"].as_str().unwrap()), json!({})).await;
    app.pay("4000000000000002", 1000, true).await;
    app.pay("4000002500003155", 1000, true).await;

    let expected = [
        "payment.succeeded",
        "payment.authorized",
        "payment.succeeded",
        "refund.succeeded",
        "payment.authorized",
        "payment.canceled",
        "payment.failed",
        "payment.requires_action",
    ];
    eventually("every event arrived", || receiver.deliveries().len() >= expected.len()).await;
    let got = receiver.deliveries();
    let types: BTreeSet<_> = receiver.event_types().into_iter().collect();
    assert_eq!(
        types,
        expected.iter().map(|s| s.to_string()).collect(),
        "one event per change, none invented"
    );
    assert_eq!(got.len(), expected.len());
    for d in &got {
        assert!(official(&secret, d), "the standardwebhooks crate verifies {}", d.header("webhook-id"));
        assert!(ours(&secret, d, now()), "cardtoken_types::webhook::verify agrees");
        let event = d.json();
        assert_eq!(event["id"], d.header("webhook-id"));
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert!(event["data"]["object"]["id"].is_string());
        assert_eq!(
            app.get(&format!("/v1/events/{}", event["id"].as_str().unwrap())).await.text.as_bytes(),
            &d.body[..],
            "the event log holds exactly what was delivered"
        );
    }
    let d = &got[0];
    let mut tampered = d.clone();
    tampered.body.push(b' '); // still JSON, not the signed bytes
    assert!(!official(&secret, &tampered) && !ours(&secret, &tampered, now()), "a tampered body fails");
    let wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(!official(wrong, d) && !ours(wrong, d, now()), "a wrong secret fails");
    assert!(!ours(&secret, d, now() + 301), "a stale delivery fails (5-minute tolerance)");
    // The official crate refuses a message signed 10 minutes ago, too.
    let old = now() - 600;
    let mut stale = d.clone();
    stale.headers.insert("webhook-timestamp", old.to_string().parse().unwrap());
    let sig = sign(&Secret::parse(&secret).unwrap(), d.header("webhook-id"), old, &d.body);
    stale.headers.insert("webhook-signature", sig.parse().unwrap());
    assert!(!official(&secret, &stale));
    // The event log pages, newest first, and filters by type.
    let list = app.get("/v1/events?limit=3").await.json;
    assert_eq!((list["data"].as_array().unwrap().len(), list["has_more"].as_bool()), (3, Some(true)));
    let refunds = app.get("/v1/events?type=refund.succeeded").await.json;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_of_one_event_id() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[500, 500, 200]).await;
    register(&app, &receiver.url).await;
    app.pay("4242424242424242", 1000, true).await;
    eventually("three attempts", || receiver.deliveries().len() >= 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let got = receiver.deliveries();
    assert_eq!(got.len(), 3, "no attempt after the 200");
    let ids: BTreeSet<_> = got.iter().map(|d| d.header("webhook-id").to_string()).collect();
    assert_eq!(ids.len(), 1, "the same event id on every retry");
    let id = ids.into_iter().next().unwrap();
    let deliveries = app.get(&format!("/v1/events/{id}/deliveries")).await.json;
    let delivery = &deliveries["data"][0];
    assert_eq!(delivery["status"], "delivered");
    let codes: Vec<u64> =
        delivery["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].as_u64().unwrap()).collect();
    assert_eq!(codes, vec![500, 500, 200]);
    assert!(delivery["attempts"][0]["duration_ms"].is_u64());
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_every_event_once_it_comes_up() {
    let app = spawn_app_realtime(|_| {}).await;
    let port = free_port();
    register(&app, &format!("http://127.0.0.1:{port}/hook")).await;
    let mut ids = BTreeSet::new();
    for _ in 0..3 {
        ids.insert(app.pay("4242424242424242", 1000, true).await.json["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await; // the first attempts fail
    let receiver = Receiver::start(port, &[]).await;
    eventually("all three events", || receiver.deliveries().len() >= 3).await;
    let paid: BTreeSet<_> = receiver
        .deliveries()
        .iter()
        .map(|d| d.json()["data"]["object"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paid, ids);
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[410]).await;
    let (id, _) = register(&app, &receiver.url).await;
    app.pay("4242424242424242", 1000, true).await;
    eventually("the first delivery", || !receiver.deliveries().is_empty()).await;
    eventually_status(&app, &id, "disabled").await;
    app.pay("4242424242424242", 1000, true).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(receiver.deliveries().len(), 1, "nothing more goes to a disabled endpoint");
}

async fn eventually_status(app: &TestApp, id: &str, status: &str) {
    for _ in 0..100 {
        let list = app.get("/v1/webhook_endpoints").await.json;
        let e = list["data"].as_array().unwrap().iter().find(|e| e["id"] == id).cloned().unwrap();
        if e["status"] == status {
            assert!(e.get("secret").is_none(), "listings never show secrets");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the endpoint never became {status}");
}

#[tokio::test]
async fn during_a_rotation_either_secret_verifies() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[]).await;
    let (id, old) = register(&app, &receiver.url).await;
    let rotated = app.post(&format!("/v1/webhook_endpoints/{id}/rotate_secret"), json!({})).await.json;
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    app.pay("4242424242424242", 1000, true).await;
    eventually("a delivery", || !receiver.deliveries().is_empty()).await;
    let d = &receiver.deliveries()[0];
    assert_eq!(d.header("webhook-signature").matches("v1,").count(), 2, "both signatures during the overlap");
    for secret in [&old, &new] {
        assert!(official(secret, d) && ours(secret, d, now()), "verifies with {}", &secret[..10]);
    }
}

#[tokio::test]
async fn the_dispute_card_opens_a_dispute_and_the_refund_fail_card_fails_its_refund() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[]).await;
    register(&app, &receiver.url).await;
    let disputed = app.pay("4000000000000259", 1000, true).await.json;
    let failing = app.pay("4000000000005126", 1000, true).await.json;
    let fid = failing["id"].as_str().unwrap();
    let refund = app.post("/v1/refunds", json!({"payment": fid})).await.json;
    assert_eq!(refund["status"], "succeeded", "at first");
    eventually("the dispute and the refund failure", || {
        let t = receiver.event_types();
        t.contains(&"dispute.created".to_string()) && t.contains(&"refund.failed".to_string())
    })
    .await;
    let got = receiver.deliveries();
    let dispute = got.iter().find(|d| d.json()["type"] == "dispute.created").unwrap().json();
    assert_eq!(dispute["data"]["object"]["payment"], disputed["id"]);
    assert_eq!(dispute["data"]["object"]["amount"], 1000);
    let failed = got.iter().find(|d| d.json()["type"] == "refund.failed").unwrap().json();
    assert_eq!(
        (failed["data"]["object"]["id"].as_str(), failed["data"]["object"]["status"].as_str()),
        (refund["id"].as_str(), Some("failed"))
    );
    let order: Vec<String> =
        receiver.event_types().into_iter().filter(|t| t.starts_with("refund.")).collect();
    assert_eq!(order, vec!["refund.succeeded", "refund.failed"]);
    let after = app.get(&format!("/v1/payments/{fid}")).await.json;
    assert_eq!(after["amount_refunded"], 0, "the failed refund gave the money back to the merchant");
}

#[tokio::test]
async fn redelivery_repeats_the_event_id_so_receivers_deduplicate() {
    let app = spawn_app_realtime(|_| {}).await;
    let receiver = Receiver::start(0, &[]).await;
    register(&app, &receiver.url).await;
    app.pay("4242424242424242", 1000, true).await;
    eventually("a delivery", || receiver.deliveries().len() == 1).await;
    let id = receiver.deliveries()[0].header("webhook-id").to_string();
    let r = app.post(&format!("/v1/events/{id}/redeliver"), json!({})).await;
    assert_eq!(r.json["deliveries_queued"], 1, "{}", r.text);
    eventually("the redelivery", || receiver.deliveries().len() == 2).await;
    let mut dedup = Deduplicator::new(100);
    let handled: Vec<bool> =
        receiver.deliveries().iter().map(|d| dedup.first_time(d.header("webhook-id"))).collect();
    assert_eq!(handled, vec![true, false]);
    assert_eq!(app.post("/v1/events/evt_nope/redeliver", json!({})).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn endpoints_must_be_http_and_outside_test_mode_public() {
    let app = spawn_app_realtime(|c| c.allow_private_webhooks = false).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://[::1]/x",
        "ftp://93.184.216.34/x",
        "http://user:pw@93.184.216.34/x",
        "not a url",
    ] {
        let r = app.post("/v1/webhook_endpoints", json!({"url": url})).await;
        assert_eq!(
            (r.status, r.json["error"]["param"].as_str()),
            (StatusCode::BAD_REQUEST, Some("url")),
            "{url}"
        );
    }
    let ok = app
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "https://93.184.216.34/hook", "events": ["payment.succeeded"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let bad_types = app
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "https://93.184.216.34/hook", "events": ["payment.exploded"]}),
        )
        .await;
    assert_eq!(bad_types.json["error"]["param"], "events");
    let pk = app
        .call(
            Method::POST,
            "/v1/webhook_endpoints",
            Some(&app.pk.clone()),
            Some(json!({"url": "https://93.184.216.34/x"})),
            None,
        )
        .await;
    assert_eq!(pk.status, StatusCode::FORBIDDEN);
    let id = ok.json["id"].as_str().unwrap();
    let deleted = app
        .call(Method::DELETE, &format!("/v1/webhook_endpoints/{id}"), Some(&app.sk.clone()), None, None)
        .await;
    assert_eq!(deleted.json["deleted"], true);
    assert!(app.get("/v1/webhook_endpoints").await.json["data"].as_array().unwrap().is_empty());
}

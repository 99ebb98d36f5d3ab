//! Several instances on one PostgreSQL database (skipped on SQLite): three server processes, as behind
//! a load balancer. A token made on one pays on another; one idempotency key sent to all at once makes
//! one payment; concurrent partial refunds spread over them never exceed the capture; each webhook event
//! reaches its receiver once while every instance runs its worker, and all still arrive when one is
//! SIGKILLed; the per-key ceiling holds across them; the monitoring sees their sum.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{card, eventually, luhn_digit, postgres, test_config};
use crate::webhooks::Receiver;

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    instances: Vec<Instance>,
    pk: String,
    sk: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn pay(c: &Cluster, i: usize) {
    let token = c.token(i, "4242424242424242").await;
    let body = json!({"amount": 500, "currency": "jpy", "token": token});
    let (status, p) = c.call(i, Method::POST, "/v1/payments", &c.sk, Some(body), None).await;
    assert_eq!(status, StatusCode::OK, "{p}");
}

/// `n` instances on one fresh database, sharing one keys file; `env` tunes them all.
async fn cluster(n: usize, env: &[(&str, &str)]) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let url = test_config(dir.path()).await.database_url;
    let keys = dir.path().join("shared-keys.json");
    let mut instances = Vec::new();
    let mut first_keys = None;
    for i in 0..n {
        let data = dir.path().join(format!("instance-{i}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
            .arg("serve")
            .env("CARDTOKEN_DATA_DIR", &data)
            .env("CARDTOKEN_DATABASE_URL", &url)
            .env("CARDTOKEN_KEYS_FILE", &keys)
            .env("CARDTOKEN_LISTEN", "127.0.0.1:0")
            .env("CARDTOKEN_DEMO_LISTEN", "off")
            .env("CARDTOKEN_DATABASE_POOL", "8")
            .env("CARDTOKEN_RATE_CLIENT_PER_MINUTE", "1000000")
            .env("CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS", "true")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut base, mut pk, mut sk) = (None, None, None);
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("cardtoken API listening on ") {
                base = Some(u.to_string());
            } else if let Some(k) = line.trim().strip_prefix("publishable key: ") {
                pk = Some(k.trim().to_string());
            } else if let Some(k) = line.trim().strip_prefix("secret key:") {
                sk = k.split_whitespace().next().map(str::to_string);
            }
            if base.is_some() && (sk.is_some() || line.contains("secret keys are shown only")) {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        if let (Some(pk), Some(sk)) = (pk, sk) {
            first_keys = Some((pk, sk));
        }
        instances.push(Instance { child, base: base.expect("the instance started") });
    }
    let (pk, sk) = first_keys.expect("the first instance made the account");
    Cluster { instances, pk, sk, client: reqwest::Client::new(), _dir: dir }
}

impl Cluster {
    fn base(&self, i: usize) -> &str {
        &self.instances[i % self.instances.len()].base
    }

    async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base(i))).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, i: usize, number: &str) -> String {
        let (status, t) = self
            .call(i, Method::POST, "/v1/tokens", &self.pk, Some(json!({"card": card(number, "123")})), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        t["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn instances_on_one_database_share_tokens_keys_locks_and_ceilings() {
    if postgres().is_none() {
        return; // several instances need PostgreSQL
    }
    // One-second buckets: each instance writes its counts every second.
    let c = cluster(3, &[("CARDTOKEN_MONITOR_RESOLUTION_SECS", "1")]).await;
    for i in 0..3 {
        let ready = c.client.get(format!("{}/readyz", c.base(i))).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        assert_eq!(ready.json::<Value>().await.unwrap()["database"], "postgres");
    }

    // A token made on instance 0 pays on instance 1, and reads back on instance 2.
    let token = c.token(0, "4242424242424242").await;
    let (status, paid) = c
        .call(
            1,
            Method::POST,
            "/v1/payments",
            &c.sk,
            Some(json!({"amount": 3000, "currency": "jpy", "token": token})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let pid = paid["id"].as_str().unwrap().to_string();
    let (_, again) = c.call(2, Method::GET, &format!("/v1/payments/{pid}"), &c.sk, None, None).await;
    assert_eq!(again["amount_captured"], 3000);

    // One idempotency key sent to every instance at once: one payment, the others replay it or wait (409).
    let token = c.token(2, "5555555555554444").await;
    let body = json!({"amount": 1000, "currency": "jpy", "token": token});
    let c = Arc::new(c);
    let mut tasks = Vec::new();
    for i in 0..9 {
        let (c, body) = (c.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            c.call(i, Method::POST, "/v1/payments", &c.sk, Some(body), Some("one-order")).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            StatusCode::OK => {
                ids.insert(v["id"].as_str().unwrap().to_string());
            }
            StatusCode::CONFLICT => assert_eq!(v["error"]["code"], "idempotency_key_in_use"),
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(ids.len(), 1, "one payment for the key, across instances");
    let (_, list) = c.call(0, Method::GET, "/v1/payments?limit=100&amount=1000", &c.sk, None, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // 30 concurrent partial refunds of 150 on the 3000 capture, spread over the instances: 20 fit.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (c, pid) = (c.clone(), pid.clone());
        tasks.push(tokio::spawn(async move {
            c.call(i, Method::POST, "/v1/refunds", &c.sk, Some(json!({"payment": pid, "amount": 150})), None)
                .await
        }));
    }
    let mut refunded = 0;
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            StatusCode::OK => refunded += 1,
            StatusCode::BAD_REQUEST => {
                let code = v["error"]["code"].as_str().unwrap_or_default();
                assert!(matches!(code, "amount_too_large" | "charge_already_refunded"), "{v}");
            }
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(refunded, 20, "3000 / 150");
    let (_, after) = c.call(1, Method::GET, &format!("/v1/payments/{pid}"), &c.sk, None, None).await;
    assert_eq!(after["amount_refunded"], 3000);

    // The monitoring of any instance sees every instance's traffic (each writes its counts every bucket).
    let mut series = Value::Null;
    for _ in 0..50 {
        series = c.call(2, Method::GET, "/v1/monitoring", &c.sk, None, None).await.1;
        if series["totals"]["tokens"] == 2 && series["totals"]["requests"].as_u64() >= Some(45) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(series["totals"]["tokens"], 2, "tokens made on instances 0 and 2: {series}");
    assert_eq!(series["totals"]["authorizations"], 2, "payments made on two instances: {series}");
    assert!(series["totals"]["requests"].as_u64() >= Some(45), "requests on all three: {series}");
}

#[tokio::test]
async fn the_per_key_ceiling_holds_across_instances() {
    if postgres().is_none() {
        return;
    }
    // 12 a minute (one more every 5 s): 36 tokenizations spread over 3 instances in about a second.
    let c = cluster(3, &[("CARDTOKEN_RATE_KEY_PER_MINUTE", "12")]).await;
    let started = std::time::Instant::now();
    let mut outcomes = BTreeMap::<u16, usize>::new();
    for i in 0..36 {
        let body = json!({"card": card("4242424242424242", "123")});
        let (status, _) = c.call(i, Method::POST, "/v1/tokens", &c.pk, Some(body), None).await;
        *outcomes.entry(status.as_u16()).or_default() += 1;
    }
    let refilled = (started.elapsed().as_secs_f64() / 5.0).floor() as usize;
    let ok = outcomes.get(&200).copied().unwrap_or(0);
    assert!(
        (12..=12 + refilled).contains(&ok) && outcomes.get(&429).copied().unwrap_or(0) == 36 - ok,
        "one bucket for the key across instances (one each would pass 36): {outcomes:?}"
    );
}

#[tokio::test]
async fn instances_started_together_on_an_empty_database_make_one_first_account() {
    if postgres().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = test_config(dir.path()).await.database_url;
    let keys = dir.path().join("shared-keys.json");
    // The keys file first, so that the instances do not race to make it.
    let mut cfg = test_config(dir.path()).await;
    cfg.keys_file = Some(keys.clone());
    drop(cardtoken_server::startup::open_vault(&cfg).unwrap());
    let children: Vec<Child> = (0..3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
                .arg("serve")
                .env("CARDTOKEN_DATA_DIR", dir.path().join(format!("instance-{i}")))
                .env("CARDTOKEN_DATABASE_URL", &url)
                .env("CARDTOKEN_KEYS_FILE", &keys)
                .env("CARDTOKEN_LISTEN", "127.0.0.1:0")
                .env("CARDTOKEN_DEMO_LISTEN", "off")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut instances = Vec::new();
    let mut created = 0;
    for mut child in children {
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("cardtoken API listening on ") {
                base = Some(u.to_string());
            }
            created += usize::from(line.contains("was created with a test key pair"));
            if line.contains("secret key:") || line.contains("secret keys are shown only") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        instances.push(Instance { child, base: base.expect("the instance started") });
    }
    assert_eq!(created, 1, "one instance made the first account");
    let out = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
        .args(["accounts", "list"])
        .env("CARDTOKEN_DATA_DIR", dir.path().join("instance-0"))
        .env("CARDTOKEN_DATABASE_URL", &url)
        .env("CARDTOKEN_KEYS_FILE", &keys)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.matches("acct_").count(), 1, "{listed}");
    drop(instances);
}

/// A line of an instance's `/metrics`, its value (0 when absent).
async fn metric(c: &Cluster, i: usize, series: &str) -> f64 {
    let text = c.client.get(format!("{}/metrics", c.base(i))).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test]
async fn a_cvc_held_by_the_instance_that_made_the_token_reaches_the_one_that_pays_and_is_dropped() {
    if postgres().is_none() {
        return;
    }
    let mut c = cluster(2, &[]).await;
    // Made on instance 0 (which holds its CVC, never in the database), paid on instance 1.
    let token = c.token(0, "5555555555554444").await;
    assert_eq!(metric(&c, 0, "cardtoken_cvcs_held").await, 1.0);
    let body = json!({"amount": 500, "currency": "jpy", "token": token});
    let (status, p) = c.call(1, Method::POST, "/v1/payments", &c.sk, Some(body), None).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        metric(&c, 1, "cardtoken_authorizations_cvc_total{cvc=\"sent\"}").await,
        1.0,
        "paid with its CVC"
    );
    assert_eq!(metric(&c, 1, "cardtoken_authorizations_cvc_total{cvc=\"missing\"}").await, 0.0);
    // The holder was told to let go.
    let mut held = 1.0;
    for _ in 0..50 {
        held = metric(&c, 0, "cardtoken_cvcs_held").await;
        if held == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held, 0.0, "the holder dropped the used token's CVC");

    // A holder that is gone (killed: its memory with it) leaves the payment to go on, without the CVC,
    // after a short wait.
    let token = c.token(0, "4242424242424242").await;
    c.instances[0].child.kill().unwrap();
    c.instances[0].child.wait().unwrap();
    let started = std::time::Instant::now();
    let body = json!({"amount": 500, "currency": "jpy", "token": token});
    let (status, p) = c.call(1, Method::POST, "/v1/payments", &c.sk, Some(body), None).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(metric(&c, 1, "cardtoken_authorizations_cvc_total{cvc=\"missing\"}").await, 1.0);
}

/// Starts an instance on `url` with `env`; answers its base URL, or what it printed when it stopped.
fn start(url: &str, env: &[(&str, String)]) -> Result<Instance, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
        .arg("serve")
        .env("CARDTOKEN_DATABASE_URL", url)
        .env("CARDTOKEN_LISTEN", "127.0.0.1:0")
        .env("CARDTOKEN_DEMO_LISTEN", "off")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if let Some(base) = line.unwrap().strip_prefix("cardtoken API listening on ") {
            std::thread::spawn(move || for _ in lines {});
            return Ok(Instance { child, base: base.to_string() });
        }
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let _ = child.wait();
    Err(err)
}

#[tokio::test]
async fn an_instance_with_card_encryption_keys_of_its_own_refuses_to_start() {
    if postgres().is_none() {
        return;
    }
    // Master and fingerprint keys shared through the environment, but each instance its own keys file:
    // the second would publish an encryption key the first cannot open.
    let dir = tempfile::tempdir().unwrap();
    let url = test_config(dir.path()).await.database_url;
    let key = |b: u8| base64_of(&[b; 32]);
    let env = |name: &str| {
        vec![
            ("CARDTOKEN_MASTER_KEY", key(7)),
            ("CARDTOKEN_FINGERPRINT_KEY", key(9)),
            ("CARDTOKEN_DATA_DIR", dir.path().join(name).display().to_string()),
        ]
    };
    let first = start(&url, &env("a")).expect("the first instance starts");
    let refused = start(&url, &env("b")).err().expect("the second instance refuses to start");
    assert!(refused.contains("card-encryption keys are not the deployment's"), "{refused}");

    // Rotations of the deployment's keys file are the deployment's: with no instance running to see
    // them, two rotations with no grace leave the file none of the keys the database knew from the
    // first start, and an instance started with it still starts (the command recorded its keys).
    drop(first);
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
            .args(["keys", "rotate-encryption", "--grace", "0"])
            .env("CARDTOKEN_DATABASE_URL", &url)
            .envs(env("a").iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let again = start(&url, &env("a")).expect("an instance with the rotated keys file starts");
    drop(again);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn the_per_address_and_per_card_limits_hold_across_instances() {
    if postgres().is_none() {
        return;
    }
    // One address may make 12 tokens a minute, whichever instances its requests reach (one bucket each
    // would let 36 through); then one card may be tried 5 times an hour, from any address.
    let c = cluster(3, &[("CARDTOKEN_RATE_CLIENT_PER_MINUTE", "12"), ("CARDTOKEN_RATE_CARD_PER_HOUR", "5")])
        .await;
    let started = std::time::Instant::now();
    let mut outcomes = BTreeMap::<u16, usize>::new();
    for i in 0..36u64 {
        let number = format!("4{:014}", 1000 + i * 7);
        let number = format!("{number}{}", luhn_digit(&number));
        let body = json!({"card": card(&number, "123")});
        let (status, _) = c.call(i as usize, Method::POST, "/v1/tokens", &c.pk, Some(body), None).await;
        *outcomes.entry(status.as_u16()).or_default() += 1;
    }
    let refilled = (started.elapsed().as_secs_f64() / 5.0).floor() as usize;
    let ok = outcomes.get(&200).copied().unwrap_or(0);
    assert!((12..=12 + refilled).contains(&ok), "one bucket for the address across instances: {outcomes:?}");

    // The same card from 12 addresses (behind no proxy the address is the connection's: loopback ones).
    let mut ok = 0;
    for i in 0..12u8 {
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, 10 + i)))
            .build()
            .unwrap();
        let resp = client
            .post(format!("{}/v1/tokens", c.base(usize::from(i))))
            .bearer_auth(&c.pk)
            .json(&json!({"card": card("4111111111111111", "123")}))
            .send()
            .await
            .unwrap();
        ok += usize::from(resp.status() == StatusCode::OK);
    }
    assert_eq!(ok, 5, "one bucket for the card across instances and addresses");
}

#[tokio::test]
async fn each_event_reaches_its_receiver_once_from_every_worker_and_all_arrive_when_one_instance_is_killed() {
    if postgres().is_none() {
        return;
    }
    let env = [("CARDTOKEN_LEASE_SECS", "3"), ("CARDTOKEN_WEBHOOK_RETRY_SECS", "1,1,1,1,1,1,1,1,1,1")];
    let mut c = cluster(3, &env).await;
    let receiver = Receiver::start(0, &[]).await;
    let (status, _) = c
        .call(0, Method::POST, "/v1/webhook_endpoints", &c.sk, Some(json!({"url": receiver.url})), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..30 {
        pay(&c, i).await;
    }
    let ids = |r: &Receiver| -> Vec<String> {
        r.deliveries().iter().map(|d| d.header("webhook-id").to_string()).collect()
    };
    eventually("30 events delivered", || ids(&receiver).len() >= 30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = ids(&receiver);
    let unique: std::collections::BTreeSet<_> = got.iter().collect();
    assert_eq!((got.len(), unique.len()), (30, 30), "each event once, though three workers claim");

    // Kill one instance (SIGKILL) while more events are made and sent: every one still arrives.
    let killed = c.instances.remove(1);
    let mut tasks = Vec::new();
    let c = Arc::new(c);
    for i in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { pay(&c, i).await }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(killed); // kill -9
    for t in tasks {
        t.await.unwrap();
    }
    eventually("all 50 events arrived", || {
        ids(&receiver).iter().collect::<std::collections::BTreeSet<_>>().len() >= 50
    })
    .await;
    let (_, events) = c.call(0, Method::GET, "/v1/events?limit=100", &c.sk, None, None).await;
    let made: std::collections::BTreeSet<String> =
        events["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let arrived: std::collections::BTreeSet<String> = ids(&receiver).into_iter().collect();
    assert_eq!(made.len(), 50);
    assert_eq!(
        arrived, made,
        "every event made arrived (a delivery the killed instance held is sent after its lease)"
    );
}

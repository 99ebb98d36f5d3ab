//! The server binary killed with SIGKILL: deliveries pending then still arrive after a restart, none
//! lost; and requests retried with their idempotency keys across kills take effect exactly once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::webhooks::{free_port, Receiver};

struct Server {
    child: Child,
    api: String,
    keys: Option<(String, String)>,
}

fn start(env: &[(&'static str, String)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("CARDTOKEN_LISTEN", "127.0.0.1:0")
        .env("CARDTOKEN_DEMO_LISTEN", "off")
        .env("CARDTOKEN_WEBHOOK_RETRY_SECS", "1,1,1,1,1,1,1,1,1,1")
        // A delivery cut off mid-send is taken over once its lease runs out: short here (default 60 s).
        .env("CARDTOKEN_LEASE_SECS", "5")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut api, mut pk, mut sk) = (None, None, None);
    for line in stdout.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("cardtoken API listening on ") {
            api = Some(u.to_string());
        } else if let Some(k) = line.trim().strip_prefix("publishable key: ") {
            pk = Some(k.trim().to_string());
        } else if let Some(k) = line.trim().strip_prefix("secret key:") {
            sk = k.split_whitespace().next().map(str::to_string);
        }
        if api.is_some() && (sk.is_some() || line.contains("secret keys are shown only")) {
            break;
        }
    }
    drain(stdout);
    Server { child, api: api.unwrap(), keys: pk.zip(sk) }
}

/// Keeps reading what the server prints, so that it never writes to a closed pipe.
fn drain(stdout: std::io::Lines<BufReader<std::process::ChildStdout>>) {
    std::thread::spawn(move || for _ in stdout {});
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> Value {
    let mut req = client.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn deliveries_pending_when_the_server_is_killed_arrive_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let env = crate::helpers::binary_env(dir.path()).await;
    let mut server = start(&env);
    let (pk, sk) = server.keys.clone().unwrap();
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/webhook_endpoints", server.api),
        &sk,
        Some(json!({"url": hook})),
    )
    .await;
    for _ in 0..5 {
        let token = call(&client, reqwest::Method::POST, format!("{}/v1/tokens", server.api), &pk,
            Some(json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}))).await;
        let paid = call(
            &client,
            reqwest::Method::POST,
            format!("{}/v1/payments", server.api),
            &sk,
            Some(json!({"amount": 1500, "currency": "jpy", "token": token["id"]})),
        )
        .await;
        assert_eq!(paid["status"], "succeeded", "{paid}");
    }
    let events =
        call(&client, reqwest::Method::GET, format!("{}/v1/events?limit=100", server.api), &sk, None).await;
    let ids: BTreeSet<String> =
        events["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 5);
    tokio::time::sleep(Duration::from_millis(300)).await; // first attempts fail: nobody listens
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();

    let receiver = Receiver::start(port, &[]).await;
    let mut restarted = start(&env);
    // Leases of deliveries cut off mid-send expire after 5 s (CARDTOKEN_LEASE_SECS), so allow for that.
    for _ in 0..900 {
        let got: BTreeSet<String> =
            receiver.deliveries().iter().map(|d| d.header("webhook-id").to_string()).collect();
        if got == ids {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got: BTreeSet<String> =
        receiver.deliveries().iter().map(|d| d.header("webhook-id").to_string()).collect();
    restarted.child.kill().unwrap();
    let _ = restarted.child.wait();
    assert_eq!(got, ids, "every event arrived after the restart, none lost");
}

/// A free port outside the kernel's ephemeral range: the server comes back on it after each kill, and no
/// other test's server (on port 0) can be handed it in between.
fn stable_port() -> u16 {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    (0..2000)
        .map(|i| 20_000 + ((seed as usize + i * 7) % 10_000) as u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below the ephemeral range")
}

/// A call that is retried, with the same idempotency key, until the server answers something final
/// (connection errors, 5xx and 409 are retried). Answers the final status and body.
async fn until_answered(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    idempotency_key: &str,
    body: &Value,
) -> (u16, Value) {
    for _ in 0..600 {
        let sent = client
            .post(url)
            .bearer_auth(key)
            .header("idempotency-key", idempotency_key)
            .json(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(resp) = sent {
            let status = resp.status().as_u16();
            if let Ok(json) = resp.json::<Value>().await {
                if status < 500 && status != 409 {
                    return (status, json);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no final answer for {idempotency_key}");
}

#[tokio::test]
async fn requests_retried_with_their_keys_across_three_sigkills_take_effect_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = stable_port();
    let env = crate::helpers::binary_env(dir.path()).await;
    let start_on = move |env: &[(&'static str, String)]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("CARDTOKEN_LISTEN", format!("127.0.0.1:{port}"))
            .env("CARDTOKEN_DEMO_LISTEN", "off")
            .env("CARDTOKEN_RATE_CLIENT_PER_MINUTE", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut keys = (None, None);
        for line in stdout.by_ref() {
            let line = line.unwrap();
            if let Some(k) = line.trim().strip_prefix("publishable key: ") {
                keys.0 = Some(k.trim().to_string());
            } else if let Some(k) = line.trim().strip_prefix("secret key:") {
                keys.1 = k.split_whitespace().next().map(str::to_string);
            }
            if keys.1.is_some() || line.contains("secret keys are shown only") {
                break;
            }
        }
        drain(stdout);
        (child, keys)
    };
    let (first, keys) = start_on(&env);
    let (pk, sk) = (keys.0.unwrap(), keys.1.unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let server = std::sync::Arc::new(std::sync::Mutex::new(first));

    // Three kills while twelve clients tokenize, pay and refund twice each; the server comes straight back.
    let killer = {
        let server = server.clone();
        let env = env.clone();
        tokio::spawn(async move {
            for wait in [400, 700, 900] {
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let mut child = server.lock().unwrap();
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                *child = start_on(&env).0;
            }
        })
    };
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (client, base, pk, sk) = (client.clone(), base.clone(), pk.clone(), sk.clone());
        tasks.push(tokio::spawn(async move {
            let mut payments = Vec::new();
            for round in 0..4 {
                let card = json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}});
                let (status, token) =
                    until_answered(&client, &format!("{base}/v1/tokens"), &pk, &format!("t-{i}-{round}"), &card).await;
                assert_eq!(status, 200, "{token}");
                let pay = json!({"amount": 1000, "currency": "jpy", "token": token["id"],
                    "metadata": {"client": i.to_string(), "round": round.to_string()}});
                let url = format!("{base}/v1/payments");
                let (status, paid) = until_answered(&client, &url, &sk, &format!("p-{i}-{round}"), &pay).await;
                assert_eq!(status, 200, "a retried payment never fails: {paid}");
                for r in 0..2 {
                    let refund = json!({"payment": paid["id"], "amount": 100});
                    let url = format!("{base}/v1/refunds");
                    let (status, re) = until_answered(&client, &url, &sk, &format!("r-{i}-{round}-{r}"), &refund).await;
                    assert_eq!(status, 200, "a retried refund never fails: {re}");
                }
                payments.push(paid["id"].as_str().unwrap().to_string());
            }
            payments
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    killer.await.unwrap();
    let listed =
        call(&client, reqwest::Method::GET, format!("{base}/v1/payments?limit=100"), &sk, None).await;
    let listed = listed["data"].as_array().unwrap().clone();
    server.lock().unwrap().kill().unwrap();
    assert_eq!(ids.len(), 48, "every client got its own payments");
    assert_eq!(listed.len(), 48, "exactly one payment per key, none made twice");
    for p in &listed {
        assert!(ids.contains(p["id"].as_str().unwrap()), "{p}");
        assert_eq!(p["amount_refunded"], 200, "exactly two refunds of 100: {p}");
    }
}

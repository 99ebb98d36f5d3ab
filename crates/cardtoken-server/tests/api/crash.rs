//! The server binary killed with SIGKILL while deliveries are pending, then started again: every event
//! still arrives, none lost.

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

fn start(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
        .arg("serve")
        .env("CARDTOKEN_DATA_DIR", dir)
        .env("CARDTOKEN_LISTEN", "127.0.0.1:0")
        .env("CARDTOKEN_DEMO_LISTEN", "off")
        .env("CARDTOKEN_WEBHOOK_RETRY_SECS", "1,1,1,1,1,1,1,1,1,1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut api, mut pk, mut sk) = (None, None, None);
    for line in stdout.lines() {
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
    Server { child, api: api.unwrap(), keys: pk.zip(sk) }
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
    let mut server = start(dir.path());
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
    let mut restarted = start(dir.path());
    // Leases of deliveries cut off mid-send expire after 30 s, so allow for that.
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

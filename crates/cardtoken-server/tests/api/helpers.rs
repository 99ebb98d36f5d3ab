use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use cardtoken_server::clock::{Clock, ManualClock, SystemClock};
use cardtoken_server::config::Config;
use cardtoken_server::payments::processor::TestCards;
use cardtoken_server::startup::Application;
use cardtoken_server::state::AppState;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// 2026-11-24T12:00:00Z
pub const NOW: i64 = 1_795_521_600;

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT_LOGS: Once = Once::new();

struct Capture;
impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line any test's server wrote, at every level down to TRACE for our crates.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn capture_logs() {
    INIT_LOGS.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::new("trace,hyper=debug,h2=debug,rustls=debug");
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(|| Capture).init();
    });
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pk: String,
    pub sk: String,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub config: Config,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A server on a fresh data dir.
pub async fn spawn_app() -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut app = spawn_app_in(&dir, None).await;
    app._tmp = Some(tmp);
    app
}

/// A server on a fresh data dir, with `tweak` applied to its configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut config = Config::for_tests(&dir);
    tweak(&mut config);
    let mut app = spawn_configured(config, None, false).await;
    app._tmp = Some(tmp);
    app
}

/// A server on the real clock (webhook receivers check timestamps against theirs), with short retries.
pub async fn spawn_app_realtime(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(tmp.path());
    config.webhook_retry_secs = vec![1, 1, 1, 1, 1, 1];
    config.async_delay_secs = 1;
    tweak(&mut config);
    let mut app = spawn_configured(config, None, true).await;
    app._tmp = Some(tmp);
    app
}

/// A server on `dir`; `keys` are the keys of an earlier start on it.
pub async fn spawn_app_in(dir: &Path, keys: Option<(String, String)>) -> TestApp {
    spawn_configured(Config::for_tests(dir), keys, false).await
}

/// `realtime`: the server runs on the system clock (`TestApp::clock` then moves nothing).
async fn spawn_configured(config: Config, keys: Option<(String, String)>, realtime: bool) -> TestApp {
    capture_logs();
    let dir = config.data_dir.clone();
    let clock = Arc::new(ManualClock::new(NOW));
    let server_clock: Arc<dyn Clock> = if realtime { Arc::new(SystemClock) } else { clock.clone() };
    let app = Application::build_with(config.clone(), server_clock, Arc::new(TestCards)).await.unwrap();
    let (pk, sk) = match (&app.first_run_keys, keys) {
        (Some(pair), _) => {
            use secrecy::ExposeSecret;
            (pair.publishable.clone(), pair.secret.expose_secret().to_string())
        }
        (None, Some(keys)) => keys,
        (None, None) => panic!("no keys: pass the first start's keys"),
    };
    let base = app.api_base().to_string();
    let state = app.state();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_with_shutdown(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        pk,
        sk,
        clock,
        state,
        config,
        dir,
        _tmp: None,
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Stops the server and waits until it has finished; the data dir stays.
    pub async fn stop(mut self) -> (PathBuf, (String, String), Option<tempfile::TempDir>) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
        (self.dir.clone(), (self.pk.clone(), self.sk.clone()), self._tmp.take())
    }

    pub async fn post_raw(
        &self,
        key: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value, String) {
        let mut req = self
            .client
            .post(format!("{}/v1/tokens", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
    }

    /// Any API request: answers status, JSON, raw text and headers.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Response { status, json: serde_json::from_str(&text).unwrap_or(Value::Null), text, headers }
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.call(reqwest::Method::POST, path, Some(&self.sk), Some(body), None).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call(reqwest::Method::GET, path, Some(&self.sk), None, None).await
    }

    /// A fresh token for `number` (CVC fitting the brand).
    pub async fn token_for(&self, number: &str) -> String {
        let cvc = if number.starts_with("34") || number.starts_with("37") { "1234" } else { "123" };
        let (status, token, text) = self.tokenize(&self.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        token["id"].as_str().unwrap().to_string()
    }

    /// Pays `amount` JPY with a fresh token for `number`.
    pub async fn pay(&self, number: &str, amount: u64, capture: bool) -> Response {
        let token = self.token_for(number).await;
        self.post(
            "/v1/payments",
            json!({"amount": amount, "currency": "jpy", "token": token, "capture": capture}),
        )
        .await
    }

    pub async fn tokenize(&self, key: &str, card: Value) -> (StatusCode, Value, String) {
        self.post_raw(Some(key), "application/json", json!({ "card": card }).to_string()).await
    }

    pub async fn get_token(&self, key: &str, id: &str) -> (StatusCode, Value, String) {
        let resp =
            self.client.get(format!("{}/v1/tokens/{id}", self.base)).bearer_auth(key).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
    }

    /// The SQLite file, its WAL and shared memory, as bytes.
    pub fn database_bytes(&self) -> Vec<u8> {
        let db = self.config.sqlite_path().unwrap();
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            if let Ok(bytes) = std::fs::read(p) {
                all.extend(bytes);
            }
        }
        all
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Response {
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
    pub fn error_type(&self) -> &str {
        self.json["error"]["type"].as_str().unwrap_or("")
    }
}

pub fn card(number: &str, cvc: &str) -> Value {
    json!({ "number": number, "exp_month": 12, "exp_year": 2034, "cvc": cvc })
}

/// Waits (up to 20 s) until `check` holds.
pub async fn eventually<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

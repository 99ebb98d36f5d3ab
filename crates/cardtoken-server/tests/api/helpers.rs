use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use cardtoken_server::clock::ManualClock;
use cardtoken_server::config::Config;
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

/// A server on `dir`; `keys` are the keys of an earlier start on it.
pub async fn spawn_app_in(dir: &Path, keys: Option<(String, String)>) -> TestApp {
    capture_logs();
    let config = Config::for_tests(dir);
    let clock = Arc::new(ManualClock::new(NOW));
    let app = Application::build_with_clock(config.clone(), clock.clone()).await.unwrap();
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
        dir: dir.to_path_buf(),
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

pub fn card(number: &str, cvc: &str) -> Value {
    json!({ "number": number, "exp_month": 12, "exp_year": 2034, "cvc": cvc })
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

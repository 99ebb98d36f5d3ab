use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use cardtoken_server::clock::{Clock, ManualClock, SystemClock};
use cardtoken_server::config::Config;
use cardtoken_server::domain::accounts::{self, NewAccount};
use cardtoken_server::domain::payments::processor::{
    AuthRequest, Decision, Processor, RefundDecision, TestCards,
};
use cardtoken_server::domain::webhook_endpoints::{HostResolver, SystemResolver};
use cardtoken_server::domain::Services;
use cardtoken_server::startup::Application;
use cardtoken_server::store::{self, Tx};
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

/// Every log line any test's server wrote, at every level down to TRACE (libraries included).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn capture_logs() {
    INIT_LOGS.call_once(|| {
        // Everything at TRACE, with only the limits the server itself always applies.
        let filter = cardtoken_server::telemetry::guarded(tracing_subscriber::EnvFilter::new("trace"));
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(|| Capture).init();
    });
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The first account's test keys.
    pub pk: String,
    pub sk: String,
    /// The first account's live keys (on a fresh data dir).
    pub live: Option<(String, String)>,
    pub account: String,
    pub clock: Arc<ManualClock>,
    pub svc: Arc<Services>,
    pub config: Config,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The PostgreSQL cluster the tests run against (`CARDTOKEN_TEST_POSTGRES`, set by `npm test`'s second
/// pass), or `None` for SQLite.
pub fn postgres() -> Option<String> {
    std::env::var("CARDTOKEN_TEST_POSTGRES").ok().filter(|v| !v.is_empty())
}

/// A test's configuration: everything under `dir`, and on PostgreSQL a database of its own, named after
/// `dir` (so a restart on the same dir finds it again).
pub async fn test_config(dir: &Path) -> Config {
    let mut config = Config::for_tests(dir);
    if let Some(base) = postgres() {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(dir.to_string_lossy().as_bytes());
        let name: String =
            format!("ct_{}", digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>());
        let admin = base.clone();
        let created = name.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            match client.batch_execute(&format!("CREATE DATABASE {created}")) {
                Ok(()) => {}
                Err(e) if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => panic!("creating the test database: {e}"),
            }
        })
        .await
        .unwrap();
        config.database_url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("CARDTOKEN_TEST_POSTGRES is not a URL"),
        };
    }
    config
}

/// The environment a server binary started by a test needs for the same backend as the test's.
pub async fn binary_env(dir: &Path) -> Vec<(&'static str, String)> {
    let config = test_config(dir).await;
    vec![
        ("CARDTOKEN_DATA_DIR", dir.display().to_string()),
        ("CARDTOKEN_DATABASE_URL", config.database_url),
        // The tests' receivers listen on loopback.
        ("CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS", "true".to_string()),
    ]
}

/// A server on a fresh data dir.
pub async fn spawn_app() -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut app = spawn_app_in(&dir, None).await;
    app._tmp = Some(tmp);
    app
}

/// Another instance of `first`'s deployment: a data dir of its own, the same database and keys file.
pub async fn spawn_second_instance(first: &TestApp) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path()).await;
    config.database_url = first.config.database_url.clone();
    config.keys_file = Some(first.config.keys_path());
    let keys = Some((first.pk.clone(), first.sk.clone()));
    let mut app = spawn_configured(config, keys, false, Arc::new(TestCards)).await;
    app._tmp = Some(tmp);
    app
}

/// A server on a fresh data dir, with `tweak` applied to its configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut config = test_config(&dir).await;
    tweak(&mut config);
    let mut app = spawn_configured(config, None, false, Arc::new(TestCards)).await;
    app._tmp = Some(tmp);
    app
}

/// A server on a fresh data dir whose test-mode processor is `processor`.
pub async fn spawn_app_with_processor(processor: Arc<dyn Processor>) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(tmp.path()).await;
    let mut app = spawn_configured(config, None, false, processor).await;
    app._tmp = Some(tmp);
    app
}

/// A server on the real clock (webhook receivers check timestamps against theirs), with short retries.
pub async fn spawn_app_realtime(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path()).await;
    config.webhook_retry_secs = vec![1, 1, 1, 1, 1, 1];
    config.async_delay_secs = 1;
    tweak(&mut config);
    let mut app = spawn_configured(config, None, true, Arc::new(TestCards)).await;
    app._tmp = Some(tmp);
    app
}

/// A server on `dir`; `keys` are the keys of an earlier start on it.
pub async fn spawn_app_in(dir: &Path, keys: Option<(String, String)>) -> TestApp {
    spawn_configured(test_config(dir).await, keys, false, Arc::new(TestCards)).await
}

/// A server on the real clock whose webhook hosts `resolver` names.
pub async fn spawn_app_with_resolver(
    tweak: impl FnOnce(&mut Config),
    resolver: Arc<dyn HostResolver>,
) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path()).await;
    config.webhook_retry_secs = vec![1, 1, 1, 1, 1, 1];
    tweak(&mut config);
    let mut app = spawn_resolving(config, None, true, Arc::new(TestCards), resolver).await;
    app._tmp = Some(tmp);
    app
}

/// `realtime`: the server runs on the system clock (`TestApp::clock` then moves nothing).
pub async fn spawn_configured(
    config: Config,
    keys: Option<(String, String)>,
    realtime: bool,
    processor: Arc<dyn Processor>,
) -> TestApp {
    spawn_resolving(config, keys, realtime, processor, Arc::new(SystemResolver)).await
}

async fn spawn_resolving(
    config: Config,
    keys: Option<(String, String)>,
    realtime: bool,
    processor: Arc<dyn Processor>,
    resolver: Arc<dyn HostResolver>,
) -> TestApp {
    capture_logs();
    let dir = config.data_dir.clone();
    let clock = Arc::new(ManualClock::new(NOW));
    let server_clock: Arc<dyn Clock> = if realtime { Arc::new(SystemClock) } else { clock.clone() };
    let app =
        Application::build_with_resolver(config.clone(), server_clock, processor, resolver).await.unwrap();
    let svc = app.services();
    let (pk, sk, live) = match (&app.first_account, keys) {
        (Some(first), _) => (
            accounts::reveal(&first.test.publishable).to_string(),
            accounts::reveal(&first.test.secret).to_string(),
            Some((
                accounts::reveal(&first.live.publishable).to_string(),
                accounts::reveal(&first.live.secret).to_string(),
            )),
        ),
        (None, Some((pk, sk))) => (pk, sk, None),
        (None, None) => panic!("no keys: pass the first start's keys"),
    };
    let account = accounts::lookup(&svc, &pk).await.unwrap().expect("the test key is stored").account_id;
    let base = app.api_base().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_with_shutdown(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        pk,
        sk,
        live,
        account,
        clock,
        svc,
        config,
        dir,
        _tmp: None,
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Reads storage directly.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> store::Result<T> + Send + 'static,
    ) -> T {
        store::read(&self.svc.store, f).await.unwrap()
    }

    /// Another account on this server, with its keys.
    pub async fn new_account(&self, name: &str) -> NewAccount {
        accounts::create_account(&self.svc.store, name, self.clock.now()).await.unwrap()
    }

    /// The first account's live keys.
    pub fn live_keys(&self) -> (String, String) {
        self.live.clone().expect("a fresh data dir has live keys")
    }

    /// Tells the server to stop (as SIGTERM does) and answers what finishes once it has stopped.
    pub fn begin_stop(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.take().expect("the server runs")
    }

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
        self.pay_with(&self.pk, &self.sk, number, amount, capture).await
    }

    /// Pays with another key pair (another account or mode).
    pub async fn pay_with(&self, pk: &str, sk: &str, number: &str, amount: u64, capture: bool) -> Response {
        let cvc = if number.starts_with("34") || number.starts_with("37") { "1234" } else { "123" };
        let (status, token, text) = self.tokenize(pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        self.call(
            reqwest::Method::POST,
            "/v1/payments",
            Some(sk),
            Some(json!({"amount": amount, "currency": "jpy", "token": token["id"], "capture": capture})),
            None,
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

    /// Every byte the database keeps on disk: the SQLite file, its WAL and shared memory; or, on
    /// PostgreSQL, every file of the cluster's data directory (heap, indexes, WAL) after a checkpoint.
    pub async fn database_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        if let Some(db) = self.config.sqlite_path() {
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", db.display()));
                if let Ok(bytes) = std::fs::read(p) {
                    all.extend(bytes);
                }
            }
            return all;
        }
        let url = self.config.database_url.clone();
        let oid: u32 = tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.batch_execute("CHECKPOINT").unwrap();
            client
                .query_one("SELECT oid FROM pg_database WHERE datname = current_database()", &[])
                .unwrap()
                .get(0)
        })
        .await
        .unwrap();
        // This database's files, and the write-ahead log every database shares.
        let data =
            PathBuf::from(std::env::var("PG_DATA").expect("PG_DATA names the test cluster's data dir"));
        read_tree(&data.join("base").join(oid.to_string()), &mut all);
        read_tree(&data.join("pg_wal"), &mut all);
        all
    }
}

/// The Luhn check digit that completes `body` (the digits of a card number but its last).
pub fn luhn_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Every file under a data dir, one after the other.
pub fn data_dir_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    read_tree(dir, &mut all);
    all
}

fn read_tree(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_tree(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
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
    !needle.is_empty() && found(haystack, &[needle]).contains(&0)
}

/// Which of `needles` occur in `haystack` (their indexes), in one pass: database scans read hundreds of
/// megabytes on PostgreSQL.
pub fn found(haystack: &[u8], needles: &[&[u8]]) -> std::collections::BTreeSet<usize> {
    let ac = aho_corasick::AhoCorasick::new(needles).unwrap();
    ac.find_overlapping_iter(haystack).map(|m| m.pattern().as_usize()).collect()
}

/// What the processor was asked: each authorization's card (last four) and whether a CVC came with it,
/// and each refund's card (last four).
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<(String, Option<String>)>>,
    pub refunds: Mutex<Vec<String>>,
}

impl Processor for Recorder {
    fn authorize(
        &self,
        request: &cardtoken_server::domain::payments::processor::AuthRequest<'_>,
    ) -> cardtoken_server::domain::payments::processor::Decision {
        self.seen
            .lock()
            .unwrap()
            .push((request.number.last4().to_string(), request.cvc.map(|c| c.expose().to_string())));
        TestCards.authorize(request)
    }
    fn complete_challenge(
        &self,
        request: &cardtoken_server::domain::payments::processor::AuthRequest<'_>,
        passed: bool,
    ) -> cardtoken_server::domain::payments::processor::Decision {
        TestCards.complete_challenge(request, passed)
    }
    fn refund(
        &self,
        number: &cardtoken_types::CardNumber,
        amount: u64,
    ) -> cardtoken_server::domain::payments::processor::RefundDecision {
        self.refunds.lock().unwrap().push(number.last4().to_string());
        TestCards.refund(number, amount)
    }
    fn disputes_after_capture(&self, number: &cardtoken_types::CardNumber) -> bool {
        TestCards.disputes_after_capture(number)
    }
}

impl Recorder {
    pub fn last(&self) -> Option<(String, Option<String>)> {
        self.seen.lock().unwrap().last().cloned()
    }
}

/// `word` standing alone: random ids in the logs (`tok_…`, letters and digits) hold four-digit runs by
/// chance, a logged CVC would not be glued to other letters or digits.
pub fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
        let after = text[i + word.len()..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        !before && !after
    })
}

/// Test cards, as a slow acquirer answers them: each authorization takes `authorize`, each refund
/// `refund`; `authorizations` and `refunds` count how often each was asked.
pub struct Slow {
    authorize: std::time::Duration,
    refund: std::time::Duration,
    pub authorizations: std::sync::atomic::AtomicUsize,
    pub refunds: std::sync::atomic::AtomicUsize,
}

/// A client that gives up 200 ms into a request and closes its connection (a shopper's tab closed, a
/// merchant's server timing out), for the tests of what a hang-up leaves behind.
pub fn hanging_up() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_millis(200)).build().unwrap()
}

impl Slow {
    pub fn authorizing(delay: std::time::Duration) -> Slow {
        Slow {
            authorize: delay,
            refund: std::time::Duration::ZERO,
            authorizations: Default::default(),
            refunds: Default::default(),
        }
    }

    pub fn refunding(delay: std::time::Duration) -> Slow {
        Slow { refund: delay, ..Slow::authorizing(std::time::Duration::ZERO) }
    }
}

impl Processor for Slow {
    fn authorize(&self, request: &AuthRequest<'_>) -> Decision {
        self.authorizations.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(self.authorize);
        TestCards.authorize(request)
    }
    fn complete_challenge(&self, request: &AuthRequest<'_>, passed: bool) -> Decision {
        TestCards.complete_challenge(request, passed)
    }
    fn refund(&self, number: &cardtoken_types::CardNumber, amount: u64) -> RefundDecision {
        self.refunds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(self.refund);
        TestCards.refund(number, amount)
    }
    fn disputes_after_capture(&self, number: &cardtoken_types::CardNumber) -> bool {
        TestCards.disputes_after_capture(number)
    }
}

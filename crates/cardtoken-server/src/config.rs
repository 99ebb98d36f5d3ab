//! Configuration: defaults, then a TOML file (`--config` or `CARDTOKEN_CONFIG`), then `CARDTOKEN_*`
//! environment variables. The master key is a secret: `Debug` shows it redacted, nothing prints it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the API listens (`CARDTOKEN_LISTEN`, default 127.0.0.1:4242).
    pub listen: SocketAddr,
    /// Where the demo checkout listens (`CARDTOKEN_DEMO_LISTEN`, default 127.0.0.1:4243, shown as
    /// http://localhost:4243 so it is another origin than the API); `off` for none.
    pub demo_listen: Option<SocketAddr>,
    /// Keys file and SQLite database live here (`CARDTOKEN_DATA_DIR`, default `data`).
    pub data_dir: PathBuf,
    /// `sqlite://path` (`CARDTOKEN_DATABASE_URL`, default `sqlite://{data_dir}/cardtoken.sqlite`).
    pub database_url: String,
    /// Base64 of the 32-byte master key, or `version:base64,…` (`CARDTOKEN_MASTER_KEY`); default: the
    /// keys file in the data dir, created with mode 0600 on first start.
    pub master_key: Option<SecretString>,
    /// The demo's files (`CARDTOKEN_WWW_DIR`, default `www`) and the built package (`CARDTOKEN_PKG_DIR`,
    /// default `pkg`).
    pub www_dir: PathBuf,
    pub pkg_dir: PathBuf,
    /// The API's URL as browsers reach it (`CARDTOKEN_PUBLIC_URL`); default from `listen`.
    pub public_url: Option<String>,
    /// How long a token lives, in seconds (default 900).
    pub token_ttl_secs: i64,
    /// How often expired tokens' CVCs are erased, in seconds (default 30).
    pub sweep_interval_secs: u64,
    /// Seconds between webhook delivery attempts (Standard Webhooks' schedule by default; tests shorten it).
    pub webhook_retry_secs: Vec<i64>,
    /// How long after the event a test card's dispute opens or its refund fails, in seconds (default 5).
    pub async_delay_secs: i64,
    /// Whether webhook endpoints may be private or loopback addresses (default: in test mode).
    pub allow_private_webhooks: bool,
    /// Seconds per fine monitoring bucket, and between alert evaluations (default 10).
    pub monitor_resolution_secs: i64,
    /// Where the dashboard's charting library (uPlot) is (default `node_modules/uplot/dist`).
    pub dashboard_assets_dir: std::path::PathBuf,
    /// Tokenizations per publishable key per minute, the card-testing defence (default 120).
    pub token_rate_per_minute: u32,
    /// Test mode: keys are `pk_test_`/`sk_test_` (the only mode so far).
    pub test_mode: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    demo_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key: Option<String>,
    www_dir: Option<PathBuf>,
    pkg_dir: Option<PathBuf>,
    public_url: Option<String>,
    token_ttl_secs: Option<i64>,
    sweep_interval_secs: Option<u64>,
    token_rate_per_minute: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("the config file {0} is not valid: {1}")]
    Parse(PathBuf, String),
    #[error("{0} is not valid: {1}")]
    Env(&'static str, String),
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from("data");
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4242)),
            demo_listen: Some(SocketAddr::from(([127, 0, 0, 1], 4243))),
            database_url: sqlite_url(&data_dir),
            data_dir,
            master_key: None,
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            public_url: None,
            token_ttl_secs: 15 * 60,
            sweep_interval_secs: 30,
            token_rate_per_minute: 120,
            webhook_retry_secs: vec![5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
            async_delay_secs: 5,
            allow_private_webhooks: true,
            monitor_resolution_secs: 10,
            dashboard_assets_dir: PathBuf::from("node_modules/uplot/dist"),
            test_mode: true,
        }
    }
}

fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("cardtoken.sqlite").display())
}

fn env(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_env<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    env(name).map(|v| v.parse().map_err(|e: T::Err| ConfigError::Env(name, e.to_string()))).transpose()
}

fn parse_demo(name: &'static str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if v == "off" {
        Ok(None)
    } else {
        v.parse().map(Some).map_err(|e: std::net::AddrParseError| ConfigError::Env(name, e.to_string()))
    }
}

impl Config {
    /// Reads the file (if any) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let file_path = file.map(Path::to_path_buf).or_else(|| env("CARDTOKEN_CONFIG").map(PathBuf::from));
        let fc = match &file_path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.clone(), e))?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse(p.clone(), e.to_string()))?
            }
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        let data_dir_set = fc.data_dir.is_some() || env("CARDTOKEN_DATA_DIR").is_some();
        if let Some(v) = fc.listen {
            c.listen = v;
        }
        if let Some(v) = fc.demo_listen {
            c.demo_listen = parse_demo("demo_listen", &v)?;
        }
        if let Some(v) = fc.data_dir {
            c.data_dir = v;
        }
        c.database_url = fc.database_url.unwrap_or_default();
        c.master_key = fc.master_key.map(SecretString::from);
        if let Some(v) = fc.www_dir {
            c.www_dir = v;
        }
        if let Some(v) = fc.pkg_dir {
            c.pkg_dir = v;
        }
        c.public_url = fc.public_url;
        if let Some(v) = fc.token_ttl_secs {
            c.token_ttl_secs = v;
        }
        if let Some(v) = fc.sweep_interval_secs {
            c.sweep_interval_secs = v;
        }
        if let Some(v) = fc.token_rate_per_minute {
            c.token_rate_per_minute = v;
        }

        if let Some(v) = parse_env("CARDTOKEN_LISTEN")? {
            c.listen = v;
        }
        if let Some(v) = env("CARDTOKEN_DEMO_LISTEN") {
            c.demo_listen = parse_demo("CARDTOKEN_DEMO_LISTEN", &v)?;
        }
        if let Some(v) = env("CARDTOKEN_DATA_DIR") {
            c.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("CARDTOKEN_DATABASE_URL") {
            c.database_url = v;
        }
        if let Some(v) = env("CARDTOKEN_MASTER_KEY") {
            c.master_key = Some(SecretString::from(v));
        }
        if let Some(v) = env("CARDTOKEN_WWW_DIR") {
            c.www_dir = PathBuf::from(v);
        }
        if let Some(v) = env("CARDTOKEN_PKG_DIR") {
            c.pkg_dir = PathBuf::from(v);
        }
        if let Some(v) = env("CARDTOKEN_PUBLIC_URL") {
            c.public_url = Some(v);
        }
        if let Some(v) = parse_env("CARDTOKEN_TOKEN_TTL_SECS")? {
            c.token_ttl_secs = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_SWEEP_INTERVAL_SECS")? {
            c.sweep_interval_secs = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_TOKEN_RATE_PER_MINUTE")? {
            c.token_rate_per_minute = v;
        }
        if let Some(v) = env("CARDTOKEN_WEBHOOK_RETRY_SECS") {
            c.webhook_retry_secs = v
                .split(',')
                .map(|p| p.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::Env("CARDTOKEN_WEBHOOK_RETRY_SECS", e.to_string()))?;
        }
        if let Some(v) = parse_env("CARDTOKEN_ASYNC_DELAY_SECS")? {
            c.async_delay_secs = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_MONITOR_RESOLUTION_SECS")? {
            c.monitor_resolution_secs = v;
        }
        if let Some(v) = env("CARDTOKEN_DASHBOARD_ASSETS_DIR") {
            c.dashboard_assets_dir = PathBuf::from(v);
        }
        if let Some(v) = parse_env("CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS")? {
            c.allow_private_webhooks = v;
        }
        if c.database_url.is_empty() || (!data_dir_set && c.database_url == sqlite_url(Path::new("data"))) {
            c.database_url = sqlite_url(&c.data_dir);
        }
        Ok(c)
    }

    /// A configuration for tests: everything under `data_dir`, ports chosen by the OS, no demo.
    pub fn for_tests(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo_listen: None,
            data_dir: data_dir.to_path_buf(),
            database_url: sqlite_url(data_dir),
            ..Config::default()
        }
    }

    /// The SQLite file the database URL names.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.database_url.strip_prefix("sqlite://").map(PathBuf::from)
    }
}

//! Configuration: defaults, then a TOML file (`--config` or `CARDTOKEN_CONFIG`), then `CARDTOKEN_*`
//! environment variables. The master key is a secret: `Debug` shows it redacted, nothing prints it.

use std::net::{IpAddr, SocketAddr};
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
    /// keys file, created with mode 0600 on first start.
    pub master_key: Option<SecretString>,
    /// Base64 of the 32-byte fingerprint key (`CARDTOKEN_FINGERPRINT_KEY`); default: the keys file.
    pub fingerprint_key: Option<SecretString>,
    /// The keys file (`CARDTOKEN_KEYS_FILE`, default `{data_dir}/keys.json`): instances sharing a
    /// database must share it (or the two keys above).
    pub keys_file: Option<PathBuf>,
    /// Connections to PostgreSQL per instance (`CARDTOKEN_DATABASE_POOL`, default 16).
    pub database_pool: usize,
    /// How long an instance's claim on a delivery or job lasts before another instance may take it over,
    /// in seconds (`CARDTOKEN_LEASE_SECS`, default 60; it must exceed a delivery's 15 s budget).
    pub lease_secs: i64,
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
    /// Whether webhook endpoints may be private, loopback or link-local addresses
    /// (`CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS`, default false: a merchant's endpoint must not reach the
    /// server's own network; `npm start`, a development server on loopback, turns it on for the demo shop).
    pub allow_private_webhooks: bool,
    /// Seconds per fine monitoring bucket, and between alert evaluations (default 10).
    pub monitor_resolution_secs: i64,
    /// Where the dashboard's charting library (uPlot) is (default `node_modules/uplot/dist`).
    pub dashboard_assets_dir: std::path::PathBuf,
    /// The card-testing defence (token buckets on tokenization): per publishable key, a ceiling shared by
    /// every instance (default 6000 a minute; `CARDTOKEN_RATE_KEY_PER_MINUTE`, formerly
    /// `CARDTOKEN_TOKEN_RATE_PER_MINUTE`)…
    pub rate_key_per_minute: u32,
    /// …per client address (default 30 a minute, `CARDTOKEN_RATE_CLIENT_PER_MINUTE`)…
    pub rate_client_per_minute: u32,
    /// …per card, by fingerprint (default 20 an hour, `CARDTOKEN_RATE_CARD_PER_HOUR`)…
    pub rate_card_per_hour: u32,
    /// …where a refused card costs this many accepted ones (default 3, `CARDTOKEN_RATE_FAILURE_COST`).
    pub rate_failure_cost: f64,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs, `CARDTOKEN_TRUSTED_PROXIES=10.0.0.0/8,::1/128`);
    /// default none: the client address is the connection's.
    pub trusted_proxies: Vec<Cidr>,
    /// How long an unused token's encrypted card data is kept after it expired, in seconds (default a day);
    /// its brand, last four and fingerprint stay.
    pub unused_card_retention_secs: i64,
    /// On a stop (SIGTERM), how long `/readyz` answers 503 while the instance still serves, so that a load
    /// balancer's health checks take it out of rotation before it stops accepting (`CARDTOKEN_DRAIN_SECS`,
    /// default 0).
    pub drain_secs: u64,
}

/// An address block, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a block of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u8) {
            match a {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
            _ => ip,
        };
        let ((a, width), (b, _)) = (bits(self.addr), bits(ip));
        let prefix = u32::from(self.prefix.min(width));
        if prefix == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - prefix);
        (a & mask) == (b & mask)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{s}`: bad prefix"))?
            }
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    demo_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key: Option<String>,
    fingerprint_key: Option<String>,
    keys_file: Option<PathBuf>,
    database_pool: Option<usize>,
    www_dir: Option<PathBuf>,
    pkg_dir: Option<PathBuf>,
    public_url: Option<String>,
    token_ttl_secs: Option<i64>,
    sweep_interval_secs: Option<u64>,
    token_rate_per_minute: Option<u32>,
    rate_key_per_minute: Option<u32>,
    rate_client_per_minute: Option<u32>,
    rate_card_per_hour: Option<u32>,
    rate_failure_cost: Option<f64>,
    trusted_proxies: Option<Vec<String>>,
    unused_card_retention_secs: Option<i64>,
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
            fingerprint_key: None,
            keys_file: None,
            database_pool: 16,
            lease_secs: 60,
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            public_url: None,
            token_ttl_secs: 15 * 60,
            sweep_interval_secs: 30,
            rate_key_per_minute: 6000,
            rate_client_per_minute: 30,
            rate_card_per_hour: 20,
            rate_failure_cost: 3.0,
            trusted_proxies: Vec::new(),
            unused_card_retention_secs: 24 * 60 * 60,
            drain_secs: 0,
            webhook_retry_secs: vec![5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
            async_delay_secs: 5,
            allow_private_webhooks: false,
            monitor_resolution_secs: 10,
            dashboard_assets_dir: PathBuf::from("node_modules/uplot/dist"),
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
        c.fingerprint_key = fc.fingerprint_key.map(SecretString::from);
        c.keys_file = fc.keys_file;
        if let Some(v) = fc.database_pool {
            c.database_pool = v;
        }
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
        if let Some(v) = fc.token_rate_per_minute.or(fc.rate_key_per_minute) {
            c.rate_key_per_minute = v;
        }
        if let Some(v) = fc.rate_client_per_minute {
            c.rate_client_per_minute = v;
        }
        if let Some(v) = fc.rate_card_per_hour {
            c.rate_card_per_hour = v;
        }
        if let Some(v) = fc.rate_failure_cost {
            c.rate_failure_cost = v;
        }
        if let Some(v) = fc.trusted_proxies {
            c.trusted_proxies = v
                .iter()
                .map(|p| p.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::Env("trusted_proxies", e))?;
        }
        if let Some(v) = fc.unused_card_retention_secs {
            c.unused_card_retention_secs = v;
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
        if let Some(v) = env("CARDTOKEN_FINGERPRINT_KEY") {
            c.fingerprint_key = Some(SecretString::from(v));
        }
        if let Some(v) = env("CARDTOKEN_KEYS_FILE") {
            c.keys_file = Some(PathBuf::from(v));
        }
        if let Some(v) = parse_env("CARDTOKEN_DATABASE_POOL")? {
            c.database_pool = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_LEASE_SECS")? {
            c.lease_secs = v;
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
            c.rate_key_per_minute = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_RATE_KEY_PER_MINUTE")? {
            c.rate_key_per_minute = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_RATE_CLIENT_PER_MINUTE")? {
            c.rate_client_per_minute = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_RATE_CARD_PER_HOUR")? {
            c.rate_card_per_hour = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_RATE_FAILURE_COST")? {
            c.rate_failure_cost = v;
        }
        if let Some(v) = env("CARDTOKEN_TRUSTED_PROXIES") {
            c.trusted_proxies = v
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::Env("CARDTOKEN_TRUSTED_PROXIES", e))?;
        }
        if let Some(v) = parse_env("CARDTOKEN_UNUSED_CARD_RETENTION_SECS")? {
            c.unused_card_retention_secs = v;
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
        if let Some(v) = parse_env("CARDTOKEN_DRAIN_SECS")? {
            c.drain_secs = v;
        }
        if let Some(v) = parse_env("CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS")? {
            c.allow_private_webhooks = v;
        }
        if c.database_url.is_empty() || (!data_dir_set && c.database_url == sqlite_url(Path::new("data"))) {
            c.database_url = sqlite_url(&c.data_dir);
        }
        Ok(c)
    }

    /// A configuration for tests: everything under `data_dir`, ports chosen by the OS, no demo, and
    /// rate limits out of the way (the tests of the limits set their own).
    pub fn for_tests(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo_listen: None,
            data_dir: data_dir.to_path_buf(),
            database_url: sqlite_url(data_dir),
            rate_key_per_minute: 1_000_000,
            rate_client_per_minute: 1_000_000,
            rate_card_per_hour: 1_000_000,
            // The tests' receivers listen on loopback.
            allow_private_webhooks: true,
            ..Config::default()
        }
    }

    /// The SQLite file the database URL names (`sqlite://path`).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.database_url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// Whether the database is PostgreSQL (`postgres://…` or `postgresql://…`).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://")
    }

    /// The keys file.
    pub fn keys_path(&self) -> PathBuf {
        self.keys_file.clone().unwrap_or_else(|| self.data_dir.join("keys.json"))
    }
}

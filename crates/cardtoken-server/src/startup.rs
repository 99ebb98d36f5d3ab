//! Building and running the server: `Application::build` opens storage and the vault and binds the
//! ports (0 in tests); `run_until_stopped` serves the API, the demo and the CVC sweeper until a signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::ApiError;
use crate::keys::{self, NewKeyPair};
use crate::payments::processor::{Processor, TestCards};
use crate::routes::{demo, payments, threeds, tokens, webhooks};
use crate::state::AppState;
use crate::store::{SqliteStore, Store};
use crate::vault::Vault;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("unsupported database URL (use sqlite://path): PostgreSQL support is not built yet")]
    DatabaseUrl,
}

pub struct Application {
    api: TcpListener,
    demo: Option<TcpListener>,
    state: AppState,
    api_base: String,
    /// The key pair made on first start, to print once.
    pub first_run_keys: Option<NewKeyPair>,
}

/// Opens the store a database URL names.
pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    let path = config.sqlite_path().ok_or(StartupError::DatabaseUrl)?;
    Ok(Arc::new(SqliteStore::open(&path)?))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|e| StartupError::Bind(addr, e))
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        Application::build_with(config, clock, Arc::new(TestCards)).await
    }

    /// Builds with a given clock and processor (tests use both).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        processor: Arc<dyn Processor>,
    ) -> Result<Application, StartupError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| crate::store::StoreError::Open(e.to_string()))?;
        let vault = Arc::new(Vault::open(&config.data_dir, config.master_key.as_ref())?);
        let store = open_store(&config)?;
        let released = store.idempotency_release_unfinished()?;
        if released > 0 {
            tracing::warn!(released, "released idempotency keys of requests cut short by a stop");
        }
        let first_run_keys = if store.list_keys()?.is_empty() {
            Some(keys::create_pair(store.as_ref(), clock.now(), !config.test_mode)?)
        } else {
            None
        };
        let api = bind(config.listen).await?;
        let demo = match config.demo_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let api_addr = api.local_addr().map_err(|e| StartupError::Bind(config.listen, e))?;
        let api_base = config.public_url.clone().unwrap_or_else(|| format!("http://{api_addr}"));
        let state = AppState {
            store,
            vault,
            clock,
            token_limiter: Arc::new(crate::ratelimit::RateLimiter::new(config.token_rate_per_minute)),
            monitor: Arc::new(crate::monitoring::Monitor::new(config.monitor_resolution_secs)),
            config: Arc::new(config),
            processor,
            api_base: api_base.as_str().into(),
        };
        Ok(Application { api, demo, state, api_base, first_run_keys })
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api.local_addr().unwrap_or(self.state.config.listen)
    }

    /// The demo's URL, on `localhost` so that it is another origin than the API's `127.0.0.1`.
    pub fn demo_url(&self) -> Option<String> {
        let addr = self.demo.as_ref()?.local_addr().ok()?;
        Some(if addr.ip().is_loopback() {
            format!("http://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        })
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` resolves, then finishes the requests in flight.
    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = stop_tx.send(true);
        });
        let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let sweeper = tokio::spawn(sweep_forever(self.state.clone()));
        let worker = tokio::spawn(crate::webhooks::run(self.state.clone()));
        let watcher = tokio::spawn(watch_forever(self.state.clone()));
        let api = axum::serve(self.api, api_router(self.state.clone()))
            .with_graceful_shutdown(stopped(stop_rx.clone()));
        let result = match self.demo {
            Some(listener) => {
                let merchant = crate::routes::shop::Merchant::load_or_create(
                    &self.state.config.data_dir,
                    self.state.store.as_ref(),
                    self.state.clock.now(),
                )
                .map_err(|e| tracing::error!(error = %e, "the demo shop's keys could not be made"))
                .ok();
                if let (Some(m), Ok(addr)) = (merchant.clone(), listener.local_addr()) {
                    let (api_base, url) =
                        (self.api_base.clone(), format!("http://localhost:{}/shop/webhooks", addr.port()));
                    tokio::spawn(async move {
                        if let Err(e) = m.register_receiver(&api_base, &url).await {
                            tracing::warn!(error = %e, "the demo shop could not register its webhook receiver");
                        }
                    });
                }
                let demo_state =
                    demo::DemoState { app: self.state.clone(), api_base: self.api_base.clone(), merchant };
                let demo =
                    axum::serve(listener, demo::router(demo_state)).with_graceful_shutdown(stopped(stop_rx));
                let (a, d) = tokio::join!(api, demo);
                a.and(d)
            }
            None => api.await,
        };
        sweeper.abort();
        worker.abort();
        watcher.abort();
        result
    }
}

/// Erases the CVCs of expired tokens every `sweep_interval_secs`.
async fn sweep_forever(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.sweep_interval_secs.max(1)));
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&state).await {
            tracing::error!(error = %e, "erasing expired CVCs failed");
        }
    }
}

/// Evaluates the alerts once per monitoring bucket.
async fn watch_forever(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.monitor.resolution().max(1) as u64));
    loop {
        tick.tick().await;
        if let Err(e) = crate::monitoring::evaluate_and_emit(&state).await {
            tracing::error!(error = %e, "evaluating alerts failed");
        }
    }
}

/// Erases the CVCs of expired tokens now; answers how many.
pub async fn sweep(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let n = state.db(move |s| s.erase_expired_cvcs(now)).await?;
    if n > 0 {
        tracing::info!(erased = n, "erased the CVCs of expired tokens");
    }
    Ok(n)
}

async fn not_found() -> ApiError {
    ApiError::NotFound { message: "Unrecognized request URL or method.".to_string() }
}

pub fn api_router(state: AppState) -> Router {
    // Browsers call these from any merchant origin: tokenization, and reading a payment with its client
    // secret (3-D Secure). An OPTIONS route gives the layer a preflight to answer (it replies first).
    let cors = |method: Method| {
        CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([method])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .max_age(Duration::from_secs(600))
    };
    let preflight = || async { axum::http::StatusCode::NO_CONTENT };
    let browser = Router::new()
        .route("/v1/tokens", post(tokens::create).options(preflight).layer(cors(Method::POST)))
        .route("/v1/payments/{id}", get(payments::get).options(preflight).layer(cors(Method::GET)));
    let server = Router::new()
        .route("/v1/tokens/{id}", get(tokens::get))
        .route("/v1/payments", post(payments::create).get(payments::list))
        .route("/v1/payments/{id}/capture", post(payments::capture))
        .route("/v1/payments/{id}/cancel", post(payments::cancel))
        .route("/v1/refunds", post(payments::refund))
        .route("/v1/webhook_endpoints", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhook_endpoints/{id}", axum::routing::delete(webhooks::delete))
        .route("/v1/webhook_endpoints/{id}/rotate_secret", post(webhooks::rotate_secret))
        .route("/v1/events", get(webhooks::list_events))
        .route("/v1/events/{id}", get(webhooks::get_event))
        .route("/v1/events/{id}/redeliver", post(webhooks::redeliver))
        .route("/v1/events/{id}/deliveries", get(webhooks::deliveries))
        .route("/v1/alerts", get(crate::routes::monitoring::alerts))
        .route("/v1/monitoring", get(crate::routes::monitoring::series));
    let challenge = Router::new()
        .route("/3ds/{id}", get(threeds::show).post(threeds::complete))
        .route("/elements/card", get(crate::routes::elements::card))
        .route("/elements/card.js", get(crate::routes::elements::script))
        .route("/elements/card.css", get(crate::routes::elements::style))
        .route("/elements/pkg/{file}", get(crate::routes::elements::package))
        .route("/metrics", get(crate::routes::monitoring::metrics))
        .route("/dashboard", get(crate::routes::monitoring::dashboard))
        .route("/dashboard/{file}", get(crate::routes::monitoring::dashboard_asset))
        .route("/openapi.json", get(crate::openapi::serve));
    Router::new()
        .merge(browser)
        .merge(server)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::idempotency::layer))
        .merge(challenge)
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::monitoring::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

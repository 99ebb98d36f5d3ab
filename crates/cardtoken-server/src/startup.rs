//! Building and running the server: `Application::build` opens storage and the vault, makes the first
//! account on a new database, and binds the ports (0 in tests); `run_until_stopped` serves the API and
//! the demo and runs the workers until a signal, then stops gracefully: `/readyz` turns 503, requests in
//! flight finish, workers finish their deliveries and release their leases.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::cvcs::CvcHolder;
use crate::demo::{self, shop, DemoState};
use crate::domain::accounts::{self, NewAccount};
use crate::domain::idempotency::{self, InFlight};
use crate::domain::monitoring::Monitor;
use crate::domain::payments::processor::{Processor, TestCards};
use crate::domain::webhook_endpoints::{HostResolver, SystemResolver};
use crate::domain::{cvcs, ratelimit, Processors, Services};
use crate::http::{self, AppState};
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use crate::vault::Vault;
use crate::workers::Workers;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Holder(#[from] crate::cvcs::HolderError),
    #[error("{0}")]
    Domain(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("unsupported database URL: use sqlite://path or postgres://…")]
    DatabaseUrl,
    #[error(
        "this instance's {0} key is not the one this database's data was sealed with: every instance of a \
         deployment must use the same keys file (CARDTOKEN_KEYS_FILE) or CARDTOKEN_MASTER_KEY and \
         CARDTOKEN_FINGERPRINT_KEY"
    )]
    KeyMismatch(String),
    #[error(
        "this instance's card-encryption keys are not the deployment's: browsers would encrypt cards to keys \
         the other instances cannot open. Every instance must share one keys file (CARDTOKEN_KEYS_FILE), \
         where the encryption keys live"
    )]
    EncryptionKeyMismatch,
}

/// Opens the store a database URL names (and runs its migrations), off the async workers.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    let (sqlite, postgres) = (config.sqlite_path(), config.is_postgres());
    let (url, pool) = (config.database_url.clone(), config.database_pool);
    tokio::task::spawn_blocking(move || -> Result<Arc<dyn Store>, StartupError> {
        if let Some(path) = sqlite {
            return Ok(Arc::new(SqliteStore::open(&path)?));
        }
        if postgres {
            return Ok(Arc::new(PgStore::open(&url, pool)?));
        }
        Err(StartupError::DatabaseUrl)
    })
    .await
    .map_err(|e| StartupError::Domain(e.to_string()))?
}

/// The vault of a configuration: its keys file and key variables.
pub fn open_vault(config: &Config) -> Result<Vault, StartupError> {
    Ok(Vault::open_at(&config.keys_path(), config.master_key.as_ref(), config.fingerprint_key.as_ref())?)
}

/// Records this instance's key check values the first time, and refuses to run with other keys than
/// the ones the database's data was sealed with.
async fn check_keys(store: &Arc<dyn Store>, vault: &Vault) -> Result<(), StartupError> {
    let checks = vault.key_checks();
    let encryption = vault.encryption_checks();
    let mismatch = crate::store::write(store, move |tx| {
        for (name, value) in &checks {
            tx.insert_setting(name, value)?;
            if tx.get_setting(name)?.as_deref() != Some(value.as_slice()) {
                return Ok(Some(StartupError::KeyMismatch(
                    name.trim_start_matches("key-check:").to_string(),
                )));
            }
        }
        // The deployment's encryption keys: this instance must hold one of those the database knows
        // (a rotation records its new key, and the old ones stay in the keys file for their grace), and
        // each of its keys must be what the database knows by that id.
        let known = tx.list_settings(crate::vault::ENCRYPTION_CHECK)?;
        let shares_one = encryption.iter().any(|mine| known.iter().any(|k| k == mine));
        let clashes = encryption.iter().any(|(n, v)| known.iter().any(|(kn, kv)| kn == n && kv != v));
        if (!known.is_empty() && !shares_one) || clashes {
            return Ok(Some(StartupError::EncryptionKeyMismatch));
        }
        for (name, value) in &encryption {
            tx.insert_setting(name, value)?;
        }
        Ok(None)
    })
    .await?;
    match mismatch {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|e| StartupError::Bind(addr, e))
}

pub struct Application {
    api: TcpListener,
    demo: Option<TcpListener>,
    state: AppState,
    /// The account made on the first start, with its keys, to print once.
    pub first_account: Option<NewAccount>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        Application::build_with(config, Arc::new(SystemClock), Arc::new(TestCards)).await
    }

    /// Builds with a given clock and test-mode processor (tests use both).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        processor: Arc<dyn Processor>,
    ) -> Result<Application, StartupError> {
        Application::build_with_resolver(config, clock, processor, Arc::new(SystemResolver)).await
    }

    /// … and a given resolver for webhook hosts.
    pub async fn build_with_resolver(
        config: Config,
        clock: Arc<dyn Clock>,
        processor: Arc<dyn Processor>,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<Application, StartupError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| crate::store::StoreError::Open(e.to_string()))?;
        let vault = Arc::new(open_vault(&config)?);
        let store = open_store(&config).await?;
        check_keys(&store, &vault).await?;
        let first_account = accounts::ensure_first_account(&store, clock.now())
            .await
            .map_err(|e| StartupError::Domain(e.to_string()))?;
        let api = bind(config.listen).await?;
        let demo = match config.demo_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let api_addr = api.local_addr().map_err(|e| StartupError::Bind(config.listen, e))?;
        let api_base = config.public_url.clone().unwrap_or_else(|| format!("http://{api_addr}"));
        let instance = crate::ids::new_id("inst").map_err(|e| StartupError::Domain(e.to_string()))?;
        let shared = store.backend() != "sqlite";
        // The CVCs this instance holds (and those a graceful stop left for it), and its listening for
        // other instances' questions about them.
        let (dir, v) = (config.data_dir.clone(), vault.clone());
        let cvcs = Arc::new(
            tokio::task::spawn_blocking(move || CvcHolder::open(&dir, &v))
                .await
                .map_err(|e| StartupError::Domain(e.to_string()))??,
        );
        let (s, h, v, c) = (store.clone(), cvcs.clone(), vault.clone(), clock.clone());
        let exchange = Arc::new(
            tokio::task::spawn_blocking(move || cvcs::Exchange::start(&s, h, v, c))
                .await
                .map_err(|e| StartupError::Domain(e.to_string()))??,
        );
        let services = Services {
            limits: ratelimit::Limits::new(&config, shared),
            monitor: Arc::new(Monitor::new(config.monitor_resolution_secs, &instance)),
            in_flight: InFlight::default(),
            keys: Default::default(),
            store,
            vault,
            clock,
            processors: Processors { test: processor, live: None },
            api_base,
            instance,
            failpoints: Default::default(),
            resolver,
            cvcs,
            exchange,
            config: Arc::new(config),
        };
        let forgotten =
            cvcs::forget_used(&services).await.map_err(|e| StartupError::Domain(e.to_string()))?;
        if forgotten > 0 {
            tracing::info!(forgotten, "CVCs of tokens used while this instance was stopped dropped");
        }
        let rekeyed =
            idempotency::rekey_legacy(&services).await.map_err(|e| StartupError::Domain(e.to_string()))?;
        if rekeyed > 0 {
            tracing::info!(rekeyed, "idempotency records of the previous release re-keyed");
        }
        Ok(Application { api, demo, state: AppState::new(Arc::new(services)), first_account })
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
        &self.state.api_base
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    pub fn services(&self) -> Arc<Services> {
        self.state.services().clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` resolves, then stops gracefully.
    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let state = self.state.clone();
        let drain = Duration::from_secs(self.state.config.drain_secs);
        tokio::spawn(async move {
            signal.await;
            // Not ready from now on; still serving for the drain, so that health checks see it first.
            state.begin_stopping();
            tokio::time::sleep(drain).await;
            let _ = stop_tx.send(true);
        });
        let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let svc = self.state.services().clone();
        let demo_url = self.demo_url();
        let workers = Workers::start(svc.clone());
        let app = http::api_router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let api = axum::serve(self.api, app).with_graceful_shutdown(stopped(stop_rx.clone()));
        let result = match (self.demo, demo_url) {
            (Some(listener), Some(origin)) => {
                let merchant = shop::Merchant::load_or_create(&svc.config.data_dir, &svc.store, svc.now())
                    .await
                    .map_err(|e| tracing::error!(error = %e, "the demo shop's keys could not be made"))
                    .ok();
                if let Some(m) = merchant.clone() {
                    let (api_base, url) = (svc.api_base.clone(), format!("{origin}/shop/webhooks"));
                    let private_allowed = svc.config.allow_private_webhooks;
                    tokio::spawn(async move {
                        if let Err(e) = m.register_receiver(&api_base, &url).await {
                            if private_allowed {
                                tracing::warn!(error = %e, "the demo shop could not register its webhook receiver");
                            } else {
                                tracing::warn!(
                                    "the demo shop's webhook receiver is on this machine, and webhook endpoints \
                                     may not be private addresses: set CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS=true \
                                     (as npm start does) for the demo to receive its events"
                                );
                            }
                        }
                    });
                }
                let demo_state = DemoState {
                    shop: shop::ShopState {
                        merchant,
                        api_base: svc.api_base.clone(),
                        origin,
                        clock: svc.clock.clone(),
                    },
                    www_dir: svc.config.www_dir.clone(),
                    pkg_dir: svc.config.pkg_dir.clone(),
                };
                let demo =
                    axum::serve(listener, demo::router(demo_state)).with_graceful_shutdown(stopped(stop_rx));
                let (a, d) = tokio::join!(api, demo);
                a.and(d)
            }
            _ => api.await,
        };
        workers.stop().await;
        // What this instance still holds waits in the data dir for its next start.
        svc.exchange.stop();
        match svc.cvcs.save(&svc.vault, svc.now()) {
            Ok(kept) if kept > 0 => tracing::info!(kept, "the CVCs of unused tokens kept for the next start"),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "the CVCs held could not be kept: those tokens will pay without")
            }
        }
        result
    }
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

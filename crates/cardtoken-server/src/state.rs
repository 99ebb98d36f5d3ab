//! What every handler shares.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::payments::processor::Processor;
use crate::store::Store;
use crate::vault::Vault;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub processor: Arc<dyn Processor>,
    /// The API's URL as browsers reach it (for 3-D Secure links).
    pub api_base: Arc<str>,
    /// Metrics, rolling windows and alerts.
    pub monitor: Arc<crate::monitoring::Monitor>,
    /// Tokenizations per publishable key per minute.
    pub token_limiter: Arc<crate::ratelimit::RateLimiter>,
}

impl AppState {
    /// Runs blocking storage work off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }
}

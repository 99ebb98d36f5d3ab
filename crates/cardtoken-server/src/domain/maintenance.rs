//! Housekeeping, run by a worker every `sweep_interval_secs`: expired tokens' CVCs dropped from memory,
//! idempotency records purged after 24 hours, and unused tokens' card data deleted after the retention
//! period (the write-ahead log compacted after, so no copy survives).

use crate::store;

use super::idempotency::RETENTION_SECS;
use super::{Error, Services};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// CVCs of expired tokens dropped from this instance's memory.
    pub cvcs_erased: usize,
    pub idempotency_purged: usize,
    pub card_data_purged: usize,
}

pub async fn sweep(svc: &Services) -> Result<Swept, Error> {
    let now = svc.now();
    let card_retention = svc.config.unused_card_retention_secs;
    let cvcs_erased = svc.cvcs.erase_expired(now);
    let (idempotency_purged, card_data_purged) = store::write(&svc.store, move |tx| {
        Ok((tx.purge_idempotency(now - RETENTION_SECS)?, tx.purge_unused_card_data(now - card_retention)?))
    })
    .await?;
    let swept = Swept { cvcs_erased, idempotency_purged, card_data_purged };
    if swept.card_data_purged > 0 {
        // The purged cards leave no copy in the write-ahead log either.
        let store = svc.store.clone();
        tokio::task::spawn_blocking(move || store.compact()).await.map_err(Error::internal)??;
    }
    if swept != Swept::default() {
        tracing::info!(
            cvcs = swept.cvcs_erased,
            idempotency = swept.idempotency_purged,
            card_data = swept.card_data_purged,
            "swept"
        );
    }
    Ok(swept)
}

//! Housekeeping, run by a worker every `sweep_interval_secs`: expired tokens' CVCs erased and their
//! epochs' keys destroyed (the write-ahead log compacted after, so no copy survives), idempotency records
//! purged after 24 hours, and unused tokens' card data deleted after the retention period.

use crate::store;

use super::idempotency::RETENTION_SECS;
use super::tokens::CVC_EPOCH_SECS;
use super::{Error, Services};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub cvcs_erased: usize,
    pub cvc_keys_destroyed: usize,
    pub idempotency_purged: usize,
    pub card_data_purged: usize,
}

/// The first epoch whose CVC key must still exist at `now`: every token of an earlier epoch has expired.
pub fn oldest_live_epoch(now: i64, token_ttl: i64) -> i64 {
    (now - token_ttl).div_euclid(CVC_EPOCH_SECS)
}

pub async fn sweep(svc: &Services) -> Result<Swept, Error> {
    let now = svc.now();
    let ttl = svc.config.token_ttl_secs;
    let keep_from = oldest_live_epoch(now, ttl);
    let card_retention = svc.config.unused_card_retention_secs;
    let swept = store::write(&svc.store, move |tx| {
        Ok(Swept {
            cvcs_erased: tx.erase_expired_cvcs(now)?,
            cvc_keys_destroyed: tx.destroy_cvc_keys_before(keep_from)?,
            idempotency_purged: tx.purge_idempotency(now - RETENTION_SECS)?,
            card_data_purged: tx.purge_unused_card_data(now - card_retention)?,
        })
    })
    .await?;
    svc.vault.forget_cvc_keys_before(keep_from);
    if swept.cvc_keys_destroyed > 0 || swept.cvcs_erased > 0 {
        let store = svc.store.clone();
        tokio::task::spawn_blocking(move || store.compact()).await.map_err(Error::internal)??;
    }
    if swept != Swept::default() {
        tracing::info!(
            cvcs = swept.cvcs_erased,
            cvc_keys = swept.cvc_keys_destroyed,
            idempotency = swept.idempotency_purged,
            card_data = swept.card_data_purged,
            "swept"
        );
    }
    Ok(swept)
}

//! API keys: a publishable key (`pk_test_…`, public, stored as is) and a secret key (`sk_test_…`,
//! stored only as its SHA-256; keys are 190 random bits, so a fast hash is enough).

use sha2::{Digest, Sha256};

use crate::ids::{new_id, random_alnum};
use crate::store::{ApiKeyRecord, KeyKind, Store, StoreError};

/// A newly made key pair: the only moment the secret key exists in clear.
pub struct NewKeyPair {
    pub publishable: String,
    pub secret: secrecy::SecretString,
    pub publishable_id: String,
    pub secret_id: String,
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random(len: usize) -> Result<String, StoreError> {
    random_alnum(len).map_err(|e| StoreError::Open(format!("no randomness: {e}")))
}

/// Makes and stores a publishable/secret key pair.
pub fn create_pair(store: &dyn Store, now: i64, livemode: bool) -> Result<NewKeyPair, StoreError> {
    let mode = if livemode { "live" } else { "test" };
    let publishable = format!("pk_{mode}_{}", random(24)?);
    let secret = format!("sk_{mode}_{}", random(32)?);
    let publishable_id = new_id("key").map_err(|e| StoreError::Open(e.to_string()))?;
    let secret_id = new_id("key").map_err(|e| StoreError::Open(e.to_string()))?;
    store.insert_key(&ApiKeyRecord {
        id: publishable_id.clone(),
        kind: KeyKind::Publishable,
        publishable: Some(publishable.clone()),
        secret_hash: None,
        hint: publishable.clone(),
        livemode,
        created: now,
        revoked: None,
        frame_ancestors: None,
    })?;
    store.insert_key(&ApiKeyRecord {
        id: secret_id.clone(),
        kind: KeyKind::Secret,
        publishable: None,
        secret_hash: Some(hash_secret(&secret)),
        hint: format!("sk_{mode}_…{}", &secret[secret.len() - 4..]),
        livemode,
        created: now,
        revoked: None,
        frame_ancestors: None,
    })?;
    Ok(NewKeyPair { publishable, secret: secret.into(), publishable_id, secret_id })
}

/// Finds the key a bearer token names (either kind); revoked keys are not found.
pub fn lookup(store: &dyn Store, bearer: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    let found = if bearer.starts_with("pk_") {
        store.find_publishable_key(bearer)?
    } else if bearer.starts_with("sk_") {
        store.find_secret_key(&hash_secret(bearer))?
    } else {
        None
    };
    Ok(found.filter(|k| k.revoked.is_none()))
}

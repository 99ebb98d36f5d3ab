//! Accounts (the tenant) and their API keys. Each account has a test and a live key pair:
//! publishable keys (`pk_test_…`, `pk_live_…`, public, stored as they are) and secret keys (`sk_…`,
//! stored only as SHA-256: they are 190 random bits, so a fast hash is enough). A key opens exactly one
//! account and mode. Rolling a key makes a new one and lets the old one work until a grace period ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::ids::{new_id, random_alnum};
use crate::store::{self, AccountRecord, ApiKeyRecord, KeyKind, Scope, Store, StoreError, Tx};

use super::{Caller, Error, Services};

/// A key just made: the only moment a secret key exists in clear.
pub struct NewKey {
    pub id: String,
    pub kind: KeyKind,
    pub livemode: bool,
    /// The key itself (a publishable key is public, but both are handled the same way here).
    pub key: SecretString,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewKey({}, {:?}, livemode: {})", self.id, self.kind, self.livemode)
    }
}

/// A publishable and a secret key of one mode.
#[derive(Debug)]
pub struct NewKeyPair {
    pub publishable: NewKey,
    pub secret: NewKey,
}

/// A new account with its test and live pairs.
#[derive(Debug)]
pub struct NewAccount {
    pub account: AccountRecord,
    pub test: NewKeyPair,
    pub live: NewKeyPair,
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random(len: usize) -> Result<String, StoreError> {
    random_alnum(len).map_err(|e| StoreError::Db(format!("no randomness: {e}")))
}

fn id(prefix: &str) -> Result<String, StoreError> {
    new_id(prefix).map_err(|e| StoreError::Db(format!("no randomness: {e}")))
}

fn mode(livemode: bool) -> &'static str {
    if livemode {
        "live"
    } else {
        "test"
    }
}

/// Makes a key of `kind` for an account and mode and stores it.
pub fn make_key(
    tx: &mut dyn Tx,
    account: &str,
    livemode: bool,
    kind: KeyKind,
    now: i64,
) -> Result<NewKey, StoreError> {
    let m = mode(livemode);
    let key_id = id("key")?;
    let (key, record) = match kind {
        KeyKind::Publishable => {
            let pk = format!("pk_{m}_{}", random(24)?);
            let record = ApiKeyRecord {
                id: key_id.clone(),
                account_id: account.to_string(),
                livemode,
                kind,
                publishable: Some(pk.clone()),
                secret_hash: None,
                hint: pk.clone(),
                created: now,
                revoked: None,
                expires: None,
                frame_ancestors: None,
            };
            (pk, record)
        }
        KeyKind::Secret => {
            let sk = format!("sk_{m}_{}", random(32)?);
            let record = ApiKeyRecord {
                id: key_id.clone(),
                account_id: account.to_string(),
                livemode,
                kind,
                publishable: None,
                secret_hash: Some(hash_secret(&sk)),
                hint: format!("sk_{m}_…{}", &sk[sk.len() - 4..]),
                created: now,
                revoked: None,
                expires: None,
                frame_ancestors: None,
            };
            (sk, record)
        }
    };
    tx.insert_key(&record)?;
    Ok(NewKey { id: key_id, kind, livemode, key: key.into() })
}

fn make_pair(tx: &mut dyn Tx, account: &str, livemode: bool, now: i64) -> Result<NewKeyPair, StoreError> {
    Ok(NewKeyPair {
        publishable: make_key(tx, account, livemode, KeyKind::Publishable, now)?,
        secret: make_key(tx, account, livemode, KeyKind::Secret, now)?,
    })
}

/// Creates an account with a test and a live key pair.
pub async fn create_account(
    store: &std::sync::Arc<dyn Store>,
    name: &str,
    now: i64,
) -> Result<NewAccount, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::parameter(
            "An account name is 1 to 100 characters, with no control characters.",
            "name",
        ));
    }
    let name = name.to_string();
    Ok(store::write(store, move |tx| create_account_in(tx, &name, now)).await?)
}

/// `create_account` inside a transaction the caller holds.
pub fn create_account_in(tx: &mut dyn Tx, name: &str, now: i64) -> Result<NewAccount, StoreError> {
    let account =
        AccountRecord { id: id("acct")?, name: name.to_string(), created: now, require_encryption: false };
    tx.insert_account(&account)?;
    let test = make_pair(tx, &account.id, false, now)?;
    let live = make_pair(tx, &account.id, true, now)?;
    Ok(NewAccount { account, test, live })
}

/// Makes a new key pair for an account and mode.
pub async fn create_pair(
    store: &std::sync::Arc<dyn Store>,
    account: &str,
    livemode: bool,
    now: i64,
) -> Result<NewKeyPair, Error> {
    let account = account.to_string();
    store::write(store, move |tx| {
        if tx.get_account(&account)?.is_none() {
            return Ok(Err(Error::not_found("account")));
        }
        Ok(Ok(make_pair(tx, &account, livemode, now)?))
    })
    .await?
}

/// Rolls a key: a new key of the same kind, account and mode; the old one keeps working for `grace`
/// seconds (0: stops now), then is refused.
pub async fn roll_key(
    store: &std::sync::Arc<dyn Store>,
    key_id: &str,
    grace: i64,
    now: i64,
) -> Result<NewKey, Error> {
    check_grace(grace)?;
    let key_id = key_id.to_string();
    store::write(store, move |tx| {
        let Some(old) = tx.get_key(&key_id)? else { return Ok(Err(Error::not_found("API key"))) };
        if !old.active(now) {
            return Ok(Err(Error::not_found("API key")));
        }
        Ok(Ok(roll_in(tx, &old, grace, now)?))
    })
    .await?
}

/// The longest grace period a roll gives the old key.
pub const MAX_GRACE_SECS: i64 = 7 * 24 * 60 * 60;

/// A roll's grace period is from 0 to 7 days.
pub fn check_grace(grace: i64) -> Result<(), Error> {
    if (0..=MAX_GRACE_SECS).contains(&grace) {
        Ok(())
    } else {
        Err(Error::parameter("The grace period is from 0 to 7 days.", "grace"))
    }
}

/// Rolls the active key `old` inside the caller's transaction: a new key of its kind, account and mode;
/// `old` stops working `grace` seconds from `now`.
pub fn roll_in(tx: &mut dyn Tx, old: &ApiKeyRecord, grace: i64, now: i64) -> Result<NewKey, StoreError> {
    let new = make_key(tx, &old.account_id, old.livemode, old.kind, now)?;
    tx.expire_key(&old.id, now + grace)?;
    Ok(new)
}

pub async fn revoke_key(store: &std::sync::Arc<dyn Store>, key_id: &str, now: i64) -> Result<(), Error> {
    let key_id = key_id.to_string();
    if store::write(store, move |tx| tx.revoke_key(&key_id, now)).await? {
        Ok(())
    } else {
        Err(Error::not_found("API key (or it is already revoked)"))
    }
}

/// The first start: if there is no account at all, makes one and answers it with its keys.
/// The setting that says which starting instance makes the first account.
const FIRST_ACCOUNT_CLAIM: &str = "first_account_claim";

pub async fn ensure_first_account(
    store: &std::sync::Arc<dyn Store>,
    now: i64,
) -> Result<Option<NewAccount>, Error> {
    let claim = id("first")?;
    Ok(store::write(store, move |tx| {
        if !tx.list_accounts()?.is_empty() {
            return Ok(None);
        }
        // Instances starting together on an empty database each find no account: the first to store
        // its claim makes it (a second one's insert waits for the first's commit, then finds its claim).
        tx.insert_setting(FIRST_ACCOUNT_CLAIM, claim.as_bytes())?;
        if tx.get_setting(FIRST_ACCOUNT_CLAIM)?.as_deref() != Some(claim.as_bytes()) {
            return Ok(None);
        }
        create_account_in(tx, "Default", now).map(Some)
    })
    .await?)
}

const MISSING: Error = Error::Authentication {
    code: "missing_api_key",
    message: "No API key provided. Send it as `Authorization: Bearer <key>`.",
};
const UNKNOWN: Error = Error::Authentication {
    code: "invalid_api_key",
    message: "Invalid API key: it is unknown, expired or revoked.",
};

/// The caller a bearer token names. Unknown, revoked and expired keys are all "invalid" alike.
pub async fn authenticate(svc: &Services, bearer: Option<&str>) -> Result<Caller, Error> {
    let bearer = bearer.map(str::trim).filter(|k| !k.is_empty()).ok_or(MISSING)?;
    if bearer.len() > 128 {
        return Err(UNKNOWN);
    }
    let record = lookup(svc, bearer).await?.ok_or(UNKNOWN)?;
    if !record.active(svc.now()) {
        return Err(UNKNOWN);
    }
    Ok(Caller { key_id: record.id, kind: record.kind, scope: Scope::new(record.account_id, record.livemode) })
}

/// How long an instance trusts a key it looked up: a revocation or roll made elsewhere (another
/// instance, the command line) reaches it within this time; one made through it, at once.
pub const KEY_CACHE: Duration = Duration::from_secs(2);

/// A lookup's answer (a key, or none) and when it was made.
type Looked = (Option<ApiKeyRecord>, Instant);

/// Keys looked up recently, by publishable key or by the secret key's hash (never the secret itself),
/// and accounts' settings read recently (whether they take cards only encrypted), by account id.
#[derive(Default)]
pub struct KeyCache(Mutex<HashMap<Vec<u8>, Looked>>, Mutex<HashMap<String, (bool, Instant)>>);

impl KeyCache {
    fn get(&self, id: &[u8]) -> Option<Option<ApiKeyRecord>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).filter(|(_, at)| at.elapsed() < KEY_CACHE).map(|(k, _)| k.clone())
    }

    fn put(&self, id: Vec<u8>, key: Option<ApiKeyRecord>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(id, (key, Instant::now()));
    }

    fn requires_encryption(&self, account: &str) -> Option<bool> {
        let map = self.1.lock().unwrap_or_else(|p| p.into_inner());
        map.get(account).filter(|(_, at)| at.elapsed() < KEY_CACHE).map(|(r, _)| *r)
    }

    fn put_requires_encryption(&self, account: &str, required: bool) {
        let mut map = self.1.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(account.to_string(), (required, Instant::now()));
    }

    /// Forgets everything (after a change to keys or accounts made here).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.1.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Whether an account takes cards only encrypted (`card_jwe`); read at most `KEY_CACHE` ago.
pub async fn requires_encryption(svc: &Services, account: &str) -> Result<bool, Error> {
    if let Some(r) = svc.keys.requires_encryption(account) {
        return Ok(r);
    }
    let id = account.to_string();
    let required =
        store::read(&svc.store, move |tx| tx.get_account(&id)).await?.is_some_and(|a| a.require_encryption);
    svc.keys.put_requires_encryption(account, required);
    Ok(required)
}

/// Makes an account take cards only encrypted, or both ways again (running instances apply it within
/// `KEY_CACHE`).
pub async fn set_require_encryption(
    store: &std::sync::Arc<dyn Store>,
    account: &str,
    required: bool,
) -> Result<(), Error> {
    let id = account.to_string();
    if store::write(store, move |tx| tx.set_require_encryption(&id, required)).await? {
        Ok(())
    } else {
        Err(Error::not_found("account"))
    }
}

/// The stored key a key string names (either kind), active or not.
pub async fn lookup(svc: &Services, bearer: &str) -> Result<Option<ApiKeyRecord>, Error> {
    let id = if bearer.starts_with("pk_") {
        bearer.as_bytes().to_vec()
    } else if bearer.starts_with("sk_") {
        hash_secret(bearer)
    } else {
        return Ok(None);
    };
    if let Some(cached) = svc.keys.get(&id) {
        return Ok(cached);
    }
    let lookup = id.clone();
    let found = if bearer.starts_with("pk_") {
        let pk = bearer.to_string();
        store::read(&svc.store, move |tx| tx.find_publishable_key(&pk)).await?
    } else {
        store::read(&svc.store, move |tx| tx.find_secret_key(&lookup)).await?
    };
    svc.keys.put(id, found.clone());
    Ok(found)
}

/// Revokes a key, through this instance: it stops working here at once (elsewhere within `KEY_CACHE`).
pub async fn revoke(svc: &Services, key_id: &str) -> Result<(), Error> {
    let outcome = revoke_key(&svc.store, key_id, svc.now()).await;
    svc.keys.clear();
    outcome
}

/// Rolls a key through this instance (see `roll_key`).
pub async fn roll(svc: &Services, key_id: &str, grace: i64) -> Result<NewKey, Error> {
    let outcome = roll_key(&svc.store, key_id, grace, svc.now()).await;
    svc.keys.clear();
    outcome
}

/// Who may frame an account's pages in a mode (the card fields' keys' `frame-ancestors`, and the 3-D
/// Secure page): the union of its active publishable keys' settings, `*` while one has none set.
pub async fn frame_ancestors(svc: &Services, scope: &Scope) -> Result<String, Error> {
    let (account, livemode, now) = (scope.account.clone(), scope.livemode, svc.now());
    let keys = store::read(&svc.store, move |tx| tx.list_keys(Some(&account))).await?;
    let mut out: Vec<String> = Vec::new();
    for k in keys.iter().filter(|k| k.kind == KeyKind::Publishable && k.livemode == livemode && k.active(now))
    {
        match &k.frame_ancestors {
            None => return Ok("*".to_string()),
            Some(v) => out.extend(v.split_whitespace().map(str::to_string)),
        }
    }
    out.sort();
    out.dedup();
    Ok(if out.is_empty() { "'none'".to_string() } else { out.join(" ") })
}

/// Prints nothing secret: a key's listing line.
pub fn describe(k: &ApiKeyRecord, now: i64) -> String {
    let state = if k.revoked.is_some() {
        "revoked".to_string()
    } else if let Some(e) = k.expires {
        if e <= now {
            "expired".to_string()
        } else {
            format!("expires in {}s", e - now)
        }
    } else {
        "active".to_string()
    };
    format!(
        "{}  {}  {:<4}  {:<11}  {:<14}  {}",
        k.id,
        k.account_id,
        mode(k.livemode),
        k.kind.as_str(),
        state,
        k.hint
    )
}

/// The key itself, for the one moment it is shown.
pub fn reveal(k: &NewKey) -> &str {
    k.key.expose_secret()
}

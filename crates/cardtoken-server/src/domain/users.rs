//! Dashboard users: people who sign in to an account's dashboard with an email and a password, and
//! their sessions.
//!
//! - Passwords are hashed with Argon2id (19 MiB, 2 passes, 1 lane: OWASP's recommended minimum) with a
//!   random 16-byte salt, stored as a PHC string. Hashing and verifying run on the blocking pool, at
//!   most four at once. An unknown email is verified against a dummy hash, so both answers take as long.
//! - Sign-in attempts are limited by token buckets in storage (shared by every instance): per email
//!   (5, then one a minute) and per client address (20, then two a minute). Each attempt takes one from
//!   both before the password is checked; a successful one gives them back, so only failures count. Over
//!   either limit, the attempt is refused before any password is checked (even the right one).
//! - A session is a random 256-bit token (the cookie), stored only as its SHA-256, with its own CSRF
//!   token and the test/live switch. It ends after 30 minutes without use or 12 hours after sign-in,
//!   whichever comes first, or when signed out; it lives in the database, so every instance knows it.

use std::net::IpAddr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::ids::{new_id, random_bytes};
use crate::store::{self, KeyKind, Scope, SessionRecord, Store, UserRecord};

use super::{Caller, Error, Services};

/// Passwords: at least this many characters…
pub const MIN_PASSWORD_CHARS: usize = 12;
/// …and at most this many bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// A session ends after this long without use…
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// …or this long after sign-in.
pub const SESSION_MAX_SECS: i64 = 12 * 60 * 60;
/// How often a session's activity is written (at most once a minute per session).
const TOUCH_EVERY_SECS: i64 = 60;

/// Failed sign-ins per email: 5 at once, then one a minute.
const EMAIL_CAPACITY: f64 = 5.0;
const EMAIL_PER_SEC: f64 = 1.0 / 60.0;
/// Failed sign-ins per client address: 20 at once, then two a minute.
const ADDRESS_CAPACITY: f64 = 20.0;
const ADDRESS_PER_SEC: f64 = 2.0 / 60.0;

/// Argon2id hashes computed at once (each takes 19 MiB and tens of milliseconds).
static HASHING: Semaphore = Semaphore::const_new(4);

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(Error::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The Argon2id hash of a password, as a PHC string.
fn hash_blocking(password: &SecretString) -> Result<String, Error> {
    let salt = random_bytes::<16>().map_err(Error::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(Error::internal)?;
    Ok(argon2()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(Error::internal)?
        .to_string())
}

/// Whether `password` is the one `stored` was made from (constant time, the hash's own parameters).
fn verify_blocking(password: &SecretString, stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else { return false };
    Argon2::default().verify_password(password.expose_secret().as_bytes(), &hash).is_ok()
}

/// Runs a hash off the async workers, a few at a time.
async fn hashing<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    let _permit = HASHING.acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(f).await.map_err(Error::internal)
}

/// A hash to verify against when the email is unknown, so that the answer takes as long.
async fn dummy_hash() -> Result<String, Error> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| async {
            let pw = SecretString::from("a password no one has".to_string());
            hashing(move || hash_blocking(&pw)).await?
        })
        .await
        .cloned()
}

/// An email as stored and looked up: trimmed and lower-cased; `None` when it cannot be one.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = (3..=254).contains(&e.len())
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

fn check_password(password: &SecretString) -> Result<(), Error> {
    let p = password.expose_secret();
    if p.chars().count() < MIN_PASSWORD_CHARS || p.len() > MAX_PASSWORD_BYTES {
        return Err(Error::parameter(
            format!("A password is at least {MIN_PASSWORD_CHARS} characters (and at most {MAX_PASSWORD_BYTES} bytes)."),
            "password",
        ));
    }
    Ok(())
}

/// Adds a person to an account's dashboard.
pub async fn create(
    store: &std::sync::Arc<dyn Store>,
    account: &str,
    email: &str,
    password: SecretString,
    now: i64,
) -> Result<UserRecord, Error> {
    let email =
        normalize_email(email).ok_or_else(|| Error::parameter("That is not an email address.", "email"))?;
    check_password(&password)?;
    let password_hash = hashing(move || hash_blocking(&password)).await??;
    let user = UserRecord {
        id: new_id("user").map_err(Error::internal)?,
        account_id: account.to_string(),
        email,
        password_hash,
        created: now,
    };
    let made = user.clone();
    store::write(store, move |tx| {
        if tx.get_account(&made.account_id)?.is_none() {
            return Ok(Err(Error::not_found("account")));
        }
        if !tx.insert_user(&made)? {
            return Ok(Err(Error::invalid(
                "email_taken",
                "A user with this email already exists.",
                Some("email"),
            )));
        }
        Ok(Ok(()))
    })
    .await??;
    Ok(user)
}

/// Every user, or one account's.
pub async fn list(
    store: &std::sync::Arc<dyn Store>,
    account: Option<String>,
) -> Result<Vec<UserRecord>, Error> {
    Ok(store::read(store, move |tx| tx.list_users(account.as_deref())).await?)
}

/// Removes a user (by id or email) and signs out every session of theirs.
pub async fn remove(store: &std::sync::Arc<dyn Store>, who: &str) -> Result<UserRecord, Error> {
    let who = who.trim().to_string();
    let email = normalize_email(&who);
    store::write(store, move |tx| {
        let found = match &email {
            Some(e) => tx.find_user_by_email(e)?,
            None => tx.get_user(&who)?,
        };
        let Some(user) = found else { return Ok(Err(Error::not_found("user"))) };
        tx.delete_user(&user.id)?;
        Ok(Ok(user))
    })
    .await?
}

/// A session just made: the only moment its token exists in clear (it goes into the cookie).
pub struct NewSession {
    pub token: SecretString,
    pub session: SessionRecord,
    pub user: UserRecord,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSession({:?})", self.session)
    }
}

/// What a session token is stored as.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn random_token() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>().map_err(Error::internal)?))
}

const INVALID: Error =
    Error::Authentication { code: "invalid_credentials", message: "The email or the password is wrong." };

const THROTTLED: &str = "Too many failed sign-ins. Wait a little and try again.";

/// The buckets an attempt takes from: the email's, and the client address's.
fn buckets(email: &str, client: Option<IpAddr>) -> Vec<(String, f64, f64)> {
    let digest = Sha256::digest(email.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let mut out = vec![(format!("signin:email:{hex}"), EMAIL_CAPACITY, EMAIL_PER_SEC)];
    if let Some(ip) = client {
        out.push((format!("signin:addr:{ip}"), ADDRESS_CAPACITY, ADDRESS_PER_SEC));
    }
    out
}

/// Signs a person in: answers a new session, or `invalid_credentials` (401), or a rate limit (429)
/// after too many failures for this email or from this address.
pub async fn sign_in(
    svc: &Services,
    email: &str,
    password: SecretString,
    client: Option<IpAddr>,
) -> Result<NewSession, Error> {
    let now = svc.now();
    let normalized = normalize_email(email).unwrap_or_else(|| email.trim().to_lowercase());
    let buckets = buckets(&normalized, client);
    // Take one from every bucket, or from none: the wait, 0 when admitted.
    let taken = buckets.clone();
    let wait = store::write(&svc.store, move |tx| {
        let mut took: Vec<(String, f64, f64)> = Vec::new();
        for (key, capacity, rate) in &taken {
            let wait = tx.take_tokens(key, *capacity, *rate, 1.0, now as f64)?;
            if wait > 0.0 {
                for (k, c, r) in &took {
                    tx.take_tokens(k, *c, *r, -1.0, now as f64)?;
                }
                return Ok(wait);
            }
            took.push((key.clone(), *capacity, *rate));
        }
        Ok(0.0)
    })
    .await?;
    if wait > 0.0 {
        tracing::warn!("dashboard sign-in refused: too many failures");
        return Err(Error::RateLimited {
            retry_after: wait.ceil().clamp(1.0, 86_400.0) as u64,
            message: THROTTLED,
        });
    }
    let lookup = normalized.clone();
    let user = store::read(&svc.store, move |tx| tx.find_user_by_email(&lookup)).await?;
    let stored = match &user {
        Some(u) => u.password_hash.clone(),
        None => dummy_hash().await?,
    };
    let matches = hashing(move || verify_blocking(&password, &stored)).await?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("dashboard sign-in failed");
        return Err(INVALID);
    };
    let token = random_token()?;
    let session = SessionRecord {
        token_hash: token_hash(&token),
        user_id: user.id.clone(),
        csrf: random_token()?,
        livemode: false,
        created: now,
        last_seen: now,
        expires: now + SESSION_IDLE_SECS.min(SESSION_MAX_SECS),
    };
    let record = session.clone();
    store::write(&svc.store, move |tx| {
        // Only failures count: give back what this attempt took.
        for (key, capacity, rate) in &buckets {
            tx.take_tokens(key, *capacity, *rate, -1.0, now as f64)?;
        }
        tx.delete_expired_sessions(now)?;
        tx.insert_session(&record)
    })
    .await?;
    tracing::info!(user = %user.id, "dashboard sign-in");
    Ok(NewSession { token: token.into(), session, user })
}

/// The live session a token names, and its user; its activity is recorded (at most once a minute).
pub async fn session(svc: &Services, token: &str) -> Result<Option<(SessionRecord, UserRecord)>, Error> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let now = svc.now();
    let hash = token_hash(token);
    let found = store::read(&svc.store, move |tx| {
        let Some(s) = tx.get_session(&hash)? else { return Ok(None) };
        Ok(tx.get_user(&s.user_id)?.map(|u| (s, u)))
    })
    .await?;
    let Some((mut session, user)) = found.filter(|(s, _)| s.expires > now) else { return Ok(None) };
    if now - session.last_seen >= TOUCH_EVERY_SECS {
        let expires = (now + SESSION_IDLE_SECS).min(session.created + SESSION_MAX_SECS);
        let hash = session.token_hash.clone();
        store::write(&svc.store, move |tx| tx.touch_session(&hash, now, expires)).await?;
        session.last_seen = now;
        session.expires = expires;
    }
    Ok(Some((session, user)))
}

/// Ends a session (signing out).
pub async fn sign_out(svc: &Services, session: &SessionRecord) -> Result<(), Error> {
    let hash = session.token_hash.clone();
    store::write(&svc.store, move |tx| tx.delete_session(&hash)).await?;
    Ok(())
}

/// Sets what a session's pages show: test or live mode.
pub async fn set_mode(svc: &Services, session: &SessionRecord, livemode: bool) -> Result<(), Error> {
    let hash = session.token_hash.clone();
    store::write(&svc.store, move |tx| tx.set_session_mode(&hash, livemode)).await?;
    Ok(())
}

/// A signed-in person acts as a caller of their account, in the mode their switch selects, with no API
/// key: the caller is named after the user.
pub fn caller(user: &UserRecord, session: &SessionRecord) -> Caller {
    Caller {
        key_id: user.id.clone(),
        kind: KeyKind::Secret,
        scope: Scope::new(user.account_id.clone(), session.livemode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(normalize_email("  Ann@Shop.Example ").as_deref(), Some("ann@shop.example"));
        for bad in ["", "ann", "@shop.example", "ann@", "a b@shop.example", "a@b@c"] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let pw = SecretString::from("correct horse battery".to_string());
        let stored = hash_blocking(&pw).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify_blocking(&pw, &stored));
        assert!(!verify_blocking(&SecretString::from("correct horse batterY".to_string()), &stored));
        assert!(!verify_blocking(&pw, "not a hash"));
        assert_ne!(stored, hash_blocking(&pw).unwrap(), "salted");
    }
}

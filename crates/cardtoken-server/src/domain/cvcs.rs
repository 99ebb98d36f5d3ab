//! Where a token's CVC is, and how another instance gets it. The instance that made the token holds it
//! (`crate::cvcs::CvcHolder`); the token names the holder. An instance paying with a token it does not
//! hold asks the holder over the store's bus, sending a fresh key pair's public half: the holder answers
//! the CVC encrypted to it (a compact JWE, as browsers send cards), so what crosses the database's
//! notification queue is unreadable once the asker has dropped its key. Once the payment has committed,
//! the payer tells the holder to let go, and the holder drops the CVC.
//!
//! Every message carries a MAC under a key every instance of the deployment holds (`Vault::peer_mac`)
//! and its time; a holder answers only messages that check. A holder that does not answer within a
//! second (stopped, killed) leaves the payment to go on without the CVC.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardtoken_types::Cvc;
use serde::{Deserialize, Serialize};

use crate::cvcs::{CvcHolder, HeldToken};
use crate::jwe::{self, EncryptionKey, Jwk};
use crate::store::{Bus, Listening, Store, TokenRecord};
use crate::vault::Vault;

use super::Services;

/// How long an asker waits for the holder.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// How far a message's time may be from the receiver's clock.
const MAX_SKEW_SECS: i64 = 60;

#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Message {
    /// "Send me the CVC of `token`, encrypted to `key`."
    Ask {
        id: String,
        token: String,
        account: String,
        live: bool,
        from: String,
        key: Box<Jwk>,
        ts: i64,
        mac: String,
    },
    /// The answer to `Ask` `id`: the CVC as a JWE, or none (not held).
    Answer { id: String, jwe: Option<String> },
    /// "`token` is used: drop its CVC."
    LetGo { token: String, from: String, ts: i64, mac: String },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MAC of a question or a "let go": over the message itself, with its own `mac` empty (serde writes
/// the fields in their declared order, so sender and receiver hash the same bytes).
fn mac_of(vault: &Vault, message: &Message) -> String {
    let mut unsigned = message.clone();
    if let Message::Ask { mac, .. } | Message::LetGo { mac, .. } = &mut unsigned {
        mac.clear();
    }
    hex(&vault.peer_mac(&serde_json::to_vec(&unsigned).unwrap_or_default()))
}

/// Whether a message's MAC checks and its time is near `now`.
fn checks(vault: &Vault, message: &Message, now: i64) -> bool {
    match message {
        Message::Ask { mac, ts, .. } | Message::LetGo { mac, ts, .. } => {
            same(mac, &mac_of(vault, message)) && (now - ts).abs() <= MAX_SKEW_SECS
        }
        Message::Answer { .. } => false,
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type Waiting = Mutex<HashMap<String, tokio::sync::oneshot::Sender<Option<String>>>>;

/// This instance's side of the exchange: what it is waiting for, and its listening on the bus.
pub struct Exchange {
    bus: Option<Arc<dyn Bus>>,
    waiting: Arc<Waiting>,
    listening: Mutex<Option<Listening>>,
}

impl Exchange {
    /// Listens on the store's bus (if it has one: several instances) as `holder`, answering other
    /// instances' questions from `holder`'s CVCs.
    pub fn start(
        store: &Arc<dyn Store>,
        holder: Arc<CvcHolder>,
        vault: Arc<Vault>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<Exchange, crate::store::StoreError> {
        let waiting: Arc<Waiting> = Arc::default();
        let Some(bus) = store.bus() else {
            return Ok(Exchange { bus: None, waiting, listening: Mutex::new(None) });
        };
        let (w, b) = (waiting.clone(), bus.clone());
        let me = holder.id().to_string();
        let deliver = move |text: String| {
            let Ok(message) = serde_json::from_str::<Message>(&text) else {
                tracing::warn!("a message between instances did not parse: ignored");
                return;
            };
            let now = clock.now();
            if !matches!(message, Message::Answer { .. }) && !checks(&vault, &message, now) {
                tracing::warn!("a message between instances did not check: refused");
                return;
            }
            match message {
                Message::Answer { id, jwe } => {
                    if let Some(tx) = w.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
                        let _ = tx.send(jwe);
                    }
                }
                Message::Ask { id, token, account, live, from, key, .. } => {
                    let jwe = holder.get(&token, &account, live, now).and_then(|cvc| {
                        let public = jwe::public_key(&key)?;
                        jwe::encrypt(&public, &key.kid, cvc.expose().as_bytes(), now).ok()
                    });
                    let answer = serde_json::to_string(&Message::Answer { id, jwe }).unwrap_or_default();
                    if let Err(e) = b.send(&from, &answer) {
                        tracing::warn!(error = %e, "a CVC could not be sent to the instance that asked");
                    }
                }
                Message::LetGo { token, .. } => {
                    holder.erase(&token);
                }
            }
        };
        let listening = bus.listen(&me, Box::new(deliver))?;
        Ok(Exchange { bus: Some(bus), waiting, listening: Mutex::new(Some(listening)) })
    }

    /// Stops listening (a graceful stop, before the holder saves what it holds).
    pub fn stop(&self) {
        self.listening.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The CVC of a token made by this instance: held until the token is used or expires.
pub fn hold(svc: &Services, token: &TokenRecord, cvc: Cvc) {
    let held = HeldToken {
        token: token.id.clone(),
        account: token.account_id.clone(),
        livemode: token.livemode,
        expires: token.expires,
    };
    svc.cvcs.put(&held, cvc);
}

/// The CVC of `token`, from this instance or from the one that holds it; `None` when no one does
/// (expired, used, or its holder gone).
pub async fn fetch(svc: &Services, token: &TokenRecord) -> Option<Cvc> {
    let holder = token.cvc_holder.as_deref()?;
    let now = svc.now();
    if holder == svc.cvcs.id() {
        return svc.cvcs.get(&token.id, &token.account_id, token.livemode, now);
    }
    let bus = svc.exchange.bus.clone()?;
    let key = EncryptionKey::generate(now).ok()?;
    let id = crate::ids::new_id("ask").ok()?.to_ascii_lowercase();
    let me = svc.cvcs.id().to_string();
    let mut ask = Message::Ask {
        id: id.clone(),
        token: token.id.clone(),
        account: token.account_id.clone(),
        live: token.livemode,
        from: me,
        key: Box::new(key.public_jwk()),
        ts: now,
        mac: String::new(),
    };
    let signed = mac_of(&svc.vault, &ask);
    if let Message::Ask { mac, .. } = &mut ask {
        *mac = signed;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    svc.exchange.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), tx);
    let (to, text) = (holder.to_string(), serde_json::to_string(&ask).ok()?);
    let sent = tokio::task::spawn_blocking(move || bus.send(&to, &text)).await;
    let answer = match sent {
        Ok(Ok(())) => tokio::time::timeout(ASK_TIMEOUT, rx).await.ok().and_then(Result::ok).flatten(),
        _ => None,
    };
    svc.exchange.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let Some(compact) = answer else {
        tracing::warn!(holder, "the instance holding a token's CVC did not answer: paying without it");
        return None;
    };
    let plain = jwe::decrypt(&compact, std::slice::from_ref(&key), svc.now()).ok()?;
    Cvc::parse(std::str::from_utf8(&plain).ok()?, None).ok()
}

/// The token is used: its CVC is dropped here, or its holder is told to drop it.
pub async fn let_go(svc: &Services, token: &TokenRecord) {
    let Some(holder) = token.cvc_holder.as_deref() else { return };
    if holder == svc.cvcs.id() {
        svc.cvcs.erase(&token.id);
        return;
    }
    let Some(bus) = svc.exchange.bus.clone() else { return };
    let (me, now) = (svc.cvcs.id().to_string(), svc.now());
    let mut let_go = Message::LetGo { token: token.id.clone(), from: me, ts: now, mac: String::new() };
    let signed = mac_of(&svc.vault, &let_go);
    if let Message::LetGo { mac, .. } = &mut let_go {
        *mac = signed;
    }
    let Ok(text) = serde_json::to_string(&let_go) else { return };
    let to = holder.to_string();
    match tokio::task::spawn_blocking(move || bus.send(&to, &text)).await {
        Ok(Ok(())) => {}
        _ => tracing::warn!(holder, "the instance holding a used token's CVC could not be told to drop it"),
    }
}

/// After a start: drops restored CVCs whose tokens were used (or are gone) while this instance was
/// stopped. Answers how many.
pub async fn forget_used(svc: &Services) -> Result<usize, super::Error> {
    let mut dropped = 0;
    for held in svc.cvcs.tokens() {
        let scope = crate::store::Scope::new(held.account.clone(), held.livemode);
        let id = held.token.clone();
        let token = crate::store::read(&svc.store, move |tx| tx.get_token(&scope, &id)).await?;
        if token.is_none_or(|t| t.used) {
            svc.cvcs.erase(&held.token);
            dropped += 1;
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_checks_only_with_its_mac_unchanged_and_its_time_near() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let key = EncryptionKey::generate(100).unwrap();
        let mut ask = Message::Ask {
            id: "ask_1".into(),
            token: "tok_1".into(),
            account: "acct_a".into(),
            live: false,
            from: "hold_b".into(),
            key: Box::new(key.public_jwk()),
            ts: 100,
            mac: String::new(),
        };
        let signed = mac_of(&vault, &ask);
        if let Message::Ask { mac, .. } = &mut ask {
            *mac = signed;
        }
        assert!(checks(&vault, &ask, 130));
        assert!(!checks(&vault, &ask, 200), "too old");
        let mut other = ask.clone();
        if let Message::Ask { token, .. } = &mut other {
            *token = "tok_2".into();
        }
        assert!(!checks(&vault, &other, 130), "another token under the same MAC");
        let stranger = Vault::open(tempfile::tempdir().unwrap().path(), None).unwrap();
        assert!(!checks(&stranger, &ask, 130), "a MAC under another deployment's keys");
        assert!(!checks(&vault, &Message::Answer { id: "ask_1".into(), jwe: None }, 130));
    }
}

//! CVCs, kept out of storage (PCI DSS 3.3.1.2, `shared/contract.md` §5): a database keeps copies of
//! what it deletes (SQLite's write-ahead log, PostgreSQL's dead row versions and WAL), so a CVC written
//! there would outlive its token. Instead the instance that made a token holds its CVC in memory, by
//! token id, until the token is used or expires; then it is dropped (and zeroed). The database records
//! only which instance holds it (`TokenRecord::cvc_holder`); another instance paying with the token asks
//! the holder for it (`domain::cvcs`).
//!
//! A graceful stop writes the CVCs still held, sealed under the master key (`Vault::seal_held_cvc`), to
//! a snapshot in the data dir; the next start of the same instance (the holder's id lives in the data
//! dir) reads it back, then overwrites and deletes it. A crash loses them: those tokens then pay without
//! a CVC, which card networks allow.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cardtoken_types::Cvc;
use serde::{Deserialize, Serialize};

use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error("{0}: {1}")]
    File(PathBuf, String),
    #[error(
        "another server process uses the data dir {0}: every instance needs a data dir of its own \
         (CARDTOKEN_DATA_DIR; the keys file is what they share)"
    )]
    Busy(PathBuf),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A CVC held for a token, until `expires`.
struct Held {
    cvc: Cvc,
    account: String,
    livemode: bool,
    expires: i64,
}

/// What a token's held CVC belongs to, as the snapshot keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldToken {
    pub token: String,
    pub account: String,
    pub livemode: bool,
    pub expires: i64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    holder: String,
    entries: Vec<SnapshotEntry>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotEntry {
    token: String,
    account: String,
    livemode: bool,
    expires: i64,
    master_version: u32,
    /// `nonce || ciphertext`, base64.
    sealed: String,
}

pub struct CvcHolder {
    id: String,
    held: Mutex<HashMap<String, Held>>,
    snapshot: PathBuf,
    /// The holder id's file, locked while this process runs (one process per data dir).
    lock: Mutex<Option<File>>,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> HolderError {
    HolderError::File(path.to_path_buf(), e.to_string())
}

impl CvcHolder {
    /// The holder of `data_dir`: its id (made on the first start), and the CVCs a graceful stop left
    /// there, whose snapshot is then erased.
    pub fn open(data_dir: &Path, vault: &Vault) -> Result<CvcHolder, HolderError> {
        std::fs::create_dir_all(data_dir).map_err(|e| file_error(data_dir, e))?;
        let id_path = data_dir.join("cvc-holder");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&id_path)
            .map_err(|e| file_error(&id_path, e))?;
        lock(&file, data_dir)?;
        let mut id = String::new();
        file.read_to_string(&mut id).map_err(|e| file_error(&id_path, e))?;
        let id = match id.trim() {
            valid if valid.starts_with("hold_") && valid.len() > 10 => valid.to_string(),
            _ => {
                let made = format!(
                    "hold_{}",
                    crate::ids::random_alnum(20).map_err(|e| file_error(&id_path, e))?.to_ascii_lowercase()
                );
                file.set_len(0).map_err(|e| file_error(&id_path, e))?;
                file.write_all(made.as_bytes()).map_err(|e| file_error(&id_path, e))?;
                file.sync_all().map_err(|e| file_error(&id_path, e))?;
                made
            }
        };
        let holder = CvcHolder {
            id,
            held: Mutex::new(HashMap::new()),
            snapshot: data_dir.join("cvcs.snapshot"),
            lock: Mutex::new(Some(file)),
        };
        holder.restore(vault)?;
        Ok(holder)
    }

    /// This instance's name as a holder (`hold_…`, lowercase), the same across its restarts.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn put(&self, token: &HeldToken, cvc: Cvc) {
        let held =
            Held { cvc, account: token.account.clone(), livemode: token.livemode, expires: token.expires };
        self.map().insert(token.token.clone(), held);
    }

    /// A copy of the CVC held for `token` (of that account and mode), if it is still held at `now`.
    pub fn get(&self, token: &str, account: &str, livemode: bool, now: i64) -> Option<Cvc> {
        let map = self.map();
        let held =
            map.get(token).filter(|h| h.account == account && h.livemode == livemode && h.expires > now)?;
        Cvc::parse(held.cvc.expose(), None).ok()
    }

    /// Drops (and zeroes) the CVC of `token`; answers whether one was held.
    pub fn erase(&self, token: &str) -> bool {
        self.map().remove(token).is_some()
    }

    /// Drops the CVCs of tokens expired at `now`; answers how many.
    pub fn erase_expired(&self, now: i64) -> usize {
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, h| h.expires > now);
        before - map.len()
    }

    /// The tokens whose CVCs are held.
    pub fn tokens(&self) -> Vec<HeldToken> {
        self.map()
            .iter()
            .map(|(t, h)| HeldToken {
                token: t.clone(),
                account: h.account.clone(),
                livemode: h.livemode,
                expires: h.expires,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// On a graceful stop: writes the CVCs still held (sealed) to the snapshot, drops them, and lets the
    /// data dir go. Answers how many were kept.
    pub fn save(&self, vault: &Vault, now: i64) -> Result<usize, HolderError> {
        let held = std::mem::take(&mut *self.map());
        let mut entries = Vec::new();
        for (token, h) in held.iter().filter(|(_, h)| h.expires > now) {
            let (master_version, sealed) = vault.seal_held_cvc(token, &h.cvc)?;
            entries.push(SnapshotEntry {
                token: token.clone(),
                account: h.account.clone(),
                livemode: h.livemode,
                expires: h.expires,
                master_version,
                sealed: STANDARD.encode(sealed),
            });
        }
        drop(held);
        let kept = entries.len();
        if kept > 0 {
            let text = serde_json::to_vec(&Snapshot { holder: self.id.clone(), entries })
                .map_err(|e| file_error(&self.snapshot, e))?;
            let tmp = self.snapshot.with_extension("tmp");
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp).map_err(|e| file_error(&tmp, e))?;
            f.write_all(&text).map_err(|e| file_error(&tmp, e))?;
            f.sync_all().map_err(|e| file_error(&tmp, e))?;
            std::fs::rename(&tmp, &self.snapshot).map_err(|e| file_error(&self.snapshot, e))?;
        }
        // Unlocked: the next process of this data dir may start.
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(kept)
    }

    /// Reads the snapshot a graceful stop left, then erases it (overwritten, synced, removed).
    fn restore(&self, vault: &Vault) -> Result<(), HolderError> {
        let path = &self.snapshot;
        let bytes = match std::fs::read(path) {
            Ok(b) => zeroize::Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(file_error(path, e)),
        };
        let parsed: Option<Snapshot> = serde_json::from_slice(&bytes).ok();
        let mut map = self.map();
        for e in parsed.into_iter().filter(|s| s.holder == self.id).flat_map(|s| s.entries) {
            let Ok(sealed) = STANDARD.decode(&e.sealed) else { continue };
            match vault.open_held_cvc(&e.token, e.master_version, &sealed) {
                Ok(cvc) => {
                    map.insert(
                        e.token,
                        Held { cvc, account: e.account, livemode: e.livemode, expires: e.expires },
                    );
                }
                Err(err) => tracing::warn!(error = %err, "a CVC in the snapshot does not open: dropped"),
            }
        }
        drop(map);
        erase_file(path, bytes.len())
    }
}

/// Overwrites a file with zeros, syncs it and removes it.
fn erase_file(path: &Path, len: usize) -> Result<(), HolderError> {
    let mut f = OpenOptions::new().write(true).open(path).map_err(|e| file_error(path, e))?;
    f.write_all(&vec![0u8; len]).map_err(|e| file_error(path, e))?;
    f.sync_all().map_err(|e| file_error(path, e))?;
    drop(f);
    std::fs::remove_file(path).map_err(|e| file_error(path, e))
}

/// Locks the holder's file, waiting a little for a process of the same data dir that is stopping.
fn lock(file: &File, data_dir: &Path) -> Result<(), HolderError> {
    for _ in 0..20 {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(file_error(data_dir, e)),
        }
    }
    Err(HolderError::Busy(data_dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(dir: &Path) -> Vault {
        Vault::open(dir, None).unwrap()
    }

    fn token(id: &str, expires: i64) -> HeldToken {
        HeldToken { token: id.into(), account: "acct_a".into(), livemode: false, expires }
    }

    #[test]
    fn a_cvc_is_held_for_its_account_and_mode_until_erased_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        let h = CvcHolder::open(dir.path(), &v).unwrap();
        h.put(&token("tok_1", 100), Cvc::parse("123", None).unwrap());
        h.put(&token("tok_2", 50), Cvc::parse("4567", None).unwrap());
        assert_eq!(h.get("tok_1", "acct_a", false, 10).unwrap().expose(), "123");
        assert!(h.get("tok_1", "acct_b", false, 10).is_none(), "another account's");
        assert!(h.get("tok_1", "acct_a", true, 10).is_none(), "the other mode's");
        assert!(h.get("tok_1", "acct_a", false, 100).is_none(), "expired");
        assert_eq!(h.erase_expired(60), 1);
        assert!(h.erase("tok_1"));
        assert!(!h.erase("tok_1"));
        assert!(h.is_empty());
    }

    #[test]
    fn a_graceful_stop_keeps_the_cvcs_for_the_next_start_which_erases_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        let h = CvcHolder::open(dir.path(), &v).unwrap();
        let id = h.id().to_string();
        h.put(&token("tok_1", 100), Cvc::parse("123", None).unwrap());
        h.put(&token("tok_old", 5), Cvc::parse("999", None).unwrap());
        assert_eq!(h.save(&v, 10).unwrap(), 1, "an expired one is not kept");
        let snapshot = std::fs::read(dir.path().join("cvcs.snapshot")).unwrap();
        assert!(!snapshot.windows(3).any(|w| w == b"123"), "sealed in the snapshot");
        let again = CvcHolder::open(dir.path(), &v).unwrap();
        assert_eq!(again.id(), id, "the same holder across restarts");
        assert_eq!(again.get("tok_1", "acct_a", false, 10).unwrap().expose(), "123");
        assert!(!dir.path().join("cvcs.snapshot").exists(), "the snapshot is gone once read");
    }

    #[test]
    fn a_second_process_on_the_same_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        let _first = CvcHolder::open(dir.path(), &v).unwrap();
        // Another open file description of the same file, as another process would have.
        let second = CvcHolder::open(dir.path(), &v);
        assert!(matches!(second, Err(HolderError::Busy(_))), "{:?}", second.err());
    }
}

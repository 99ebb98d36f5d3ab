//! The vault: envelope encryption of card data (`shared/contract.md` §5).
//!
//! Each token gets its own 256-bit data key. The card (number and name) is encrypted under it with
//! AES-256-GCM; the data key is encrypted ("wrapped") under the current master key, whose version is
//! stored beside the record. The token id is associated data everywhere, so a ciphertext moved to another
//! row does not decrypt. Rotating the master key re-wraps data keys only. Fingerprints are HMAC-SHA256 of
//! the number under a separate key, and idempotency fingerprints HMAC under a key derived from it.
//!
//! The CVC is never stored with the card: the instance that made the token holds it in memory
//! (`crate::cvcs`), and only a graceful stop writes it, sealed here, to a snapshot the next start reads
//! and erases.
//!
//! Keys come from `CARDTOKEN_MASTER_KEY` or from `keys.json` in the data dir (created mode 0600), which
//! every instance of a deployment shares; `reload` picks up a rotation made by another process.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use cardtoken_types::wire::CardData;
use cardtoken_types::{CardNumber, Cvc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::ids::random_bytes;
use crate::jwe::{self, EncryptionKey, JweError, Jwks};

pub type Key = Zeroizing<[u8; 32]>;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no master key of version {0}")]
    MissingKey(u32),
    #[error("decryption failed (wrong key, or the record was tampered with)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("no randomness: {0}")]
    Random(String),
    #[error("keys file {0}: {1}")]
    KeysFile(PathBuf, String),
    #[error("CARDTOKEN_MASTER_KEY: {0}")]
    EnvKey(String),
    #[error("the master key is set by CARDTOKEN_MASTER_KEY: rotate it by adding a new `version:key` to it")]
    RotateFromEnv,
    #[error("the vaulted card does not parse")]
    Corrupt,
}

/// A card sealed for storage: `nonce || ciphertext` fields.
pub struct Sealed {
    pub master_version: u32,
    pub wrapped_key: Vec<u8>,
    pub card_ct: Vec<u8>,
}

/// A card out of the vault, for the processor; never logged (its fields do not print themselves).
#[derive(Debug)]
pub struct OpenedCard {
    pub number: CardNumber,
    pub name: Option<String>,
    /// `None` once dropped (used or expired), or where its holder could not be reached.
    pub cvc: Option<Cvc>,
}

#[derive(Serialize, Deserialize, Default)]
struct KeysFile {
    current: u32,
    master: BTreeMap<u32, String>,
    fingerprint: String,
    /// The card-encryption key pairs (`jwe`), newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    encryption: Vec<StoredEncryptionKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredEncryptionKey {
    kid: String,
    /// The private scalar, base64url.
    private: String,
    created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retires: Option<i64>,
}

impl Drop for StoredEncryptionKey {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

fn load_encryption(path: &Path, stored: &[StoredEncryptionKey]) -> Result<Vec<EncryptionKey>, VaultError> {
    stored
        .iter()
        .map(|e| {
            EncryptionKey::from_stored(&e.kid, &e.private, e.created, e.retires).ok_or_else(|| {
                VaultError::KeysFile(
                    path.into(),
                    format!("encryption key {} is not a P-256 private key", e.kid),
                )
            })
        })
        .collect()
}

fn store_encryption(k: &EncryptionKey) -> StoredEncryptionKey {
    StoredEncryptionKey {
        kid: k.kid.clone(),
        private: k.stored_private().to_string(),
        created: k.created,
        retires: k.retires,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

struct KeyRing {
    current: u32,
    master: BTreeMap<u32, Key>,
    fingerprint: Key,
    /// Newest last; the newest that is not retiring is the one browsers encrypt to.
    encryption: Vec<EncryptionKey>,
}

/// The settings' names of the card-encryption keys' check values begin with this.
pub const ENCRYPTION_CHECK: &str = "key-check:encryption:";

pub struct Vault {
    ring: RwLock<KeyRing>,
    keys_path: PathBuf,
    master_from_env: bool,
    /// HMAC key of idempotency fingerprints, derived from the fingerprint key.
    idempotency: Key,
    /// When the keys file was last re-read for a JWE's unknown key id.
    reread: std::sync::Mutex<Option<std::time::Instant>>,
}

fn decode_key(b64: &str) -> Option<Key> {
    let mut bytes = STANDARD.decode(b64.trim()).ok()?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Zeroizing::new);
    bytes.zeroize();
    key
}

fn new_key() -> Result<Key, VaultError> {
    random_bytes::<32>().map(Zeroizing::new).map_err(|e| VaultError::Random(e.to_string()))
}

fn read_keys_file(path: &Path) -> Result<Option<KeysFile>, VaultError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut text = Zeroizing::new(text);
            let parsed =
                serde_json::from_str(&text).map_err(|e| VaultError::KeysFile(path.into(), e.to_string()))?;
            text.zeroize();
            Ok(Some(parsed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VaultError::KeysFile(path.into(), e.to_string())),
    }
}

/// Writes the keys file with mode 0600, atomically (temporary file, then rename).
fn write_keys_file(path: &Path, file: &KeysFile) -> Result<(), VaultError> {
    let err = |e: std::io::Error| VaultError::KeysFile(path.into(), e.to_string());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(err)?;
    let text = Zeroizing::new(
        serde_json::to_string_pretty(file).map_err(|e| VaultError::KeysFile(path.into(), e.to_string()))?,
    );
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

/// `base64` (version 1) or `version:base64,version:base64` (the highest version is current).
fn parse_env_master(value: &str) -> Result<(u32, BTreeMap<u32, Key>), VaultError> {
    let mut master = BTreeMap::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (version, b64) = match part.split_once(':') {
            Some((v, k)) => {
                (v.parse::<u32>().map_err(|_| VaultError::EnvKey("bad version number".into()))?, k)
            }
            None => (1, part),
        };
        let key = decode_key(b64)
            .ok_or_else(|| VaultError::EnvKey("each key must be 32 bytes in base64".into()))?;
        master.insert(version, key);
    }
    let current = *master.keys().next_back().ok_or_else(|| VaultError::EnvKey("empty".into()))?;
    Ok((current, master))
}

impl Vault {
    /// Opens the key ring of `data_dir/keys.json` (created on first start), or the master key from
    /// `master_env`.
    pub fn open(data_dir: &Path, master_env: Option<&SecretString>) -> Result<Vault, VaultError> {
        Vault::open_at(&data_dir.join("keys.json"), master_env, None)
    }

    /// Opens the key ring: keys from the environment where given (`master_env`, `fingerprint_env`), the
    /// rest from the keys file at `keys_path`, created if missing.
    pub fn open_at(
        keys_path: &Path,
        master_env: Option<&SecretString>,
        fingerprint_env: Option<&SecretString>,
    ) -> Result<Vault, VaultError> {
        let keys_path = keys_path.to_path_buf();
        let mut file = read_keys_file(&keys_path)?;
        let mut dirty = false;
        let fingerprint = match (fingerprint_env, file.as_ref().and_then(|f| decode_key(&f.fingerprint))) {
            (Some(env), _) => decode_key(env.expose_secret()).ok_or_else(|| {
                VaultError::EnvKey("CARDTOKEN_FINGERPRINT_KEY must be 32 bytes in base64".into())
            })?,
            (None, Some(k)) => k,
            (None, None) => {
                let k = new_key()?;
                file.get_or_insert_with(KeysFile::default).fingerprint = STANDARD.encode(*k);
                dirty = true;
                k
            }
        };
        let (current, master, from_env) = match master_env {
            Some(env) => {
                let (current, master) = parse_env_master(env.expose_secret())?;
                (current, master, true)
            }
            None => {
                let f = file.get_or_insert_with(KeysFile::default);
                if f.master.is_empty() {
                    let k = new_key()?;
                    f.master.insert(1, STANDARD.encode(*k));
                    f.current = 1;
                    dirty = true;
                }
                let mut master = BTreeMap::new();
                for (v, b64) in &f.master {
                    let key = decode_key(b64).ok_or_else(|| {
                        VaultError::KeysFile(keys_path.clone(), format!("master key {v} is not 32 bytes"))
                    })?;
                    master.insert(*v, key);
                }
                (f.current, master, false)
            }
        };
        if !master.contains_key(&current) {
            return Err(VaultError::MissingKey(current));
        }
        let f = file.get_or_insert_with(KeysFile::default);
        if f.encryption.is_empty() {
            let k = EncryptionKey::generate(unix_now()).map_err(VaultError::Random)?;
            f.encryption.push(store_encryption(&k));
            dirty = true;
        }
        let encryption = load_encryption(&keys_path, &f.encryption)?;
        if dirty {
            if let Some(f) = &file {
                write_keys_file(&keys_path, f)?;
            }
        }
        let idempotency = derive(&fingerprint, b"cardtoken/v1/idempotency");
        Ok(Vault {
            ring: RwLock::new(KeyRing { current, master, fingerprint, encryption }),
            keys_path,
            master_from_env: from_env,
            idempotency,
            reread: std::sync::Mutex::new(None),
        })
    }

    /// Re-reads the keys file (another process may have rotated the master key): a new current version
    /// is used for sealing from now on. Answers whether the current version changed.
    pub fn reload(&self) -> Result<bool, VaultError> {
        let Some(f) = read_keys_file(&self.keys_path)? else { return Ok(false) };
        let encryption = load_encryption(&self.keys_path, &f.encryption)?;
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        if !encryption.is_empty() {
            ring.encryption = encryption;
        }
        if self.master_from_env {
            return Ok(false);
        }
        for (v, b64) in &f.master {
            if let Some(k) = decode_key(b64) {
                ring.master.insert(*v, k);
            }
        }
        let changed = f.current != ring.current && ring.master.contains_key(&f.current);
        if changed {
            ring.current = f.current;
        }
        Ok(changed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The master key of `version`, re-reading the keys file once if another process rotated it.
    fn master(&self, version: u32) -> Result<Key, VaultError> {
        if let Some(k) = self.read().master.get(&version) {
            return Ok(k.clone());
        }
        if !self.master_from_env {
            if let Some(f) = read_keys_file(&self.keys_path)? {
                let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
                for (v, b64) in &f.master {
                    if let Some(k) = decode_key(b64) {
                        ring.master.insert(*v, k);
                    }
                }
                ring.current = ring.current.max(f.current);
            }
        }
        self.read().master.get(&version).cloned().ok_or(VaultError::MissingKey(version))
    }

    pub fn current_version(&self) -> u32 {
        self.read().current
    }

    /// A check value of each key (HMAC of a fixed label under it): the database keeps them, so an
    /// instance started with other keys than the ones its data was sealed with can refuse to run.
    /// A check value of each card-encryption key, named by its id: the database keeps them, so an
    /// instance with encryption keys of its own (a keys file not shared) can refuse to run rather than
    /// publish keys the other instances cannot decrypt to.
    pub fn encryption_checks(&self) -> Vec<(String, Vec<u8>)> {
        let ring = self.read();
        ring.encryption
            .iter()
            .map(|k| {
                let private = k.stored_private();
                let mut key = Zeroizing::new([0u8; 32]);
                key.copy_from_slice(&Sha256::digest(private.as_bytes()));
                (format!("{ENCRYPTION_CHECK}{}", k.kid), derive(&key, b"cardtoken/v1/key-check").to_vec())
            })
            .collect()
    }

    pub fn key_checks(&self) -> Vec<(String, Vec<u8>)> {
        let ring = self.read();
        let check = |key: &Key| derive(key, b"cardtoken/v1/key-check").to_vec();
        let mut out = vec![("key-check:fingerprint".to_string(), check(&ring.fingerprint))];
        for (version, key) in &ring.master {
            out.push((format!("key-check:master:{version}"), check(key)));
        }
        out
    }

    /// HMAC-SHA256 of the digits under the fingerprint key: equal cards, equal fingerprints.
    pub fn fingerprint(&self, number: &CardNumber) -> String {
        let ring = self.read();
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(ring.fingerprint.as_slice()) {
            Ok(m) => m,
            Err(_) => return String::new(), // a 32-byte key is always accepted
        };
        mac.update(number.expose_digits().as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }

    /// Seals the number and name under a new data key (the CVC goes apart: `seal_cvc`).
    pub fn seal(&self, token_id: &str, card: &CardData) -> Result<Sealed, VaultError> {
        let version = self.current_version();
        let master = self.master(version)?;
        let data_key = new_key()?;
        let wrapped_key = encrypt(&master, data_key.as_slice(), &aad("dek", token_id))?;
        let mut plain = Zeroizing::new(String::with_capacity(64));
        plain.push_str(card.number.expose_digits());
        plain.push('\n');
        plain.push_str(card.name.as_deref().unwrap_or(""));
        let card_ct = encrypt(&data_key, plain.as_bytes(), &aad("card", token_id))?;
        Ok(Sealed { master_version: version, wrapped_key, card_ct })
    }

    /// The number and name of a sealed card.
    pub fn open_card(
        &self,
        token_id: &str,
        master_version: u32,
        wrapped_key: &[u8],
        card_ct: &[u8],
    ) -> Result<OpenedCard, VaultError> {
        let master = self.master(master_version)?;
        let data_key = decrypt(&master, wrapped_key, &aad("dek", token_id))?;
        let data_key: Key =
            Zeroizing::new(<[u8; 32]>::try_from(data_key.as_slice()).map_err(|_| VaultError::Corrupt)?);
        let plain = decrypt(&data_key, card_ct, &aad("card", token_id))?;
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Corrupt)?;
        let (digits, name) = text.split_once('\n').ok_or(VaultError::Corrupt)?;
        let number = CardNumber::parse(digits).map_err(|_| VaultError::Corrupt)?;
        Ok(OpenedCard { number, name: (!name.is_empty()).then(|| name.to_string()), cvc: None })
    }

    /// Seals a CVC held by this instance for the snapshot a graceful stop writes (see `cvcs`): under a key
    /// derived from the current master key, the token id as associated data. Answers the master version.
    pub fn seal_held_cvc(&self, token_id: &str, cvc: &Cvc) -> Result<(u32, Vec<u8>), VaultError> {
        let version = self.current_version();
        let key = derive(&self.master(version)?, b"cardtoken/v1/held-cvc");
        Ok((version, encrypt(&key, cvc.expose().as_bytes(), &aad("held-cvc", token_id))?))
    }

    pub fn open_held_cvc(&self, token_id: &str, version: u32, ct: &[u8]) -> Result<Cvc, VaultError> {
        let key = derive(&self.master(version)?, b"cardtoken/v1/held-cvc");
        let code = decrypt(&key, ct, &aad("held-cvc", token_id))?;
        let code = std::str::from_utf8(&code).map_err(|_| VaultError::Corrupt)?;
        Cvc::parse(code, None).map_err(|_| VaultError::Corrupt)
    }

    /// The MAC instances put on what they ask each other (HMAC-SHA256 under a key derived from the
    /// fingerprint key, which every instance of a deployment holds).
    pub fn peer_mac(&self, message: &[u8]) -> [u8; 32] {
        let key = derive(&self.read().fingerprint, b"cardtoken/v1/peers");
        let mut out = [0u8; 32];
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice()) {
            mac.update(message);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// The fingerprint an `Idempotency-Key` record keeps of its request: HMAC-SHA256, under a server key,
    /// of SHA-256 of the method, path and body. Keyed, so a record of a body holding card data cannot be
    /// matched against guesses without the server's key.
    pub fn idempotency_fingerprint(&self, method: &str, path: &str, body: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        let digest = Zeroizing::new(hasher.finalize().to_vec());
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.idempotency_mac(&digest));
        out
    }

    /// HMAC-SHA256 under the idempotency key.
    pub fn idempotency_mac(&self, digest: &[u8]) -> Vec<u8> {
        match <Hmac<Sha256> as Mac>::new_from_slice(self.idempotency.as_slice()) {
            Ok(mut mac) => {
                mac.update(digest);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(), // a 32-byte key is always accepted
        }
    }

    /// Re-wraps a data key under the current master key.
    pub fn rewrap(&self, token_id: &str, version: u32, wrapped: &[u8]) -> Result<(u32, Vec<u8>), VaultError> {
        let current = self.current_version();
        let data_key = decrypt(&self.master(version)?, wrapped, &aad("dek", token_id))?;
        let rewrapped = encrypt(&self.master(current)?, &data_key, &aad("dek", token_id))?;
        Ok((current, rewrapped))
    }

    /// Adds a new master key version to the keys file and makes it current. Answers the new version.
    pub fn add_master_version(&self) -> Result<u32, VaultError> {
        if self.master_from_env {
            return Err(VaultError::RotateFromEnv);
        }
        let mut file = read_keys_file(&self.keys_path)?.unwrap_or_default();
        let version = file.master.keys().next_back().copied().unwrap_or(0) + 1;
        let key = new_key()?;
        file.master.insert(version, STANDARD.encode(*key));
        file.current = version;
        write_keys_file(&self.keys_path, &file)?;
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        ring.master.insert(version, key);
        ring.current = version;
        Ok(version)
    }
}

impl Vault {
    /// The public keys cards may be encrypted to at `now`: the current one first, then those retiring.
    pub fn jwks(&self, now: i64) -> Jwks {
        let ring = self.read();
        let mut usable: Vec<&EncryptionKey> = ring.encryption.iter().filter(|k| k.usable(now)).collect();
        // Newest first, and among them the one not retiring.
        usable.reverse();
        usable.sort_by_key(|k| k.retires.is_some());
        Jwks { keys: usable.into_iter().map(EncryptionKey::public_jwk).collect() }
    }

    /// Decrypts a card JWE (see `jwe`). A key id this process does not know yet sends it to the keys
    /// file once: another process may have just rotated.
    /// (At most once a second: a stream of made-up key ids does not make the server read the file for each.)
    pub fn decrypt_jwe(&self, compact: &str, now: i64) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let first = jwe::decrypt(compact, &self.read().encryption, now);
        match first {
            Err(JweError::UnknownKey) if self.may_reread() && self.reload().is_ok() => {
                jwe::decrypt(compact, &self.read().encryption, now)
            }
            other => other,
        }
    }

    /// Whether a second has passed since the keys file was last re-read for an unknown key id.
    fn may_reread(&self) -> bool {
        let mut last = self.reread.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(1)) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Adds a new current encryption key pair; the others stay usable until `now + grace`, and those
    /// already retired leave the file. Answers the new key's id and the ids retiring.
    pub fn rotate_encryption(&self, now: i64, grace: i64) -> Result<(String, Vec<String>), VaultError> {
        let mut file = read_keys_file(&self.keys_path)?.unwrap_or_default();
        file.encryption.retain(|k| k.retires.is_none_or(|r| r > now));
        let mut retiring = Vec::new();
        for k in &mut file.encryption {
            let until = k.retires.map_or(now + grace, |r| r.min(now + grace));
            k.retires = Some(until);
            retiring.push(k.kid.clone());
        }
        let new = EncryptionKey::generate(now).map_err(VaultError::Random)?;
        let kid = new.kid.clone();
        file.encryption.push(store_encryption(&new));
        write_keys_file(&self.keys_path, &file)?;
        let encryption = load_encryption(&self.keys_path, &file.encryption)?;
        self.ring.write().unwrap_or_else(|p| p.into_inner()).encryption = encryption;
        Ok((kid, retiring))
    }
}

/// A key derived from `key` for one purpose (HMAC-SHA256 of the label).
fn derive(key: &Key, label: &[u8]) -> Key {
    let mut out = Zeroizing::new([0u8; 32]);
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice()) {
        mac.update(label);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

fn aad(kind: &str, token_id: &str) -> Vec<u8> {
    format!("cardtoken/v1/{kind}/{token_id}").into_bytes()
}

fn encrypt(key: &Key, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher = Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| VaultError::Encrypt)?;
    let nonce = random_bytes::<12>().map_err(|e| VaultError::Random(e.to_string()))?;
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
        .map_err(|_| VaultError::Encrypt)?;
    let mut out = Vec::with_capacity(12 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn decrypt(key: &Key, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < 12 + 16 {
        return Err(VaultError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(12);
    let cipher = Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| VaultError::Decrypt)?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardtoken_types::wire::CardFields;
    use cardtoken_types::YearMonth;

    fn card() -> CardData {
        let fields = CardFields {
            number: "4242424242424242",
            exp_month: 12,
            exp_year: 2034,
            cvc: "123",
            name: Some("Jane"),
        };
        CardData::parse(fields, YearMonth::new(2026, 11)).unwrap()
    }

    #[test]
    fn sealed_cards_open_only_under_their_own_token_id() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let c = card();
        let s = vault.seal("tok_a", &c).unwrap();
        let opened = vault.open_card("tok_a", s.master_version, &s.wrapped_key, &s.card_ct).unwrap();
        assert_eq!(opened.number.expose_digits(), "4242424242424242");
        assert_eq!(opened.name.as_deref(), Some("Jane"));
        let moved = vault.open_card("tok_b", s.master_version, &s.wrapped_key, &s.card_ct);
        assert!(matches!(moved, Err(VaultError::Decrypt)));
        let mut tampered = s.card_ct.clone();
        tampered[20] ^= 1;
        assert!(vault.open_card("tok_a", s.master_version, &s.wrapped_key, &tampered).is_err());

        // A held CVC, sealed for a snapshot: bound to the token id.
        let (version, ct) = vault.seal_held_cvc("tok_a", &c.cvc).unwrap();
        assert_eq!(vault.open_held_cvc("tok_a", version, &ct).unwrap().expose(), "123");
        assert!(vault.open_held_cvc("tok_b", version, &ct).is_err());
        assert!(!ct.windows(3).any(|w| w == b"123"));
    }

    #[test]
    fn the_keys_file_is_private_and_reused_and_fingerprints_are_keyed() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::open(dir.path(), None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = Vault::open(dir.path(), None).unwrap();
        let c = card();
        assert_eq!(a.fingerprint(&c.number), b.fingerprint(&c.number));
        let other = tempfile::tempdir().unwrap();
        let d = Vault::open(other.path(), None).unwrap();
        assert_ne!(
            a.fingerprint(&c.number),
            d.fingerprint(&c.number),
            "a fingerprint is an HMAC, not a hash"
        );
    }

    #[test]
    fn master_keys_rotate_and_env_keys_parse() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let s = vault.seal("tok_a", &card()).unwrap();
        assert_eq!(vault.add_master_version().unwrap(), 2);
        let (v, wrapped) = vault.rewrap("tok_a", s.master_version, &s.wrapped_key).unwrap();
        assert_eq!(v, 2);
        let reopened = Vault::open(dir.path(), None).unwrap();
        assert!(reopened.open_card("tok_a", v, &wrapped, &s.card_ct).is_ok());
        // Another process rotates: a running vault sees the new version on reload.
        let running = Vault::open(dir.path(), None).unwrap();
        let rotator = Vault::open(dir.path(), None).unwrap();
        assert_eq!(rotator.add_master_version().unwrap(), 3);
        assert_eq!(running.current_version(), 2);
        assert!(running.reload().unwrap());
        assert_eq!(running.current_version(), 3);
        assert!(!running.reload().unwrap());

        let k1 = STANDARD.encode([1u8; 32]);
        let k2 = STANDARD.encode([2u8; 32]);
        let env = SecretString::from(format!("1:{k1},2:{k2}"));
        let from_env = Vault::open(tempfile::tempdir().unwrap().path(), Some(&env)).unwrap();
        assert_eq!(from_env.current_version(), 2);
        assert!(matches!(from_env.add_master_version(), Err(VaultError::RotateFromEnv)));
        assert!(Vault::open(dir.path(), Some(&SecretString::from("short".to_string()))).is_err());
    }

    #[test]
    fn idempotency_fingerprints_are_keyed_and_bind_method_path_and_body() {
        let a = Vault::open(tempfile::tempdir().unwrap().path(), None).unwrap();
        let b = Vault::open(tempfile::tempdir().unwrap().path(), None).unwrap();
        let f = a.idempotency_fingerprint("POST", "/v1/tokens", b"{}");
        assert_eq!(f, a.idempotency_fingerprint("POST", "/v1/tokens", b"{}"));
        assert_ne!(f, b.idempotency_fingerprint("POST", "/v1/tokens", b"{}"), "keyed per deployment");
        assert_ne!(f, a.idempotency_fingerprint("POST", "/v1/refunds", b"{}"));
        assert_ne!(f, a.idempotency_fingerprint("POST", "/v1/tokens", b"{ }"));
        let plain: [u8; 32] = Sha256::digest(b"POST\0/v1/tokens\0{}").into();
        assert_ne!(f, plain);
        assert_eq!(f.to_vec(), a.idempotency_mac(&plain), "the keyed MAC of the request's digest");
    }
}

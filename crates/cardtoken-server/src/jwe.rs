//! Card data encrypted to the server's key before it leaves the browser: compact JWE (RFC 7516) with
//! `alg: "ECDH-ES"` (direct key agreement on P-256, RFC 7518 §4.6) and `enc: "A256GCM"`, so that anything
//! terminating TLS before the API (a CDN, a load balancer, a logging proxy) sees ciphertext only.
//!
//! The protected header names the key (`kid`), carries the sender's ephemeral public key (`epk`) and the
//! time it was made (`iat`, Unix seconds): the header is the ciphertext's associated data, so none of it can
//! be changed, and a JWE older than `MAX_AGE_SECS` is refused. The plaintext is the `card` object of a plain
//! request, as JSON. Any JOSE library produces it (README, "Encrypted card data").
//!
//! Every failure is one `JweError` for the caller to answer uniformly; its variant is for the logs only.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ids::random_bytes;

/// How old a JWE may be (its `iat`), and how far ahead of the server's clock.
pub const MAX_AGE_SECS: i64 = 300;
pub const MAX_AHEAD_SECS: i64 = 300;
/// The most a compact JWE of a card may weigh (a card is well under 200 bytes of JSON).
pub const MAX_LEN: usize = 4096;

pub const ALG: &str = "ECDH-ES";
pub const ENC: &str = "A256GCM";

/// Why a JWE was refused. The API answers all of them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("not a compact JWE")]
    Malformed,
    #[error("unsupported algorithm or header")]
    Algorithm,
    #[error("unknown or retired key id")]
    UnknownKey,
    #[error("outside the freshness window")]
    Stale,
    #[error("decryption failed")]
    Decrypt,
}

/// One of the server's encryption key pairs.
pub struct EncryptionKey {
    pub kid: String,
    secret: SecretKey,
    /// Unix seconds: made, and (once a newer key replaced it) no longer accepted from.
    pub created: i64,
    pub retires: Option<i64>,
}

impl EncryptionKey {
    /// A new key pair, its id random.
    pub fn generate(created: i64) -> Result<EncryptionKey, String> {
        let secret = random_secret()?;
        let kid = format!("ek_{}", URL_SAFE_NO_PAD.encode(random_bytes::<12>().map_err(|e| e.to_string())?));
        Ok(EncryptionKey { kid, secret, created, retires: None })
    }

    /// A key pair from its stored form (the private scalar, base64url).
    pub fn from_stored(
        kid: &str,
        private: &str,
        created: i64,
        retires: Option<i64>,
    ) -> Option<EncryptionKey> {
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(private.trim()).ok()?);
        let secret = SecretKey::from_slice(&bytes).ok()?;
        Some(EncryptionKey { kid: kid.to_string(), secret, created, retires })
    }

    /// The private scalar, base64url, for the keys file.
    pub fn stored_private(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(self.secret.to_bytes()))
    }

    /// Whether it still decrypts at `now`.
    pub fn usable(&self, now: i64) -> bool {
        self.retires.is_none_or(|r| now < r)
    }

    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// The public key as a JWK (RFC 7517), for the JWKS.
    pub fn public_jwk(&self) -> Jwk {
        let (x, y) = coordinates(&self.public_key());
        Jwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid: self.kid.clone(),
            key_use: "enc".into(),
            alg: ALG.into(),
        }
    }
}

fn random_secret() -> Result<SecretKey, String> {
    // A random 256-bit string is a valid scalar but for a chance of about 2^-32: try again then.
    for _ in 0..8 {
        let bytes = Zeroizing::new(random_bytes::<32>().map_err(|e| e.to_string())?);
        if let Ok(k) = SecretKey::from_slice(bytes.as_slice()) {
            return Ok(k);
        }
    }
    Err("no valid P-256 scalar".into())
}

/// The public key a JWK names (P-256), if it is one.
pub fn public_key(jwk: &Jwk) -> Option<PublicKey> {
    if jwk.kty != "EC" || jwk.crv != "P-256" {
        return None;
    }
    let mut sec1 = vec![4u8];
    sec1.extend(URL_SAFE_NO_PAD.decode(&jwk.x).ok().filter(|x| x.len() == 32)?);
    sec1.extend(URL_SAFE_NO_PAD.decode(&jwk.y).ok().filter(|y| y.len() == 32)?);
    PublicKey::from_sec1_bytes(&sec1).ok()
}

fn coordinates(key: &PublicKey) -> (String, String) {
    let point = key.to_encoded_point(false);
    let enc = |c: Option<&p256::FieldBytes>| c.map(|b| URL_SAFE_NO_PAD.encode(b)).unwrap_or_default();
    (enc(point.x()), enc(point.y()))
}

/// A public key in the JWKS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub alg: String,
}

/// `GET /.well-known/jwks.json`: the keys cards may be encrypted to, the current one first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Serialize, Deserialize)]
struct EpkJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    enc: String,
    kid: String,
    epk: EpkJwk,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apv: Option<String>,
    // Refused when present: compression (a length side channel) and extensions we do not implement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zip: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

/// The content key of ECDH-ES in direct mode: the Concat KDF of NIST SP 800-56A with SHA-256, its
/// AlgorithmID the `enc` value (RFC 7518 §4.6.2), `bits` long (at most 256: one round).
fn concat_kdf(z: &[u8], algorithm: &[u8], apu: &[u8], apv: &[u8], bits: u32) -> Zeroizing<Vec<u8>> {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(z);
    for field in [algorithm, apu, apv] {
        h.update((field.len() as u32).to_be_bytes());
        h.update(field);
    }
    h.update(bits.to_be_bytes());
    let digest = h.finalize();
    Zeroizing::new(digest[..(bits as usize / 8).min(32)].to_vec())
}

fn b64(part: &str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| JweError::Malformed)
}

/// The key id a compact JWE names, without decrypting it (for the logs and for key lookup).
pub fn kid_of(compact: &str) -> Option<String> {
    let header: Header = serde_json::from_slice(&b64(compact.split('.').next()?).ok()?).ok()?;
    Some(header.kid)
}

/// Decrypts `compact` with the key it names among `keys` (usable at `now`), checking its freshness.
pub fn decrypt(compact: &str, keys: &[EncryptionKey], now: i64) -> Result<Zeroizing<Vec<u8>>, JweError> {
    if compact.len() > MAX_LEN {
        return Err(JweError::Malformed);
    }
    let parts: Vec<&str> = compact.split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts.as_slice() else {
        return Err(JweError::Malformed);
    };
    let header: Header = serde_json::from_slice(&b64(protected)?).map_err(|_| JweError::Malformed)?;
    if header.alg != ALG || header.enc != ENC || header.zip.is_some() || header.crit.is_some() {
        return Err(JweError::Algorithm);
    }
    if !encrypted_key.is_empty() {
        return Err(JweError::Algorithm); // direct key agreement carries no encrypted key
    }
    if header.iat < now - MAX_AGE_SECS || header.iat > now + MAX_AHEAD_SECS {
        return Err(JweError::Stale);
    }
    let key = keys.iter().find(|k| k.kid == header.kid && k.usable(now)).ok_or(JweError::UnknownKey)?;
    if header.epk.kty != "EC" || header.epk.crv != "P-256" {
        return Err(JweError::Algorithm);
    }
    let (x, y) = (b64(&header.epk.x)?, b64(&header.epk.y)?);
    if x.len() != 32 || y.len() != 32 {
        return Err(JweError::Malformed);
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(4);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    // Parsing checks the point is on the curve (no invalid-curve attack).
    let epk = PublicKey::from_sec1_bytes(&sec1).map_err(|_| JweError::Malformed)?;
    let shared = p256::ecdh::diffie_hellman(key.secret.to_nonzero_scalar(), epk.as_affine());
    let apu = header.apu.as_deref().map(b64).transpose()?.unwrap_or_default();
    let apv = header.apv.as_deref().map(b64).transpose()?.unwrap_or_default();
    let cek = concat_kdf(shared.raw_secret_bytes(), ENC.as_bytes(), &apu, &apv, 256);
    let (iv, mut body, tag) = (b64(iv)?, b64(ciphertext)?, b64(tag)?);
    if iv.len() != 12 || tag.len() != 16 {
        return Err(JweError::Malformed);
    }
    body.extend_from_slice(&tag);
    let cipher = Aes256Gcm::new_from_slice(cek.as_slice()).map_err(|_| JweError::Decrypt)?;
    let plain = cipher
        .decrypt(Nonce::from_slice(&iv), Payload { msg: &body, aad: protected.as_bytes() })
        .map_err(|_| JweError::Decrypt)?;
    Ok(Zeroizing::new(plain))
}

/// Encrypts `plaintext` to `recipient` (key id `kid`), made at `iat`: what the browser package does with
/// WebCrypto, for tests, benchmarks and Rust integrations.
pub fn encrypt(recipient: &PublicKey, kid: &str, plaintext: &[u8], iat: i64) -> Result<String, String> {
    let ephemeral = random_secret()?;
    let (x, y) = coordinates(&ephemeral.public_key());
    let header = Header {
        alg: ALG.into(),
        enc: ENC.into(),
        kid: kid.into(),
        epk: EpkJwk { kty: "EC".into(), crv: "P-256".into(), x, y },
        iat,
        apu: None,
        apv: None,
        zip: None,
        crit: None,
    };
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|e| e.to_string())?);
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), recipient.as_affine());
    let cek = concat_kdf(shared.raw_secret_bytes(), ENC.as_bytes(), &[], &[], 256);
    let iv = random_bytes::<12>().map_err(|e| e.to_string())?;
    let cipher = Aes256Gcm::new_from_slice(cek.as_slice()).map_err(|e| e.to_string())?;
    let mut sealed = cipher
        .encrypt(Nonce::from_slice(&iv), Payload { msg: plaintext, aad: protected.as_bytes() })
        .map_err(|_| "encryption failed".to_string())?;
    let tag = sealed.split_off(sealed.len() - 16);
    Ok(format!(
        "{protected}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(&sealed),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn key() -> EncryptionKey {
        EncryptionKey::generate(NOW).unwrap()
    }

    #[test]
    fn a_jwe_round_trips_and_every_alteration_is_refused() {
        let k = key();
        let jwe = encrypt(&k.public_key(), &k.kid, b"{\"card\":1}", NOW).unwrap();
        let keys = [k];
        assert_eq!(decrypt(&jwe, &keys, NOW + 10).unwrap().as_slice(), b"{\"card\":1}");
        // Flip a character of each part in turn.
        let parts: Vec<&str> = jwe.split('.').collect();
        for i in [0, 2, 3, 4] {
            let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            let c = p[i].remove(0);
            p[i].insert(0, if c == 'A' { 'B' } else { 'A' });
            assert!(decrypt(&p.join("."), &keys, NOW).is_err(), "part {i} altered");
        }
        assert_eq!(decrypt(&jwe, &keys, NOW + MAX_AGE_SECS + 1).unwrap_err(), JweError::Stale);
        assert_eq!(decrypt(&jwe, &keys, NOW - MAX_AHEAD_SECS - 1).unwrap_err(), JweError::Stale);
        assert_eq!(decrypt("a.b.c", &keys, NOW).unwrap_err(), JweError::Malformed);
        let other = key();
        assert_eq!(decrypt(&jwe, &[other], NOW).unwrap_err(), JweError::UnknownKey);
    }

    #[test]
    fn a_retired_key_no_longer_decrypts_and_a_stored_key_is_the_same_key() {
        let mut k = key();
        let jwe = encrypt(&k.public_key(), &k.kid, b"x", NOW).unwrap();
        let again = EncryptionKey::from_stored(&k.kid, &k.stored_private(), k.created, None).unwrap();
        assert_eq!(again.public_jwk(), k.public_jwk());
        k.retires = Some(NOW);
        assert_eq!(decrypt(&jwe, &[k], NOW).unwrap_err(), JweError::UnknownKey);
    }

    #[test]
    fn the_concat_kdf_matches_rfc_7518_appendix_c() {
        // RFC 7518 Appendix C: ECDH-ES for A128GCM, PartyUInfo "Alice", PartyVInfo "Bob".
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163,
            218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let key = concat_kdf(&z, b"A128GCM", b"Alice", b"Bob", 128);
        assert_eq!(URL_SAFE_NO_PAD.encode(key.as_slice()), "VqqN6vgjbSBcIijNcacQGg");
    }
}

//! Tokens and their vaulted cards, and the short-lived keys CVCs are encrypted under.

use super::{Result, Scope};

/// A token and its vaulted card. Encrypted fields are `nonce || ciphertext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    /// The publishable key that made it.
    pub key_id: String,
    pub created: i64,
    pub expires: i64,
    pub used: bool,
    pub brand: String,
    pub last4: String,
    /// The first digits shown with the last four (at most 6, fewer for short numbers).
    pub bin: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub fingerprint: String,
    /// The master key version the data key is wrapped under.
    pub master_version: u32,
    /// The token's data key, wrapped; `None` once an unused token's card data is purged.
    pub wrapped_key: Option<Vec<u8>>,
    /// The number and name under the data key; `None` once purged.
    pub card_ct: Option<Vec<u8>>,
    /// The CVC under the key of `cvc_epoch` (never under the data key); erased when the token is used
    /// or expires, and unrecoverable once that epoch's key is destroyed.
    pub cvc_ct: Option<Vec<u8>>,
    pub cvc_epoch: Option<i64>,
}

impl TokenRecord {
    pub fn scope(&self) -> Scope {
        Scope::new(self.account_id.clone(), self.livemode)
    }
}

pub trait TokenRepo {
    fn insert_token(&mut self, token: &TokenRecord) -> Result<()>;
    fn get_token(&mut self, scope: &Scope, id: &str) -> Result<Option<TokenRecord>>;
    /// Uses the token if it is unused and unexpired at `now` (compare-and-set): marks it used and erases
    /// its CVC. False when it was not usable.
    fn use_token(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool>;
    /// Erases the CVC of every token expired at `now`; answers how many.
    fn erase_expired_cvcs(&mut self, now: i64) -> Result<usize>;
    /// Deletes the card data of unused tokens that expired before `before`; answers how many.
    fn purge_unused_card_data(&mut self, before: i64) -> Result<usize>;
    /// Every token's (id, master version, wrapped data key), for re-wrapping under a new master key.
    fn wrapped_keys(&mut self) -> Result<Vec<(String, u32, Vec<u8>)>>;
    fn rewrap_key(&mut self, id: &str, version: u32, wrapped: &[u8]) -> Result<()>;

    /// The CVC key of an epoch: (master version, wrapped key).
    fn get_cvc_key(&mut self, epoch: i64) -> Result<Option<(u32, Vec<u8>)>>;
    /// Stores an epoch's CVC key unless another writer stored one first.
    fn insert_cvc_key(&mut self, epoch: i64, master_version: u32, wrapped: &[u8]) -> Result<()>;
    /// Destroys the CVC keys of epochs before `epoch`, beyond recovery from anything the database
    /// keeps (SQLite: `secure_delete`, then `Store::compact`; PostgreSQL: the keys live in unlogged
    /// tables, one per epoch, which are dropped). Answers how many.
    fn destroy_cvc_keys_before(&mut self, epoch: i64) -> Result<usize>;
}

//! Tokens and their vaulted cards (never their CVCs: see `crate::cvcs`).

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
    /// The instance holding the token's CVC in memory (`cvcs::CvcHolder::id`); never the CVC.
    pub cvc_holder: Option<String>,
}

impl TokenRecord {
    pub fn scope(&self) -> Scope {
        Scope::new(self.account_id.clone(), self.livemode)
    }
}

pub trait TokenRepo {
    fn insert_token(&mut self, token: &TokenRecord) -> Result<()>;
    fn get_token(&mut self, scope: &Scope, id: &str) -> Result<Option<TokenRecord>>;
    /// Uses the token if it is unused and unexpired at `now` (compare-and-set): marks it used. False when
    /// it was not usable.
    fn use_token(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool>;
    /// Deletes the card data of unused tokens that expired before `before`; answers how many.
    fn purge_unused_card_data(&mut self, before: i64) -> Result<usize>;
    /// Every token's (id, master version, wrapped data key), for re-wrapping under a new master key.
    fn wrapped_keys(&mut self) -> Result<Vec<(String, u32, Vec<u8>)>>;
    fn rewrap_key(&mut self, id: &str, version: u32, wrapped: &[u8]) -> Result<()>;
}

//! Accounts (the tenant) and their API keys.

use super::Result;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// `acct_…`
    pub id: String,
    pub name: String,
    pub created: i64,
    /// Whether `POST /v1/tokens` takes the card only encrypted (`card_jwe`), refusing it in clear.
    pub require_encryption: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Publishable,
    Secret,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Publishable => "publishable",
            KeyKind::Secret => "secret",
        }
    }

    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "publishable" => Some(KeyKind::Publishable),
            "secret" => Some(KeyKind::Secret),
            _ => None,
        }
    }
}

/// An API key as stored: a publishable key in full (it is public), a secret key only as its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// `key_…`
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    pub kind: KeyKind,
    /// The publishable key itself; `None` for secret keys.
    pub publishable: Option<String>,
    /// SHA-256 of the secret key; `None` for publishable keys.
    pub secret_hash: Option<Vec<u8>>,
    /// What to show in listings: `pk_test_…` in full, `sk_test_…wxyz` for secrets.
    pub hint: String,
    pub created: i64,
    pub revoked: Option<i64>,
    /// When a rolled key stops working (the grace period's end); `None`: until revoked.
    pub expires: Option<i64>,
    /// Publishable keys: who may frame the card fields (CSP `frame-ancestors`); `None` means `*`.
    pub frame_ancestors: Option<String>,
}

impl ApiKeyRecord {
    /// Whether the key still opens the API at `now`.
    pub fn active(&self, now: i64) -> bool {
        self.revoked.is_none() && self.expires.is_none_or(|e| now < e)
    }
}

pub trait AccountRepo {
    fn insert_account(&mut self, account: &AccountRecord) -> Result<()>;
    fn get_account(&mut self, id: &str) -> Result<Option<AccountRecord>>;
    /// Oldest first.
    fn list_accounts(&mut self) -> Result<Vec<AccountRecord>>;
    /// Sets whether an account takes cards only encrypted; false when there is no such account.
    fn set_require_encryption(&mut self, id: &str, required: bool) -> Result<bool>;

    fn insert_key(&mut self, key: &ApiKeyRecord) -> Result<()>;
    /// The key a publishable key string names (revoked and expired keys included: the caller decides).
    fn find_publishable_key(&mut self, key: &str) -> Result<Option<ApiKeyRecord>>;
    fn find_secret_key(&mut self, hash: &[u8]) -> Result<Option<ApiKeyRecord>>;
    fn get_key(&mut self, id: &str) -> Result<Option<ApiKeyRecord>>;
    /// Every key, or one account's, oldest first.
    fn list_keys(&mut self, account: Option<&str>) -> Result<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; false when there is no such key or it already is.
    fn revoke_key(&mut self, id: &str, now: i64) -> Result<bool>;
    /// Sets when a key stops working (a roll's grace period); false when there is no such active key.
    fn expire_key(&mut self, id: &str, at: i64) -> Result<bool>;
    /// Sets who may frame a publishable key's card fields; false when there is no such key.
    fn set_frame_ancestors(&mut self, id: &str, value: Option<&str>) -> Result<bool>;
}

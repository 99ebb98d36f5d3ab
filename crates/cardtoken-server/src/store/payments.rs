//! Payments, their refunds and disputes.

use cardtoken_types::wire::PaymentStatus;

use super::{Result, Scope};

/// A payment as stored. `version` rises with every change (compare-and-set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    /// The secret key that made it.
    pub key_id: String,
    pub token_id: String,
    pub amount: u64,
    pub currency: String,
    pub status: PaymentStatus,
    pub amount_capturable: u64,
    pub amount_captured: u64,
    pub amount_refunded: u64,
    /// Capture at once (`automatic`) or later (`manual`).
    pub capture: bool,
    pub client_secret: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub next_action_url: Option<String>,
    pub last_error_code: Option<String>,
    pub last_error_decline_code: Option<String>,
    pub last_error_message: Option<String>,
    pub description: Option<String>,
    /// JSON object of string values.
    pub metadata: String,
    pub created: i64,
    pub version: i64,
}

impl PaymentRecord {
    pub fn scope(&self) -> Scope {
        Scope::new(self.account_id.clone(), self.livemode)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    pub payment_id: String,
    pub amount: u64,
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub created: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    pub payment_id: String,
    pub amount: u64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub created: i64,
}

/// Which payments a listing shows (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    pub status: Option<PaymentStatus>,
    /// Created at or after (Unix seconds).
    pub created_from: Option<i64>,
    /// Created before.
    pub created_until: Option<i64>,
    pub last4: Option<String>,
    pub amount: Option<u64>,
}

pub trait PaymentRepo {
    fn insert_payment(&mut self, payment: &PaymentRecord) -> Result<()>;
    fn get_payment(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>>;
    /// Reads a payment to change it: no other transaction changes it until this one ends (PostgreSQL
    /// `FOR UPDATE`; SQLite's single writer).
    fn lock_payment(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>>;
    /// A payment by id alone, for what carries its own proof (a client secret) or runs for the system
    /// (jobs). Never for a key's request.
    fn find_payment(&mut self, id: &str) -> Result<Option<PaymentRecord>>;
    /// Newest first; `starting_after` is the last id of the previous page. Answers the page and whether
    /// more follow.
    fn list_payments(
        &mut self,
        scope: &Scope,
        filter: &PaymentFilter,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<PaymentRecord>, bool)>;
    /// Writes what can change over the version that was read (compare-and-set) and raises the version;
    /// false if another change came first.
    fn update_payment(&mut self, payment: &PaymentRecord) -> Result<bool>;

    fn insert_refund(&mut self, refund: &RefundRecord) -> Result<()>;
    fn get_refund(&mut self, scope: &Scope, id: &str) -> Result<Option<RefundRecord>>;
    /// A refund by id alone (jobs).
    fn find_refund(&mut self, id: &str) -> Result<Option<RefundRecord>>;
    fn set_refund_status(&mut self, id: &str, status: &str) -> Result<bool>;
    /// Oldest first.
    fn refunds_of(&mut self, payment_id: &str) -> Result<Vec<RefundRecord>>;

    fn insert_dispute(&mut self, dispute: &DisputeRecord) -> Result<()>;
    fn disputes_of(&mut self, payment_id: &str) -> Result<Vec<DisputeRecord>>;
}

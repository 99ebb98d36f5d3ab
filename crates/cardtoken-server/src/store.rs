//! Storage, behind the `Store` trait: SQLite today (a file in the data dir, WAL, fully synced
//! commits), PostgreSQL later. Methods are synchronous; handlers call them through `spawn_blocking`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use cardtoken_types::wire::PaymentStatus;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("the database lock was poisoned")]
    Poisoned,
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Publishable,
    Secret,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Publishable => "publishable",
            KeyKind::Secret => "secret",
        }
    }
}

/// An API key as stored: a publishable key in full (it is public), a secret key only as its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub kind: KeyKind,
    /// The publishable key itself; `None` for secret keys.
    pub publishable: Option<String>,
    /// SHA-256 of the secret key; `None` for publishable keys.
    pub secret_hash: Option<Vec<u8>>,
    /// What to show in listings: `pk_test_…` in full, `sk_test_…wxyz` for secrets.
    pub hint: String,
    pub livemode: bool,
    pub created: i64,
    pub revoked: Option<i64>,
    /// Publishable keys: who may frame the card fields (CSP `frame-ancestors`); `None` means `*`.
    pub frame_ancestors: Option<String>,
}

/// A token and its vaulted card. Encrypted fields are `nonce || ciphertext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub key_id: String,
    pub livemode: bool,
    pub created: i64,
    pub expires: i64,
    pub used: bool,
    pub brand: String,
    pub last4: String,
    pub bin: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub fingerprint: String,
    /// The master key version the data key is wrapped under.
    pub master_version: u32,
    pub wrapped_key: Vec<u8>,
    pub card_ct: Vec<u8>,
    /// Erased (NULL) once the token is used or expires.
    pub cvc_ct: Option<Vec<u8>>,
}

/// A payment as stored. `version` rises with every change (compare-and-set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub key_id: String,
    pub livemode: bool,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub payment_id: String,
    pub amount: u64,
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub created: i64,
}

/// What an idempotency key says about a request arriving with it.
#[derive(Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// New (or older than the retention): the request runs, and its response is stored after.
    Started,
    /// The same request ran before: answer this, byte for byte.
    Replay { status: u16, body: Vec<u8> },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used with another endpoint or body.
    Mismatch,
}

/// An event to write in the same transaction as the change it reports (the outbox).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub created: i64,
    /// The whole event as delivered: `{id, type, created, data: {object}}`.
    pub body: String,
}

/// Work to do later (a dispute opening, a refund failing), written with the change that causes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: String,
    pub subject: String,
    pub due: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub due: i64,
}

/// A change to a payment that `mutate_payment` commits: the new payment, maybe a refund, the events it
/// causes and the jobs it schedules.
#[derive(Clone, Debug)]
pub struct PaymentChange {
    pub payment: PaymentRecord,
    pub refund: Option<RefundRecord>,
    pub events: Vec<NewEvent>,
    pub jobs: Vec<NewJob>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub created: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub body: String,
}

/// A delivery the worker has claimed.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: String,
    pub attempts: u32,
    pub event_id: String,
    pub body: String,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub attempted: i64,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// What became of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(i64),
    /// Gave up (the schedule ran out).
    Failed,
    /// 410 Gone: this delivery fails and the endpoint is disabled.
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: Vec<AttemptRecord>,
}

/// What a finished job changes, in the transaction that deletes it.
#[derive(Clone, Debug, Default)]
pub struct JobEffects {
    pub dispute: Option<DisputeRecord>,
    /// A refund that failed at the bank: (refund id, payment id, amount), reversing `amount_refunded`.
    pub refund_failure: Option<(String, String, u64)>,
    pub events: Vec<NewEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    pub id: String,
    pub payment_id: String,
    pub amount: u64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub created: i64,
}

/// What consuming a token found.
#[derive(Debug)]
pub enum Consumed {
    /// The token, as it was before this use (with its CVC ciphertext, now erased from storage).
    Fresh(Box<TokenRecord>),
    AlreadyUsed,
    Expired,
    NotFound,
}

pub trait Store: Send + Sync + 'static {
    fn insert_key(&self, key: &ApiKeyRecord) -> Result<()>;
    fn find_publishable_key(&self, key: &str) -> Result<Option<ApiKeyRecord>>;
    fn find_secret_key(&self, hash: &[u8]) -> Result<Option<ApiKeyRecord>>;
    fn list_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; false when there is no such key.
    fn revoke_key(&self, id: &str, now: i64) -> Result<bool>;
    /// Sets who may frame the card fields of a publishable key; false when there is no such key.
    fn set_frame_ancestors(&self, id: &str, value: Option<&str>) -> Result<bool>;

    fn insert_token(&self, token: &TokenRecord) -> Result<()>;
    fn get_token(&self, id: &str) -> Result<Option<TokenRecord>>;
    /// Marks the token used and erases its CVC, atomically; answers what it was.
    fn consume_token(&self, id: &str, now: i64) -> Result<Consumed>;
    /// Erases the CVC of every expired token; answers how many.
    fn erase_expired_cvcs(&self, now: i64) -> Result<usize>;
    /// Every token's (id, master version, wrapped key), for re-wrapping under a new master key.
    fn wrapped_keys(&self) -> Result<Vec<(String, u32, Vec<u8>)>>;
    /// Replaces wrapped keys in one transaction.
    fn rewrap_keys(&self, rewrapped: &[(String, u32, Vec<u8>)]) -> Result<()>;

    /// Writes a new payment with the events and jobs it causes.
    fn insert_payment(&self, payment: &PaymentRecord, events: &[NewEvent], jobs: &[NewJob]) -> Result<()>;
    fn get_payment(&self, id: &str) -> Result<Option<PaymentRecord>>;
    /// Newest first; `starting_after` is the id of the last payment of the previous page. Answers the
    /// page and whether more follow.
    fn list_payments(&self, limit: usize, starting_after: Option<&str>)
        -> Result<(Vec<PaymentRecord>, bool)>;
    /// Reads a payment and lets `decide` change it, in one transaction that no other change to the same
    /// payment can interleave with. `decide` answers `None` to change nothing. Answers the payment as
    /// it is afterwards (`None` if there is no such payment).
    fn mutate_payment(
        &self,
        id: &str,
        decide: &mut dyn FnMut(&PaymentRecord) -> Option<PaymentChange>,
    ) -> Result<Option<PaymentRecord>>;
    fn refunds_of(&self, payment_id: &str) -> Result<Vec<RefundRecord>>;
    fn get_refund(&self, id: &str) -> Result<Option<RefundRecord>>;

    fn insert_endpoint(&self, endpoint: &EndpointRecord) -> Result<()>;
    /// Endpoints not deleted, oldest first.
    fn list_endpoints(&self) -> Result<Vec<EndpointRecord>>;
    fn get_endpoint(&self, id: &str) -> Result<Option<EndpointRecord>>;
    /// Deletes an endpoint; its pending deliveries fail. False when there is none.
    fn delete_endpoint(&self, id: &str, now: i64) -> Result<bool>;
    /// Puts in a new secret; the old one keeps signing until `previous_until`.
    fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<Option<EndpointRecord>>;

    fn get_event(&self, id: &str) -> Result<Option<EventRecord>>;
    /// Writes events that no stored change carries (alerts), with their deliveries.
    fn insert_events(&self, events: &[NewEvent]) -> Result<()>;
    /// Newest first, optionally of one type.
    fn list_events(
        &self,
        limit: usize,
        starting_after: Option<&str>,
        kind: Option<&str>,
    ) -> Result<(Vec<EventRecord>, bool)>;
    /// Queues the event again for every enabled endpoint that takes it; answers how many (`None`: no event).
    fn redeliver_event(&self, id: &str, now: i64) -> Result<Option<usize>>;
    fn deliveries_of_event(&self, event_id: &str) -> Result<Vec<DeliveryRecord>>;

    /// Claims up to `limit` deliveries due at `now`, leasing them for `lease` seconds (a worker that dies
    /// mid-send leaves them to be retried after the lease).
    fn claim_due_deliveries(&self, now: i64, lease: i64, limit: usize) -> Result<Vec<DueDelivery>>;
    fn record_attempt(
        &self,
        delivery: &DueDelivery,
        attempt: &AttemptRecord,
        outcome: DeliveryOutcome,
    ) -> Result<()>;
    /// When the next pending delivery or job is due, if any.
    fn next_due(&self) -> Result<Option<i64>>;

    fn due_jobs(&self, now: i64, limit: usize) -> Result<Vec<JobRecord>>;
    /// Applies a job's effects and deletes it, in one transaction.
    fn complete_job(&self, job: &JobRecord, effects: &JobEffects) -> Result<()>;
    fn disputes_of(&self, payment_id: &str) -> Result<Vec<DisputeRecord>>;

    /// Reserves `key` for this request, or says why not (`IdempotencyBegin`). A key older than
    /// `retention` seconds is forgotten and starts anew.
    fn idempotency_begin(
        &self,
        owner: &str,
        key: &str,
        request_hash: &[u8],
        now: i64,
        retention: i64,
    ) -> Result<IdempotencyBegin>;
    /// Stores the response of a started request.
    fn idempotency_finish(&self, owner: &str, key: &str, status: u16, body: &[u8]) -> Result<()>;
    /// Releases a reservation whose request never started (a parameter error).
    fn idempotency_abandon(&self, owner: &str, key: &str) -> Result<()>;
    /// At start-up: reservations left by requests a crash cut short are released.
    fn idempotency_release_unfinished(&self) -> Result<usize>;
}

/// The schema, one migration a step; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: keys and tokens
    "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')),
        publishable TEXT UNIQUE,
        secret_hash BLOB UNIQUE,
        hint TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        created INTEGER NOT NULL,
        revoked INTEGER
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        livemode INTEGER NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        bin TEXT NOT NULL,
        exp_month INTEGER NOT NULL,
        exp_year INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        master_version INTEGER NOT NULL,
        wrapped_key BLOB NOT NULL,
        card_ct BLOB NOT NULL,
        cvc_ct BLOB
    );
    CREATE INDEX tokens_with_cvc_by_expiry ON tokens (expires) WHERE cvc_ct IS NOT NULL;",
    // 2: payments, refunds, idempotency keys
    "CREATE TABLE payments (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        livemode INTEGER NOT NULL,
        token_id TEXT NOT NULL REFERENCES tokens (id),
        amount INTEGER NOT NULL CHECK (amount > 0),
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        amount_capturable INTEGER NOT NULL,
        amount_captured INTEGER NOT NULL,
        amount_refunded INTEGER NOT NULL CHECK (amount_refunded <= amount_captured),
        capture INTEGER NOT NULL,
        client_secret TEXT NOT NULL,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        exp_month INTEGER NOT NULL,
        exp_year INTEGER NOT NULL,
        next_action_url TEXT,
        last_error_code TEXT,
        last_error_decline_code TEXT,
        last_error_message TEXT,
        description TEXT,
        metadata TEXT NOT NULL,
        created INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE TABLE refunds (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        amount INTEGER NOT NULL CHECK (amount > 0),
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX refunds_by_payment ON refunds (payment_id);
    CREATE TABLE idempotency_keys (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash BLOB NOT NULL,
        status INTEGER,
        response BLOB,
        created INTEGER NOT NULL,
        PRIMARY KEY (owner, key)
    );",
    // 3: webhooks (endpoints, the event outbox, deliveries and their attempts), jobs, disputes
    "CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_until INTEGER,
        created INTEGER NOT NULL,
        deleted INTEGER
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        created INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events (id),
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt INTEGER NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE status = 'pending';
    CREATE INDEX deliveries_by_event ON deliveries (event_id);
    CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL REFERENCES deliveries (id),
        attempted INTEGER NOT NULL,
        status_code INTEGER,
        duration_ms INTEGER NOT NULL,
        response_excerpt TEXT,
        error TEXT
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        due INTEGER NOT NULL
    );
    CREATE TABLE disputes (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 4: who may frame a publishable key's card fields
    "ALTER TABLE api_keys ADD COLUMN frame_ancestors TEXT;",
];

/// Writes events, and a pending delivery of each to every enabled endpoint that takes its type.
fn write_events(conn: &Connection, events: &[NewEvent]) -> rusqlite::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut endpoints =
        conn.prepare("SELECT id, events FROM webhook_endpoints WHERE enabled = 1 AND deleted IS NULL")?;
    let endpoints: Vec<(String, String)> =
        endpoints.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    for e in events {
        conn.execute(
            "INSERT INTO events (id, type, created, body) VALUES (?1, ?2, ?3, ?4)",
            params![e.id, e.kind, e.created, e.body],
        )?;
        for (endpoint, filter) in &endpoints {
            if takes(filter, &e.kind) {
                queue_delivery(conn, &e.id, endpoint, e.created)?;
            }
        }
    }
    Ok(())
}

/// Whether an endpoint's event filter (a JSON array) takes `kind`.
fn takes(filter: &str, kind: &str) -> bool {
    serde_json::from_str::<Vec<String>>(filter).is_ok_and(|f| f.iter().any(|t| t == "*" || t == kind))
}

fn queue_delivery(conn: &Connection, event_id: &str, endpoint_id: &str, now: i64) -> rusqlite::Result<()> {
    let id = crate::ids::new_id("whd").map_err(|e| {
        rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(e.to_string())))
    })?;
    conn.execute(
        "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, next_attempt, created) \
         VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)",
        params![id, event_id, endpoint_id, now],
    )?;
    Ok(())
}

fn write_jobs(conn: &Connection, jobs: &[NewJob]) -> rusqlite::Result<()> {
    for j in jobs {
        conn.execute(
            "INSERT INTO jobs (kind, subject, due) VALUES (?1, ?2, ?3)",
            params![j.kind, j.subject, j.due],
        )?;
    }
    Ok(())
}

const ENDPOINT_COLUMNS: &str = "id, url, events, enabled, secret, previous_secret, previous_until, created";

fn endpoint_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRecord> {
    let events: String = r.get(2)?;
    Ok(EndpointRecord {
        id: r.get(0)?,
        url: r.get(1)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: r.get(3)?,
        secret: r.get(4)?,
        previous_secret: r.get(5)?,
        previous_until: r.get(6)?,
        created: r.get(7)?,
    })
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord { id: r.get(0)?, kind: r.get(1)?, created: r.get(2)?, body: r.get(3)? })
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open(e.to_string()))?;
        }
        let conn = Connection::open(path)?;
        // WAL for concurrent readers; FULL sync so a commit is on disk before the response is sent;
        // secure_delete so erased CVCs are overwritten in the file, not just unlinked.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA secure_delete = ON;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        let store = SqliteStore { conn: Mutex::new(conn) };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Moves the WAL's pages into the database and truncates it, so erased data leaves no copy behind.
    fn checkpoint(conn: &Connection) -> Result<()> {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

const KEY_COLUMNS: &str =
    "id, kind, publishable, secret_hash, hint, livemode, created, revoked, frame_ancestors";
const TOKEN_COLUMNS: &str = "id, key_id, livemode, created, expires, used, brand, last4, bin, exp_month, \
    exp_year, fingerprint, master_version, wrapped_key, card_ct, cvc_ct";

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let kind: String = r.get(1)?;
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        kind: if kind == "secret" { KeyKind::Secret } else { KeyKind::Publishable },
        publishable: r.get(2)?,
        secret_hash: r.get(3)?,
        hint: r.get(4)?,
        livemode: r.get(5)?,
        created: r.get(6)?,
        revoked: r.get(7)?,
        frame_ancestors: r.get(8)?,
    })
}

const PAYMENT_COLUMNS: &str = "id, key_id, livemode, token_id, amount, currency, status, amount_capturable, \
    amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, exp_year, next_action_url, \
    last_error_code, last_error_decline_code, last_error_message, description, metadata, created, version";

fn payment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PaymentRecord> {
    let status: String = r.get(6)?;
    Ok(PaymentRecord {
        id: r.get(0)?,
        key_id: r.get(1)?,
        livemode: r.get(2)?,
        token_id: r.get(3)?,
        amount: r.get(4)?,
        currency: r.get(5)?,
        status: PaymentStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                "unknown payment status".into(),
            )
        })?,
        amount_capturable: r.get(7)?,
        amount_captured: r.get(8)?,
        amount_refunded: r.get(9)?,
        capture: r.get(10)?,
        client_secret: r.get(11)?,
        brand: r.get(12)?,
        last4: r.get(13)?,
        exp_month: r.get(14)?,
        exp_year: r.get(15)?,
        next_action_url: r.get(16)?,
        last_error_code: r.get(17)?,
        last_error_decline_code: r.get(18)?,
        last_error_message: r.get(19)?,
        description: r.get(20)?,
        metadata: r.get(21)?,
        created: r.get(22)?,
        version: r.get(23)?,
    })
}

fn refund_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefundRecord> {
    Ok(RefundRecord {
        id: r.get(0)?,
        payment_id: r.get(1)?,
        amount: r.get(2)?,
        currency: r.get(3)?,
        status: r.get(4)?,
        created: r.get(5)?,
    })
}

fn insert_payment_row(conn: &Connection, p: &PaymentRecord) -> rusqlite::Result<usize> {
    conn.execute(
        &format!(
            "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
             ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        ),
        params![
            p.id,
            p.key_id,
            p.livemode,
            p.token_id,
            p.amount,
            p.currency,
            p.status.as_str(),
            p.amount_capturable,
            p.amount_captured,
            p.amount_refunded,
            p.capture,
            p.client_secret,
            p.brand,
            p.last4,
            p.exp_month,
            p.exp_year,
            p.next_action_url,
            p.last_error_code,
            p.last_error_decline_code,
            p.last_error_message,
            p.description,
            p.metadata,
            p.created,
            p.version
        ],
    )
}

/// Writes what can change, only over the version that was read (compare-and-set); answers rows changed.
fn update_payment_row(conn: &Connection, p: &PaymentRecord) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE payments SET status = ?2, amount_capturable = ?3, amount_captured = ?4, amount_refunded = ?5, \
         next_action_url = ?6, last_error_code = ?7, last_error_decline_code = ?8, last_error_message = ?9, \
         version = version + 1 WHERE id = ?1 AND version = ?10",
        params![
            p.id,
            p.status.as_str(),
            p.amount_capturable,
            p.amount_captured,
            p.amount_refunded,
            p.next_action_url,
            p.last_error_code,
            p.last_error_decline_code,
            p.last_error_message,
            p.version
        ],
    )
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        key_id: r.get(1)?,
        livemode: r.get(2)?,
        created: r.get(3)?,
        expires: r.get(4)?,
        used: r.get(5)?,
        brand: r.get(6)?,
        last4: r.get(7)?,
        bin: r.get(8)?,
        exp_month: r.get(9)?,
        exp_year: r.get(10)?,
        fingerprint: r.get(11)?,
        master_version: r.get(12)?,
        wrapped_key: r.get(13)?,
        card_ct: r.get(14)?,
        cvc_ct: r.get(15)?,
    })
}

impl Store for SqliteStore {
    fn insert_key(&self, k: &ApiKeyRecord) -> Result<()> {
        self.conn()?.execute(
            &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                k.id,
                k.kind.as_str(),
                k.publishable,
                k.secret_hash,
                k.hint,
                k.livemode,
                k.created,
                k.revoked,
                k.frame_ancestors
            ],
        )?;
        Ok(())
    }

    fn find_publishable_key(&self, key: &str) -> Result<Option<ApiKeyRecord>> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE publishable = ?1"),
                [key],
                key_from_row,
            )
            .optional()?)
    }

    fn find_secret_key(&self, hash: &[u8]) -> Result<Option<ApiKeyRecord>> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?1"),
                [hash],
                key_from_row,
            )
            .optional()?)
    }

    fn list_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created, id"))?;
        let rows = stmt.query_map([], key_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn revoke_key(&self, id: &str, now: i64) -> Result<bool> {
        let n = self.conn()?.execute(
            "UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
            params![id, now],
        )?;
        Ok(n == 1)
    }

    fn set_frame_ancestors(&self, id: &str, value: Option<&str>) -> Result<bool> {
        let n = self.conn()?.execute(
            "UPDATE api_keys SET frame_ancestors = ?2 WHERE id = ?1 AND kind = 'publishable'",
            params![id, value],
        )?;
        Ok(n == 1)
    }

    fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        self.conn()?.execute(
            &format!(
                "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ),
            params![
                t.id,
                t.key_id,
                t.livemode,
                t.created,
                t.expires,
                t.used,
                t.brand,
                t.last4,
                t.bin,
                t.exp_month,
                t.exp_year,
                t.fingerprint,
                t.master_version,
                t.wrapped_key,
                t.card_ct,
                t.cvc_ct
            ],
        )?;
        Ok(())
    }

    fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        Ok(self
            .conn()?
            .query_row(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"), [id], token_from_row)
            .optional()?)
    }

    fn consume_token(&self, id: &str, now: i64) -> Result<Consumed> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let found = tx
            .query_row(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"), [id], token_from_row)
            .optional()?;
        let outcome = match found {
            None => Consumed::NotFound,
            Some(t) if t.used => Consumed::AlreadyUsed,
            Some(t) if t.expires <= now => Consumed::Expired,
            Some(t) => {
                tx.execute("UPDATE tokens SET used = 1, cvc_ct = NULL WHERE id = ?1", [id])?;
                Consumed::Fresh(Box::new(t))
            }
        };
        tx.commit()?;
        if matches!(outcome, Consumed::Fresh(_)) {
            SqliteStore::checkpoint(&conn)?;
        }
        Ok(outcome)
    }

    fn erase_expired_cvcs(&self, now: i64) -> Result<usize> {
        let conn = self.conn()?;
        let n = conn
            .execute("UPDATE tokens SET cvc_ct = NULL WHERE cvc_ct IS NOT NULL AND expires <= ?1", [now])?;
        if n > 0 {
            SqliteStore::checkpoint(&conn)?;
        }
        Ok(n)
    }

    fn wrapped_keys(&self) -> Result<Vec<(String, u32, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id, master_version, wrapped_key FROM tokens ORDER BY id")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn rewrap_keys(&self, rewrapped: &[(String, u32, Vec<u8>)]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        {
            let mut stmt =
                tx.prepare("UPDATE tokens SET master_version = ?2, wrapped_key = ?3 WHERE id = ?1")?;
            for (id, version, key) in rewrapped {
                stmt.execute(params![id, version, key])?;
            }
        }
        tx.commit()?;
        SqliteStore::checkpoint(&conn)?;
        Ok(())
    }

    fn insert_payment(&self, payment: &PaymentRecord, events: &[NewEvent], jobs: &[NewJob]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_payment_row(&tx, payment)?;
        write_events(&tx, events)?;
        write_jobs(&tx, jobs)?;
        tx.commit()?;
        Ok(())
    }

    fn get_payment(&self, id: &str) -> Result<Option<PaymentRecord>> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?1"),
                [id],
                payment_from_row,
            )
            .optional()?)
    }

    fn list_payments(
        &self,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<PaymentRecord>, bool)> {
        let conn = self.conn()?;
        let after: i64 = match starting_after {
            Some(id) => conn
                .query_row("SELECT seq FROM payments WHERE id = ?1", [id], |r| r.get(0))
                .optional()?
                .unwrap_or(0),
            None => i64::MAX,
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
        ))?;
        let mut rows = stmt
            .query_map(params![after, (limit + 1) as i64], payment_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, has_more))
    }

    fn mutate_payment(
        &self,
        id: &str,
        decide: &mut dyn FnMut(&PaymentRecord) -> Option<PaymentChange>,
    ) -> Result<Option<PaymentRecord>> {
        let mut conn = self.conn()?;
        // IMMEDIATE takes the write lock before reading, so no other writer (another process on the
        // same file included) can change the payment between this read and this write.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(current) = tx
            .query_row(
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?1"),
                [id],
                payment_from_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let Some(PaymentChange { payment: mut next, refund, events, jobs }) = decide(&current) else {
            return Ok(Some(current));
        };
        next.version = current.version;
        if update_payment_row(&tx, &next)? != 1 {
            return Err(StoreError::Open("the payment changed under a transaction".into()));
        }
        if let Some(r) = refund {
            tx.execute(
                "INSERT INTO refunds (id, payment_id, amount, currency, status, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.id, r.payment_id, r.amount, r.currency, r.status, r.created],
            )?;
        }
        write_events(&tx, &events)?;
        write_jobs(&tx, &jobs)?;
        tx.commit()?;
        next.version = current.version + 1;
        Ok(Some(next))
    }

    fn refunds_of(&self, payment_id: &str) -> Result<Vec<RefundRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, payment_id, amount, currency, status, created FROM refunds WHERE payment_id = ?1 \
             ORDER BY created, id",
        )?;
        let rows = stmt.query_map([payment_id], refund_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn idempotency_begin(
        &self,
        owner: &str,
        key: &str,
        request_hash: &[u8],
        now: i64,
        retention: i64,
    ) -> Result<IdempotencyBegin> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        type Row = (Vec<u8>, Option<u16>, Option<Vec<u8>>, i64);
        let found: Option<Row> = tx
            .query_row(
                "SELECT request_hash, status, response, created FROM idempotency_keys WHERE owner = ?1 AND key = ?2",
                params![owner, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let outcome = match found {
            Some((_, _, _, created)) if created + retention <= now => {
                tx.execute(
                    "UPDATE idempotency_keys SET request_hash = ?3, status = NULL, response = NULL, created = ?4 \
                     WHERE owner = ?1 AND key = ?2",
                    params![owner, key, request_hash, now],
                )?;
                IdempotencyBegin::Started
            }
            Some((hash, _, _, _)) if hash != request_hash => IdempotencyBegin::Mismatch,
            Some((_, Some(status), Some(body), _)) => IdempotencyBegin::Replay { status, body },
            Some(_) => IdempotencyBegin::InProgress,
            None => {
                tx.execute(
                    "INSERT INTO idempotency_keys (owner, key, request_hash, created) VALUES (?1, ?2, ?3, ?4)",
                    params![owner, key, request_hash, now],
                )?;
                IdempotencyBegin::Started
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn idempotency_finish(&self, owner: &str, key: &str, status: u16, body: &[u8]) -> Result<()> {
        self.conn()?.execute(
            "UPDATE idempotency_keys SET status = ?3, response = ?4 WHERE owner = ?1 AND key = ?2",
            params![owner, key, status, body],
        )?;
        Ok(())
    }

    fn idempotency_abandon(&self, owner: &str, key: &str) -> Result<()> {
        self.conn()?.execute(
            "DELETE FROM idempotency_keys WHERE owner = ?1 AND key = ?2 AND status IS NULL",
            params![owner, key],
        )?;
        Ok(())
    }

    fn idempotency_release_unfinished(&self) -> Result<usize> {
        Ok(self.conn()?.execute("DELETE FROM idempotency_keys WHERE status IS NULL", [])?)
    }

    fn get_refund(&self, id: &str) -> Result<Option<RefundRecord>> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT id, payment_id, amount, currency, status, created FROM refunds WHERE id = ?1",
                [id],
                refund_from_row,
            )
            .optional()?)
    }

    fn insert_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        self.conn()?.execute(
            &format!(
                "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                e.id,
                e.url,
                serde_json::to_string(&e.events).unwrap_or_else(|_| "[]".into()),
                e.enabled,
                e.secret,
                e.previous_secret,
                e.previous_until,
                e.created
            ],
        )?;
        Ok(())
    }

    fn list_endpoints(&self) -> Result<Vec<EndpointRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE deleted IS NULL ORDER BY created, id"
        ))?;
        let rows = stmt.query_map([], endpoint_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn get_endpoint(&self, id: &str) -> Result<Option<EndpointRecord>> {
        Ok(self
            .conn()?
            .query_row(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND deleted IS NULL"
                ),
                [id],
                endpoint_from_row,
            )
            .optional()?)
    }

    fn delete_endpoint(&self, id: &str, now: i64) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE webhook_endpoints SET deleted = ?2, enabled = 0 WHERE id = ?1 AND deleted IS NULL",
            params![id, now],
        )?;
        tx.execute(
            "UPDATE deliveries SET status = 'failed' WHERE endpoint_id = ?1 AND status = 'pending'",
            [id],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<Option<EndpointRecord>> {
        let conn = self.conn()?;
        let n = conn.execute(
            "UPDATE webhook_endpoints SET previous_secret = secret, secret = ?2, previous_until = ?3 \
             WHERE id = ?1 AND deleted IS NULL",
            params![id, secret, previous_until],
        )?;
        if n == 0 {
            return Ok(None);
        }
        Ok(conn
            .query_row(
                &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"),
                [id],
                endpoint_from_row,
            )
            .optional()?)
    }

    fn insert_events(&self, events: &[NewEvent]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_events(&tx, events)?;
        tx.commit()?;
        Ok(())
    }

    fn get_event(&self, id: &str) -> Result<Option<EventRecord>> {
        Ok(self
            .conn()?
            .query_row("SELECT id, type, created, body FROM events WHERE id = ?1", [id], event_from_row)
            .optional()?)
    }

    fn list_events(
        &self,
        limit: usize,
        starting_after: Option<&str>,
        kind: Option<&str>,
    ) -> Result<(Vec<EventRecord>, bool)> {
        let conn = self.conn()?;
        let after: i64 = match starting_after {
            Some(id) => conn
                .query_row("SELECT seq FROM events WHERE id = ?1", [id], |r| r.get(0))
                .optional()?
                .unwrap_or(0),
            None => i64::MAX,
        };
        let mut stmt = conn.prepare(
            "SELECT id, type, created, body FROM events WHERE seq < ?1 AND (?2 IS NULL OR type = ?2) \
             ORDER BY seq DESC LIMIT ?3",
        )?;
        let mut rows = stmt
            .query_map(params![after, kind, (limit + 1) as i64], event_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, has_more))
    }

    fn redeliver_event(&self, id: &str, now: i64) -> Result<Option<usize>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(kind) = tx
            .query_row("SELECT type FROM events WHERE id = ?1", [id], |r| r.get::<_, String>(0))
            .optional()?
        else {
            return Ok(None);
        };
        let endpoints: Vec<(String, String)> = {
            let mut stmt =
                tx.prepare("SELECT id, events FROM webhook_endpoints WHERE enabled = 1 AND deleted IS NULL")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        let mut n = 0;
        for (endpoint, _) in endpoints.iter().filter(|(_, f)| takes(f, &kind)) {
            queue_delivery(&tx, id, endpoint, now)?;
            n += 1;
        }
        tx.commit()?;
        Ok(Some(n))
    }

    fn deliveries_of_event(&self, event_id: &str) -> Result<Vec<DeliveryRecord>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT id, event_id, endpoint_id, status FROM deliveries WHERE event_id = ?1 ORDER BY created, id")?;
        let mut deliveries = stmt
            .query_map([event_id], |r| {
                Ok(DeliveryRecord {
                    id: r.get(0)?,
                    event_id: r.get(1)?,
                    endpoint_id: r.get(2)?,
                    status: r.get(3)?,
                    attempts: vec![],
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut attempts = conn.prepare(
            "SELECT attempted, status_code, duration_ms, response_excerpt, error FROM delivery_attempts \
             WHERE delivery_id = ?1 ORDER BY id",
        )?;
        for d in &mut deliveries {
            d.attempts = attempts
                .query_map([&d.id], |r| {
                    Ok(AttemptRecord {
                        attempted: r.get(0)?,
                        status_code: r.get(1)?,
                        duration_ms: r.get(2)?,
                        response_excerpt: r.get(3)?,
                        error: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(deliveries)
    }

    fn claim_due_deliveries(&self, now: i64, lease: i64, limit: usize) -> Result<Vec<DueDelivery>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let due: Vec<DueDelivery> = {
            let mut stmt = tx.prepare(
                "SELECT d.id, d.attempts, e.id, e.body, w.id, w.url, w.secret, \
                        CASE WHEN w.previous_until > ?1 THEN w.previous_secret END \
                 FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE d.status = 'pending' AND d.next_attempt <= ?1 AND w.enabled = 1 AND w.deleted IS NULL \
                 ORDER BY d.next_attempt, d.created LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now, limit as i64], |r| {
                    Ok(DueDelivery {
                        id: r.get(0)?,
                        attempts: r.get(1)?,
                        event_id: r.get(2)?,
                        body: r.get(3)?,
                        endpoint_id: r.get(4)?,
                        url: r.get(5)?,
                        secret: r.get(6)?,
                        previous_secret: r.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        for d in &due {
            tx.execute("UPDATE deliveries SET next_attempt = ?2 WHERE id = ?1", params![d.id, now + lease])?;
        }
        tx.commit()?;
        Ok(due)
    }

    fn record_attempt(&self, d: &DueDelivery, a: &AttemptRecord, outcome: DeliveryOutcome) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO delivery_attempts (delivery_id, attempted, status_code, duration_ms, response_excerpt, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![d.id, a.attempted, a.status_code, a.duration_ms as i64, a.response_excerpt, a.error],
        )?;
        let (status, next) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", a.attempted),
            DeliveryOutcome::RetryAt(at) => ("pending", at),
            DeliveryOutcome::Failed | DeliveryOutcome::Gone => ("failed", a.attempted),
        };
        tx.execute(
            "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt = ?3 WHERE id = ?1",
            params![d.id, status, next],
        )?;
        if outcome == DeliveryOutcome::Gone {
            tx.execute("UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?1", [&d.endpoint_id])?;
            tx.execute(
                "UPDATE deliveries SET status = 'failed' WHERE endpoint_id = ?1 AND status = 'pending'",
                [&d.endpoint_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn next_due(&self) -> Result<Option<i64>> {
        let conn = self.conn()?;
        let delivery: Option<i64> = conn.query_row(
            "SELECT MIN(d.next_attempt) FROM deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.status = 'pending' AND w.enabled = 1 AND w.deleted IS NULL",
            [],
            |r| r.get(0),
        )?;
        let job: Option<i64> = conn.query_row("SELECT MIN(due) FROM jobs", [], |r| r.get(0))?;
        Ok(match (delivery, job) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn due_jobs(&self, now: i64, limit: usize) -> Result<Vec<JobRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT id, kind, subject, due FROM jobs WHERE due <= ?1 ORDER BY due, id LIMIT ?2")?;
        let rows = stmt
            .query_map(params![now, limit as i64], |r| {
                Ok(JobRecord { id: r.get(0)?, kind: r.get(1)?, subject: r.get(2)?, due: r.get(3)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn complete_job(&self, job: &JobRecord, effects: &JobEffects) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute("DELETE FROM jobs WHERE id = ?1", [job.id])? == 0 {
            return Ok(()); // another worker did it
        }
        if let Some(d) = &effects.dispute {
            tx.execute(
                "INSERT INTO disputes (id, payment_id, amount, currency, reason, status, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![d.id, d.payment_id, d.amount, d.currency, d.reason, d.status, d.created],
            )?;
        }
        if let Some((refund, payment, amount)) = &effects.refund_failure {
            tx.execute(
                "UPDATE refunds SET status = 'failed' WHERE id = ?1 AND status = 'succeeded'",
                [refund],
            )?;
            tx.execute(
                "UPDATE payments SET amount_refunded = amount_refunded - ?2, version = version + 1 WHERE id = ?1",
                params![payment, amount],
            )?;
        }
        write_events(&tx, &effects.events)?;
        tx.commit()?;
        Ok(())
    }

    fn disputes_of(&self, payment_id: &str) -> Result<Vec<DisputeRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, payment_id, amount, currency, reason, status, created FROM disputes WHERE payment_id = ?1",
        )?;
        let rows = stmt
            .query_map([payment_id], |r| {
                Ok(DisputeRecord {
                    id: r.get(0)?,
                    payment_id: r.get(1)?,
                    amount: r.get(2)?,
                    currency: r.get(3)?,
                    reason: r.get(4)?,
                    status: r.get(5)?,
                    created: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

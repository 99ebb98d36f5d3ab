//! Storage, behind the `Store` trait: SQLite today (a file in the data dir, WAL, fully synced
//! commits), PostgreSQL later. Methods are synchronous; handlers call them through `spawn_blocking`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

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
];

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

const KEY_COLUMNS: &str = "id, kind, publishable, secret_hash, hint, livemode, created, revoked";
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
    })
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
            &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                k.id,
                k.kind.as_str(),
                k.publishable,
                k.secret_hash,
                k.hint,
                k.livemode,
                k.created,
                k.revoked
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
}

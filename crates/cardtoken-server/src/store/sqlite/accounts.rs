use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::store::{AccountRecord, AccountRepo, ApiKeyRecord, KeyKind, Result, StoreError};

const KEY_COLUMNS: &str =
    "id, account_id, livemode, kind, publishable, secret_hash, hint, created, revoked, \
    expires, frame_ancestors";

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let kind: String = r.get(3)?;
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        livemode: r.get(2)?,
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Publishable),
        publishable: r.get(4)?,
        secret_hash: r.get(5)?,
        hint: r.get(6)?,
        created: r.get(7)?,
        revoked: r.get(8)?,
        expires: r.get(9)?,
        frame_ancestors: r.get(10)?,
    })
}

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRecord> {
    Ok(AccountRecord { id: r.get(0)?, name: r.get(1)?, created: r.get(2)?, require_encryption: r.get(3)? })
}

impl SqliteTx<'_> {
    fn key_where(&self, clause: &str, value: &dyn rusqlite::ToSql) -> Result<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE {clause}");
        Ok(self.conn.prepare_cached(&sql)?.query_row([value], key_from_row).optional()?)
    }
}

impl AccountRepo for SqliteTx<'_> {
    fn insert_account(&mut self, a: &AccountRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO accounts (id, name, created, require_encryption) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![a.id, a.name, a.created, a.require_encryption])?;
        Ok(())
    }

    fn get_account(&mut self, id: &str) -> Result<Option<AccountRecord>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, created, require_encryption FROM accounts WHERE id = ?1")?
            .query_row([id], account_from_row)
            .optional()?)
    }

    fn list_accounts(&mut self) -> Result<Vec<AccountRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, created, require_encryption FROM accounts ORDER BY created, id",
        )?;
        let rows = stmt.query_map([], account_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn set_require_encryption(&mut self, id: &str, required: bool) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE accounts SET require_encryption = ?2 WHERE id = ?1")?
            .execute(params![id, required])?;
        Ok(n == 1)
    }

    fn insert_key(&mut self, k: &ApiKeyRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        );
        self.conn.prepare_cached(&sql)?.execute(params![
            k.id,
            k.account_id,
            k.livemode,
            k.kind.as_str(),
            k.publishable,
            k.secret_hash,
            k.hint,
            k.created,
            k.revoked,
            k.expires,
            k.frame_ancestors
        ])?;
        Ok(())
    }

    fn find_publishable_key(&mut self, key: &str) -> Result<Option<ApiKeyRecord>> {
        self.key_where("publishable = ?1", &key)
    }

    fn find_secret_key(&mut self, hash: &[u8]) -> Result<Option<ApiKeyRecord>> {
        self.key_where("secret_hash = ?1", &hash)
    }

    fn get_key(&mut self, id: &str) -> Result<Option<ApiKeyRecord>> {
        self.key_where("id = ?1", &id)
    }

    fn list_keys(&mut self, account: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE ?1 IS NULL OR account_id = ?1 ORDER BY created, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([account], key_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn revoke_key(&mut self, id: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL")?
            .execute(params![id, now])?;
        Ok(n == 1)
    }

    fn expire_key(&mut self, id: &str, at: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE api_keys SET expires = ?2 WHERE id = ?1 AND revoked IS NULL \
                 AND (expires IS NULL OR expires > ?2)",
            )?
            .execute(params![id, at])?;
        Ok(n == 1)
    }

    fn set_frame_ancestors(&mut self, id: &str, value: Option<&str>) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE api_keys SET frame_ancestors = ?2 WHERE id = ?1 AND kind = 'publishable'",
            )?
            .execute(params![id, value])?;
        Ok(n == 1)
    }
}

/// A conversion error for a column, as rusqlite reports it.
pub(super) fn corrupt(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, what.to_string().into())
}

impl From<StoreError> for rusqlite::Error {
    fn from(e: StoreError) -> rusqlite::Error {
        rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(e.to_string())))
    }
}

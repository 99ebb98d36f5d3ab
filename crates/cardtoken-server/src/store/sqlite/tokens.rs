use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::store::{Result, Scope, TokenRecord, TokenRepo};

const TOKEN_COLUMNS: &str = "id, account_id, livemode, key_id, created, expires, used, brand, last4, bin, \
    exp_month, exp_year, fingerprint, master_version, wrapped_key, card_ct, cvc_holder";

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        livemode: r.get(2)?,
        key_id: r.get(3)?,
        created: r.get(4)?,
        expires: r.get(5)?,
        used: r.get(6)?,
        brand: r.get(7)?,
        last4: r.get(8)?,
        bin: r.get(9)?,
        exp_month: r.get(10)?,
        exp_year: r.get(11)?,
        fingerprint: r.get(12)?,
        master_version: r.get(13)?,
        wrapped_key: r.get(14)?,
        card_ct: r.get(15)?,
        cvc_holder: r.get(16)?,
    })
}

impl TokenRepo for SqliteTx<'_> {
    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        );
        self.conn.prepare_cached(&sql)?.execute(params![
            t.id,
            t.account_id,
            t.livemode,
            t.key_id,
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
            t.cvc_holder
        ])?;
        Ok(())
    }

    fn get_token(&mut self, scope: &Scope, id: &str) -> Result<Option<TokenRecord>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1 AND account_id = ?2 AND livemode = ?3");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id, scope.account, scope.livemode], token_from_row)
            .optional()?)
    }

    fn use_token(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE tokens SET used = 1 WHERE id = ?1 AND account_id = ?2 AND livemode = ?3 \
                 AND used = 0 AND expires > ?4",
            )?
            .execute(params![id, scope.account, scope.livemode, now])?;
        Ok(n == 1)
    }

    fn purge_unused_card_data(&mut self, before: i64) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE tokens SET card_ct = NULL, wrapped_key = NULL \
                 WHERE used = 0 AND card_ct IS NOT NULL AND expires < ?1",
            )?
            .execute([before])?)
    }

    fn wrapped_keys(&mut self) -> Result<Vec<(String, u32, Vec<u8>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, master_version, wrapped_key FROM tokens WHERE wrapped_key IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn rewrap_key(&mut self, id: &str, version: u32, wrapped: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE tokens SET master_version = ?2, wrapped_key = ?3 WHERE id = ?1")?
            .execute(params![id, version, wrapped])?;
        Ok(())
    }
}

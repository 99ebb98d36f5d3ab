use postgres::Row;

use super::PgTx;
use crate::store::{Result, Scope, StoreError, TokenRecord, TokenRepo};

fn token(r: &Row) -> Result<TokenRecord> {
    let month: i16 = r.get(10);
    let year: i16 = r.get(11);
    let version: i32 = r.get(13);
    Ok(TokenRecord {
        id: r.get(0),
        account_id: r.get(1),
        livemode: r.get(2),
        key_id: r.get(3),
        created: r.get(4),
        expires: r.get(5),
        used: r.get(6),
        brand: r.get(7),
        last4: r.get(8),
        bin: r.get(9),
        exp_month: u8::try_from(month).map_err(|_| StoreError::Corrupt("exp_month".into()))?,
        exp_year: u16::try_from(year).map_err(|_| StoreError::Corrupt("exp_year".into()))?,
        fingerprint: r.get(12),
        master_version: u32::try_from(version).map_err(|_| StoreError::Corrupt("master_version".into()))?,
        wrapped_key: r.get(14),
        card_ct: r.get(15),
        cvc_holder: r.get(16),
    })
}

impl TokenRepo for PgTx<'_> {
    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        let version = i32::try_from(t.master_version).map_err(|_| StoreError::Db("master_version".into()))?;
        self.execute(
            "INSERT INTO tokens (id, account_id, livemode, key_id, created, expires, used, brand, last4, bin, \
             exp_month, exp_year, fingerprint, master_version, wrapped_key, card_ct, cvc_holder) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            &[
                &t.id,
                &t.account_id,
                &t.livemode,
                &t.key_id,
                &t.created,
                &t.expires,
                &t.used,
                &t.brand,
                &t.last4,
                &t.bin,
                &i16::from(t.exp_month),
                &(t.exp_year as i16),
                &t.fingerprint,
                &version,
                &t.wrapped_key,
                &t.card_ct,
                &t.cvc_holder,
            ],
        )?;
        Ok(())
    }

    fn get_token(&mut self, scope: &Scope, id: &str) -> Result<Option<TokenRecord>> {
        self.query_opt(
            "SELECT id, account_id, livemode, key_id, created, expires, used, brand, last4, bin, exp_month, exp_year, \
             fingerprint, master_version, wrapped_key, card_ct, cvc_holder FROM tokens \
             WHERE id = $1 AND account_id = $2 AND livemode = $3",
            &[&id, &scope.account, &scope.livemode],
        )?
        .as_ref()
        .map(token)
        .transpose()
    }

    fn use_token(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool> {
        Ok(self.execute(
            "UPDATE tokens SET used = true WHERE id = $1 AND account_id = $2 AND livemode = $3 \
             AND NOT used AND expires > $4",
            &[&id, &scope.account, &scope.livemode, &now],
        )? == 1)
    }

    fn purge_unused_card_data(&mut self, before: i64) -> Result<usize> {
        Ok(self.execute(
            "UPDATE tokens SET card_ct = NULL, wrapped_key = NULL \
             WHERE NOT used AND card_ct IS NOT NULL AND expires < $1",
            &[&before],
        )? as usize)
    }

    fn wrapped_keys(&mut self) -> Result<Vec<(String, u32, Vec<u8>)>> {
        self.query(
            "SELECT id, master_version, wrapped_key FROM tokens WHERE wrapped_key IS NOT NULL ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| {
            let v: i32 = r.get(1);
            Ok((
                r.get(0),
                u32::try_from(v).map_err(|_| StoreError::Corrupt("master_version".into()))?,
                r.get(2),
            ))
        })
        .collect()
    }

    fn rewrap_key(&mut self, id: &str, version: u32, wrapped: &[u8]) -> Result<()> {
        let v = i32::try_from(version).map_err(|_| StoreError::Db("master_version".into()))?;
        self.execute(
            "UPDATE tokens SET master_version = $2, wrapped_key = $3 WHERE id = $1",
            &[&id, &v, &wrapped],
        )?;
        Ok(())
    }
}
